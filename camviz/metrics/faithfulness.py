"""Faithfulness: does removing what the map points at change the model's confidence?

Deletion and insertion curves (Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC 2018, Sec. 4.1) and average drop / increase in
confidence (Chattopadhyay et al., "Grad-CAM++", WACV 2018, Sec. 5.1). Everything works on
a batch of preprocessed images on the model's device; the model is only called forward.

Maps are (N, H, W) at input resolution; ``targets`` (N,) are the classes explained; the
score read is the softmax probability of the target class, as in both papers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from camviz.cam import frozen
from camviz.errors import ConfigError
from camviz.registry import Registry

#: Blur strength of the ``blur`` baseline: sigma as a share of the image side. RISE blurs
#: 224 px images with sigma 5 px for a soft start; objects here fill much of a small image,
#: so a stronger blur (4 px at 64 px, 14 px at 224 px) is needed to erase their shape.
BLUR_SIGMA = 1 / 16

BASELINES: Registry[Callable[[Tensor], Tensor]] = Registry(
    "baseline", hint="blur (Gaussian-blurred image), mean (per-image channel mean) or zeros "
                     "(0 in the model's input space, i.e. the training mean colour)")


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflected borders (pure tensor math)."""
    h, w = images.shape[-2:]
    radius = max(1, min(math.ceil(3 * sigma), min(h, w) - 1))
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = images.shape[1]
    out = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@BASELINES.register("blur")
def blur_baseline(images: Tensor) -> Tensor:
    """The image blurred with sigma = :data:`BLUR_SIGMA` x its side (RISE's insertion start)."""
    return gaussian_blur(images, BLUR_SIGMA * min(images.shape[-2:]))


@BASELINES.register("mean")
def mean_baseline(images: Tensor) -> Tensor:
    """Each image replaced by its own per-channel mean colour."""
    return images.mean(dim=(2, 3), keepdim=True).expand_as(images)


@BASELINES.register("zeros")
def zeros_baseline(images: Tensor) -> Tensor:
    """Zero in the model's input space: after mean/std normalisation, the training mean colour
    (RISE deletes to black, which is zero before normalisation)."""
    return torch.zeros_like(images)


def baseline_images(images: Tensor, baseline: str | Tensor) -> Tensor:
    """The images that replace removed pixels: a :data:`BASELINES` name or a tensor."""
    if isinstance(baseline, Tensor):
        return baseline.to(images).expand_as(images)
    return BASELINES.get(baseline)(images)


def target_probs(model: nn.Module, images: Tensor, targets: Tensor) -> Tensor:
    """Softmax probability of ``targets[i]`` for image i, (N,), without gradients."""
    with frozen(model), torch.inference_mode():
        logits = model(images)
    return logits.float().softmax(dim=1).gather(1, targets.view(-1, 1))[:, 0]


def pixel_ranks(maps: Tensor) -> Tensor:
    """Rank of every pixel by importance, 0 = most important: (N, H, W) -> (N, H*W) long.

    Ties keep raster order (a stable sort), so equal values are taken top-left first.
    """
    flat = maps.flatten(1)
    order = flat.argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


def _check(images: Tensor, maps: Tensor, targets: Tensor) -> None:
    if maps.dim() != 3 or maps.shape[0] != images.shape[0] or maps.shape[-2:] != images.shape[-2:]:
        raise ConfigError(f"maps must be (N, H, W) matching images {tuple(images.shape)}, got "
                          f"{tuple(maps.shape)}; upsample them to the input size first")
    if targets.shape != (images.shape[0],):
        raise ConfigError(f"targets must hold one class per image, got shape {tuple(targets.shape)}")


