"""Which layer of vit_b_16, swin_t, convnext_tiny and maxvit_t can carry a CAM at all.

    python benchmarks/default_layers.py [--batch 2]

ImageNet weights are not on this machine and cannot be downloaded here, so this measures
what random weights *can* tell (seeded torchvision models, ViT head re-initialised because
torchvision zero-initialises it, 224x224 inputs): for each candidate layer near the end of
each model

* ``zero``: share of Grad-CAM maps that are all zero (the layer's gradient does not reach
  the logits, or every weight is negative), over ``--batch`` images x top-5 classes;
* ``|g|``: mean absolute gradient of the top-1 logit at the layer's map (prefix tokens
  dropped: 0 = the patch tokens do not reach the logit);
* ``cam``: whether CAM applies (the layer feeds global average pooling and then the
  classifier directly, checked numerically by the engine) and then ``r(CAM, Grad-CAM)``,
  which is 1 exactly when Grad-CAM is the faithful decomposition of the logit.

What random weights cannot tell - which of the remaining layers gives maps that pass the
deletion/insertion and sanity metrics on real images - needs the pretrained weights;
docs/transformers.md says how the defaults were chosen from these figures and the peers'
published comparisons.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
import torchvision
from machine import header

from camviz.cam import explain
from camviz.cam.tokens import LayoutFinder
from camviz.errors import CamvizError

CANDIDATES = {
    "vit_b_16": ["encoder.layers.encoder_layer_10.ln_1", "encoder.layers.encoder_layer_11.ln_1",
                 "encoder.layers.encoder_layer_11.ln_2", "encoder.layers.encoder_layer_11",
                 "encoder.ln"],
    "swin_t": ["features.7.0.norm1", "features.7.1.norm1", "features.7.1.norm2", "features.7.1",
               "norm"],
    "convnext_tiny": ["features.6", "features.7.1", "features.7.2.block.5", "features"],
    "maxvit_t": ["blocks.2", "blocks.3.layers.0", "blocks.3.layers.1.layers.MBconv", "blocks.3"],
}


def build(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.get_model(arch, weights=None).eval()
    if arch == "vit_b_16":
        torch.nn.init.normal_(m.heads.head.weight, std=0.02)
    return m


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double().numpy(), b.flatten().double().numpy()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=2)
    args = p.parse_args(argv)
    print(header("benchmarks/default_layers.py"))
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 224, 224)
    print(f"{'model':<14} {'layer':<40} {'grid':>6} {'zero':>5} {'|g|':>9} {'cam':>10}")
    for arch, layers in CANDIDATES.items():
        m = build(arch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = explain(m, x, layer=layers, methods=("gradcam",), topk=5)
        for name in layers:
            e = out[name]
            zero = float((e.raw["gradcam"].flatten(2).amax(2) <= 0).float().mean())
            grid = "x".join(map(str, e.raw["gradcam"].shape[-2:]))
            grad = _mean_abs_grad(m, x, name, e.targets[:, 0])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    c = explain(m, x, layer=name, methods=("cam", "gradcam"))
                cam = f"r={min(pearson(a, b) for a, b in zip(c.raw['cam'], c.raw['gradcam'])):.4f}"
            except CamvizError:
                cam = "no"
            print(f"{arch:<14} {name:<40} {grid:>6} {zero:>5.2f} {grad:>9.2e} {cam:>10}")
    return 0


def _mean_abs_grad(model, x, name, target) -> float:
    module = dict(model.named_modules())[name]
    store = {}
    handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        with torch.enable_grad():
            logits = model(x)
            (g,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), store["a"])
    finally:
        handle.remove()
    spatial = LayoutFinder(model, tuple(x.shape[-2:])).find(store["a"])
    return float(spatial(g).abs().mean())


if __name__ == "__main__":
    raise SystemExit(main())
