"""Higher-order derivatives of a class score w.r.t. a layer, for Grad-CAM++.

Grad-CAM++ (Chattopadhyay et al., WACV 2018) needs, for every element ``u = (k, i, j)``
of the layer output ``A``, the first three *diagonal* derivatives of a smooth score ``S``:
``d_n(u) = d^n S / dA_u^n``. Two ways to get them:

* **closed form** (default). Assume the logits ``z`` are locally linear in ``A``, i.e. the
  network above the layer is piecewise linear (ReLU, max/avg pooling, eval-mode batch norm,
  linear and convolution layers, additions, concatenation: every ResNet, VGG, DenseNet,
  AlexNet, GoogLeNet head). Then ``z(A + t e_u) = z + t v_u`` with ``v_u = dz / dA_u``, and
  ``d_n(u)`` is the n-th derivative of ``S(z + t v_u)`` at ``t = 0``:

  - ``score="logit"``: the paper's exponential score ``S = exp(z_c)`` gives
    ``d_n = exp(z_c) g^n`` with ``g = dz_c/dA``; ``exp(z_c)`` is a positive
    constant per map, cancels in alpha, and is dropped.
  - ``score="softmax"``: ``S = p_c = softmax(z)_c``. With ``s = v_c - E_p[v]``,
    ``var = Var_p[v]`` and ``mu3 = E_p[(v - E_p v)^3]`` (moments over classes under p):
    ``d1 = p_c s``, ``d2 = p_c (s^2 - var)``, ``d3 = p_c (s^3 - 3 s var - mu3)``.
    The moments need ``dz_d/dA`` of every class: one batched backward per chunk of classes.

  Where the head is not piecewise linear (hardswish, SiLU, a quadratic layer) these drop
  the curvature of ``z`` and are an approximation.
* **exact**: forward-mode AD along every coordinate direction ``e_u`` (:func:`exact`),
  exact for any head, at the cost of re-running the network above the layer once per
  element of ``A`` (vectorised in chunks) - meant for small models and for verification.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import jvp, vmap

from camviz.cam.hooks import LAYERS_HINT, replace_output
from camviz.cam.outputs import select_logits
from camviz.cam.targets import class_scores
from camviz.errors import CamvizError

Derivatives = tuple[Tensor, Tensor, Tensor]  # d1, d2, d3, each (N, K, C, h, w)


def exp_score(gradients: Tensor) -> Derivatives:
    """Diagonal derivatives of ``S = exp(z_c)`` for a piecewise-linear head, over ``exp(z_c)``.

    ``gradients`` = ``dz_c/dA`` (N, K, C, h, w); returns ``(g, g^2, g^3)``.
    """
    g2 = gradients * gradients
    return gradients, g2, g2 * gradients


@dataclass(frozen=True)
class LogitJacobian:
    """What the softmax-score derivatives need from ``dz/dA`` at one layer.

    ``target`` is ``dz_c/dA`` of the target classes (N, K, C, h, w); ``m1, m2, m3`` are
    ``E_p[v], E_p[v^2], E_p[v^3]`` (N, C, h, w) with ``v = dz_d/dA`` over all classes d,
    weighted by the softmax probabilities ``p_d``.
    """

    target: Tensor
    m1: Tensor
    m2: Tensor
    m3: Tensor


def softmax_score(probs: Tensor, jac: LogitJacobian) -> Derivatives:
    """Diagonal derivatives of ``S = p_c`` for a piecewise-linear head.

    ``probs`` are the target-class probabilities (N, K). See the module docstring.
    """
    m1, m2, m3 = (m[:, None] for m in (jac.m1, jac.m2, jac.m3))
    s = jac.target - m1
    var = m2 - m1 * m1
    mu3 = m3 - 3 * m1 * m2 + 2 * m1 ** 3
    p = probs[:, :, None, None, None]
    return p * s, p * (s * s - var), p * (s ** 3 - 3 * s * var - mu3)


def logit_jacobians(logits: Tensor, activations: list[Tensor], targets: Tensor,
                    names: list[str], budget: int = 1 << 24) -> list[LogitJacobian]:
    """:class:`LogitJacobian` of each activation, by batched backwards over chunks of classes.

    ``logits`` must still carry the graph to ``activations``; it is retained for the caller.
    ``budget`` bounds the number of gradient elements held per chunk.
    """
    n, classes = logits.shape
    probs = logits.detach().softmax(dim=1)
    target = batched_grads(logits.gather(1, targets), activations, names)
    per_class = n * max(a[0].numel() for a in activations)
    chunk = max(1, min(classes, budget // per_class))
    moments = [[torch.zeros_like(a) for _ in range(3)] for a in activations]
    for start in range(0, classes, chunk):
        cls = torch.arange(start, min(start + chunk, classes), device=logits.device)
        onehot = torch.zeros(len(cls), n, classes, dtype=logits.dtype, device=logits.device)
        onehot[torch.arange(len(cls)), :, cls] = 1
        grads = torch.autograd.grad(logits, activations, onehot, retain_graph=True,
                                    is_grads_batched=True)
        w = probs[:, cls].T[:, :, None, None, None]  # (B, N, 1, 1, 1)
        for acc, v in zip(moments, grads):
            wv = w * v
            acc[0] += wv.sum(0)
            wv = wv * v
            acc[1] += wv.sum(0)
            acc[2] += (wv * v).sum(0)
    return [LogitJacobian(t, *m) for t, m in zip(target, moments)]


def batched_grads(scores: Tensor, activations: list[Tensor], names: list[str]) -> list[Tensor]:
    """``d scores[:, k] / dA`` for every column k in one batched backward: (N, K, C, h, w) each.

    The graph is retained for further calls; a layer the scores do not depend on is an error.
    """
    n, k = scores.shape
    if not scores.requires_grad:  # no captured layer is upstream of the logits
        _unused(names[0])
    if k == 1:
        grads = torch.autograd.grad(scores, activations, torch.ones_like(scores),
                                    retain_graph=True, allow_unused=True)
        grads = [g if g is None else g[:, None] for g in grads]
    else:
        eye = torch.eye(k, dtype=scores.dtype, device=scores.device)
        grads = torch.autograd.grad(scores, activations, eye[:, None, :].expand(k, n, k),
                                    retain_graph=True, allow_unused=True, is_grads_batched=True)
        grads = [g if g is None else g.transpose(0, 1) for g in grads]
    for name, g in zip(names, grads):
        if g is None:
            _unused(name)
    return grads


def _unused(name: str) -> None:
    raise CamvizError(f"layer '{name}' does not influence the logits; pick a layer on the "
                      f"path to the classifier ({LAYERS_HINT})")


def exact(model: nn.Module, images: Tensor, module: nn.Module, activation: Tensor,
          targets: Tensor, score: str, chunk: int = 64) -> Derivatives:
    """Exact diagonal derivatives ``d^n S / dA_u^n`` (n = 1, 2, 3) by nested forward-mode AD.

    ``S`` is the ``score`` of each target (``score="logit"`` differentiates ``exp(z_c)``,
    as Grad-CAM++ prescribes, and divides by it like :func:`exp_score`). The network is
    re-run with ``module``'s output replaced by ``A + t e_u`` for ``chunk`` elements ``u``
    at a time (vectorised with ``torch.func.vmap``). Run inside :func:`~camviz.cam.hooks.frozen`.
    """
    act = activation.detach()
    n, c, h, w = act.shape
    value: dict[str, Tensor] = {}
    one = torch.ones((), dtype=act.dtype, device=act.device)
    zero = torch.zeros((), dtype=act.dtype, device=act.device)

    def scores_at(a: Tensor, base: Tensor | None = None) -> Tensor:
        value["output"] = a
        logits = select_logits(model(images))
        if score == "logit":  # S = exp(z_c) / exp(z_c at A): derivatives over exp(z_c)
            z = logits.gather(1, targets)
            return z if base is None else torch.exp(z - base)
        return class_scores(logits, score).gather(1, targets)

    def along(e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        def f0(t):
            return scores_at(act + t * e, base)

        def f1(t):
            return jvp(f0, (t,), (one,))[1]

        def f2(t):
            return jvp(f1, (t,), (one,))

        (d1, d2), (_, d3) = jvp(f2, (zero,), (one,))
        return d1, d2, d3

    eye = torch.eye(c * h * w, dtype=act.dtype, device=act.device)
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    with replace_output(module, value):
        base = scores_at(act) if score == "logit" else None
        for start in range(0, c * h * w, chunk):
            e = eye[start:start + chunk].view(-1, 1, c, h, w).expand(-1, n, c, h, w)
            parts.append(vmap(along)(e))
    # each part: (B, N, K) -> (N, K, C, h, w)
    return tuple(torch.cat([p[i] for p in parts]).permute(1, 2, 0).reshape(n, -1, c, h, w)
                 for i in range(3))
