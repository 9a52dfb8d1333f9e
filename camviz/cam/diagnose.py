"""Why a map may mislead, said so a user can act on it: every explanation carries these.

Each :class:`Diagnostic` has a ``kind`` (stable, for programs and tests) and a one-line
``message`` naming the layer, the images/classes concerned, the cause and the fix:

* ``nonfinite``: NaN or inf in the logits, the layer's output or its gradient;
* ``zero-gradient``: all-zero maps because the score does not depend on the layer (patch
  tokens after a class-token ViT's last attention; a layer off the path to the classifier);
* ``saturated``: all-zero maps because a softmax score of ~1 (or ~0) has no gradient;
* ``negative``: all-zero maps although the gradient is not zero - every position's weighted
  sum is negative, i.e. no positive evidence for the class at this layer;
* ``constant``: a map with one value everywhere (e.g. a 1x1 grid, a layer after pooling);
* ``training-mode``: the model came in training mode with dropout/batch norm; the maps were
  computed in eval mode (and the modes restored), which predictions in training mode differ from;
* ``in-place``: the model modified the layer's output in place after it (handled: the map
  is of the output before the change, which hooks without a copy would miss);
* ``far-target``: the explained class is far from the prediction;
* ``input-range``: the input is far outside a normalised image's range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

SATURATED = 1e-6     # softmax p > 1 - this (or < this) has a vanishing gradient
FAR_RATIO = 0.01     # target probability below 1% of the predicted class's
INPUT_LIMIT = 20.0   # normalised images stay within a few units of 0; 255 means raw pixels


@dataclass(frozen=True)
class Diagnostic:
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


def stochastic_modules(model: nn.Module) -> list[str]:
    """Class names of modules in training mode whose output then depends on the mode."""
    kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    return sorted({type(m).__name__ for m in model.modules() if m.training and isinstance(m, kinds)})


def diagnose(layer: str, raws: Mapping[str, Tensor], *, activations: Tensor,
             gradients: Tensor | None, logits: Tensor, targets: Tensor, score: str,
             images: Tensor, training: list[str], in_place: bool) -> list[Diagnostic]:
    """Diagnostics of one layer's raw maps (method -> (N, K, h, w)) and what they came from."""
    out: list[Diagnostic] = []
    where = f"at '{layer}'"
    bad = [name for name, t in (("logits", logits), ("layer output", activations),
                                ("gradient", gradients)) if t is not None and not t.isfinite().all()]
    if bad:
        out.append(Diagnostic("nonfinite", f"NaN or inf in the {' and '.join(bad)} {where}: "
                              f"check that the input is finite and normalised and that the model "
                              f"does not overflow (float16)"))
    probs = logits.softmax(dim=1)
    p = probs.gather(1, targets)                                  # (N, K)
    grad_zero = (None if gradients is None
                 else gradients.flatten(2).abs().amax(dim=2) == 0)  # (N, K)
    for method, raw in raws.items():
        flat = raw.flatten(2)
        hi, lo = flat.amax(dim=2), flat.amin(dim=2)
        zero = hi <= 0
        if bool(zero.any()):
            out.append(_zero_cause(method, where, zero, grad_zero, p, targets, score))
        const = (~zero) & (hi == lo) & (flat.shape[-1] > 1)
        if bool(const.any()):
            n, k = (int(i) for i in const.nonzero()[0])
            out.append(Diagnostic("constant", f"{method} {where}: {int(const.sum())} map(s) have "
                                  f"one value everywhere (first: image {n}, class "
                                  f"{int(targets[n, k])}); the layer's output does not vary over "
                                  f"positions - pick a layer before the pooling"))
    if training:
        out.append(Diagnostic("training-mode", f"the model was in training mode with "
                              f"{', '.join(training)}: maps were computed in eval mode (modes "
                              f"restored); call model.eval() so predictions match the maps"))
    if in_place:
        out.append(Diagnostic("in-place", f"the model modifies the output of '{layer}' in place "
                              f"afterwards (e.g. ReLU(inplace=True), out += identity); handled: "
                              f"camviz explained the output before the change"))
    pred = probs.max(dim=1)
    far = (p < FAR_RATIO * pred.values[:, None]) & (targets != pred.indices[:, None])
    if bool(far.any()):
        n, k = (int(i) for i in far.nonzero()[0])
        out.append(Diagnostic("far-target", f"{int(far.sum())} explained class(es) are far from "
                              f"the prediction (first: image {n}, class {int(targets[n, k])} has "
                              f"p={float(p[n, k]):.2g}, predicted {int(pred.indices[n])} with "
                              f"p={float(pred.values[n]):.2g}): the map shows evidence for a class "
                              f"the model hardly sees"))
    peak = float(images.detach().abs().amax())
    if peak > INPUT_LIMIT:
        out.append(Diagnostic("input-range", f"input values reach {peak:.4g}, far outside a "
                              f"normalised image's range: preprocess as the model was trained "
                              f"(e.g. x / 255, then (x - mean) / std)"))
    return out


def _zero_cause(method: str, where: str, zero: Tensor, grad_zero: Tensor | None, p: Tensor,
                targets: Tensor, score: str) -> Diagnostic:
    n, k = (int(i) for i in zero.nonzero()[0])
    head = (f"{method} {where}: {int(zero.sum())} of {zero.numel()} maps are all zero (first: "
            f"image {n}, class {int(targets[n, k])})")
    if grad_zero is not None and bool(grad_zero[n, k]):
        pc = float(p[n, k])
        if score == "softmax" and (pc > 1 - SATURATED or pc < SATURATED):
            return Diagnostic("saturated", f"{head}: the softmax score is saturated (p={pc:.6g}) "
                              f"and its gradient vanishes; pass score='logit'")
        return Diagnostic("zero-gradient", f"{head}: the class score does not depend on this "
                          f"layer (zero gradient; e.g. patch tokens after a class-token ViT's last "
                          f"attention); pick an earlier layer")
    return Diagnostic("negative", f"{head}: every position's weighted sum is negative, no "
                      f"positive evidence for the class at this layer; try counterfactual=True "
                      f"or an earlier layer")

