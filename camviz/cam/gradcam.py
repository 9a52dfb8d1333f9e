"""Grad-CAM and the methods that read the same gradient: XGrad-CAM, HiResCAM, LayerCAM.

``A`` is the layer output (N, C, h, w) and ``G = dY^c/dA`` the gradient of the target score
(N, K, C, h, w); every function is pure tensor math on their device.
"""

from __future__ import annotations

import torch
from torch import Tensor

from camviz.cam.methods import LayerInputs, register_method, weighted_map


def gradcam_weights(gradients: Tensor) -> Tensor:
    """Grad-CAM channel weights (Selvaraju et al., ICCV 2017, Eq. 1).

    ``w_k^c = 1/Z sum_ij dY^c/dA^k_ij``: the spatial mean of the gradient, (N, K, C).
    The map is ``L^c = ReLU(sum_k w_k^c A^k)`` (Eq. 2).
    """
    return gradients.mean(dim=(-2, -1))


def xgradcam_weights(activations: Tensor, gradients: Tensor) -> Tensor:
    """XGrad-CAM channel weights (Fu et al., "Axiom-based Grad-CAM", BMVC 2020).

    ``w_k^c = sum_ij (A^k_ij / sum_ab A^k_ab) dY^c/dA^k_ij``; a channel whose activations
    sum to zero gets weight 0.
    """
    total = activations.sum(dim=(-2, -1))[:, None]  # (N, 1, C)
    num = (gradients * activations[:, None]).sum(dim=(-2, -1))
    safe = torch.where(total != 0, total, torch.ones_like(total))
    return torch.where(total != 0, num / safe, torch.zeros_like(num))


def hirescam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """HiResCAM (Draelos & Carin, 2020): ``ReLU(sum_k dY^c/dA^k ⊙ A^k)``, (N, K, h, w).

    The element-wise product keeps the gradient's spatial detail that Grad-CAM averages out.
    """
    return (gradients * activations[:, None]).sum(dim=2).clamp_min(0)


def layercam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021): ``ReLU(sum_k ReLU(dY^c/dA^k) ⊙ A^k)``."""
    return (gradients.clamp_min(0) * activations[:, None]).sum(dim=2).clamp_min(0)


@register_method("gradcam", title="Grad-CAM", paper="Selvaraju et al., ICCV 2017")
def gradcam(x: LayerInputs) -> Tensor:
    return weighted_map(gradcam_weights(x.gradients), x.activations)


@register_method("xgradcam", title="XGrad-CAM", paper="Fu et al., BMVC 2020")
def xgradcam(x: LayerInputs) -> Tensor:
    return weighted_map(xgradcam_weights(x.activations, x.gradients), x.activations)


@register_method("hirescam", title="HiResCAM", paper="Draelos & Carin, arXiv 2011.08891, 2020")
def hirescam(x: LayerInputs) -> Tensor:
    return hirescam_map(x.activations, x.gradients)


@register_method("layercam", title="LayerCAM", paper="Jiang et al., IEEE TIP 2021")
def layercam(x: LayerInputs) -> Tensor:
    return layercam_map(x.activations, x.gradients)
