"""Sanity checks for saliency maps: cascading model-parameter randomisation.

Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, Sec. 3: re-initialise the
model's weights from the top (the classifier first, then blocks downwards), cumulatively,
and compare each map with the trained model's by Spearman rank correlation. A map that
depends on what the model learnt falls apart; one that stays similar is explaining the
image (edges, colours), not the model.

The randomisation works on a deep copy; the model passed in is never changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from camviz.catalog import SANITY_THRESHOLD  # noqa: F401  (read as sanity.SANITY_THRESHOLD)
from camviz.errors import CamvizError

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


@dataclass(frozen=True)
class RandomizationStep:
    """One cascade step: the modules re-initialised at it (besides those of earlier steps)."""

    name: str                      # the step's main module, e.g. "fc", "layer4.1"
    modules: tuple[str, ...]       # every module name re-initialised at this step


def _blocks(module: nn.Module, prefix: str = "") -> list[list[str]]:
    """Parameterised blocks in registration order; a norm layer joins the block before it."""
    out: list[list[str]] = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        if next(child.parameters(), None) is None:
            continue
        if isinstance(child, _CONTAINERS):
            out.extend(_blocks(child, full + "."))
        elif isinstance(child, _NORMS) and out:
            out[-1].append(full)
        else:
            out.append([full])
    return out


def randomization_steps(model: nn.Module, classifier: str | None = None) -> list[RandomizationStep]:
    """The cascade, top first: parameterised blocks in reverse registration order.

    Blocks are the non-container modules that hold parameters (a ResNet ``BasicBlock``, a
    VGG ``conv5_2`` with its norm, a ``Linear``); ``nn.Sequential``/``ModuleList`` are
    opened. ``classifier`` (a module name) moves the step containing it to the front.
    """
    blocks = _blocks(model)
    if not blocks:
        if next(model.parameters(), None) is None:
            raise CamvizError("the model has no parameters to randomise")
        blocks = [[""]]
    steps = [RandomizationStep(b[0] or "<model>", tuple(b)) for b in reversed(blocks)]
    if classifier:
        first = [s for s in steps if any(classifier == m or classifier.startswith(m + ".")
                                         or m == "" for m in s.modules)]
        steps = first[:1] + [s for s in steps if s not in first[:1]]
    return steps


def affects(step: RandomizationStep, layer: str, order: Sequence[str]) -> bool:
    """Whether re-initialising ``step`` changes the output of ``layer`` (registration order
    ``order`` stands in for the forward order, true of sequential and zoo models)."""
    where = {n: i for i, n in enumerate(order)}
    for m in step.modules:
        if m == "" or m == layer or layer.startswith(m + ".") or m.startswith(layer + "."):
            return True
        if where.get(m, len(order)) < where.get(layer, -1):
            return True
    return False


def flag_step(model: nn.Module, steps: Sequence[RandomizationStep], layer: str) -> int:
    """Index of the first step that changes ``layer``'s activations: the one at which a map of
    that layer must have lost its resemblance to the trained model's."""
    order = [n for n, _ in model.named_modules()]
    for i, step in enumerate(steps):
        if affects(step, layer, order):
            return i
    return len(steps) - 1


def reinitialize_(module: nn.Module) -> None:
    """Re-draw ``module``'s parameters from their initial distribution, in place.

    Every submodule with ``reset_parameters`` (conv, linear, norm layers) uses it; other
    parameters are re-drawn from a normal with their current mean and std.
    """
    covered: set[int] = set()
    for sub in module.modules():
        if hasattr(sub, "reset_parameters") and callable(sub.reset_parameters):
            sub.reset_parameters()
            covered.update(id(p) for p in sub.parameters(recurse=False))
    with torch.no_grad():
        for p in module.parameters():
            if id(p) not in covered:
                std = float(p.float().std()) if p.numel() > 1 else 1.0
                p.normal_(float(p.float().mean()), std if std > 0 else 1.0)


def cascading_randomization(model: nn.Module, steps: Sequence[RandomizationStep], *,
                            seed: int = 0) -> Iterator[tuple[int, nn.Module]]:
    """Yield ``(i, copy)`` where ``copy`` has steps 0..i re-initialised (cumulative).

    One deep copy is made and changed step by step; the draws are seeded with ``seed`` and
    the step index, and the global random state is left as it was.
    """
    randomized = copy.deepcopy(model)
    named = dict(randomized.named_modules())
    cuda = sorted({p.device.index or 0 for p in randomized.parameters()
                   if p.device.type == "cuda"})
    for i, step in enumerate(steps):
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed * 100003 + i)
            for name in step.modules:
                reinitialize_(named[name])
        yield i, randomized


def rankdata(x: Tensor) -> Tensor:
    """Ranks of each row of (N, M), ties given their average rank (0-based), float32
    (exact up to 2^23 pixels per map; float64 is missing on some devices, e.g. MPS)."""
    x = x.contiguous()
    s = x.sort(dim=1).values
    lo = torch.searchsorted(s, x, side="left")
    hi = torch.searchsorted(s, x, side="right")
    return (lo + hi - 1).float() / 2


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of ``a[i]`` and ``b[i]`` flattened, (N,).

    A constant map (e.g. all zero after randomisation) has no ranking to agree with: 0.
    """
    ra, rb = rankdata(a.flatten(1).float()), rankdata(b.flatten(1).float())
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    den = ra.norm(dim=1) * rb.norm(dim=1)
    num = (ra * rb).sum(dim=1)
    rho = torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(num))
    return rho.clamp(-1.0, 1.0)   # float32 rounding may overshoot by ~1e-6
