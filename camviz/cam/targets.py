"""Which class each map explains, and which score of that class is differentiated."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from camviz.errors import CamvizError, unknown

SCORES = ("logit", "softmax")  # what `score=` accepts; docs and CLI read this tuple


def check_score(score: str) -> str:
    if score not in SCORES:
        raise unknown("score", score, SCORES, "'logit' is the pre-softmax class score")
    return score


def class_scores(logits: Tensor, score: str) -> Tensor:
    """All class scores (N, classes): the logits themselves or their softmax."""
    return logits.softmax(dim=1) if check_score(score) == "softmax" else logits


Targets = int | Sequence[int] | Sequence[Sequence[int]] | Tensor | None


def resolve_targets(logits: Tensor, targets: Targets = None, topk: int | None = None,
                    ) -> tuple[Tensor, bool]:
    """The classes to explain as an (N, K) long tensor, and whether K=1 is implied.

    ``targets`` may be ``None`` (the predicted class), one int for every image, one int per
    image, or one list of K ints per image; ``topk=K`` takes the K best classes of each
    image. The flag is True when the caller asked for one class per image (maps come back
    as (N, H, W)) and False for ``topk`` or per-image lists (maps are (N, K, H, W)).
    """
    n, classes = logits.shape
    if topk is not None and targets is not None:
        raise CamvizError("pass either targets or topk, not both")
    if topk is not None:
        if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= classes:
            raise CamvizError(f"topk must be an int between 1 and {classes} (the number of "
                              f"classes), got {topk!r}")
        return logits.topk(topk, dim=1).indices, False
    if targets is None:
        return logits.argmax(dim=1, keepdim=True), True

    single = True
    if isinstance(targets, Tensor):
        if targets.dtype.is_floating_point or targets.dtype == torch.bool or targets.dim() > 2:
            raise CamvizError(f"targets must be integer class indices, got a {targets.dtype} "
                              f"tensor of shape {tuple(targets.shape)}")
        t = targets.to(device=logits.device, dtype=torch.long)
        if t.dim() == 0:
            t = t.expand(n)
        single = t.dim() == 1
    elif _is_int(targets):
        t = torch.full((n,), int(targets), dtype=torch.long, device=logits.device)
    elif isinstance(targets, Sequence) and not isinstance(targets, str):
        rows = list(targets)
        if rows and all(_is_int(r) for r in rows):
            t = torch.tensor([int(r) for r in rows], dtype=torch.long, device=logits.device)
        elif rows and all(isinstance(r, Sequence) and not isinstance(r, str) for r in rows):
            lengths = {len(r) for r in rows}
            if len(lengths) != 1 or 0 in lengths or not all(_is_int(c) for r in rows for c in r):
                raise CamvizError(
                    "per-image target lists must all hold the same number (>= 1) of class "
                    f"indices, got lengths {sorted(len(r) for r in rows)}")
            t = torch.tensor([[int(c) for c in r] for r in rows], dtype=torch.long,
                             device=logits.device)
            single = False
        else:
            raise CamvizError("targets must be an int, one int per image, or one list of "
                              f"ints per image; got {targets!r}")
    else:
        raise CamvizError(f"targets must be class indices, got {type(targets).__name__}")

    if t.shape[0] != n:
        raise CamvizError(
            f"targets has {t.shape[0]} entries but the batch has {n} images; pass one class "
            f"(or one list of classes) per image, or a single int for all")
    bad = t[(t < 0) | (t >= classes)]
    if bad.numel():
        raise CamvizError(f"class index {int(bad[0])} is out of range; valid classes are "
                          f"0..{classes - 1}")
    return (t[:, None] if t.dim() == 1 else t), single


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


@dataclass(frozen=True)
class Objective:
    """The score the gradient methods differentiate: ``sign * (S_c - S_contrast)``.

    ``S`` is the logit or softmax probability (``score``); ``sign=-1`` gives the
    counterfactual explanation of Selvaraju et al. (ICCV 2017, §5: Grad-CAM of the negated
    score, regions whose removal would raise the class); ``contrast`` (N, 1) classes give
    contrastive maps, "why c rather than c'" (score ``S_c - S_c'``).
    """

    score: str = "logit"
    sign: float = 1.0
    contrast: Tensor | None = None

    def of(self, logits: Tensor, targets: Tensor, rows: Tensor | None = None) -> Tensor:
        """(B, K) objective of ``logits`` for ``targets`` (B, K); ``rows[b]`` is the image
        that row b is a variant of (Score-CAM's masked copies), to pick its contrast class."""
        s = class_scores(logits, self.score)
        out = s.gather(1, targets)
        if self.contrast is not None:
            c = self.contrast if rows is None else self.contrast[rows]
            out = out - s.gather(1, c)
        return out if self.sign == 1 else self.sign * out

    @property
    def plain(self) -> bool:
        return self.sign == 1 and self.contrast is None


def resolve_contrast(logits: Tensor, contrast: int | Sequence[int] | Tensor | None,
                     ) -> Tensor | None:
    """``contrast=`` (one class for all images, or one per image) as an (N, 1) long tensor."""
    if contrast is None:
        return None
    if isinstance(contrast, bool) or not (_is_int(contrast) or isinstance(contrast, (Sequence, Tensor))):
        raise CamvizError(f"contrast must be a class index or one per image, got {contrast!r}")
    chosen, single = resolve_targets(logits, contrast)
    if not single:
        raise CamvizError("contrast takes one class per image (an int or a list of ints), "
                          "not lists of classes")
    return chosen
