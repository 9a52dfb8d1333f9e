"""Finding a model by name: checkpoints, torchvision ImageNet models, zoo architectures.

Resolution of ``--model NAME`` (first match wins):

1. ``NAME`` is a path to an existing file → that camviz checkpoint;
2. ``<checkpoints_dir>/NAME.safetensors`` exists → that checkpoint;
3. ``NAME`` is a torchvision ImageNet model (:data:`IMAGENET`) → its IMAGENET1K weights,
   from torchvision's cache (``$TORCH_HOME/hub/checkpoints``) or downloaded once;
4. ``NAME`` is a zoo architecture → that architecture with random weights (untrained).

So ``--model resnet50`` means torchvision's ImageNet ResNet-50 unless a checkpoint named
``resnet50`` exists, as in the lab reports' ``models.resnet50(pretrained=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from camviz.checkpoint import load_checkpoint, load_weights, read_meta
from camviz.errors import CamvizError, ModelUnavailableError, unknown
from camviz.fileio import atomic_write
from camviz.handle import LoadedModel
from camviz.models import MODELS, build_model
from camviz.registry import Registry

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageNetSpec:
    """A torchvision ImageNet classifier: builder kwargs and the layers camviz targets."""

    name: str
    cam_layer: str
    classifier: str
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    fix_state: Callable[[dict], dict] | None = None
    after_load: Callable[[nn.Module], None] | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


IMAGENET: Registry[ImageNetSpec] = Registry("ImageNet model")

_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def _densenet_keys(state: dict) -> dict:
    """The published DenseNet weights use old key names ('norm.1'); map them to 'norm1'."""
    out = {}
    for k, v in state.items():
        m = _DENSENET_KEY.match(k)
        out[m.group(1) + m.group(2) if m else k] = v
    return out


def _drop_aux(model: nn.Module) -> None:
    model.aux_logits = False
    model.aux1 = None
    model.aux2 = None


for _spec in (
    ImageNetSpec("resnet18", "layer4", "fc"),
    ImageNetSpec("resnet50", "layer4", "fc"),
    ImageNetSpec("densenet121", "features", "classifier", fix_state=_densenet_keys),
    ImageNetSpec("vgg16", "features.29", "classifier.6"),
    ImageNetSpec("mobilenet_v3_large", "features", "classifier.3"),
    ImageNetSpec("efficientnet_b0", "features", "classifier.1"),
    ImageNetSpec("googlenet", "inception5b", "fc",
                 build_kwargs={"aux_logits": True, "transform_input": True, "init_weights": False},
                 after_load=_drop_aux),
    # Transformers and their kin (issue 12); layers chosen in docs/transformers.md
    ImageNetSpec("vit_b_16", "encoder.layers.encoder_layer_11.ln_1", "heads.head"),
    ImageNetSpec("swin_t", "norm", "head"),
    ImageNetSpec("convnext_tiny", "features", "classifier.2"),
    ImageNetSpec("maxvit_t", "blocks.3", "classifier.5"),
):
    IMAGENET.register(_spec.name, _spec)


def _weights_enum(name: str):
    return torchvision.models.get_model_weights(name).IMAGENET1K_V1


def imagenet_cache_path(name: str) -> Path:
    """Where torchvision's cache keeps the IMAGENET1K_V1 weights of ``name``."""
    url = _weights_enum(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dest), progress=True)


def weights_url(name: str) -> str:
    """Where torchvision publishes the IMAGENET1K_V1 weights of ``name``."""
    return _weights_enum(name).url


