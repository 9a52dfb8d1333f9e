"""The camviz web app: upload an image, pick a model and a layer, see where it looks.

:func:`build_app` returns a ``gr.Blocks`` with two tabs:

* **Explain** — one model: an overlay per CAM method beside the top-5 predictions, with
  the maps (``.npy``) and overlays (``.png``) to download;
* **Compare** — one image through several models (or several layers of one model), side
  by side with each model's predictions.

Safe by default: nothing is fetched from the network (Gradio's telemetry is switched off
before it is imported; image URLs sent to the API are refused); only checkpoints in the
configured directory and ImageNet weights already in torchvision's cache can be chosen,
and the server checks every model name against that list, so no path a user types is
ever opened; uploads are capped (:data:`MAX_FILE_SIZE`) and decoded by
:func:`camviz.images.load_image`, the CLI's guarded loader, so a bad file is a one-line
message in the page, never a traceback. Models are loaded once (under a lock) and shared
by concurrent requests; the CAM engine's hooks are per call and per thread.
"""

from __future__ import annotations

import os

# Gradio calls a version-check and a telemetry host at start, and gradio_client calls the
# Hugging Face hub, unless told not to; these must be set before gradio is imported.
for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                     ("HF_HUB_OFFLINE", "1"), ("NO_PROXY", "127.0.0.1,localhost")):
    os.environ.setdefault(_key, _value)

import functools  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import OrderedDict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gradio_client import utils as client_utils  # noqa: E402

from camviz.errors import CamvizError, ModelUnavailableError, unknown  # noqa: E402
from camviz.hub import (IMAGENET, LoadedModel, checkpoint_names,  # noqa: E402
                        default_checkpoints_dir, imagenet_cache_path)

log = logging.getLogger(__name__)

MAX_FILE_SIZE = "20mb"         # uploads above this are refused by Gradio (HTTP 413)
TOP_K = 5                      # predictions shown beside the overlays
PREDICTED = "(predicted class)"
# The layer list's first entry: "whatever the chosen model's CAM layer is". Selected by default,
# it stays valid when the model changes, so Explain clicked before the layer list has caught up
# with a new model still explains the new model (instead of failing on the old model's layer).
CAM_LAYER = "(CAM layer)"
MAX_COMPARE = 6                # models in one comparison
SEED_003 = ("resnet18", "resnet50", "densenet121")  # the comparison preselected when cached
KEEP_SECONDS = 3600            # request outputs and uploads are deleted after this


# ------------------------------------------------------------------------- models

@dataclass(frozen=True)
class ModelOption:
    """A model the UI offers: a checkpoint in the configured folder or an ImageNet model."""

    name: str
    kind: str        # "checkpoint" | "imagenet"
    path: Path       # the checkpoint file, or where torchvision caches the weights

    @property
    def available(self) -> bool:
        return self.path.is_file()

    @property
    def label(self) -> str:
        if self.kind == "checkpoint":
            return self.name
        return f"{self.name} (ImageNet)" if self.available else f"{self.name} (weights not cached)"


def model_options(checkpoints_dir: Path) -> dict[str, ModelOption]:
    """Checkpoints of ``checkpoints_dir`` then ImageNet models; zoo architectures are never
    offered untrained. A checkpoint shadows an ImageNet model of the same name, as in
    :func:`camviz.hub.load_model`."""
    opts = {n: ModelOption(n, "checkpoint", checkpoints_dir / f"{n}.safetensors")
            for n in checkpoint_names(checkpoints_dir)}
    for n in IMAGENET.names():
        opts.setdefault(n, ModelOption(n, "imagenet", imagenet_cache_path(n)))
    return opts


def _spatial(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) == 3 and shape[1] * shape[2] > 1


