"""From raw layer-resolution maps to [0, 1] maps at input resolution."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch.nn import functional as F

from camviz.errors import unknown

NORMALIZE = ("image", "batch")  # what `normalize=` accepts


def check_normalize(mode: str) -> str:
    if mode not in NORMALIZE:
        raise unknown("normalize mode", mode, NORMALIZE,
                      "'image' scales each map to [0, 1], 'batch' uses one scale for all")
    return mode


def upsample(raw: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear upsampling of (N, K, h, w) maps to (N, K, H, W) (pixel-centre aligned)."""
    return F.interpolate(raw, size=size, mode="bilinear", align_corners=False)


def normalize_maps(maps: Tensor, mode: str = "image", *, targets: Tensor | None = None,
                   labels: list[str] | None = None) -> Tensor:
    """Min-max scale non-negative maps to [0, 1].

    ``maps`` is (N, K, H, W), or (M, N, K, H, W) for M methods at once. ``mode="image"``
    scales each map on its own, ``"batch"`` all maps of a method together. A constant map
    becomes 1 if positive; an all-zero map (no positive evidence, e.g. every channel weight
    negative) stays 0 and triggers a warning naming ``labels[m]`` - never NaN.
    """
    check_normalize(mode)
    blocks = maps[None] if maps.dim() == 4 else maps
    flat = blocks.flatten(-2) if mode == "image" else blocks.flatten(1)[:, None]
    lo, hi = flat.amin(dim=-1, keepdim=True), flat.amax(dim=-1, keepdim=True)  # aminmax is slower
    span = hi - lo
    # a constant map becomes 1 if positive, 0 if zero; the discarded branch may be nan
    out = torch.where(span > 0, (flat - lo) / span, (hi > 0).to(maps.dtype)).view_as(blocks)
    zero = hi[..., 0] <= 0                                   # (M, N, K) or (M, 1)
    if bool(zero.any()):
        for m in zero.flatten(1).any(dim=1).nonzero().flatten().tolist():
            label = labels[m] if labels else "map"
            if mode == "image":
                z = zero[m]
                n, k = divmod(int(z.flatten().nonzero()[0]), z.shape[-1])
                cls = f", class {int(targets[n, k])}" if targets is not None else ""
                where = f"{int(z.sum())} of {z.numel()} maps are all zero (first: image {n}{cls})"
            else:
                where = "every map of the batch is zero"
            warnings.warn(f"{label}: {where}; no positive evidence at this layer, left at 0",
                          RuntimeWarning, stacklevel=3)
    return out[0] if maps.dim() == 4 else out
