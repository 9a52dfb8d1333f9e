"""One forward, one batched backward: everything the CAM methods read from a model.

:func:`run_pass` runs the model once with the chosen layers captured, picks the target
classes from the logits, and differentiates the K target scores of every image w.r.t.
every captured layer in one batched backward (``is_grads_batched`` with one-hot grad
outputs). The backward runs from the output down to the first captured layer only.
Layers whose output is not (N, C, h, w) (transformer tokens, channels last) are
differentiated as they are and both activations and gradients rearranged by their
:class:`~camviz.cam.tokens.Layout`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from camviz.cam import derivatives as deriv
from camviz.cam.hooks import LAYERS_HINT, LayerSpec, capture, resolve_layers
from camviz.cam.outputs import Output, select_logits
from camviz.cam.targets import Objective
from camviz.cam.tokens import Layout, LayoutFinder, Reshape
from camviz.errors import CamvizError


@dataclass(frozen=True)
class Pass:
    """What one forward + batched backward produced (all detached)."""

    logits: Tensor                        # (N, classes)
    targets: Tensor                       # (N, K) long
    activations: dict[str, Tensor]        # layer -> (N, C, h, w)
    gradients: dict[str, Tensor]          # layer -> (N, K, C, h, w): d score / dA
    jacobians: dict[str, deriv.LogitJacobian]  # layer -> softmax-score moments (if asked)
    layouts: dict[str, Layout] = field(default_factory=dict)
    modified_in_place: list[str] = field(default_factory=list)  # captured before the change


def channel_mismatch(model: nn.Module, images: Tensor) -> CamvizError | None:
    """After a failed forward: a one-line error if the images' channel count is not what the
    model's first convolution takes (torch's own message names weight shapes, not the fix)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv is None or conv.in_channels == images.shape[1]:
        return None
    fix = ("x.mean(dim=1, keepdim=True) for colour to grayscale" if conv.in_channels == 1 else
           "x.expand(-1, 3, -1, -1) for grayscale to colour" if images.shape[1] == 1 else
           "convert the images to the model's channels")
    return CamvizError(f"images have {images.shape[1]} channel(s) but the model takes "
                       f"{conv.in_channels} (its first convolution); {fix}")


def run_pass(model: nn.Module, images: Tensor, layers: Sequence[LayerSpec] | None,
             choose: Callable[[Tensor], tuple[Tensor, Objective]], *,
             gradients: bool = True, jacobians: bool = False, output: Output = None,
             reshape: Reshape | None = None) -> Pass:
    """Forward ``images`` once and differentiate the target objective w.r.t. the layers.

    ``layers=None`` captures the last spatial layer (for a class-token transformer: the
    input of its last attention, found by a second pass). ``choose(logits)`` returns the
    (N, K) classes and the :class:`~camviz.cam.targets.Objective` to differentiate. ``jacobians`` adds the class moments Grad-CAM++ needs for
    ``score="softmax"`` (see :mod:`camviz.cam.derivatives`). ``output`` picks the logits
    from the model's return value (:mod:`camviz.cam.outputs`), ``reshape`` overrides the
    automatic layouts. Run inside :func:`~camviz.cam.hooks.frozen` so that no parameter
    takes part in the backward.
    """
    finder = LayoutFinder(model, tuple(images.shape[-2:]), reshape)
    with torch.inference_mode(False), torch.enable_grad():
        with capture(model, layers, finder) as cap:
            try:
                logits = select_logits(model(images), output)
            except RuntimeError as err:
                mismatch = channel_mismatch(model, images)
                if mismatch is None:
                    raise
                raise mismatch from err
        names = list(cap.activations) if layers is None else list(resolve_layers(model, layers))
        if not names:
            raise CamvizError(f"no module of the model has a spatial (N, C, h, w) output; "
                              f"CAM methods need one ({LAYERS_HINT})")
        if layers is None and _after_last_attention(cap, names[0]):
            return run_pass(model, images, [cap.attention_input], choose,
                            gradients=gradients, jacobians=jacobians, output=output)
        for name in names:
            if name not in cap.activations:
                raise CamvizError(f"layer '{name}' did not run during the forward pass; pick "
                                  f"a layer the model uses ({LAYERS_HINT})")
        acts = [cap.activations[n] for n in names]
        layouts = [cap.layouts[n] for n in names]
        targets, objective = choose(logits.detach())
        grads: dict[str, Tensor] = {}
        jacs: dict[str, deriv.LogitJacobian] = {}
        if jacobians:
            raw = deriv.logit_jacobians(logits, acts, targets, names)
            jacs = {n: deriv.LogitJacobian(_per_target(lay, j.target), lay(j.m1), lay(j.m2),
                                           lay(j.m3)) for n, lay, j in zip(names, layouts, raw)}
        if gradients:
            scores = objective.of(logits, targets)
            raw = deriv.batched_grads(scores, acts, names)
            grads = {n: _per_target(lay, g.detach()) for n, lay, g in zip(names, layouts, raw)}
    return Pass(logits=logits.detach(), targets=targets,
                activations={n: lay(a.detach()) for n, lay, a in zip(names, layouts, acts)},
                gradients=grads, jacobians=jacs, layouts=dict(zip(names, layouts)),
                modified_in_place=cap.modified_in_place())


def _per_target(layout: Layout, g: Tensor) -> Tensor:
    """A layout applied to (N, K, ...) gradients: (N, K, C, h, w)."""
    n, k = g.shape[:2]
    return layout(g.flatten(0, 1)).unflatten(0, (n, k))


def _after_last_attention(cap, name: str) -> bool:
    """Whether the default layer holds class-token patch tokens past the last attention:
    nothing mixes them into the class token any more, so their gradient is zero."""
    layout = cap.layouts.get(name)
    return (layout is not None and layout.kind == "tokens" and layout.prefix > 0
            and cap.attention_input not in (None, name))


@dataclass
class Probe:
    """Re-run access to the model for methods that need more than the shared pass.

    Score-CAM scores masked images; Smooth Grad-CAM++ and exact Grad-CAM++ derivatives
    re-run the pass on noisy images; guided backpropagation differentiates the input.
    Results shared by several layers are cached per call.
    """

    model: nn.Module
    images: Tensor
    layers: list[str]
    objective: Objective
    targets: Tensor
    output: Output = None
    reshape: Reshape | None = None
    cache: dict = field(default_factory=dict)

    @property
    def score(self) -> str:
        return self.objective.score

    def logits(self, batch: Tensor) -> Tensor:
        """The model's (B, classes) logits for ``batch`` (with the graph if grad is on)."""
        return select_logits(self.model(batch), self.output)

    def scores(self, batch: Tensor, rows: Tensor) -> Tensor:
        """Target objective (B, K) of ``batch``, whose entry b is a variant of image ``rows[b]``."""
        with torch.inference_mode():
            logits = self.logits(batch)
        return self.objective.of(logits, self.targets[rows], rows)

    def rerun(self, images: Tensor, *, jacobians: bool) -> Pass:
        """:func:`run_pass` on other images, same layers and targets."""
        return run_pass(self.model, images, self.layers, lambda _: (self.targets, self.objective),
                        gradients=True, jacobians=jacobians, output=self.output,
                        reshape=self.reshape)

    def cached(self, key: tuple, compute: Callable[[], object]) -> object:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]