@dataclass
class ModelEntry:
    """A loaded model with what the UI shows about it."""

    loaded: LoadedModel
    stamp: int                          # checkpoint mtime: a replaced file is reloaded
    layers: list[tuple[str, str]]       # (label, name) of every spatial layer
    class_labels: list[str]             # unique display name per class index
    class_values: list[str]             # what the class dropdown sends (name, or index if repeated)

    @property
    def layer_names(self) -> list[str]:
        return [n for _, n in self.layers]

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

    def __init__(self, checkpoints_dir: Path, device: torch.device, max_models: int = 4):
        self.checkpoints_dir = checkpoints_dir
        self.device = device
        self.max_models = max_models
        self._entries: OrderedDict[str, ModelEntry] = OrderedDict()
        self._lock = threading.Lock()       # guards _entries
        self._load_lock = threading.Lock()  # one model loads at a time

    def options(self) -> dict[str, ModelOption]:
        return model_options(self.checkpoints_dir)

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

    def get(self, name: object) -> ModelEntry:
        opt = self.option(name)
        if not opt.available:
            raise ModelUnavailableError(
                f"ImageNet weights for '{opt.name}' are not cached at {opt.path} and this app "
                f"never downloads; copy {opt.path.name} there (or run `camviz explain --model "
                f"{opt.name} IMAGE` once on a machine with internet), then reload the page — "
                "or choose another model")
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

    def _load(self, opt: ModelOption, stamp: int) -> ModelEntry:
        from camviz.checkpoint import load_checkpoint
        from camviz.hub import load_imagenet
        from camviz.summary import layer_table
        t0 = time.perf_counter()
        if opt.kind == "checkpoint":
            loaded = load_checkpoint(opt.path, device=self.device, name=opt.name)
        else:
            loaded = load_imagenet(opt.name, device=self.device, download=False)
        layers = [(f"{r.name} · {r.kind} · {'×'.join(map(str, r.shape))}"
                   + (" (default)" if r.is_default else ""), r.name)
                  for r in layer_table(loaded) if _spatial(r.shape)]
        if loaded.cam_layer:
            layers.insert(0, (f"{CAM_LAYER} {loaded.cam_layer}", CAM_LAYER))
        labels, values = _class_names(list(loaded.classes))
        log.info("loaded model '%s' (%s) in %.2f s", opt.name, opt.kind, time.perf_counter() - t0)
        return ModelEntry(loaded, stamp, layers, labels, values)


# ------------------------------------------------------------------------- uploads

def image_input(**kwargs: Any) -> gr.Image:
    """A ``gr.Image`` upload that hands over the file's path without opening it.

    Stock ``gr.Image`` opens uploads with PIL (unguarded) even with ``type="filepath"``, and
    the server would download a URL sent as the image; here the file is left to
    :func:`camviz.images.load_image` and URLs are refused. The overrides are per instance
    because a ``gr.Image`` subclass makes Gradio write a ``.pyi`` stub beside this module.
    """
    comp = gr.Image(type="filepath", **kwargs)
    move_async, move_sync = comp.async_move_resource_to_block_cache, comp.move_resource_to_block_cache

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        if payload.path is None or str(payload.url or "").startswith("data:"):
            raise gr.Error("send the image as an uploaded file", print_exception=False)
        return str(payload.path)

    async def guarded_async(url_or_file_path):
        _refuse_url(url_or_file_path)
        return await move_async(url_or_file_path)

    def guarded_sync(url_or_file_path):
        _refuse_url(url_or_file_path)
        return move_sync(url_or_file_path)

    comp.preprocess = preprocess
    comp.async_move_resource_to_block_cache = guarded_async
    comp.move_resource_to_block_cache = guarded_sync
    return comp


def _refuse_url(value: object) -> None:
    if value is not None and client_utils.is_http_url_like(str(value)):
        raise gr.Error("this app does not fetch images from URLs; download the image and "
                       "upload the file", print_exception=False)


def _uploaded(image: str | None) -> str:
    if not image:
        raise gr.Error("upload an image first (or click one of the samples)", print_exception=False)
    return image


