"""Guided backpropagation and Guided Grad-CAM: input-resolution, class-discriminative detail.

Guided backpropagation (Springenberg et al., "Striving for Simplicity: The All Convolutional
Net", ICLR-W 2015) is the gradient of the class score w.r.t. the input pixels where every
ReLU passes back only positive gradients at positive inputs:
``dL/dx = [x > 0] * max(dL/dy, 0)``. Guided Grad-CAM (Selvaraju et al., ICCV 2017, §3)
multiplies it point-wise by the Grad-CAM map upsampled to the input (bilinear).

The ReLU rule is applied by :func:`guided_relus` only inside a ``with``, only for the calling
thread and only to tensors of that forward: forward hooks on the ``nn.ReLU`` modules add a
gradient hook to each output. No module is replaced or changed and every hook is removed on
exit, also when the body raises. Like Captum, only ``nn.ReLU`` modules are guided; a ReLU
called as a function (``F.relu``) backpropagates as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from camviz.cam.derivatives import batched_grads
from camviz.cam.gradcam import gradcam_weights
from camviz.cam.hooks import _HOOK_LOCK, frozen
from camviz.cam.methods import LayerInputs, register_method, weighted_map
from camviz.cam.normalize import upsample
from camviz.cam.outputs import Output, select_logits
from camviz.cam.targets import Objective

GUIDED_MODULES = (nn.ReLU,)


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Inside the ``with``, this thread's backward through the model's ``nn.ReLU`` modules
    passes only positive gradients (guided backpropagation). Yields the number of ReLUs."""
    owner = threading.get_ident()

    def positive(grad: Tensor) -> Tensor:
        return grad.clamp_min(0)

    def hook(module: nn.Module, inputs: tuple, output: object):
        if threading.get_ident() == owner and isinstance(output, Tensor) and output.requires_grad:
            output.register_hook(positive)  # lives with this forward's graph, not the module

    relus = [m for m in model.modules() if isinstance(m, GUIDED_MODULES)]
    handles = []
    try:
        with _HOOK_LOCK:
            handles += [m.register_forward_hook(hook) for m in relus]
        yield len(relus)
    finally:
        with _HOOK_LOCK:
            for h in handles:
                h.remove()


def guided_gradients(model: nn.Module, images: Tensor, targets: Tensor,
                     objective: Objective | None = None, output: Output = None) -> Tensor:
    """Guided backpropagation of the (N, K) ``targets``: (N, K, C, H, W) signed gradients.

    The model's training flags, ``requires_grad`` and ``.grad`` are left as they were.
    """
    with frozen(model), guided_relus(model), torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        logits = select_logits(model(x), output)
        scores = (objective or Objective()).of(logits, targets)
        (grads,) = batched_grads(scores, [x], ["the input"])
    return grads.detach()


def guided_gradcam_pixels(gradcam_raw: Tensor, guided: Tensor) -> Tensor:
    """Guided Grad-CAM (Selvaraju et al., ICCV 2017, §3): the Grad-CAM map (N, K, h, w)
    upsampled bilinearly to the input and multiplied point-wise with guided
    backpropagation (N, K, C, H, W)."""
    up = upsample(gradcam_raw, tuple(guided.shape[-2:]))
    return guided * up[:, :, None]


def pixel_map(pixels: Tensor) -> Tensor:
    """A (N, K, C, H, W) input-space attribution as a heat map: the largest absolute value
    over the colour channels (Simonyan et al., ICLR-W 2014), (N, K, H, W)."""
    return pixels.abs().amax(dim=2)


def _guided(x: LayerInputs) -> Tensor:
    p = x.probe
    return p.cached(("guided",), lambda: guided_gradients(p.model, p.images, p.targets,
                                                          p.objective, p.output))


@register_method("guidedbackprop", title="Guided backpropagation",
                 paper="Springenberg et al., ICLR Workshops 2015", needs_gradients=False)
def guidedbackprop(x: LayerInputs) -> Tensor:
    """The same map at every layer: guided backpropagation reads the input, not the layer.
    The signed colour gradients are in ``Explanation.pixels``."""
    pixels = _guided(x)
    x.probe.cache[("pixels", "guidedbackprop", x.layer)] = pixels
    return pixel_map(pixels)


@register_method("guidedgradcam", title="Guided Grad-CAM", paper="Selvaraju et al., ICCV 2017")
def guidedgradcam(x: LayerInputs) -> Tensor:
    """Max over channels of |Guided Grad-CAM|; the signed colour image is in
    ``Explanation.pixels``."""
    cam = weighted_map(gradcam_weights(x.gradients), x.activations)
    pixels = guided_gradcam_pixels(cam, _guided(x))
    x.probe.cache[("pixels", "guidedgradcam", x.layer)] = pixels
    return pixel_map(pixels)
