"""Model specs: what camviz needs to know about an architecture beside its builder.

Every zoo builder has the signature ``build(num_classes, in_channels, input_size, **options)``
and returns an ``nn.Module`` whose submodule names are stable (``layer4``, ``features.conv5``).
The spec records the default CAM layer and classifier layer by those names, so no other
module hard-codes them, and the architecture's default training recipe: the ``camviz train``
settings its shipped checkpoint was trained with (``checkpoints/*.safetensors`` record them),
used for every setting the user leaves out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from camviz.errors import ConfigError, did_you_mean
from camviz.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """An architecture of the zoo and its metadata."""

    name: str
    build: Callable[..., nn.Module]
    cam_layer: str            # default target layer for CAM methods
    classifier: str           # the final linear layer (CAM reads its weights)
    input_size: int = 28      # default input size (square)
    in_channels: int = 1      # default channels
    min_input_size: int = 28  # smallest square input the architecture supports
    description: str = ""
    mean: tuple[float, ...] | None = None   # per-channel input mean; None: 0.5 per channel
    std: tuple[float, ...] | None = None    # per-channel input std; None: 0.5 per channel
    #: ``camviz train`` config keys (optimizer, lr, scheduler, epochs, batch size,
    #: augmentation, model_options) that apply when neither flag nor YAML gives them.
    recipe: Mapping[str, Any] = field(default_factory=dict)

    def normalization(self, channels: int | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) for ``channels`` inputs (default: the spec's): the spec's own values
        when they fit, else 0.5 per channel (what an untrained model of the zoo assumes)."""
        channels = self.in_channels if channels is None else int(channels)
        fits = self.mean is not None and self.std is not None and len(self.mean) == channels
        return ((tuple(self.mean), tuple(self.std)) if fits
                else ((0.5,) * channels, (0.5,) * channels))

    def options(self) -> dict[str, object]:
        """Constructor options beyond (num_classes, in_channels, input_size), with defaults."""
        params = inspect.signature(self.build).parameters
        return {
            k: p.default for k, p in params.items()
            if k not in ("num_classes", "in_channels", "input_size")
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }


MODELS: Registry[ModelSpec] = Registry("model", hint="run `camviz models` to list them")

#: The recipe of the shipped Fashion-MNIST checkpoints (each adds its epochs): AdamW 2e-3
#: (torch's weight decay 0.01) with cosine decay to 0, batch 128, random crops after 2 px
#: zero padding and horizontal flips.
FASHION_RECIPE: Mapping[str, Any] = MappingProxyType({
    "optimizer": "adamw", "lr": 2e-3, "weight_decay": None, "scheduler": "cosine",
    "batch_size": 128, "crop_padding": 2, "hflip": 0.5, "vflip": 0.0})


def register_model(name: str, *, cam_layer: str, classifier: str, input_size: int = 28,
                   in_channels: int = 1, min_input_size: int = 28, description: str = "",
                   mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                   recipe: Mapping[str, Any] | None = None):
    """Decorator: register a builder in :data:`MODELS` with its spec."""
    def deco(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.register(name, ModelSpec(
            name=name, build=build, cam_layer=cam_layer, classifier=classifier,
            input_size=input_size, in_channels=in_channels, min_input_size=min_input_size,
            description=description or (build.__doc__ or "").strip().splitlines()[0],
            mean=mean, std=std, recipe=MappingProxyType(dict(recipe or {}))))
        return build
    return deco


def build_model(name: str, num_classes: int = 10, in_channels: int | None = None,
                input_size: int | None = None, **options) -> nn.Module:
    """Build a zoo architecture by name; unknown options and too-small inputs are errors."""
    spec = MODELS.get(name)
    in_channels = spec.in_channels if in_channels is None else int(in_channels)
    input_size = spec.input_size if input_size is None else int(input_size)
    valid = spec.options()
    for key in options:
        if key not in valid:
            raise ConfigError(
                f"model '{name}' has no option '{key}'{did_you_mean(key, valid)} "
                f"(valid: {', '.join(valid) or 'none'})")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    if in_channels < 1:
        raise ConfigError(f"in_channels must be >= 1, got {in_channels}")
    if input_size < spec.min_input_size:
        raise ConfigError(
            f"model '{name}' needs inputs of at least {spec.min_input_size}x{spec.min_input_size}, "
            f"got {input_size}; pass --input-size {spec.min_input_size} or larger")
    return spec.build(num_classes=num_classes, in_channels=in_channels,
                      input_size=input_size, **options)
