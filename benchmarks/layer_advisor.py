"""The layer advisor on the shipped ``resnet14-shapes`` checkpoint (docs/transformers.md).

    python benchmarks/layer_advisor.py [--n 32] [--steps 10]

Ranks CAM, Grad-CAM, Grad-CAM++, LayerCAM and Eigen-CAM at ``layer2``, ``layer3`` and
``layer4`` on the first ``--n`` test images of ``shapes`` (their true classes) with
:func:`camviz.advisor.rank_layers`, and prints the table with benchmarks/machine.py's header.
docs/cam_metrics.md's 200-image evaluation is the reference it should agree with.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from machine import header

from camviz import load_checkpoint
from camviz.advisor import format_ranking, rank_layers
from camviz.data.shapes import shapes_split
from camviz.data.transforms import Preprocess, prepare_batch

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "resnet14-shapes.safetensors"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    print(header("benchmarks/layer_advisor.py " + " ".join(argv or [])))
    lm = load_checkpoint(CHECKPOINT)
    data = shapes_split("test", args.n)
    x = prepare_batch(data.images, Preprocess(lm.input_size, lm.in_channels, tuple(lm.mean),
                                              tuple(lm.std)))
    start = time.perf_counter()
    rows = rank_layers(lm.model, x, layers=["layer2", "layer3", "layer4"],
                       methods=("cam", "gradcam", "gradcampp", "layercam", "eigencam"),
                       targets=data.labels, classifier=lm.classifier, steps=args.steps)
    print(f"# {args.n} test images of shapes, true classes; {args.steps} deletion/insertion "
          f"steps; {torch.get_num_threads()} threads; {time.perf_counter() - start:.0f} s")
    print(format_ranking(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
