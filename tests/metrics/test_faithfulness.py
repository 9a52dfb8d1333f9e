"""Deletion / insertion and average drop on a model where only known pixels matter."""

import pytest
import torch
from metricstest import RegionModel

from camviz.errors import UnknownNameError
from camviz.metrics.faithfulness import (
    average_drop,
    baseline_images,
    confidence_change,
    curve_auc,
    deletion_curve,
    increase_in_confidence,
    insertion_curve,
    pixel_ranks,
)
from camviz.metrics.reference import random_maps

H = W = 12


@pytest.fixture
def setup():
    region = torch.zeros(H, W)
    region[3:7, 2:8] = 1.0                  # 24 of 144 pixels decide class 0
    model = RegionModel(region).eval()
    images = torch.rand(6, 3, H, W, generator=torch.Generator().manual_seed(0)) + 0.5
    targets = torch.zeros(6, dtype=torch.long)
    perfect = region.expand(6, H, W).clone()
    noise = random_maps(6, H, W, generator=torch.Generator().manual_seed(1))
    return model, images, targets, perfect, noise, region


def test_perfect_map_beats_random_on_deletion_and_insertion(setup):
    model, images, targets, perfect, noise, _ = setup
    kw = {"steps": 12, "baseline": "zeros"}
    del_perfect = curve_auc(deletion_curve(model, images, perfect, targets, **kw))
    del_random = curve_auc(deletion_curve(model, images, noise, targets, **kw))
    ins_perfect = curve_auc(insertion_curve(model, images, perfect, targets, **kw))
    ins_random = curve_auc(insertion_curve(model, images, noise, targets, **kw))
    assert (del_perfect < del_random).all()
    assert (ins_perfect > ins_random).all()


def test_deletion_curve_known_values(setup):
    model, images, targets, perfect, _, _ = setup
    curve = deletion_curve(model, images, perfect, targets, steps=6, baseline="zeros")
    assert curve.shape == (6, 7)
    full = torch.softmax(model(images), 1)[:, 0]
    assert torch.allclose(curve[:, 0], full)
    # step 1 removes 144/6 = 24 pixels: exactly the region, so the logit is 0 from then on
    assert torch.allclose(curve[:, 1:], torch.full((6, 6), 0.5))


def test_insertion_ends_at_the_image_and_batches_agree(setup):
    model, images, targets, _, noise, _ = setup
    a = insertion_curve(model, images, noise, targets, steps=5, baseline="mean", batch_size=64)
    b = insertion_curve(model, images, noise, targets, steps=5, baseline="mean", batch_size=1)
    assert torch.allclose(a, b)
    assert torch.allclose(a[:, -1], torch.softmax(model(images), 1)[:, 0])
    mean_img = images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    assert torch.allclose(a[:, 0], torch.softmax(model(mean_img), 1)[:, 0])


def test_auc_of_known_curves():
    curves = torch.tensor([[0.3, 0.3, 0.3], [1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(curve_auc(curves), torch.tensor([0.3, 0.5, 0.25]))


def test_average_drop_of_all_ones_map_is_zero(setup):
    model, images, targets, _, _, _ = setup
    full, masked = confidence_change(model, images, torch.ones(6, H, W), targets)
    assert torch.equal(full, masked)
    assert average_drop(full, masked).tolist() == [0.0] * 6
    assert increase_in_confidence(full, masked).tolist() == [0.0] * 6


def test_average_drop_formula():
    full = torch.tensor([0.8, 0.5, 0.0])
    masked = torch.tensor([0.4, 0.6, 0.1])
    assert torch.allclose(average_drop(full, masked), torch.tensor([0.5, 0.0, 0.0]))
    assert increase_in_confidence(full, masked).tolist() == [0.0, 1.0, 1.0]


def test_map_on_the_region_keeps_confidence_better_than_its_complement(setup):
    model, images, targets, perfect, _, _ = setup
    keep = average_drop(*confidence_change(model, images, perfect, targets))
    lose = average_drop(*confidence_change(model, images, 1 - perfect, targets))
    assert keep.max() == 0.0 and (lose > 0).all()


def test_baselines():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(baseline_images(x, "zeros"), torch.zeros_like(x))
    assert torch.allclose(baseline_images(x, "mean")[:, :, 5, 7], x.mean(dim=(2, 3)))
    blurred = baseline_images(x, "blur")
    assert blurred.shape == x.shape and blurred.std() < 0.5 * x.std()
    const = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(baseline_images(const, "blur"), const, atol=1e-6)
    with pytest.raises(UnknownNameError, match="did you mean 'blur'"):
        baseline_images(x, "blurr")


def test_pixel_ranks_order_by_importance():
    m = torch.tensor([[[0.1, 0.9], [0.5, 0.9]]])
    assert pixel_ranks(m).tolist() == [[3, 0, 2, 1]]   # ties in raster order
