"""The synthetic shapes data set: exact masks, determinism, clutter."""

import hashlib

import numpy as np
import pytest
import torch

from camviz.data import SHAPE_CLASSES, load_dataset, make_shapes, shapes_split
from camviz.data.shapes import SPLIT_SIZES, draw_shape_image, shape_mask


@pytest.fixture(scope="module")
def data():
    return make_shapes(120, seed=3)


def test_shapes_and_types(data):
    assert data.images.shape == (120, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.masks.shape == (120, 64, 64) and data.masks.dtype == torch.bool
    assert data.labels.dtype == torch.int64 and set(data.labels.tolist()) == set(range(len(SHAPE_CLASSES)))


def test_mask_is_exactly_where_the_shape_colour_is(data):
    for img, mask, colour in zip(data.images, data.masks, data.colors):
        painted = (img == colour[:, None, None]).all(0)
        assert torch.equal(painted, mask)


def test_masks_are_sized_objects_inside_the_image(data):
    area = data.masks.float().mean((1, 2))
    assert area.min() > 0.02 and area.max() < 0.5
    border = data.masks[:, 0, :].any() or data.masks[:, -1, :].any() \
        or data.masks[:, :, 0].any() or data.masks[:, :, -1].any()
    assert not border


def test_clutter_has_other_colours_than_the_shape(data):
    # Outside the mask an image is not flat: noise, lines and blobs in other hues.
    for img, mask in zip(data.images[:20], data.masks[:20]):
        outside = img[:, ~mask].float()
        assert outside.std(1).mean() > 4


def test_same_seed_same_images_and_prefix_property():
    a = make_shapes(10, seed=7)
    b = make_shapes(4, seed=7, start=6)
    assert torch.equal(a.images[6:], b.images) and torch.equal(a.masks[6:], b.masks)
    c = make_shapes(10, seed=8)
    assert not torch.equal(a.images, c.images)


def test_registered_split_matches_shapes_split():
    src = load_dataset("shapes", limit=16)
    test = shapes_split("test", 16)
    assert torch.equal(src.split("test").images, test.images)
    assert torch.equal(src.split("test").labels, test.labels)
    assert not torch.equal(src.split("train").images, test.images)
    assert src.classes == SHAPE_CLASSES and SPLIT_SIZES["test"] >= 1000


@pytest.mark.parametrize("cls", SHAPE_CLASSES)
def test_each_shape_has_its_geometry(cls):
    yy, xx = np.mgrid[0:64, 0:64].astype(float) + 0.5
    m = shape_mask(cls, 32.0, 32.0, 20.0, 0.3, xx.ravel(), yy.ravel()).reshape(64, 64)
    area = m.sum()
    r = 20.0
    expected = {"circle": np.pi * r * r, "square": 2 * r * r,
                "triangle": 3 * np.sqrt(3) / 4 * r * r, "cross": 4 * 0.33 * r * r * 2 - (0.66 * r) ** 2,
                "star": None}[cls]
    if expected is not None:
        assert abs(area - expected) / expected < 0.05
    assert m[32, 32]                                   # every class covers its centre
    if cls == "star":                                  # concave: less than its pentagon hull
        assert area < 0.6 * np.pi * r * r


def test_larger_size_scales_geometry():
    img, _, mask, colour = draw_shape_image(np.random.default_rng(0), size=128)
    assert img.shape == (128, 128, 3) and mask.shape == (128, 128)
    assert ((img == colour).all(-1) == mask).all()


def _digest(d) -> str:
    return hashlib.sha256(d.images.numpy().tobytes() + d.labels.numpy().tobytes()
                          + d.masks.numpy().tobytes()).hexdigest()


def test_the_training_images_are_the_ones_the_published_runs_saw():
    """Published studies and shipped checkpoints were trained on these exact images (digest
    taken when they were made): a change to the drawing code, even one that keeps every
    property above, would silently make them irreproducible."""
    assert _digest(shapes_split("train", 16)) == \
        "9524ed98eecd80e6092218a20a9f70d61f23bc3dd89c368d328cbe03ca5e4884"
