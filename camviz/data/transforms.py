"""Per-batch preprocessing on the training device: scale, resize, channels, augment, normalise.

Images stay uint8 until a batch is drawn; everything after that is a handful of tensor ops
on the batch, so a resident data set never goes through per-item Python transforms (the
approach of Keller Jordan's airbench loader).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from camviz.data.base import convert_channels
from camviz.errors import ConfigError


@dataclass(frozen=True)
class Preprocess:
    """What a model expects: square ``size``, ``channels``, per-channel ``mean``/``std`` of
    pixels in [0, 1]. Stored in every checkpoint, so evaluation preprocesses as training did."""

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"mean/std need {self.channels} values, got {self.mean}, {self.std}")


@dataclass(frozen=True)
class Augment:
    """Training augmentation: random crop after zero padding, flips with probability p."""

    crop_padding: int = 0
    hflip: float = 0.0
    vflip: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            raise ConfigError(f"crop padding must be an integer >= 0 pixels, got {self.crop_padding!r}")
        for name in ("hflip", "vflip"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"--{name} must be a probability in [0, 1], got {p}")

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.hflip > 0 or self.vflip > 0


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop of the zero-padded batch back to its size (one gather)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices around a slice put their dims first: (N, H, W, C) -> (N, C, H, W).
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, p: float, dim: int, generator: torch.Generator) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(dim), x)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Apply ``aug`` to a float batch; random draws come from the CPU ``generator``."""
    if aug.crop_padding:
        x = random_crop(x, aug.crop_padding, generator)
    if aug.hflip:
        x = random_flip(x, aug.hflip, -1, generator)
    if aug.vflip:
        x = random_flip(x, aug.vflip, -2, generator)
    return x


def prepare_batch(images: torch.Tensor, pre: Preprocess, *, augment: Augment | None = None,
                  generator: torch.Generator | None = None, channels_last: bool = False) -> torch.Tensor:
    """uint8 (N, C, H, W) on any device -> normalised float32 model input on that device."""
    x = images.to(torch.float32).div_(255.0)
    if x.shape[-2:] != (pre.size, pre.size):
        x = F.interpolate(x, size=(pre.size, pre.size), mode="bilinear", align_corners=False,
                          antialias=pre.size < max(x.shape[-2:]))
    x = convert_channels(x, pre.channels)
    if augment is not None and augment.active:
        if generator is None:
            raise ValueError("augmentation needs a generator (for repeatable runs)")
        x = augment_batch(x, augment, generator)
    x = normalize(x, pre)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def normalize(x: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """``(x - mean) / std`` per channel for a float (N, C, H, W) batch in [0, 1]: the last
    step of every model input, in training, evaluation and explaining alike."""
    mean = torch.tensor(pre.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(pre.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def resize_masks(masks: torch.Tensor, size: int) -> torch.Tensor:
    """Bool masks (N, H, W) resized to (N, size, size) by nearest neighbour."""
    if masks.shape[-1] == size and masks.shape[-2] == size:
        return masks
    return F.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5
