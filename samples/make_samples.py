"""Write the shipped sample images: one Fashion-MNIST test image per class, a few shapes
images with their masks. Run from the repo root: `python samples/make_samples.py`.

Fashion-MNIST comes from Debian's dataset-fashion-mnist package (or --data-dir); the picks
are the first test image of each class, so the output is the same on every machine.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from PIL import Image

from camviz.data import load_dataset
from camviz.data.shapes import shapes_split


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where Fashion-MNIST files are (default: camviz's search)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="samples folder")
    parser.add_argument("--shapes", type=int, default=5, help="how many shapes images")
    args = parser.parse_args()
    out = Path(args.out)

    fm = load_dataset("fashion-mnist", data_dir=args.data_dir, download=False)
    test = fm.split("test")
    (out / "fashion-mnist").mkdir(parents=True, exist_ok=True)
    for cls, name in enumerate(fm.classes):
        idx = int((test.labels == cls).nonzero()[0])
        img = test.images[idx, 0].numpy()
        Image.fromarray(img, "L").save(out / "fashion-mnist" / f"{cls}-{slug(name)}-test{idx}.png")

    shapes = shapes_split("test", n=args.shapes)
    (out / "shapes").mkdir(parents=True, exist_ok=True)
    for i in range(args.shapes):
        name = f"{i}-{shapes.classes[int(shapes.labels[i])]}"
        Image.fromarray(shapes.images[i].permute(1, 2, 0).numpy(), "RGB").save(out / "shapes" / f"{name}.png")
        mask = (shapes.masks[i].numpy().astype(np.uint8) * 255)
        Image.fromarray(mask, "L").save(out / "shapes" / f"{name}.mask.png")


if __name__ == "__main__":
    main()
