"""The model handle: a loaded model with everything needed to feed it images.

:class:`LoadedModel` is what checkpoints, the ImageNet hub and the zoo build
(:mod:`camviz.checkpoint`, :mod:`camviz.hub`) and what the explain layer, the metrics,
evaluation, the CLI and the app take. Its :attr:`~LoadedModel.preprocessing` (square size,
channels, mean/std, from the checkpoint or the model's spec) is the one description of the
model's input; :func:`preprocess` turns decoded images into that input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from camviz.data.transforms import Preprocess, normalize
from camviz.errors import ConfigError, ImageError, unknown


@dataclass
class LoadedModel:
    """A model ready to explain, with what is needed to preprocess its inputs."""

    model: nn.Module
    name: str
    source: str                 # "checkpoint" | "imagenet" | "untrained"
    arch: str
    classes: list[str]
    input_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    cam_layer: str | None
    classifier: str | None
    checkpoint: Path | None = None
    sha256: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def preprocessing(self) -> Preprocess:
        """Square size, channels and mean/std of the model's input (as it was trained)."""
        return Preprocess(int(self.input_size), int(self.in_channels), tuple(self.mean),
                          tuple(self.std))

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    @property
    def dataset(self) -> str | None:
        """The data set the model was trained on, when its checkpoint says."""
        return (self.meta or {}).get("dataset")

    def class_index(self, value: int | str) -> int:
        """A class name (exact, then case-insensitive) or index → a checked class index."""
        classes, n = self.classes, len(self.classes)
        if isinstance(value, str):
            text = value.strip()
            for same in (lambda c: c == text, lambda c: c.lower() == text.lower()):
                hits = [i for i, c in enumerate(classes) if same(c)]
                if hits:
                    return hits[0]
            if not re.fullmatch(r"[+-]?\d+", text):
                few = "" if n <= 12 else f"e.g. {', '.join(classes[:5])}, ... ({n} classes); "
                raise unknown("class", text, classes,
                              f"{few}pass a class name or an index 0..{n - 1} "
                              f"(`camviz info --model {self.name}` lists them)")
            value = int(text)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"class must be a name or an index, got {value!r}")
        if not 0 <= int(value) < n:
            raise ConfigError(f"class index {int(value)} is out of range for model '{self.name}' "
                              f"with {n} classes; pass 0..{n - 1} or a class name")
        return int(value)


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a stateless model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def model_input(images: Sequence[Image.Image], loaded: LoadedModel) -> list[Image.Image]:
    """The images as the model sees them, before normalisation: ``input_size`` square
    (bilinear, no crop, aspect not kept), grey (ITU-R 601-2 luma) for a 1-channel model."""
    pre = _checked(loaded)
    if not images:
        raise ImageError("no images to preprocess")
    return [im.convert("L" if pre.channels == 1 else "RGB")
              .resize((pre.size, pre.size), Image.Resampling.BILINEAR) for im in images]


def preprocess(images: Sequence[Image.Image], loaded: LoadedModel,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Images → a normalised (N, C, S, S) float tensor, exactly as the model was trained.

    :func:`model_input`, then ``/255`` and the model's mean/std. ``device`` defaults to the
    model's.
    """
    pre = _checked(loaded)
    arrays = []
    for im in model_input(images, loaded):
        a = np.asarray(im, dtype=np.float32) / 255.0
        arrays.append(a[None] if pre.channels == 1 else a.transpose(2, 0, 1))
    x = normalize(torch.from_numpy(np.stack(arrays)), pre)
    return x.to(device if device is not None else model_device(loaded.model))


def _checked(loaded: LoadedModel) -> Preprocess:
    channels = int(loaded.in_channels)
    if channels not in (1, 3):
        raise ImageError(f"model '{loaded.name}' expects {channels}-channel inputs; camviz "
                         "feeds images as 1 (grey) or 3 (RGB) channels")
    if len(loaded.mean) != channels or len(loaded.std) != channels:
        raise ImageError(f"model '{loaded.name}' has mean/std for {len(loaded.mean)} channels but "
                         f"takes {channels}; fix the checkpoint metadata")
    return loaded.preprocessing
