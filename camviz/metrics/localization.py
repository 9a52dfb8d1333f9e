"""Localisation against ground-truth object masks.

Maps are (N, H, W), non-negative (CAM maps in [0, 1]); masks are bool (N, H, W) of the same
size, each with at least one pixel. Every function returns one value per image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from camviz.errors import ConfigError, DataError

#: Zhang et al. count a hit within 15 px of the object on ~224 px images.
POINTING_TOLERANCE_224 = 15


def default_tolerance(size: int) -> int:
    """The pointing-game tolerance of Zhang et al. (15 px at 224 px) scaled to ``size`` px."""
    return round(POINTING_TOLERANCE_224 * size / 224)


def _check(maps: Tensor, masks: Tensor) -> None:
    if maps.dim() != 3 or maps.shape != masks.shape:
        raise ConfigError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} must both be "
                          "(N, H, W) of the same size")
    empty = (~masks.flatten(1).any(dim=1)).nonzero()
    if empty.numel():
        raise DataError(f"mask of image {int(empty[0])} is empty; localisation needs an object "
                        "in every image")


def peak_positions(maps: Tensor) -> tuple[Tensor, Tensor]:
    """(y, x) of each map's maximum, (N,) float pixel indices.

    A flat top (a coarse map upsampled, a constant map) has many maxima: the one nearest
    their centroid is taken, so a map without a preference points at its middle, not at
    the first pixel in raster order.
    """
    _, h, w = maps.shape
    flat = maps.flatten(1).float()
    top = flat.amax(dim=1, keepdim=True)
    tied = flat >= top - 1e-6 * top.abs()
    ys = torch.arange(h, device=maps.device, dtype=torch.float32).repeat_interleave(w)
    xs = torch.arange(w, device=maps.device, dtype=torch.float32).repeat(h)
    count = tied.sum(dim=1, keepdim=True)
    cy = (tied * ys).sum(dim=1, keepdim=True) / count
    cx = (tied * xs).sum(dim=1, keepdim=True) / count
    d2 = torch.where(tied, (ys - cy) ** 2 + (xs - cx) ** 2, torch.full_like(flat, float("inf")))
    peak = d2.argmin(dim=1)
    return ys[peak], xs[peak]


def pointing_game(maps: Tensor, masks: Tensor, tolerance: float = 0) -> Tensor:
    """Hit (1.0) when the map's maximum lies within ``tolerance`` px of the object mask.

    Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016 (IJCV 2018),
    Sec. 5.1. Distances are Euclidean between pixel centres; ties as in
    :func:`peak_positions`; an all-zero map points nowhere (a miss). (N,) floats.
    """
    _check(maps, masks)
    if tolerance < 0:
        raise ConfigError(f"pointing-game tolerance must be >= 0 px, got {tolerance}")
    n, h, w = maps.shape
    py, px = peak_positions(maps)
    ys = torch.arange(h, device=maps.device, dtype=torch.float32)
    xs = torch.arange(w, device=maps.device, dtype=torch.float32)
    d2 = (ys.view(1, h, 1) - py.view(n, 1, 1)) ** 2 + (xs.view(1, 1, w) - px.view(n, 1, 1)) ** 2
    nearest = torch.where(masks.bool(), d2, torch.full_like(d2, float("inf"))).flatten(1).amin(1)
    hit = nearest <= float(tolerance) ** 2 + 1e-6
    return (hit & (maps.flatten(1).amax(dim=1) > 0)).float()


def energy_pointing_game(maps: Tensor, masks: Tensor) -> Tensor:
    """Share of the map's energy inside the mask, ``sum(L * M) / sum(L)``.

    Wang et al., "Score-CAM", CVPR-W 2020, Sec. 5.2 (with exact masks instead of boxes).
    An all-zero map has no energy inside: 0. (N,) floats.
    """
    _check(maps, masks)
    m = maps.float().clamp_min(0).flatten(1)
    total = m.sum(dim=1)
    inside = (m * masks.flatten(1).float()).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))


def mask_iou(maps: Tensor, masks: Tensor, threshold: float = 0.5) -> Tensor:
    """Intersection over union of ``maps >= threshold`` with the mask, (N,) floats.

    The thresholded map as a segmentation, as in the weakly-supervised localisation of
    Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016
    (which thresholds at 20 % of the maximum and boxes the result).
    """
    _check(maps, masks)
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"IoU threshold must be in [0, 1] (maps are scaled to [0, 1]), "
                          f"got {threshold}")
    pred = (maps >= threshold).flatten(1)
    gt = masks.bool().flatten(1)
    inter = (pred & gt).sum(dim=1).float()
    union = (pred | gt).sum(dim=1).float()
    return inter / union  # the mask is not empty, so union > 0
