"""normalize_maps / upsample: [0, 1], per image or per batch, zero maps stay zero."""

import pytest
import torch

from camviz.cam.normalize import normalize_maps, upsample


def test_per_image_and_per_batch():
    maps = torch.tensor([[[[1.0, 3.0]], [[0.0, 10.0]]]])  # (N=1, K=2, 1, 2)
    img = normalize_maps(maps, "image")
    assert torch.equal(img, torch.tensor([[[[0.0, 1.0]], [[0.0, 1.0]]]]))
    batch = normalize_maps(maps, "batch")
    assert torch.allclose(batch, torch.tensor([[[[0.1, 0.3]], [[0.0, 1.0]]]]))


def test_zero_maps_warn_and_stay_zero_constant_maps_become_one():
    maps = torch.tensor([[[[0.0, 0.0]], [[2.0, 2.0]]]])
    with pytest.warns(RuntimeWarning, match=r"1 of 2 maps are all zero \(first: image 0, class 7\)"):
        out = normalize_maps(maps, "image", targets=torch.tensor([[7, 8]]))
    assert torch.equal(out, torch.tensor([[[[0.0, 0.0]], [[1.0, 1.0]]]]))
    with pytest.warns(RuntimeWarning, match="every map of the batch is zero"):
        assert torch.equal(normalize_maps(torch.zeros(2, 1, 3, 3), "batch"), torch.zeros(2, 1, 3, 3))


def test_several_methods_at_once_are_scaled_and_named_separately():
    maps = torch.stack([torch.rand(2, 1, 4, 4) + 0.1, torch.zeros(2, 1, 4, 4)])
    maps[0, 1] *= 5  # image 1 of method 0 five times brighter
    with pytest.warns(RuntimeWarning, match=r"^gc: every map of the batch is zero"):
        out = normalize_maps(maps, "batch", labels=["cam", "gc"])
    assert out[0].max() == 1 and out[0, 0].max() < 0.5 and torch.equal(out[1], 0 * out[1])
    with pytest.warns(RuntimeWarning, match=r"^gc: 2 of 2 maps are all zero"):
        out = normalize_maps(maps, "image", labels=["cam", "gc"])
    assert torch.allclose(out[0].flatten(1).amax(1), torch.ones(2))


def test_upsample_is_bilinear_and_keeps_the_range():
    raw = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    up = upsample(raw, (8, 8))
    assert up.shape == (1, 1, 8, 8) and up.min() >= 0 and up.max() <= 1
    assert torch.allclose(up, up.flip(-1).flip(-2))  # symmetric input, symmetric output