def check_steps(steps: int) -> int:
    """At least 2: with one step the curve is only "nothing removed" and "all removed", the
    same for every map, so its AUC could not tell maps apart."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps must be an integer >= 2, got {steps!r}; e.g. --steps 20")
    return steps


def _curve(model: nn.Module, images: Tensor, maps: Tensor, targets: Tensor, *, steps: int,
           baseline: str | Tensor, insert: bool, batch_size: int) -> Tensor:
    _check(images, maps, targets)
    check_steps(steps)
    n = images.shape[0]
    base = baseline_images(images, baseline)
    ranks = pixel_ranks(maps).view(1, n, 1, *maps.shape[1:])
    total = maps[0].numel()
    counts = [round(i * total / steps) for i in range(steps + 1)]  # pixels moved at step i
    group = max(1, batch_size // n)   # several steps per forward when the batch is small
    scores = []
    for start in range(0, steps + 1, group):
        k = torch.tensor(counts[start:start + group], device=images.device)
        moved = ranks < k.view(-1, 1, 1, 1, 1)                       # (g, N, 1, H, W)
        x = torch.where(moved, images, base) if insert else torch.where(moved, base, images)
        probs = target_probs(model, x.flatten(0, 1), targets.repeat(len(k)))
        scores.append(probs.view(len(k), n))
    return torch.cat(scores).T.contiguous()


def deletion_curve(model: nn.Module, images: Tensor, maps: Tensor, targets: Tensor, *,
                   steps: int = 20, baseline: str | Tensor = "zeros", batch_size: int = 64,
                   ) -> Tensor:
    """Target probability as the most important pixels are replaced by ``baseline``.

    Entry ``[i, s]`` is the probability after the top ``s/steps`` of the pixels of image i
    (ranked by ``maps[i]``) were removed; (N, steps + 1). A faithful map makes it fall fast
    (Petsiuk et al., BMVC 2018: deletion to black). At most ``batch_size`` images go
    through one forward; small batches share a forward between several steps.
    """
    return _curve(model, images, maps, targets, steps=steps, baseline=baseline, insert=False,
                  batch_size=batch_size)


def insertion_curve(model: nn.Module, images: Tensor, maps: Tensor, targets: Tensor, *,
                    steps: int = 20, baseline: str | Tensor = "blur", batch_size: int = 64,
                    ) -> Tensor:
    """Target probability as the most important pixels are put back into ``baseline``.

    (N, steps + 1); a faithful map makes it rise fast (Petsiuk et al., BMVC 2018:
    insertion into a blurred copy).
    """
    return _curve(model, images, maps, targets, steps=steps, baseline=baseline, insert=True,
                  batch_size=batch_size)


def curve_auc(curves: Tensor) -> Tensor:
    """Area under (N, S + 1) curves sampled evenly on [0, 1] (trapezoid rule), (N,)."""
    if curves.shape[-1] < 2:
        raise ConfigError("a curve needs at least 2 points (steps >= 1)")
    return torch.trapezoid(curves, dx=1.0 / (curves.shape[-1] - 1), dim=-1)


def masked_images(images: Tensor, maps: Tensor, baseline: str | Tensor = "zeros") -> Tensor:
    """The explanation map applied to the image: ``b + m (x - b)``; with the zeros baseline
    the paper's ``E^c = L^c o I`` (Chattopadhyay et al., WACV 2018, Sec. 5.1)."""
    base = baseline_images(images, baseline)
    return base + maps[:, None].to(images.dtype) * (images - base)


def confidence_change(model: nn.Module, images: Tensor, maps: Tensor, targets: Tensor, *,
                      baseline: str | Tensor = "zeros") -> tuple[Tensor, Tensor]:
    """Target probabilities on the images, ``Y``, and on the map-masked images, ``O``; (N,) each."""
    _check(images, maps, targets)
    return (target_probs(model, images, targets),
            target_probs(model, masked_images(images, maps, baseline), targets))


def average_drop(full: Tensor, masked: Tensor) -> Tensor:
    """Per-image drop ``max(0, Y - O) / Y`` (Chattopadhyay et al., WACV 2018, Eq. 20, whose
    "average drop %" is 100 x its mean); lower is better. A zero ``Y`` gives 0."""
    return torch.where(full > 0, (full - masked).clamp_min(0) / full.clamp_min(1e-30),
                       torch.zeros_like(full))


def increase_in_confidence(full: Tensor, masked: Tensor) -> Tensor:
    """Per-image indicator ``Y < O`` (Chattopadhyay et al., WACV 2018, Eq. 21, whose
    "% increase in confidence" is 100 x its mean), as 0/1 floats; higher is better."""
    return (full < masked).to(full.dtype)
