"""What Grad-CAM costs on ViT-B/16 and Swin-T beside ResNet-50, relative to one plain forward.

    python benchmarks/transformer_cost.py [--reps N] [--batch 8] [--threads T]

Work: Grad-CAM of the top-1 class of every image of a batch of 8 random 224x224 images on
random-weight (seeded) torchvision models in eval mode, at the layer camviz uses by default
(ViT-B/16: ``encoder.layers.encoder_layer_11.ln_1``, tokens; Swin-T: ``norm``, channels
last; ResNet-50: ``layer4``). The same work is done with

* camviz: one ``explain(...)`` call (layouts found automatically);
* pytorch-grad-cam: ``GradCAM`` with its documented ``reshape_transform`` (drop the CLS
  token and reshape for ViT, permute for Swin), classes given (found outside the timing).

Time is wall clock; all configurations run in turn, repetition after repetition, and the
median is printed as a ratio to the median ``torch.no_grad()`` forward of the same run, so
load on the shared CPU hits all alike. Starts with benchmarks/machine.py's header.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import torch
import torchvision
from machine import header

from camviz.cam import explain

CASES = {  # arch -> (layer name, pytorch-grad-cam reshape_transform)
    "vit_b_16": ("encoder.layers.encoder_layer_11.ln_1",
                 lambda t: t[:, 1:].reshape(t.size(0), 14, 14, t.size(2)).permute(0, 3, 1, 2)),
    "swin_t": ("norm", lambda t: t.permute(0, 3, 1, 2)),
    "resnet50": ("layer4", None),
}


def build(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = torchvision.models.get_model(arch, weights=None).eval()
    if arch == "vit_b_16":
        torch.nn.init.normal_(m.heads.head.weight, std=0.02)  # torchvision zero-initialises it
    return m


def runners(arch: str, model, x):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    name, reshape = CASES[arch]
    layer = dict(model.named_modules())[name]
    with torch.no_grad():
        classes = model(x).argmax(1).tolist()

    def plain():
        with torch.no_grad():
            model(x)

    def ours():
        explain(model, x, layer=name, methods=("gradcam",))

    def theirs():
        with GradCAM(model=model, target_layers=[layer], reshape_transform=reshape) as cam, \
                contextlib.redirect_stderr(io.StringIO()):
            cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])

    return {"plain forward": plain, "camviz": ours, "pytorch-grad-cam": theirs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(header("benchmarks/transformer_cost.py " + " ".join(argv or [])))
    print(f"# batch {args.batch}, 224x224, {args.reps} repetitions (median), "
          f"{args.threads} intra-op threads")
    x = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    print(f"{'model':<10} {'forward s':>9}  {'camviz':>7}  {'pytorch-grad-cam':>16}")
    for arch in CASES:
        model = build(arch)
        fns = runners(arch, model, x)
        for fn in fns.values():  # warm-up
            fn()
        times = {k: [] for k in fns}
        for _ in range(args.reps):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["plain forward"]
        print(f"{arch:<10} {base:>9.3f}  {med['camviz'] / base:>6.2f}x  "
              f"{med['pytorch-grad-cam'] / base:>15.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
