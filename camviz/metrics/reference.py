"""Maps that know nothing about the model, to score CAM methods against.

A method is only worth trusting where it beats both: ``random`` (i.i.d. uniform noise, the
chance level of every metric) and ``center`` (a centred Gaussian: objects tend to sit near
the middle, so a map can score well on localisation without looking at the image at all).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from camviz.registry import Registry

#: Standard deviation of the ``center`` map as a share of the image side.
CENTER_SIGMA = 0.25

#: ``make(n, h, w, generator, device) -> (n, h, w)`` maps in [0, 1].
REFERENCE_MAPS: Registry[Callable[..., Tensor]] = Registry("reference map")


@REFERENCE_MAPS.register("random")
def random_maps(n: int, h: int, w: int, *, generator: torch.Generator,
                device: torch.device | str = "cpu") -> Tensor:
    """Uniform noise in [0, 1), drawn on the CPU from ``generator`` (same on every device)."""
    return torch.rand(n, h, w, generator=generator).to(device)


@REFERENCE_MAPS.register("center")
def center_maps(n: int, h: int, w: int, *, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", sigma: float = CENTER_SIGMA) -> Tensor:
    """A Gaussian centred on the image, ``exp(-d^2 / 2 (sigma * side)^2)``, peak 1."""
    ys = torch.arange(h, device=device, dtype=torch.float32) + 0.5 - h / 2
    xs = torch.arange(w, device=device, dtype=torch.float32) + 0.5 - w / 2
    d2 = ys[:, None] ** 2 + xs[None, :] ** 2
    g = torch.exp(-d2 / (2 * (sigma * min(h, w)) ** 2))
    return (g / g.max()).expand(n, h, w).contiguous()


def reference_maps(name: str, n: int, h: int, w: int, *, seed: int = 0,
                   device: torch.device | str = "cpu") -> Tensor:
    """(n, h, w) maps of the reference ``name``; seeded, so repeated calls agree."""
    return REFERENCE_MAPS.get(name)(n, h, w, generator=torch.Generator().manual_seed(seed),
                                    device=device)