def download_weights(name: str, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download the ImageNet weights of ``name`` into torchvision's cache, atomically (a
    partial file never lands at the cache path). ``progress(done_bytes, total_bytes)`` is
    called as blocks arrive (``total`` None when the server does not say)."""
    url, dest = weights_url(name), imagenet_cache_path(name)
    if progress is None:
        _download(url, dest)
        return dest

    def fetch(tmp: Path) -> None:
        with urllib.request.urlopen(url, timeout=30) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            progress(done, total)
            while block := response.read(1 << 20):
                f.write(block)
                done += len(block)
                progress(done, total)

    return atomic_write(dest, fetch)


def load_imagenet(name: str, *, pretrained: bool = True, device: str | torch.device = "cpu",
                  download: bool = True,
                  progress: Callable[[int, int | None], None] | None = None) -> LoadedModel:
    """A torchvision ImageNet model; weights from the cache, downloaded if missing and allowed
    (``progress`` as in :func:`download_weights`)."""
    spec = IMAGENET.get(name)
    weights = _weights_enum(name)
    model = torchvision.models.get_model(name, weights=None, **spec.build_kwargs)
    path = imagenet_cache_path(name)
    if pretrained:
        if not path.exists() and not download:
            raise ModelUnavailableError(
                f"ImageNet weights for '{name}' are not cached at {path}; run `camviz explain "
                f"--model {name}` once with internet, or place {os.path.basename(weights.url)} there")
        if not path.exists():
            try:
                download_weights(name, progress)
            except Exception as err:  # noqa: BLE001 -- no network, proxy, disk: one message for all
                raise ModelUnavailableError(
                    f"ImageNet weights for '{name}' are not cached at {path} and could not be "
                    f"downloaded ({type(err).__name__}: {str(err)[:100]}); run once with internet, "
                    f"place {os.path.basename(weights.url)} at that path, or pass --checkpoint") from None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 -- torch.load raises many kinds on a bad file
            raise ModelUnavailableError(
                f"ImageNet weights file {path} is unreadable ({type(err).__name__}); delete it "
                "and download again") from None
        if spec.fix_state:
            state = spec.fix_state(state)
        load_weights(model, state, str(path))
    if spec.after_load:
        spec.after_load(model)
    model.eval().to(device)
    return LoadedModel(
        model=model, name=name, source="imagenet" if pretrained else "untrained", arch=name,
        classes=list(weights.meta["categories"]), input_size=224, in_channels=3,
        mean=spec.mean, std=spec.std, cam_layer=spec.cam_layer,
        classifier=spec.classifier, checkpoint=path if pretrained else None,
        meta={"weights": str(weights)})


def load_zoo(name: str, device: str | torch.device = "cpu", **kwargs) -> LoadedModel:
    """A zoo architecture with random weights (for layer listings and tests)."""
    spec = MODELS.get(name)
    model = build_model(name, **kwargs).eval().to(device)
    num_classes = kwargs.get("num_classes", 10)
    in_ch = kwargs.get("in_channels") or spec.in_channels
    mean, std = spec.normalization(in_ch)
    return LoadedModel(
        model=model, name=name, source="untrained", arch=name,
        classes=[f"class{i}" for i in range(num_classes)],
        input_size=kwargs.get("input_size") or spec.input_size, in_channels=in_ch,
        mean=mean, std=std, cam_layer=spec.cam_layer,
        classifier=spec.classifier)


def default_checkpoints_dir() -> Path:
    """``$CAMVIZ_CHECKPOINTS``, else ``./checkpoints`` if present, else the repo's ``checkpoints/``."""
    env = os.environ.get("CAMVIZ_CHECKPOINTS")
    if env:
        return Path(env)
    here = Path.cwd() / "checkpoints"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "checkpoints"


def checkpoint_names(checkpoints_dir: str | os.PathLike | None = None) -> list[str]:
    d = Path(checkpoints_dir) if checkpoints_dir else default_checkpoints_dir()
    return sorted(p.stem for p in d.glob("*.safetensors")) if d.is_dir() else []


def checkpoints_folder(checkpoints_dir: str | os.PathLike | None) -> Path:
    """The folder named by ``--checkpoints-dir`` or ``$CAMVIZ_CHECKPOINTS`` (which must be
    one), else the default."""
    if checkpoints_dir:
        named, value, fix = "--checkpoints-dir", str(checkpoints_dir), "pass"
    elif os.environ.get("CAMVIZ_CHECKPOINTS"):
        named, value, fix = "$CAMVIZ_CHECKPOINTS", os.environ["CAMVIZ_CHECKPOINTS"], "set it to"
    else:
        return default_checkpoints_dir()
    cdir = Path(value).expanduser()
    if not cdir.is_dir():
        what = "is a file, not a folder" if cdir.exists() else "does not exist"
        raise CamvizError(f"{named} '{value}' {what}; {fix} the folder that holds your "
                          ".safetensors checkpoints (or leave it out for ./checkpoints)")
    return cdir


