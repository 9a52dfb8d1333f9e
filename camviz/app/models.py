"""The models the app offers and the cache that loads each once for all requests."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from camviz.checkpoint import load_checkpoint
from camviz.errors import CamvizError, ModelUnavailableError, unknown
from camviz.handle import LoadedModel
from camviz.hub import IMAGENET, checkpoint_names, download_weights, imagenet_cache_path, load_imagenet
from camviz.summary import layer_table

log = logging.getLogger(__name__)

PREDICTED = "(predicted class)"
# The layer list's first entry: "whatever the chosen model's CAM layer is". Selected by default,
# it stays valid when the model changes, so Explain clicked before the layer list has caught up
# with a new model still explains the new model (instead of failing on the old model's layer).
CAM_LAYER = "(CAM layer)"
OFFLINE_ENV = "CAMVIZ_OFFLINE"
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class ModelOption:
    """A model the UI offers: a checkpoint in the configured folder or an ImageNet model."""

    name: str
    kind: str        # "checkpoint" | "imagenet"
    path: Path       # the checkpoint file, or where torchvision caches the weights
    offline: bool = True   # whether ImageNet weights may be downloaded when first chosen

    @property
    def cached(self) -> bool:
        return self.path.is_file()

    @property
    def available(self) -> bool:
        """Can be chosen: on disk, or an ImageNet model the app may download."""
        return self.cached or (self.kind == "imagenet" and not self.offline)

    @property
    def label(self) -> str:
        if self.kind == "checkpoint":
            return self.name
        if self.cached:
            return f"{self.name} (ImageNet)"
        return (f"{self.name} (weights not cached; offline)" if self.offline
                else f"{self.name} (ImageNet, downloaded when chosen)")


def offline_from_env() -> bool:
    """``$CAMVIZ_OFFLINE`` set to 1/true/yes: the app downloads nothing."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def model_options(checkpoints_dir: Path, offline: bool = True) -> dict[str, ModelOption]:
    """Checkpoints of ``checkpoints_dir`` then ImageNet models; zoo architectures are never
    offered untrained. A checkpoint shadows an ImageNet model of the same name, as in
    :func:`camviz.hub.load_model`."""
    opts = {n: ModelOption(n, "checkpoint", checkpoints_dir / f"{n}.safetensors")
            for n in checkpoint_names(checkpoints_dir)}
    for n in IMAGENET.names():
        opts.setdefault(n, ModelOption(n, "imagenet", imagenet_cache_path(n), offline))
    return opts


@dataclass
class ModelView:
    """A loaded model with what the UI shows about it."""

    loaded: LoadedModel
    stamp: int                          # checkpoint mtime: a replaced file is reloaded
    layers: list[tuple[str, str]]       # (label, name) of every spatial layer, CAM layer first
    class_labels: list[str]             # unique display name per class index
    class_values: list[str]             # what the class dropdown sends (name, or index if repeated)

    blocks: list[tuple[str, str]] = ()  # the CAM layer and the blocks: listed first

    def layer_choices(self, show_all: bool = False) -> list[tuple[str, str]]:
        """The Layer list: the CAM layer and the model's blocks, or every spatial layer."""
        return list(self.layers if show_all else self.blocks)

    @property
    def layer_names(self) -> list[str]:
        """Every layer that can be explained (the CAM layer under its own name too)."""
        cam = [self.loaded.cam_layer] if self.loaded.cam_layer else []
        return [n for _, n in self.layers] + cam

    def check_layer(self, layer: str | None) -> str:
        """The layer to explain: ``None``/""/:data:`CAM_LAYER` → the model's CAM layer; else one
        of :attr:`layers`."""
        if not layer or layer == CAM_LAYER:
            if not self.loaded.cam_layer:
                raise CamvizError(f"model '{self.loaded.name}' has no default CAM layer; "
                                  "choose one in the Layer list")
            return self.loaded.cam_layer
        if layer not in self.layer_names:
            raise unknown("layer", str(layer)[:80], self.layer_names,
                          f"choose {CAM_LAYER} or one of the "
                          f"{sum(n != CAM_LAYER for n in self.layer_names)} spatial layers of "
                          f"'{self.loaded.name}' in the Layer list")
        return layer

    def info(self) -> str:
        m = self.loaded
        meta = m.meta or {}
        acc = (meta.get("metrics") or {}).get("test_accuracy")
        bits = [m.source, m.arch] + ([str(meta["dataset"])] if meta.get("dataset") else [])
        bits += [f"{len(m.classes)} classes", f"input {m.in_channels}×{m.input_size}×{m.input_size}"]
        if isinstance(acc, (int, float)):
            bits.append(f"test accuracy {acc:.3f}")
        return f"**{m.name}** — " + " · ".join(bits)


