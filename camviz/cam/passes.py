"""One forward, one batched backward: everything the CAM methods read from a model.

:func:`run_pass` runs the model once with the chosen layers captured, picks the target
classes from the logits, and differentiates the K target scores of every image w.r.t.
every captured layer in one batched backward (``is_grads_batched`` with one-hot grad
outputs). The backward runs from the output down to the first captured layer only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from camviz.cam import derivatives as deriv
from camviz.cam.hooks import LAYERS_HINT, LayerSpec, capture, resolve_layers
from camviz.cam.targets import class_scores
from camviz.errors import CamvizError


@dataclass(frozen=True)
class Pass:
    """What one forward + batched backward produced (all detached)."""

    logits: Tensor                        # (N, classes)
    targets: Tensor                       # (N, K) long
    activations: dict[str, Tensor]        # layer -> (N, C, h, w)
    gradients: dict[str, Tensor]          # layer -> (N, K, C, h, w): d score / dA
    jacobians: dict[str, deriv.LogitJacobian]  # layer -> softmax-score moments (if asked)


def run_pass(model: nn.Module, images: Tensor, layers: Sequence[LayerSpec] | None,
             choose_targets: Callable[[Tensor], Tensor], score: str, *,
             gradients: bool = True, jacobians: bool = False) -> Pass:
    """Forward ``images`` once and differentiate the target scores w.r.t. the layers.

    ``layers=None`` captures the last spatial layer. ``choose_targets(logits)`` returns the
    (N, K) classes. ``jacobians`` adds the class moments Grad-CAM++ needs for
    ``score="softmax"`` (see :mod:`camviz.cam.derivatives`). Run inside
    :func:`~camviz.cam.hooks.frozen` so that no parameter takes part in the backward.
    """
    with torch.inference_mode(False), torch.enable_grad():
        with capture(model, layers) as cap:
            logits = model(images)
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise CamvizError(f"the model must return (N, classes) logits, got {shape}")
        names = list(cap.activations) if layers is None else list(resolve_layers(model, layers))
        if not names:
            raise CamvizError(f"no module of the model has a spatial (N, C, h, w) output; "
                              f"CAM methods need one ({LAYERS_HINT})")
        for name in names:
            if name not in cap.activations:
                raise CamvizError(f"layer '{name}' did not run during the forward pass; pick "
                                  f"a layer the model uses ({LAYERS_HINT})")
        acts = [cap.activations[n] for n in names]
        targets = choose_targets(logits.detach())
        grads: dict[str, Tensor] = {}
        jacs: dict[str, deriv.LogitJacobian] = {}
        if jacobians:
            jacs = dict(zip(names, deriv.logit_jacobians(logits, acts, targets, names)))
        if gradients:
            scores = class_scores(logits, score).gather(1, targets)
            grads = dict(zip(names, deriv.batched_grads(scores, acts, names)))
    return Pass(logits=logits.detach(), targets=targets,
                activations={n: a.detach() for n, a in zip(names, acts)},
                gradients={n: g.detach() for n, g in grads.items()}, jacobians=jacs)


@dataclass
class Probe:
    """Re-run access to the model for methods that need more than the shared pass.

    Score-CAM scores masked images; Smooth Grad-CAM++ and exact Grad-CAM++ derivatives
    re-run the pass on noisy images. Results shared by several layers are cached per call.
    """

    model: nn.Module
    images: Tensor
    layers: list[str]
    score: str
    targets: Tensor
    cache: dict = field(default_factory=dict)

    def scores(self, batch: Tensor, rows: Tensor) -> Tensor:
        """Target scores (B, K) of ``batch``, whose entry b is a variant of image ``rows[b]``."""
        with torch.inference_mode():
            logits = self.model(batch)
        return class_scores(logits, self.score).gather(1, self.targets[rows])

    def rerun(self, images: Tensor, *, jacobians: bool) -> Pass:
        """:func:`run_pass` on other images, same layers and targets."""
        return run_pass(self.model, images, self.layers, lambda _: self.targets, self.score,
                        gradients=True, jacobians=jacobians)

    def cached(self, key: tuple, compute: Callable[[], object]) -> object:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]
