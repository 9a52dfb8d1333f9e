"""LeNet on Fashion-MNIST, 2 epochs: the default recipe (lenet5's spec) against alternatives.

    python benchmarks/lenet_recipe.py --seeds 0 1 2 > benchmarks/results/lenet_recipe-DATE.txt

Each line is one `camviz train --epochs 2` run on one thread (fp32, 48k/12k split, the full
10k test split): the test accuracy of the best-val epoch and the wall time. ``old-default``
is what `camviz train --model lenet5 --epochs 2` ran before recipes (sigmoid LeNet, AdamW
1e-3, no schedule, batch 128); ``shipped-batch-128`` is the shipped checkpoint's recipe.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header

from camviz.train import build_config, train

VARIANTS = {
    "recipe": {},
    "shipped-batch-128": {"batch_size": 128},
    "batch-32": {"batch_size": 32},
    "lr-3e-3": {"lr": 3e-3},
    "old-default": {"model_options": {"activation": "sigmoid", "pooling": "avg"},
                    "optimizer": "adamw", "lr": 1e-3, "scheduler": "none", "batch_size": 128},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = p.parse_args()
    torch.set_num_threads(1)
    print(header("lenet_recipe.py"))
    for name in args.variants:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = build_config(None, model="lenet5", dataset="fashion-mnist", epochs=2,
                                   seed=seed, device="cpu", out=tmp, register=False,
                                   **VARIANTS[name])
                t = time.perf_counter()
                result = train(cfg, quiet=True)
                wall = time.perf_counter() - t
            print(f"{name:18s} seed {seed}: test {result.test['accuracy']:.4f} "
                  f"(opts {cfg.model_options}, {cfg.optimizer} lr {cfg.lr}, {cfg.scheduler}, "
                  f"batch {cfg.batch_size}), {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
