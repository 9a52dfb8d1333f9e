"""Eigen-CAM: the first principal component of the layer's activations (class-agnostic)."""

from __future__ import annotations

import torch
from torch import Tensor

from camviz.cam.methods import LayerInputs, register_method
from camviz.errors import CamvizError


def eigencam_map(activations: Tensor) -> Tensor:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): project each position's channel vector on
    the first right singular vector of the centred (h*w, C) activation matrix.

    The sign of a singular vector is arbitrary; it is chosen so the projection correlates
    positively with the channel-summed activation. Returns the signed projection (N, h, w).
    """
    n, _, h, w = activations.shape
    x = activations.flatten(2).transpose(1, 2)                 # (N, hw, C)
    x = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    proj = (x @ vh[:, 0, :, None])[..., 0]                     # (N, hw)
    total = activations.sum(dim=1).flatten(1)
    total = total - total.mean(dim=1, keepdim=True)
    sign = torch.where((proj * total).sum(dim=1) < 0, -1.0, 1.0).to(proj.dtype)
    return (proj * sign[:, None]).view(n, h, w)


@register_method("eigencam", title="Eigen-CAM", paper="Muhammad & Yeasin, IJCNN 2020",
                 needs_gradients=False)
def eigencam(x: LayerInputs) -> Tensor:
    """The same map for every target of an image: Eigen-CAM does not look at the class."""
    if not x.objective.plain:
        raise CamvizError("eigencam does not look at the class, so counterfactual and contrast "
                          "do not apply; use gradcam")
    k = x.targets.shape[1]
    return eigencam_map(x.activations).clamp_min(0)[:, None].expand(-1, k, -1, -1).contiguous()
