"""``shapes-hard``: ten classes, exact visible masks, determinism, registered splits."""

import hashlib

import numpy as np
import pytest
import torch

from camviz.data import load_dataset
from camviz.data.shapes import make_shapes
from camviz.data.shapes_hard import (
    BLOB_R,
    DECOY_R,
    HARD_CLASSES,
    SHAPE_R,
    hard_mask,
    hard_split,
    make_hard_shapes,
)


@pytest.fixture(scope="module")
def data():
    return make_hard_shapes(150, seed=3)


def test_ten_classes_all_drawn(data):
    assert len(HARD_CLASSES) == 10 and data.classes == HARD_CLASSES
    assert set(data.labels.tolist()) == set(range(10))
    assert data.images.shape == (150, 3, 64, 64) and data.images.dtype == torch.uint8


def test_mask_is_exactly_the_visible_shape_colour(data):
    for img, mask, colour in zip(data.images, data.masks, data.colors):
        assert torch.equal((img == colour[:, None, None]).all(0), mask)


def test_shapes_are_smaller_than_in_shapes(data):
    area = data.masks.float().mean((1, 2))
    easy = make_shapes(150, seed=3).masks.float().mean((1, 2))
    assert area.min() > 0.01 and area.max() < 0.25
    assert area.median() < 0.8 * easy.median()


def test_the_class_shape_spans_more_than_any_decoy(data):
    """What tells the class shape from the clutter: even half occluded it is wider than the
    largest decoy polygon (diameter <= 2 * DECOY_R[1]) and every blob."""
    assert SHAPE_R[0] > DECOY_R[1] > BLOB_R[1]
    for mask in data.masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 > 2 * DECOY_R[1]


def test_same_seed_same_images_and_prefix_property():
    a, b = make_hard_shapes(8, seed=7), make_hard_shapes(3, seed=7, start=5)
    assert torch.equal(a.images[5:], b.images) and torch.equal(a.masks[5:], b.masks)
    assert not torch.equal(a.images, make_hard_shapes(8, seed=8).images)


def test_registered_splits_are_distinct_streams():
    src = load_dataset("shapes-hard", limit=12)
    assert src.classes == HARD_CLASSES and src.channels == 3 and src.image_size == 64
    assert torch.equal(src.split("test").images, hard_split("test", 12).images)
    assert not torch.equal(src.split("train").images, src.split("test").images)


@pytest.mark.parametrize("cls, area", [("pentagon", 5 / 2 * np.sin(2 * np.pi / 5)),
                                       ("hexagon", 3 * np.sqrt(3) / 2), ("ring", np.pi * (1 - 0.55 ** 2)),
                                       ("ellipse", np.pi * 0.5), ("rhombus", 1.0)])
def test_new_class_geometry_has_its_area(cls, area):
    """Pixel counts of a large shape match its closed-form area (in units of r^2)."""
    yy, xx = np.mgrid[0:400, 0:400].astype(float) + 0.5
    r = 150.0
    mask = hard_mask(cls, 200.0, 200.0, r, 0.3, xx.ravel(), yy.ravel())
    assert mask.sum() / r ** 2 == pytest.approx(area, rel=0.01)


def test_the_training_images_are_the_ones_the_published_runs_saw():
    """Report 004's published CPU study was trained on these exact images (digest taken when
    it ran): a change to the drawing code would make its runs irreproducible."""
    d = hard_split("train", 16)
    digest = hashlib.sha256(d.images.numpy().tobytes() + d.labels.numpy().tobytes()
                            + d.masks.numpy().tobytes()).hexdigest()
    assert digest == "d246a6dfe2b62ef0fe97bf4086607fd15ac46988e0ee95ae3d969db0373cfe33"
