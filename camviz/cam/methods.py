"""The ``METHODS`` registry and what every CAM method receives.

A method is a function ``LayerInputs -> Tensor`` returning raw maps (N, K, h, w) at layer
resolution, non-negative and unnormalised. The math of each method is a pure tensor
function beside it (``gradcam_weights``, ``gradcampp_weights``, ...); the registered
function only picks its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from camviz.cam.passes import Probe
from camviz.cam.targets import Objective
from camviz.cam.tokens import NCHW, Layout
from camviz.registry import Registry


@dataclass(frozen=True)
class LayerInputs:
    """Everything a method may read for one layer (tensors are detached, on the device)."""

    layer: str
    activations: Tensor            # A: (N, C, h, w)
    gradients: Tensor | None       # dS/dA: (N, K, C, h, w) for the K targets of each image
    targets: Tensor                # (N, K) class indices
    logits: Tensor                 # (N, classes)
    score: str                     # "logit" or "softmax"
    probe: Probe                   # re-run access (Score-CAM, Smooth Grad-CAM++)
    jacobian: Any = None           # derivatives.LogitJacobian when score="softmax"
    classifier: tuple[str, nn.Linear] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    objective: Objective = field(default_factory=Objective)  # counterfactual, contrast
    layout: Layout = NCHW                # how the layer's raw output became (N, C, h, w)


@dataclass(frozen=True)
class Method:
    """A registered CAM method and what it needs from the engine."""

    name: str
    compute: Callable[[LayerInputs], Tensor]
    title: str
    paper: str
    needs_gradients: bool = True     # d score / dA from the shared backward
    needs_jacobian: bool = False     # class moments for score="softmax" (Grad-CAM++)
    needs_classifier: bool = False   # the final nn.Linear (CAM)
    options: Mapping[str, Any] = field(default_factory=dict)  # name -> default


METHODS: Registry[Method] = Registry("CAM method", hint="`camviz explain --help` describes them")


def register_method(name: str, *, title: str, paper: str, needs_gradients: bool = True,
                    needs_jacobian: bool = False, needs_classifier: bool = False,
                    **options: Any):
    """Decorator: register ``compute`` as a CAM method; keyword ``options`` are its defaults."""
    def deco(compute: Callable[[LayerInputs], Tensor]) -> Callable[[LayerInputs], Tensor]:
        METHODS.register(name, Method(name, compute, title, paper, needs_gradients,
                                      needs_jacobian, needs_classifier, dict(options)))
        return compute
    return deco


def weighted_map(weights: Tensor, activations: Tensor) -> Tensor:
    """``ReLU(sum_k w_k A_k)``: (N, K, C) weights and (N, C, h, w) maps -> (N, K, h, w)."""
    return torch.einsum("nkc,nchw->nkhw", weights, activations).clamp_min(0)
