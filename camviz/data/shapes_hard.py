"""``shapes-hard``: a harder seeded 64x64 variant of :mod:`camviz.data.shapes` (lab report 004's
offline stand-in for Tiny-ImageNet, where the 5-class ``shapes`` is solved at 0.9975).

Ten classes (the five of ``shapes`` plus pentagon, hexagon, ring, ellipse and rhombus — the
pentagon/hexagon/circle and rhombus/square/ellipse pairs differ in details a few pixels
wide), shapes of 11-17 px radius instead of 11-22, lower contrast, more lines and blobs, one
to three *decoy* polygons (random irregular 5-8-gons, never a class shape, smaller than any
class shape) in other colours, and one or two lines drawn over the shape. The class shape is
the largest object (even half occluded it spans more than any decoy or blob), which is what
makes the label learnable. The mask is still exact: the visible pixels of the shape's flat
colour, at least half of the shape. Image ``i`` of a split depends only on (seed, split, i),
as in ``shapes``.

Calibration (lab report 004's CPU study, 3,000 training images, a quarter-width ResNet-18):
the first version (decoys as large as the shape, 6-12 px shapes, noise sd up to 35) was
memorised, not learned (AdamW 1e-3: train 0.51, validation 0.10 = chance after 6 epochs);
this one generalises (AdamW 1e-3: validation 0.28 after 4 epochs and rising); see
``configs/studies/resnet18_shapes_hard_ablations_cpu.yaml``.
"""

from __future__ import annotations

import functools

import numpy as np

from camviz.data.base import DataSource, TensorSplit
from camviz.data.datasets import LoadOptions, register_dataset
from camviz.data.shapes import (
    DATA_SEED,
    DEFAULT_SIZE,
    SHAPE_CLASSES,
    ShapesData,
    _background,
    _centres,
    _clutter,
    _in_polygon,
    _make,
    _paint,
    _regular,
    _rgb,
    _segment,
    shape_mask,
)
from camviz.errors import DataError

HARD_CLASSES = SHAPE_CLASSES + ("pentagon", "hexagon", "ring", "ellipse", "rhombus")
HARD_SPLIT_SIZES = {"train": 12800, "val": 3200, "test": 4000}
_STREAMS = {"train": 10, "val": 11, "test": 12}
# Ranges drawn per image (px at 64 px; counts as [low, high)); calibrated by training runs
# (see the module docstring).
SHAPE_R = (11.0, 17.0)   # the class shape's circumradius: the largest object
DECOY_R = (4.0, 8.0)     # decoy polygons, smaller than any class shape
BLOB_R = (2.0, 4.5)
NOISE_SD = (6.0, 25.0)   # pixel noise (shapes: 4-20)
LINES, BLOBS, DECOYS, OCCLUDERS = (3, 7), (2, 5), (1, 4), (1, 3)
SHAPE_SAT, SHAPE_VAL = (0.5, 1.0), (0.6, 1.0)   # the class shape's colour (shapes: 0.6, 0.75)


