"""Lab report 003's CAM pictures (its figure 43), made with camviz.

Left of the report's figure: LeNet classifying handwritten digits, one map per digit. Here:
camviz's LeNet-5 (its default recipe) trained on a digits data set, then Grad-CAM and
LayerCAM at its last convolution for the first test image of every class, in one grid.
Deviation: the report draws CAM; LeNet's head is flatten -> linear, not global average
pooling -> linear, where CAM is undefined (camviz refuses it), so the gradient-weighted
methods stand in.

Right of the report's figure: one photo through torchvision's ImageNet ResNet-18, ResNet-50
and DenseNet-121, CAM at each one's last block (the report's ``cam_hstack``). That is one
``camviz explain`` command with three ``--model`` values; it needs the three models'
ImageNet weights (downloaded once when online, or already in ``$TORCH_HOME``).

    python docs/figures/report003_cam.py                  # digits (scikit-learn, offline)
    python docs/figures/report003_cam.py --dataset mnist  # the report's MNIST (online once)
    python docs/figures/report003_cam.py --photo cat.jpg  # + the ImageNet comparison

Writes docs/figures/report003_lenet_<dataset>_cam.png (and report003_imagenet_cam/ with
--photo); the LeNet run goes to runs/figures/ and is reused when run again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

import camviz
import camviz.train
from camviz.data.datasets import load_dataset
from camviz.train import build_config
from camviz.viz import grid, save_png

HERE = Path(__file__).resolve().parent
METHODS = ("gradcam", "layercam")


def trained_lenet(dataset: str, runs: Path) -> Path:
    """LeNet-5 with its default recipe on ``dataset`` (trained once, then reused)."""
    out = runs / f"lenet5-{dataset}"
    if not (out / "best.safetensors").is_file():
        cfg = build_config(None, model="lenet5", dataset=dataset, out=str(out), register=False, seed=0)
        result = camviz.train.train(cfg, quiet=False)
        print(f"trained: test accuracy {result.test['accuracy']:.4f}")
    return out / "best.safetensors"


def lenet_figure(dataset: str, runs: Path) -> Path:
    loaded = camviz.load_model(str(trained_lenet(dataset, runs)))
    src = load_dataset(dataset, download=dataset != "digits").split("test")
    images, labels = src.images, src.labels
    picks = [int(torch.nonzero(labels == c)[0]) for c in range(len(loaded.classes))]
    arrays = [images[i, 0].numpy() for i in picks]
    results = camviz.explain_images(loaded, arrays, methods=METHODS, topk=1,
                                    names=[f"{dataset}-{labels[i]}" for i in picks])
    cells = [[r.rgb for r in results]] + [[r.overlay(method=m) for r in results] for m in METHODS]
    titles = [[f"true {loaded.classes[int(labels[i])]}" for i in picks]] + \
             [[f"{r.predictions[0][0]} {r.predictions[0][1]:.2f}" for r in results] for _ in METHODS]
    layer = results[0].layers[0]
    picture = grid(cells, row_labels=["image"] + [f"{m} · {layer}" for m in METHODS],
                   cell_titles=titles, cell_inches=1.3,
                   title=f"LeNet-5 on {dataset} (camviz default recipe): where it looks, per digit")
    return save_png(HERE / f"report003_lenet_{dataset}_cam.png", picture)


def imagenet_figure(photo: str) -> int:
    """`camviz explain PHOTO --model resnet18 --model resnet50 --model densenet121 --method cam`."""
    cmd = [sys.executable, "-m", "camviz", "explain", photo, "--model", "resnet18", "--model", "resnet50",
           "--model", "densenet121", "--method", "cam", "--out", str(HERE / "report003_imagenet_cam")]
    print("$", " ".join(cmd[1:]))
    return subprocess.call(cmd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="digits", help="digits (offline) or mnist (default: digits)")
    ap.add_argument("--photo", help="a photo for the ImageNet ResNet-18/50/DenseNet-121 comparison")
    ap.add_argument("--runs", default="runs/figures", help="where the LeNet run is kept")
    args = ap.parse_args()
    torch.manual_seed(0)
    print("wrote", lenet_figure(args.dataset, Path(args.runs)))
    return imagenet_figure(args.photo) if args.photo else 0


if __name__ == "__main__":
    raise SystemExit(main())
