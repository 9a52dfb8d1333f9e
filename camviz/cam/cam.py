"""CAM: class activation maps from the classifier's weights (needs GAP -> linear)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from camviz.cam.methods import LayerInputs, register_method, weighted_map
from camviz.errors import CamvizError, MethodNotApplicable, unknown


def cam_weights(fc_weight: Tensor, targets: Tensor) -> Tensor:
    """CAM channel weights (Zhou et al., "Learning Deep Features for Discriminative
    Localization", CVPR 2016): ``M_c = sum_k w^c_k f_k``, where ``w^c_k`` is the weight from
    the globally average-pooled channel k to class c. Returns ``fc_weight[targets]`` (N, K, C).
    """
    return fc_weight[targets]


def find_classifier(model: nn.Module, classifier: str | nn.Module | None = None,
                    ) -> tuple[str, nn.Linear]:
    """The final linear layer CAM reads: by name, as a module, or (None) the last ``nn.Linear``."""
    named = dict(model.named_modules())
    if classifier is None:
        linears = [(n, m) for n, m in named.items() if isinstance(m, nn.Linear)]
        if not linears:
            raise MethodNotApplicable("cam needs a final nn.Linear classifier and this model has none; "
                              "use gradcam, which works for any head")
        return linears[-1]
    if isinstance(classifier, str):
        if classifier not in named:
            raise unknown("classifier layer", classifier, [n for n in named if n],
                          "pass the name of the final nn.Linear (e.g. 'fc')")
        name, module = classifier, named[classifier]
    else:
        name = next((n for n, m in named.items() if m is classifier), None)
        if name is None:
            raise CamvizError(f"classifier {type(classifier).__name__} is not a submodule of "
                              f"the model; pass its name (e.g. 'fc')")
        module = classifier
    if not isinstance(module, nn.Linear):
        raise MethodNotApplicable(f"classifier '{name}' is a {type(module).__name__}, not an nn.Linear; "
                          f"cam needs the final linear layer (or use gradcam)")
    return name, module


def check_cam_head(layer: str, activations: Tensor, logits: Tensor, name: str,
                   fc: nn.Linear) -> None:
    """Raise unless ``logits == fc(mean_hw(A))``: the layer feeds GAP and then ``fc`` directly."""
    channels = activations.shape[1]
    if fc.in_features != channels:
        raise MethodNotApplicable(
            f"cam needs layer '{layer}' to feed global average pooling and then the linear "
            f"classifier, but '{name}' takes {fc.in_features} features and the layer has "
            f"{channels} channels; use gradcam (it works for any head) or the layer right "
            f"before the pooling")
    if fc.out_features != logits.shape[1]:
        raise MethodNotApplicable(f"classifier '{name}' has {fc.out_features} outputs but the model "
                          f"returns {logits.shape[1]} logits; pass the final layer as classifier")
    with torch.no_grad():
        pred = F.linear(activations.mean(dim=(2, 3)), fc.weight, fc.bias)
    err = float((pred - logits).abs().max())
    scale = float(logits.abs().max()) + 1.0
    if err > 1e-3 * scale:
        raise MethodNotApplicable(
            f"cam needs layer '{layer}' to feed global average pooling and then '{name}' "
            f"directly, but '{name}'(mean of '{layer}') differs from the logits by {err:.3g}; "
            f"use gradcam, which works for any head")


@register_method("cam", title="CAM", paper="Zhou et al., CVPR 2016", needs_gradients=False,
                 needs_classifier=True)
def cam(x: LayerInputs) -> Tensor:
    name, fc = x.classifier
    check_cam_head(x.layer, x.activations, x.logits, name, fc)
    if x.score != "logit" and not x.objective.plain:
        raise CamvizError("cam with counterfactual or contrast explains logits; pass "
                          "score='logit' or use gradcam")
    w = cam_weights(fc.weight.detach(), x.targets)
    if x.objective.contrast is not None:  # the logit difference is linear in the features too
        w = w - cam_weights(fc.weight.detach(), x.objective.contrast)
    return weighted_map(x.objective.sign * w, x.activations)