def model_source(name_or_path: str, *,
                 checkpoints_dir: str | os.PathLike | None = None) -> tuple[str, Path | None]:
    """Where :func:`load_model` would take ``name_or_path`` from, without loading it:
    ``("file", path)``, ``("checkpoint", path)``, ``("imagenet", None)`` or ``("zoo", None)``
    (an untrained architecture); an unknown name is an error listing the known ones."""
    cdir = Path(checkpoints_dir).expanduser() if checkpoints_dir else default_checkpoints_dir()
    target = str(name_or_path)
    path = Path(target).expanduser()
    if path.suffix == ".safetensors" or os.sep in target or path.is_file():
        return "file", path
    if (cdir / f"{target}.safetensors").is_file():
        return "checkpoint", cdir / f"{target}.safetensors"
    if target in IMAGENET:
        return "imagenet", None
    if target in MODELS:
        return "zoo", None
    checkpoints_folder(checkpoints_dir)   # a missing or file checkpoints folder is the likelier mistake
    raise unknown("model", target, sorted(set(checkpoint_names(cdir)) | set(IMAGENET.names())
                                          | set(MODELS.names())),
                  "run `camviz models` to list them, or pass --checkpoint PATH")


def load_model(name_or_path: str, *, checkpoints_dir: str | os.PathLike | None = None,
               device: str | torch.device = "cpu", pretrained: bool = True) -> LoadedModel:
    """Resolve ``name_or_path`` (see the module docstring and :func:`model_source`) and load
    it in eval mode.

    ``pretrained=False`` builds ImageNet architectures without weights (for ``camviz layers``
    and ``camviz info``, which need no weights).
    """
    target = str(name_or_path)
    kind, path = model_source(target, checkpoints_dir=checkpoints_dir)
    if kind == "file":
        return load_checkpoint(path, device=device)
    if kind == "checkpoint":
        return load_checkpoint(path, device=device, name=target)
    if kind == "imagenet":
        return load_imagenet(target, pretrained=pretrained, device=device)
    cdir = Path(checkpoints_dir).expanduser() if checkpoints_dir else default_checkpoints_dir()
    log.warning("'%s' is an untrained architecture (no checkpoint named so in %s): "
                "its predictions and maps are random", target, cdir)
    return load_zoo(target, device=device)


@dataclass(frozen=True)
class ModelListing:
    """One row of `camviz models`: a name ``--model`` accepts and where it comes from."""

    name: str
    source: str
    detail: str


def shipped_names(checkpoints_dir: Path) -> set[str]:
    """Checkpoint names listed in ``checkpoints/shipped.json`` (the ones the repo ships)."""
    f = checkpoints_dir / "shipped.json"
    if not f.is_file():
        return set()
    try:
        return set(json.loads(f.read_text()).get("checkpoints", {}))
    except (OSError, ValueError) as err:
        raise CamvizError(f"{f} is not valid JSON ({err}); restore it from git") from None


def list_models(checkpoints_dir: str | os.PathLike | None = None) -> list[ModelListing]:
    """Every name ``--model`` accepts, with where it comes from."""
    cdir = checkpoints_folder(checkpoints_dir)
    shipped = shipped_names(cdir)
    rows = []
    for name in checkpoint_names(cdir):
        kind = "shipped checkpoint" if name in shipped else "user checkpoint"
        try:
            meta = read_meta(cdir / f"{name}.safetensors")
            acc = (meta.get("metrics") or {}).get("test_accuracy")
            detail = (f"{meta['arch']} on {meta.get('dataset', '?')}, {len(meta['classes'])} classes"
                      + (f", test acc {acc:.4f}" if isinstance(acc, (int, float)) else ""))
        except CamvizError as err:
            detail = f"unreadable: {err}"
        rows.append(ModelListing(name, kind, detail))
    for name in IMAGENET.names():
        cached = imagenet_cache_path(name).is_file()
        rows.append(ModelListing(name, "ImageNet weights " + ("(cached)" if cached else "(not cached)"),
                               "torchvision IMAGENET1K_V1, 1000 classes"
                               + ("" if cached else "; downloaded on first use")))
    for name in MODELS.names():
        spec = MODELS.get(name)
        rows.append(ModelListing(name, "architecture only, untrained", spec.description))
    return rows
