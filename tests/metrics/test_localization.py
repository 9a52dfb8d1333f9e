"""Pointing game, energy pointing game and IoU on hand-built maps with known answers."""

import pytest
import torch

from camviz.errors import ConfigError, DataError
from camviz.metrics.localization import (
    default_tolerance,
    energy_pointing_game,
    mask_iou,
    peak_positions,
    pointing_game,
)
from camviz.metrics.reference import center_maps, random_maps


def _masks() -> torch.Tensor:
    """Three 24x24 masks: a square, a disc, an L shape."""
    m = torch.zeros(3, 24, 24, dtype=torch.bool)
    m[0, 4:10, 5:12] = True
    yy, xx = torch.meshgrid(torch.arange(24), torch.arange(24), indexing="ij")
    m[1] = (yy - 15) ** 2 + (xx - 14) ** 2 <= 25
    m[2, 2:20, 2:5] = True
    m[2, 17:20, 2:18] = True
    return m


def test_map_equal_to_mask_scores_one():
    masks = _masks()
    maps = masks.float()
    assert pointing_game(maps, masks).tolist() == [1.0, 1.0, 1.0]
    assert torch.allclose(energy_pointing_game(maps, masks), torch.ones(3))
    assert torch.allclose(mask_iou(maps, masks, 0.5), torch.ones(3))


def test_complement_of_mask_scores_zero():
    masks = _masks()
    maps = (~masks).float()
    assert pointing_game(maps, masks).tolist() == [0.0, 0.0, 0.0]
    assert energy_pointing_game(maps, masks).tolist() == [0.0, 0.0, 0.0]
    assert mask_iou(maps, masks, 0.5).tolist() == [0.0, 0.0, 0.0]


def test_tolerance_counts_near_misses():
    mask = torch.zeros(1, 20, 20, dtype=torch.bool)
    mask[0, 10:, :] = True                 # rows 10..19
    m = torch.zeros(1, 20, 20)
    m[0, 7, 4] = 1.0                       # 3 px above the mask
    assert pointing_game(m, mask, tolerance=2).item() == 0.0
    assert pointing_game(m, mask, tolerance=3).item() == 1.0


def test_energy_is_the_share_inside():
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2] = True
    m = torch.zeros(1, 4, 4)
    m[0, 0, 0], m[0, 3, 3] = 3.0, 1.0
    assert energy_pointing_game(m, mask).item() == pytest.approx(0.75)


def test_iou_counts_pixels_at_the_threshold():
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, :] = True                   # 4 pixels
    m = torch.zeros(1, 4, 4)
    m[0, 0, :2] = 0.5                      # 2 inside at the threshold
    m[0, 1, 0] = 0.9                       # 1 outside
    m[0, 0, 2] = 0.4                       # below
    assert mask_iou(m, mask, 0.5).item() == pytest.approx(2 / 5)


def test_flat_top_points_at_its_middle_and_zero_map_misses():
    mask = torch.zeros(2, 9, 9, dtype=torch.bool)
    mask[:, 4, 4] = True
    flat = torch.full((2, 9, 9), 0.7)
    flat[1] = 0.0
    assert peak_positions(flat[:1])[0].item() == 4.0
    assert pointing_game(flat, mask).tolist() == [1.0, 0.0]
    assert energy_pointing_game(flat, mask)[1].item() == 0.0


def test_reference_maps_score_as_expected():
    masks = torch.zeros(400, 32, 32, dtype=torch.bool)
    masks[:, 8:24, 8:24] = True            # a quarter of the image, centred
    noise = random_maps(400, 32, 32, generator=torch.Generator().manual_seed(0))
    # uniform noise puts the mask's area share of its energy inside, on average
    assert energy_pointing_game(noise, masks).mean().item() == pytest.approx(0.25, abs=0.01)
    assert pointing_game(noise, masks).mean().item() == pytest.approx(0.25, abs=0.07)
    assert pointing_game(center_maps(400, 32, 32), masks).mean().item() == 1.0


def test_default_tolerance_is_zhang_scaled():
    assert default_tolerance(224) == 15
    assert default_tolerance(64) == 4


def test_bad_inputs():
    masks = _masks()
    with pytest.raises(ConfigError, match="same size"):
        pointing_game(torch.rand(3, 12, 12), masks)
    empty = masks.clone()
    empty[1] = False
    with pytest.raises(DataError, match="image 1 is empty"):
        energy_pointing_game(torch.rand(3, 24, 24), empty)
    with pytest.raises(ConfigError, match=">= 0"):
        pointing_game(masks.float(), masks, tolerance=-1)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        mask_iou(masks.float(), masks, threshold=1.5)
