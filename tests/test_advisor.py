"""The layer advisor on the shipped shapes checkpoint: it must agree with docs/cam_metrics.md."""

from pathlib import Path

import pytest
import torch
from torch import nn

from camviz import load_checkpoint
from camviz.advisor import candidate_layers, format_ranking, rank_layers
from camviz.data.shapes import shapes_split
from camviz.data.transforms import Preprocess, prepare_batch

CKPT = Path(__file__).resolve().parent.parent / "checkpoints" / "resnet14-shapes.safetensors"


@pytest.fixture(scope="module")
def shapes():
    lm = load_checkpoint(CKPT)
    data = shapes_split("test", 8)
    pre = Preprocess(lm.input_size, lm.in_channels, tuple(lm.mean), tuple(lm.std))
    return lm, prepare_batch(data.images, pre), data.labels


def test_trustworthy_layer_ranks_above_the_sanity_failures(shapes):
    lm, x, y = shapes
    rows = rank_layers(lm.model, x, layers=["layer3", "layer4"], methods=("gradcam", "gradcampp"),
                       targets=y, classifier=lm.classifier, steps=5)
    table = format_ranking(rows)
    order = [(r.layer, r.method) for r in rows]
    # docs/cam_metrics.md: Grad-CAM at layer4 passes the sanity check (0.28),
    # Grad-CAM++ at layer4 fails it (0.90)
    assert order[0] == ("layer4", "gradcam"), table
    assert table.splitlines()[2].startswith("* layer4"), table
    pp = next(r for r in rows if (r.layer, r.method) == ("layer4", "gradcampp"))
    assert pp.sanity > 0.5 and any(f.startswith("sanity") for f in pp.flags), table
    assert order.index(("layer4", "gradcam")) < order.index(("layer4", "gradcampp"))
    flagged = [bool(r.flags) for r in rows]
    assert flagged == sorted(flagged)  # every unflagged row before every flagged one


def test_candidates_and_a_zero_gradient_flag():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[4].weight.zero_()                        # no class depends on the features
    x = torch.randn(2, 3, 8, 8)
    assert candidate_layers(net, x) == ["0", "1"]
    rows = rank_layers(net, x, steps=2)
    assert all("zero-gradient" in r.flags for r in rows)
