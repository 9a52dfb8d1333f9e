"""Checkpoint I/O: weights in safetensors, everything needed to rebuild them in its header.

A camviz checkpoint is one ``.safetensors`` file. Its header metadata holds one key,
``"camviz"``, a JSON object with the architecture name and constructor kwargs, class
names, input size, channels, mean/std, the training config, metrics and the format
version, so :func:`load_checkpoint` rebuilds the model from the file alone. Files are
written atomically (temp file + rename) and never unpickled.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from camviz.errors import CamvizError, CheckpointError

# atomic_write and file_sha256 are imported from here by training code, which predates fileio
from camviz.fileio import atomic_write, default_mode, file_sha256, umask  # noqa: F401
from camviz.handle import LoadedModel
from camviz.models import MODELS, build_model
from camviz.version import __version__

FORMAT_VERSION = 1
META_KEY = "camviz"
REQUIRED = ("arch", "arch_kwargs", "classes", "mean", "std")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any], *,
                    half: bool = False) -> Path:
    """Write ``model``'s weights and ``meta`` to ``path`` atomically.

    ``meta`` needs ``arch`` (a zoo name), ``arch_kwargs`` (num_classes, in_channels,
    input_size and builder options), ``classes``, ``mean`` and ``std``. ``half`` stores
    floating tensors as float16 (they are cast back to float32 on load).
    """
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"checkpoint meta lacks {missing}")
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if half and v.is_floating_point():
            v = v.to(torch.float16)
        state[k] = v.contiguous().clone()
    full = {**meta, "format_version": FORMAT_VERSION, "camviz_version": __version__,
            "dtype": "float16" if half else "float32",
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps(full, default=_jsonable)
    return atomic_write(Path(path), lambda tmp: save_file(state, str(tmp), metadata={META_KEY: text}))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (Path, torch.device, torch.dtype)):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' does not exist; check the path or run "
                              "`camviz models` to list known checkpoints")
    if path.is_dir():
        raise CheckpointError(f"checkpoint '{path}' is a directory; pass the .safetensors file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint '{path}' is empty (0 bytes); re-save or re-download it")


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate the camviz metadata of a checkpoint without loading weights."""
    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"checkpoint '{path}' is not a readable safetensors file ({_short(err)}); it may be "
            "truncated, corrupt or a pickle (.pt) file, which camviz never unpickles — "
            "save weights with camviz or safetensors") from None
    if META_KEY not in header:
        raise CheckpointError(f"'{path}' is a safetensors file without camviz metadata; "
                              "it was not written by camviz (train one with `camviz train`)")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint '{path}' has corrupt metadata ({err.msg} at "
                              f"character {err.pos}); re-save it with camviz (`camviz train`, "
                              "camviz.save_checkpoint) or restore the original file") from None
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint '{path}' metadata lacks {', '.join(missing)}; re-save "
                              "it with camviz.save_checkpoint, which records them")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {meta['format_version']}, newer than this "
            f"camviz reads ({FORMAT_VERSION}); upgrade camviz")
    return meta


def _short(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` strictly, casting dtypes; mismatches are CheckpointErrors."""
    own = model.state_dict()
    # Weights saved before BatchNorm counted its batches lack num_batches_tracked: keep the model's.
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
             for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es), first: {wrong[0]} (file vs model)")
        if missing:
            parts.append(f"{len(missing)} missing key(s), first: {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first: {unexpected[0]}")
        raise CheckpointError(
            f"weights in '{source}' do not fit the model: {'; '.join(parts)} — the file is for "
            "another architecture, channel count or number of classes")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    name: str | None = None) -> LoadedModel:
    """Rebuild the model stored in a camviz checkpoint, in eval mode on ``device``."""
    path = Path(path)
    meta = read_meta(path)
    arch = meta["arch"]
    if arch not in MODELS:
        raise CheckpointError(f"checkpoint '{path}' is for architecture '{arch}', which this "
                              f"camviz does not know; upgrade camviz")
    kwargs = dict(meta["arch_kwargs"])
    try:
        model = build_model(arch, **kwargs)
    except CamvizError as err:
        raise CheckpointError(f"checkpoint '{path}' has bad architecture options: {err}") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint '{path}' weights are unreadable ({_short(err)}); "
                              "the file is truncated or corrupt") from None
    load_weights(model, state, str(path))
    classes = list(meta["classes"])
    if len(classes) != kwargs.get("num_classes", len(classes)):
        raise CheckpointError(f"checkpoint '{path}' lists {len(classes)} classes but the model "
                              f"has {kwargs.get('num_classes')} outputs; re-save it with "
                              "camviz.save_checkpoint giving one class name per output")
    spec = MODELS.get(arch)
    model.eval().to(device)
    return LoadedModel(
        model=model, name=name or path.stem, source="checkpoint", arch=arch, classes=classes,
        input_size=int(kwargs.get("input_size", spec.input_size)),
        in_channels=int(kwargs.get("in_channels", spec.in_channels)),
        mean=tuple(meta["mean"]), std=tuple(meta["std"]), cam_layer=spec.cam_layer,
        classifier=spec.classifier, checkpoint=path, sha256=file_sha256(path), meta=meta)