def _class_names(classes: list[str]) -> tuple[list[str], list[str]]:
    """Display labels and dropdown values; a name repeated in a checkpoint's class list gets
    its index, so that every class stays reachable and the top-5 keys stay distinct."""
    seen: dict[str, int] = {}
    for c in classes:
        seen[c] = seen.get(c, 0) + 1
    labels = [c if seen[c] == 1 else f"{c} (#{i})" for i, c in enumerate(classes)]
    values = [c if seen[c] == 1 else str(i) for i, c in enumerate(classes)]
    return labels, values


class ModelCache:
    """Models loaded once and shared by all requests; loading happens under a lock.

    Only names from :func:`model_options` are accepted, so the UI can open nothing but the
    configured checkpoints and cached ImageNet weights (never a path, never a download).
    """

    def __init__(self, checkpoints_dir: Path, device: torch.device, max_models: int = 4,
                 offline: bool = True):
        self.checkpoints_dir = checkpoints_dir
        self.offline = offline
        self.device = device
        self.max_models = max_models
        self._entries: OrderedDict[str, ModelView] = OrderedDict()
        self._lock = threading.Lock()       # guards _entries
        self._load_lock = threading.Lock()  # one model loads at a time

    def options(self) -> dict[str, ModelOption]:
        return model_options(self.checkpoints_dir, self.offline)

    def option(self, name: object) -> ModelOption:
        if name is None or name == "":
            raise CamvizError("no model chosen; choose one from the Model list")
        opts = self.options()
        if not isinstance(name, str) or name not in opts:
            shown = str(name) if len(str(name)) <= 80 else "..." + str(name)[-77:]   # a path's end says most
            raise unknown("model", shown, [o.name for o in opts.values()],
                          "choose one from the Model list (the app opens only the checkpoints "
                          "of its checkpoints folder and cached ImageNet weights, never a path)")
        return opts[name]

    def get(self, name: object, progress: Progress | None = None) -> ModelView:
        """The model ``name`` loaded (once); uncached ImageNet weights are downloaded first
        unless the app is offline, reporting ``progress(done_bytes, total_bytes)``."""
        opt = self.option(name)
        if not opt.available:
            raise ModelUnavailableError(
                f"ImageNet weights for '{opt.name}' are not cached at {opt.path} and this app "
                f"is offline (camviz app --offline or {OFFLINE_ENV}=1), so it never downloads; "
                f"copy {opt.path.name} there (or run `camviz explain --model {opt.name} IMAGE` "
                "once on a machine with internet), then reload the page — or choose another model")
        if not opt.cached:
            with self._load_lock:   # one download at a time; another request may have done it
                if not opt.cached:
                    log.info("downloading ImageNet weights for '%s' to %s", opt.name, opt.path)
                    try:
                        download_weights(opt.name, progress)
                    except Exception as err:  # noqa: BLE001 -- no network, proxy, disk: one message for all
                        raise ModelUnavailableError(
                            f"ImageNet weights for '{opt.name}' could not be downloaded to "
                            f"{opt.path} ({type(err).__name__}: {str(err)[:100]}); check the "
                            f"connection, or copy {opt.path.name} there and reload the page"
                        ) from None
        stamp = opt.path.stat().st_mtime_ns
        with self._lock:
            entry = self._entries.get(opt.name)
            if entry is not None and entry.stamp == stamp:
                self._entries.move_to_end(opt.name)
                return entry
        with self._load_lock:
            with self._lock:  # another request may have loaded it while we waited
                entry = self._entries.get(opt.name)
            if entry is None or entry.stamp != stamp:
                entry = self._load(opt, stamp)
                with self._lock:
                    self._entries[opt.name] = entry
                    while len(self._entries) > self.max_models:
                        self._entries.popitem(last=False)
        return entry

    def _load(self, opt: ModelOption, stamp: int) -> ModelView:
        t0 = time.perf_counter()
        if opt.kind == "checkpoint":
            loaded = load_checkpoint(opt.path, device=self.device, name=opt.name)
        else:
            loaded = load_imagenet(opt.name, device=self.device, download=False)
        rows = [r for r in layer_table(loaded) if r.spatial]
        layers = [(f"{r.name} · {r.kind} · {'×'.join(map(str, r.shape))}", r.name)
                  for r in rows if r.name != loaded.cam_layer]   # the default is listed once
        modules = dict(loaded.model.named_modules())
        # blocks: containers at most two levels down (ResNet's layer1..4 and their blocks,
        # DenseNet's dense blocks and transitions), not every BatchNorm and ReLU
        block_names = {r.name for r in rows if r.name.count(".") <= 1
                       and next(modules[r.name].children(), None) is not None}
        blocks = [(lab, n) for lab, n in layers if n in block_names]
        if loaded.cam_layer:
            first = (f"{CAM_LAYER} {loaded.cam_layer}", CAM_LAYER)
            layers.insert(0, first)
            blocks.insert(0, first)
        labels, values = _class_names(list(loaded.classes))
        log.info("loaded model '%s' (%s) in %.2f s", opt.name, opt.kind, time.perf_counter() - t0)
        return ModelView(loaded, stamp, layers, labels, values, blocks)