def hard_mask(cls: str, cx: float, cy: float, r: float, theta: float,
              x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pixels inside a ``shapes-hard`` class shape of circumradius ``r``."""
    if cls in SHAPE_CLASSES:
        return shape_mask(cls, cx, cy, r, theta, x, y)
    if cls in ("pentagon", "hexagon"):
        vx, vy = _regular(5 if cls == "pentagon" else 6, [r], theta)
        return _in_polygon(x, y, vx + cx, vy + cy)
    if cls == "ring":
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * (x - cx) + s * (y - cy), -s * (x - cx) + c * (y - cy)
    if cls == "ellipse":
        return (u / r) ** 2 + (v / (0.5 * r)) ** 2 <= 1.0
    if cls == "rhombus":
        return np.abs(u) / r + np.abs(v) / (0.5 * r) <= 1.0
    raise ValueError(cls)


def _decoy(x, y, cx, cy, r, rng) -> np.ndarray:
    """An irregular polygon of 5-8 vertices at random angles and radii: no class shape."""
    n = int(rng.integers(5, 9))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.45, 1.0, n)
    return _in_polygon(x, y, cx + rad * np.cos(ang), cy + rad * np.sin(ang))


def draw_hard_image(rng: np.random.Generator, size: int = DEFAULT_SIZE
                    ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """One image (H, W, 3) uint8, its label, its exact visible mask (H, W) and its colour."""
    k = size / DEFAULT_SIZE
    x, y = _centres(size)
    img = _background(rng, size, sat=0.6, val=(0.15, 0.8), tilt=60, noise=NOISE_SD)
    label = int(rng.integers(len(HARD_CLASSES)))
    hue = rng.uniform()

    def other_colour() -> np.ndarray:
        return _rgb(hue + rng.uniform(1 / 8, 7 / 8), rng.uniform(0.3, 1.0), rng.uniform(0.4, 1.0))

    flat = img.reshape(-1, 3)
    _clutter(rng, flat, x, y, size, other_colour, lines=LINES, blobs=BLOBS, blob_r=BLOB_R)
    for _ in range(int(rng.integers(*DECOYS))):
        cx, cy = rng.uniform(0, size, 2)
        flat[_decoy(x, y, cx, cy, rng.uniform(*DECOY_R) * k, rng)] = other_colour()

    r = rng.uniform(*SHAPE_R) * k
    margin = 1.06 * r + 1.0
    cx, cy = rng.uniform(margin, size - margin, 2)
    shape = hard_mask(HARD_CLASSES[label], cx, cy, r, rng.uniform(0, 2 * np.pi), x, y)
    occluded = np.zeros_like(shape)
    occluders = []
    for _ in range(int(rng.integers(*OCCLUDERS))):
        ang, off = rng.uniform(0, np.pi), rng.uniform(-r, r)
        px, py = cx + off * np.cos(ang + np.pi / 2), cy + off * np.sin(ang + np.pi / 2)
        line = _segment(x, y, px - size * np.cos(ang), py - size * np.sin(ang),
                        px + size * np.cos(ang), py + size * np.sin(ang), rng.uniform(1.0, 2.5) * k)
        if (shape & ~(occluded | line)).sum() >= 0.5 * shape.sum():   # keep half visible
            occluded |= line
            occluders.append((line, other_colour()))
    mask = shape & ~occluded
    if not mask.any():
        raise RuntimeError("empty shape mask")
    colour = np.rint(_rgb(hue, rng.uniform(*SHAPE_SAT), rng.uniform(*SHAPE_VAL))).astype(np.uint8)
    flat[shape] = colour
    for line, c in occluders:
        flat[line] = c
    return _paint(img, mask, colour), label, mask.reshape(size, size), colour


def make_hard_shapes(n: int, *, size: int = DEFAULT_SIZE, seed: int = DATA_SEED, stream: int = 10,
                     start: int = 0) -> ShapesData:
    """``n`` images; image ``start + i`` is seeded by (seed, stream, start + i)."""
    if n < 0 or size < 32:
        raise DataError(f"shapes-hard needs n >= 0 and size >= 32, got n={n}, size={size}")
    return _make(draw_hard_image, n, size, seed, stream, start, HARD_CLASSES)


@functools.lru_cache(maxsize=3)
def hard_split(split: str = "test", n: int | None = None) -> ShapesData:
    """The first ``n`` images of a split of the registered ``shapes-hard`` data set."""
    if split not in HARD_SPLIT_SIZES:
        raise DataError(f"shapes-hard has no split '{split}' (valid: {', '.join(HARD_SPLIT_SIZES)})")
    total = HARD_SPLIT_SIZES[split]
    return make_hard_shapes(total if n is None else min(int(n), total), stream=_STREAMS[split])


@register_dataset("shapes-hard", channels=3, image_size=DEFAULT_SIZE,
                  description="harder shapes: 10 classes, small occluded shapes, decoys, 64x64 RGB")
def load_shapes_hard(opts: LoadOptions) -> DataSource:
    # Generated, not split: val is its own stream, so split_seed and val_fraction don't apply.
    splits = {}
    for split in HARD_SPLIT_SIZES:
        d = hard_split(split, opts.limit)
        splits[split] = TensorSplit(d.images, d.labels)
    return DataSource("shapes-hard", HARD_CLASSES, 3, DEFAULT_SIZE, splits)
