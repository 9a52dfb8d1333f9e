"""Grad-CAM++ and Smooth Grad-CAM++: pixel-wise weighted positive gradients.

The weights take the first three diagonal derivatives ``d1, d2, d3`` of a smooth class
score; :mod:`camviz.cam.derivatives` explains where they come from and when they are exact.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from camviz.cam import derivatives as deriv
from camviz.cam.methods import LayerInputs, register_method, weighted_map
from camviz.errors import CamvizError, unknown

DERIVATIVE_MODES = ("closed", "exact")
CHUNK_ELEMENTS = 1 << 20  # elements per temporary when Grad-CAM++ handles many targets


def gradcampp_weights(activations: Tensor, d1: Tensor, d2: Tensor, d3: Tensor) -> Tensor:
    """Grad-CAM++ channel weights (Chattopadhyay et al., WACV 2018), general form.

    ``w_k^c = sum_ij alpha^kc_ij ReLU(d1)`` with
    ``alpha^kc_ij = d2 / (2 d2 + sum_ab A^k_ab d3)``, where ``d_n = d^n S^c / (dA^k_ij)^n``
    are the diagonal derivatives of the class score ``S^c`` (N, K, C, h, w) and ``A`` the
    activations (N, C, h, w). alpha is 0 where its denominator is 0 (e.g. zero gradient).
    With the exponential score and a piecewise-linear head (``d_n = g^n``) this is the
    familiar ``g^2 / (2 g^2 + sum_ab A_ab g^3)``.
    """
    total = activations.sum(dim=(-2, -1), keepdim=True)[:, None]  # (N, 1, C, 1, 1)
    denom = torch.addcmul(2 * d2, total, d3)
    alpha = torch.where(denom != 0, d2 / denom, 0.0)  # the discarded branch may be inf/nan
    return torch.einsum("nkchw,nkchw->nkc", alpha, d1.clamp_min(0))


def score_derivatives(x: LayerInputs, col: slice) -> deriv.Derivatives:
    """``d1, d2, d3`` (N, k, C, h, w) of the target columns ``col`` at ``x.layer``."""
    mode = x.options.get("derivatives", "closed")
    if mode not in DERIVATIVE_MODES:
        raise unknown("derivatives mode", mode, DERIVATIVE_MODES,
                      "'closed' is exact for piecewise-linear heads, 'exact' for any head")
    if mode == "exact":
        if x.layout.kind != "nchw" or not x.objective.plain or x.probe.output is not None:
            raise CamvizError("gradcampp derivatives='exact' supports (N, C, h, w) layers of "
                              "models returning a logits tensor, without counterfactual or "
                              "contrast; use derivatives='closed'")
        p = x.probe
        module = dict(p.model.named_modules())[x.layer]
        d = p.cached(("exact", x.layer), lambda: deriv.exact(
            p.model, p.images, module, x.activations, x.targets, x.score))
        return tuple(t[:, col] for t in d)
    if x.score == "logit":
        return deriv.exp_score(x.gradients[:, col])
    if not x.objective.plain:
        raise CamvizError("gradcampp with score='softmax' differentiates p_c alone; for "
                          "counterfactual or contrast pass score='logit'")
    jac = x.jacobian
    probs = x.logits.softmax(dim=1).gather(1, x.targets[:, col])
    return deriv.softmax_score(probs, deriv.LogitJacobian(jac.target[:, col], jac.m1, jac.m2,
                                                          jac.m3))


@register_method("gradcampp", title="Grad-CAM++", paper="Chattopadhyay et al., WACV 2018",
                 needs_jacobian=True, derivatives="closed")
def gradcampp(x: LayerInputs) -> Tensor:
    return weighted_map(by_target_chunks(
        x, lambda col: gradcampp_weights(x.activations, *score_derivatives(x, col))),
        x.activations)


def by_target_chunks(x: LayerInputs, weights: Callable[[slice], Tensor]) -> Tensor:
    """``weights(col)`` over chunks of target columns, concatenated: (N, K, C).

    Each chunk's temporaries (a few tensors of gradient size) stay near ``CHUNK_ELEMENTS``,
    so top-k on a big batch does not raise the peak memory of the call.
    """
    k = x.targets.shape[1]
    step = max(1, CHUNK_ELEMENTS // x.activations.numel())
    return torch.cat([weights(slice(i, i + step)) for i in range(0, k, step)], dim=1)


@register_method("smoothgradcampp", title="Smooth Grad-CAM++",
                 paper="Omeiza et al., arXiv 1908.01224, 2019",
                 samples=8, noise=0.15, seed=0)
def smoothgradcampp(x: LayerInputs) -> Tensor:
    """Grad-CAM++ with ``d1, d2, d3`` averaged over ``samples`` noisy copies of each image.

    Noise is Gaussian with std ``noise * (max - min)`` of the image (SmoothGrad's relative
    noise level), drawn from a generator seeded with ``seed`` so results are repeatable.
    alpha uses the averaged derivatives and the clean image's activations, as in the paper.
    """
    samples, noise, seed = int(x.options["samples"]), float(x.options["noise"]), x.options["seed"]
    if x.score == "softmax" and not x.objective.plain:
        raise CamvizError("smoothgradcampp with score='softmax' differentiates p_c alone; for "
                          "counterfactual or contrast pass score='logit'")
    if samples < 1 or noise < 0:
        raise CamvizError(f"smoothgradcampp needs samples >= 1 and noise >= 0, got "
                          f"samples={samples}, noise={noise}")
    mean = x.probe.cached(("smooth", samples, noise, seed),
                          lambda: _smoothed(x, samples, noise, int(seed)))
    return weighted_map(gradcampp_weights(x.activations, *mean[x.layer]), x.activations)


def _smoothed(x: LayerInputs, samples: int, noise: float, seed: int) -> dict[str, deriv.Derivatives]:
    """Mean ``(d1, d2, d3)`` of every probed layer over the noisy copies."""
    probe = x.probe
    images = probe.images
    gen = torch.Generator(device=images.device).manual_seed(seed)
    flat = images.flatten(1)
    scale = (flat.amax(dim=1) - flat.amin(dim=1)).view(-1, 1, 1, 1) * noise
    sums: dict[str, list[Tensor]] = {}
    for _ in range(samples):
        eps = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
        run = probe.rerun(images + scale * eps, jacobians=x.score == "softmax")
        probs = run.logits.softmax(dim=1).gather(1, run.targets)
        for layer, g in run.gradients.items():
            d = (deriv.exp_score(g) if x.score == "logit"
                 else deriv.softmax_score(probs, run.jacobians[layer]))
            acc = sums.setdefault(layer, [torch.zeros_like(g) for _ in range(3)])
            for a, v in zip(acc, d):
                a += v
    return {layer: tuple(a / samples for a in acc) for layer, acc in sums.items()}
