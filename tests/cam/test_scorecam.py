"""Score-CAM against pytorch-grad-cam and a channel-by-channel reference."""

import warnings

import pytest
import torch
from camtest import pearson, tiny
from torch.nn import functional as F

from camviz.cam import explain
from camviz.cam.scorecam import scorecam_masks
from camviz.errors import CamvizError


def reference(m, x, targets, channels=None):
    """One masked forward per channel, written out."""
    with torch.no_grad():
        acts = m.features(x)
        maps = []
        for n in range(x.shape[0]):
            chans = range(acts.shape[1]) if channels is None else channels[n]
            scores, picked = [], []
            for k in chans:
                up = F.interpolate(acts[n:n + 1, k:k + 1], size=x.shape[-2:], mode="bilinear",
                                   align_corners=False)[0, 0]
                mask = (up - up.min()) / (up.max() - up.min()) if up.max() > up.min() else 0 * up
                scores.append(m(x[n:n + 1] * mask)[0, targets[n]])
                picked.append(acts[n, k])
            w = torch.stack(scores).softmax(0)
            maps.append(torch.relu((w[:, None, None] * torch.stack(picked)).sum(0)))
    return torch.stack(maps)


def setup():
    m = tiny(width=16)
    x = torch.randn(2, 3, 24, 24, generator=torch.Generator().manual_seed(6))
    return m, x


def test_matches_the_written_out_reference_and_pgc():
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    m, x = setup()
    e = explain(m, x, layer="features", methods=("scorecam",), targets=[2, 5],
                method_options={"scorecam": {"batch_size": 7}})
    assert torch.allclose(e.raw["scorecam"], reference(m, x, [2, 5]), rtol=1e-4, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ScoreCAM(m, [m.features]) as cam:
            pgc = cam(x, targets=[ClassifierOutputTarget(2), ClassifierOutputTarget(5)])
    for i in range(2):
        assert pearson(e.maps["scorecam"][i], pgc[i]) >= 0.95


def test_top_channels_scores_only_the_most_active_channels():
    m, x = setup()
    e = explain(m, x, layer="features", methods=("scorecam",), targets=[2, 5],
                method_options={"scorecam": {"top_channels": 5}})
    with torch.no_grad():
        top = m.features(x).mean(dim=(2, 3)).topk(5, dim=1).indices.tolist()
    assert torch.allclose(e.raw["scorecam"], reference(m, x, [2, 5], top), rtol=1e-4, atol=1e-6)
    with pytest.raises(CamvizError, match="top_channels must be a positive int"):
        explain(m, x, layer="features", methods=("scorecam",),
                method_options={"scorecam": {"top_channels": 0}})


def test_masks_are_min_max_scaled_and_constant_channels_vanish():
    acts = torch.tensor([[[1.0, 3.0], [5.0, 7.0]], [[2.0, 2.0], [2.0, 2.0]]])
    masks = scorecam_masks(acts, (4, 4))
    assert masks.shape == (2, 4, 4)
    assert masks[0].min() == 0 and masks[0].max() == 1
    assert torch.equal(masks[1], torch.zeros(4, 4))
