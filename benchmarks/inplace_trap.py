"""How far pytorch-grad-cam's Grad-CAM strays where a later in-place op rewrites the layer's
output, and how closely camviz follows a cloned-activation reference (Captum) there.

    python benchmarks/inplace_trap.py [--images 8] [--size 128]

The cases of tests/cam/test_gradcam.py: torchvision ResNet-18 ``layer4.1.bn2`` (the block's
``out += identity`` rewrites it) and DenseNet-121 ``features`` (``F.relu(features,
inplace=True)`` follows), with ResNet-18 ``layer4`` as a control without a trap. The models
have random weights (seed 0; nothing is downloaded) whose batch-norm statistics are set from
4 random images: with torchvision's initial statistics every channel shifts alike and the
trap barely shows, centred activations (as in a trained net) make it visible. Inputs are
``--images`` random 3x``--size``x``--size`` images; each image's top class is explained.
Printed: Pearson r per image of camviz vs Captum's ``LayerGradCam`` (which captures a clone)
and of pytorch-grad-cam vs camviz; min-max over the images.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import torch
import torchvision
from machine import header
from torch import nn

from camviz.cam import explain

CASES = [("resnet18", "layer4", "control, no in-place op after it"),
         ("resnet18", "layer4.1.bn2", "out += identity"),
         ("densenet121", "features", "F.relu(features, inplace=True)")]


def model(arch: str, size: int) -> nn.Module:
    torch.manual_seed(0)
    m = getattr(torchvision.models, arch)(weights=None)
    for bn in m.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.reset_running_stats()
            bn.momentum = None
    m.train()
    with torch.no_grad():
        m(torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(1)))
    return m.eval()


def pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel())[0, 1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    print(header("benchmarks/inplace_trap.py " + " ".join(sys.argv[1:])))
    from captum.attr import LayerGradCam
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = torch.randn(args.images, 3, args.size, args.size, generator=torch.Generator().manual_seed(7))
    print(f"{args.images} random images at {args.size} px, random weights with batch-norm statistics "
          f"set from 4 random images\n")
    print(f"{'model':<12} {'layer':<14} {'r camviz vs Captum':>20} {'r pytorch-grad-cam vs camviz':>30}  after the layer")
    for arch, layer, why in CASES:
        m = model(arch, args.size)
        module = dict(m.named_modules())[layer]
        e = explain(m, x, layer=layer, methods=("gradcam",))
        targets = e.targets[:, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = LayerGradCam(m, module).attribute(x, target=targets.tolist(), relu_attributions=True)[:, 0]
            with GradCAM(m, [module]) as cam:
                pgc = cam(x, targets=[ClassifierOutputTarget(int(c)) for c in targets])
        r_ref = [pearson(e.raw["gradcam"][i], ref[i].detach()) for i in range(len(x))]
        r_pgc = [pearson(pgc[i], e.maps["gradcam"][i]) for i in range(len(x))]
        print(f"{arch:<12} {layer:<14} {min(r_ref):>9.3f} - {max(r_ref):.3f} "
              f"{min(r_pgc):>19.3f} - {max(r_pgc):.3f}  {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