def sample_images(samples_dir: Path | None) -> list[Path]:
    """Image files under ``samples_dir`` (recursively, sorted), listed when the app is built."""
    from camviz.images import IMAGE_EXTENSIONS
    if samples_dir is None or not samples_dir.is_dir():
        return []
    return sorted(p for p in samples_dir.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def default_samples_dir() -> Path:
    """``./samples`` if present, else the repo's ``samples/``."""
    here = Path.cwd() / "samples"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "samples"


# ------------------------------------------------------------------------- handlers

def _user_errors(fn: Callable) -> Callable:
    """CamvizError (bad image, layer, class, ...) → ``gr.Error`` with its one-line message."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CamvizError as err:
            log.info("refused: %s", err)
            raise gr.Error(str(err), print_exception=False) from None
    return wrapper


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _methods(methods: list[str] | None) -> tuple[list[str] | None, bool]:
    """The methods to pass to ``explain_images``: ``None`` for the defaults, so that ``cam``
    is dropped where the layer has no GAP → linear head, as ``camviz explain`` does."""
    from camviz.explainer import DEFAULT_METHODS, resolve_methods
    if not methods:
        raise gr.Error("choose at least one CAM method", print_exception=False)
    names, _ = resolve_methods(list(methods))
    return (None, True) if set(names) == set(DEFAULT_METHODS) else (names, False)


class _Handlers:
    """The functions behind the UI events (also the app's API)."""

    def __init__(self, cache: ModelCache, out_root: Path, max_pixels: int | None):
        self.cache = cache
        self.out_root = out_root
        self.max_pixels = max_pixels
        self._pruned = 0.0

    # -- helpers
    def _request_dir(self) -> Path:
        """A fresh folder under Gradio's temp dir (served without copying); old ones pruned."""
        self.out_root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        if now - self._pruned > 300:
            self._pruned = now
            for d in self.out_root.glob("req-*"):
                try:
                    if now - d.stat().st_mtime > KEEP_SECONDS:
                        shutil.rmtree(d, ignore_errors=True)
                except OSError:
                    pass
        return Path(tempfile.mkdtemp(prefix="req-", dir=self.out_root))

    def _image(self, path: str):
        from camviz.images import load_image
        return load_image(path, max_pixels=self.max_pixels, name=Path(path).name)

    def _choices(self) -> list[tuple[str, str]]:
        return [(o.label, o.name) for o in self.cache.options().values()]

    # -- Explain tab
    @_user_errors
    def choose_model(self, model: str):
        """Model changed: its layers (CAM layer selected), its classes, a line about it."""
        e = self.cache.get(model)
        classes = [(PREDICTED, PREDICTED)] + list(zip(e.class_labels, e.class_values))
        return (gr.Dropdown(choices=e.layers, value=CAM_LAYER if e.loaded.cam_layer else None),
                gr.Dropdown(choices=classes, value=PREDICTED), e.info())

    @_user_errors
    def explain(self, image: str | None, model: str, layer: str | None, methods: list[str],
                target: str | None, alpha: float, colormap: str):
        """Overlays (one per method), top-5 label, a status line, raw .npy maps, .png overlays."""
        from camviz.cam import METHODS
        from camviz.explainer import explain_images
        from camviz.viz import COLORMAPS, check_alpha, encode_png
        path = _uploaded(image)
        entry = self.cache.get(model)
        layer = entry.check_layer(layer)
        chosen, default = _methods(methods)
        alpha = check_alpha(alpha)
        COLORMAPS.get(colormap)
        target = None if target in (None, "", PREDICTED) else target
        t0 = time.perf_counter()
        stem = _safe(Path(path).stem)
        r = explain_images(entry.loaded, [self._image(path)], layers=[layer], methods=chosen,
                           target=target, predictions=TOP_K, names=[stem])[0]
        out = self._request_dir()
        gallery, maps, overlays = [], [], []
        t, tname = r.targets[0], entry.class_labels[r.targets[0]]
        for m in r.methods:
            key = f"{stem}_{_safe(layer)}_{m}"
            png = out / f"{key}.png"
            png.write_bytes(encode_png(r.overlay(layer, m, alpha=alpha, colormap=colormap)))
            raw = out / f"{key}.raw.npy"  # unnormalised, at layer resolution, as the CLI writes
            np.save(raw, r.raw[(layer, m)][0].astype(np.float32))
            gallery.append((str(png), f"{METHODS.get(m).title} · {layer} · {tname} {r.probs[t]:.2f}"))
            overlays.append(str(png))
            maps.append(str(raw))
        label = {entry.class_labels[c]: p for c, (_, p) in zip(r.top_indices, r.predictions)}
        status = (f"Explained **{tname}** (p = {r.probs[t]:.3f}) at `{layer}` of **{r.model}** "
                  f"in {time.perf_counter() - t0:.2f} s.")
        if default and "cam" not in r.methods:
            status += " CAM was skipped: this layer does not feed a GAP → linear head."
        return gallery, label, status, maps, overlays

    # -- Compare tab
    @_user_errors
    def choose_models(self, models: list[str] | None):
        """Models changed: the layers all of them have (for comparing layers)."""
        entries = [self.cache.get(m) for m in dict.fromkeys(models or [])]
        if not entries:
            return gr.Dropdown(choices=[], value=[])
        common = set.intersection(*(set(e.layer_names) for e in entries))
        return gr.Dropdown(choices=[(lab, n) for lab, n in entries[0].layers if n in common], value=[])

    @_user_errors
    def compare(self, image: str | None, models: list[str] | None, layers: list[str] | None,
                methods: list[str], alpha: float, colormap: str):
        """One image, several models (or layers): captioned overlays, a grid, predictions."""
        from camviz.cam import METHODS
        from camviz.explainer import explain_images, explanation_grid
        from camviz.viz import COLORMAPS, check_alpha, encode_png
        path = _uploaded(image)
        names = list(dict.fromkeys(models or []))
        if not names:
            raise gr.Error("choose at least one model to compare", print_exception=False)
        if len(names) > MAX_COMPARE:
            raise gr.Error(f"{len(names)} models chosen; compare at most {MAX_COMPARE} at a time",
                           print_exception=False)
        entries = [self.cache.get(n) for n in names]
        plan = [(e, [e.check_layer(x) for x in dict.fromkeys(layers or [])] or [e.check_layer(None)])
                for e in entries]
        chosen, _ = _methods(methods)
        alpha = check_alpha(alpha)
        COLORMAPS.get(colormap)
        img, stem = self._image(path), _safe(Path(path).stem)
        results = [explain_images(e.loaded, [img], layers=ls, methods=chosen, predictions=TOP_K,
                                  names=[stem])[0] for e, ls in plan]
        out = self._request_dir()
        gallery, table = [], []
        for (e, _), r in zip(plan, results):
            t = r.targets[0]
            top = f"{e.class_labels[t]} {r.probs[t]:.2f}"
            for layer in r.layers:
                for m in r.methods:
                    png = out / f"{_safe(r.model)}_{_safe(layer)}_{m}.png"
                    png.write_bytes(encode_png(r.overlay(layer, m, alpha=alpha, colormap=colormap)))
                    gallery.append((str(png), f"{r.model} · {layer} · {METHODS.get(m).title} · {top}"))
            table.append([r.model] + [f"{e.class_labels[c]} {p:.2f}"
                                      for c, (_, p) in zip(r.top_indices, r.predictions)]
                         + [""] * (TOP_K - len(r.predictions)))
        grid = explanation_grid(results, alpha=alpha, colormap=colormap, title=Path(path).name)
        return gallery, grid, table

    # -- page load
    def refresh(self, model: str | None, compare: list[str] | None):
        """Re-list the models (checkpoints added since start appear on reload)."""
        choices = self._choices()
        names = {v for _, v in choices}
        return (gr.Dropdown(choices=choices, value=model if model in names else None),
                gr.Dropdown(choices=choices, value=[m for m in compare or [] if m in names]))


# ------------------------------------------------------------------------- the app

_INTRO = ("# camviz — where does the network look?\n"
          "Upload an image (or click a sample), choose a model and a layer, and compare "
          "CAM, Grad-CAM, Grad-CAM++ and friends. Nothing leaves this machine.")


def build_app(checkpoints_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
              *, samples_dir: str | os.PathLike | None = None, concurrency: int = 4,
              max_pixels: int | None = None, max_models: int = 4) -> gr.Blocks:
    """The camviz Gradio app (not launched; see :func:`launch`).

    ``checkpoints_dir``: the only folder whose checkpoints can be chosen (default
    :func:`camviz.hub.default_checkpoints_dir`). ``samples_dir``: images offered as examples
    (default ``samples/``). ``concurrency``: explain/compare requests run at once.
    ``max_pixels``: the decompression-bomb guard of :func:`camviz.images.load_image`.
    ``max_models``: models kept in memory.
    """
    from camviz.cam import METHODS
    from camviz.device import resolve_device
    from camviz.explainer import DEFAULT_METHODS
    from camviz.viz import COLORMAPS

    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    cdir = Path(checkpoints_dir).expanduser() if checkpoints_dir else default_checkpoints_dir()
    cache = ModelCache(cdir, dev, max_models)
    sdir = Path(samples_dir).expanduser() if samples_dir else default_samples_dir()
    samples = sample_images(sdir)
    options = cache.options()
    choices = [(o.label, o.name) for o in options.values()]
    available = [o.name for o in options.values() if o.available]
    if not available:
        info = (f"No model to choose: put camviz checkpoints (`.safetensors`, written by `camviz "
                f"train`) in `{cdir}`, or cache ImageNet weights in `{Path(torch.hub.get_dir())}"
                "/checkpoints`, then reload the page.")
    entry, first = None, (available[0] if available else None)
    if first:
        try:
            entry = cache.get(first)
            info = entry.info()
        except CamvizError as err:
            info = f"Model '{first}' cannot be loaded: {err}"
    seed = [n for n in SEED_003 if n in available and options[n].kind == "imagenet"]
    compare_default = seed if len(seed) >= 2 else available[:3]
    method_choices = [(METHODS.get(m).title, m) for m in METHODS.names()]
    class_choices = ([(PREDICTED, PREDICTED)]
                     + (list(zip(entry.class_labels, entry.class_values)) if entry else []))

    with gr.Blocks(title="camviz", delete_cache=(KEEP_SECONDS, KEEP_SECONDS)) as demo:
        h = _Handlers(cache, Path(demo.GRADIO_CACHE) / "camviz", max_pixels)
        gr.Markdown(_INTRO)
        with gr.Tab("Explain", id="explain"):
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    image = image_input(label="Image", sources=["upload", "clipboard"],
                                        elem_id="explain-image", height=260)
                    model = gr.Dropdown(choices, value=first, label="Model", elem_id="explain-model")
                    model_info = gr.Markdown(info, elem_id="explain-model-info")
                    layer = gr.Dropdown(entry.layers if entry else [],
                                        value=CAM_LAYER if entry and entry.loaded.cam_layer else None,
                                        label="Target layer", allow_custom_value=True,
                                        elem_id="explain-layer",
                                        info="layers with a spatial output; (CAM layer) = the chosen "
                                             "model's default, whichever model")
                    methods = gr.CheckboxGroup(method_choices, value=list(DEFAULT_METHODS),
                                               label="CAM methods", elem_id="explain-methods")
                    target = gr.Dropdown(class_choices, value=PREDICTED, label="Class to explain",
                                         allow_custom_value=True, elem_id="explain-class")
                    with gr.Row():
                        alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity (alpha)")
                        colormap = gr.Dropdown(COLORMAPS.names(), value="jet", label="Colour map")
                    run = gr.Button("Explain", variant="primary", elem_id="explain-run")
                with gr.Column(scale=2):
                    status = gr.Markdown(elem_id="explain-status")
                    with gr.Row():
                        gallery = gr.Gallery(label="Overlays", format="png", columns=3, scale=2,
                                             height=300, object_fit="contain",
                                             elem_id="explain-gallery")
                        label = gr.Label(num_top_classes=TOP_K, label="Top-5 predictions", scale=1,
                                         elem_id="explain-label")
                    with gr.Row():
                        maps = gr.File(label="Raw maps (.npy, layer resolution, unnormalised)",
                                       file_count="multiple", interactive=False, elem_id="explain-maps")
                        pngs = gr.File(label="Overlays (.png)", file_count="multiple",
                                       interactive=False, elem_id="explain-pngs")
            if samples:
                gr.Examples([[str(p)] for p in samples], inputs=[image], label="Samples",
                            examples_per_page=16)
        with gr.Tab("Compare", id="compare") as compare_tab:
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    c_image = image_input(label="Image", sources=["upload", "clipboard"],
                                          elem_id="compare-image", height=260)
                    c_models = gr.Dropdown(choices, value=compare_default, multiselect=True,
                                           max_choices=MAX_COMPARE, label="Models",
                                           elem_id="compare-models")
                    c_layers = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                                           label="Layers", elem_id="compare-layers",
                                           info="empty: each model's CAM layer; else layers all "
                                                "chosen models have")
                    c_methods = gr.CheckboxGroup(method_choices, value=["gradcam"], label="CAM methods",
                                                 elem_id="compare-methods")
                    with gr.Row():
                        c_alpha = gr.Slider(0, 1, value=0.5, step=0.05, label="Opacity (alpha)")
                        c_colormap = gr.Dropdown(COLORMAPS.names(), value="jet", label="Colour map")
                    c_run = gr.Button("Compare", variant="primary", elem_id="compare-run")
                with gr.Column(scale=2):
                    c_gallery = gr.Gallery(label="Side by side (model · layer · method · top class p)",
                                           format="png", columns=3, object_fit="contain", height=320,
                                           elem_id="compare-gallery")
                    c_table = gr.Dataframe(headers=["model"] + [f"top {i + 1}" for i in range(TOP_K)],
                                           interactive=False, label="Predictions",
                                           elem_id="compare-table")
                    c_grid = gr.Image(label="Grid", format="png", type="numpy", interactive=False,
                                      elem_id="compare-grid")
            if samples:
                gr.Examples([[str(p)] for p in samples], inputs=[c_image], label="Samples",
                            examples_per_page=16)

        model.change(h.choose_model, model, [layer, target, model_info], api_name="choose_model")
        run.click(h.explain, [image, model, layer, methods, target, alpha, colormap],
                  [gallery, label, status, maps, pngs], api_name="explain",
                  concurrency_limit=concurrency)
        c_models.change(h.choose_models, c_models, c_layers, api_name="choose_models")
        # the preselected models are loaded when the tab is first opened, not at start
        compare_tab.select(h.choose_models, c_models, c_layers, api_visibility="private")
        c_run.click(h.compare, [c_image, c_models, c_layers, c_methods, c_alpha, c_colormap],
                    [c_gallery, c_grid, c_table], api_name="compare", concurrency_limit=concurrency)
        demo.load(h.refresh, [model, c_models], [model, c_models], api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency)
    return demo


def launch(demo: gr.Blocks, *, host: str | None = None, port: int | None = None,
           share: bool = False, **kwargs: Any):
    """Serve ``demo`` with camviz's defaults: uploads capped at :data:`MAX_FILE_SIZE`; host
    127.0.0.1 (or ``$GRADIO_SERVER_NAME``) and port 7860 or the next free one unless given.
    ``share=True`` asks Gradio for a public link (that one needs internet)."""
    kwargs.setdefault("max_file_size", MAX_FILE_SIZE)
    return demo.launch(server_name=host, server_port=port, share=share, **kwargs)
