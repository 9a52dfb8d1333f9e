"""The engine decides which methods apply: one pass, the rest explained, the reason kept."""

import pytest
import torch

from camviz.cam import explain
from camviz.errors import MethodNotApplicable
from camviz.models import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("resnet14", num_classes=5, in_channels=3, input_size=32, width=0.25).eval()


def test_inapplicable_method_is_skipped_in_the_same_single_pass(model):
    x = torch.randn(2, 3, 32, 32)
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        out = explain(model, x, layer="layer3", methods=("cam", "gradcam"), classifier="fc",
                      skip_inapplicable=True)
    finally:
        handle.remove()
    assert len(calls) == 1                              # no retry of the whole pass
    assert set(out.maps) == {"gradcam"} and set(out.skipped) == {"cam"}
    assert "global average pooling" in out.skipped["cam"]
    alone = explain(model, x, layer="layer3", methods=("gradcam",))
    torch.testing.assert_close(out.maps["gradcam"], alone.maps["gradcam"])


def test_without_skipping_the_reason_is_raised(model):
    with pytest.raises(MethodNotApplicable, match="layer 'layer3'"):
        explain(model, torch.randn(1, 3, 32, 32), layer="layer3", methods=("cam", "gradcam"),
                classifier="fc")


def test_a_layer_where_nothing_applies_gives_no_maps(model):
    out = explain(model, torch.randn(1, 3, 32, 32), layer="layer3", methods=("cam",),
                  classifier="fc", skip_inapplicable=True)
    assert out.maps == {} and "cam" in out.skipped


def test_where_cam_applies_nothing_is_skipped(model):
    out = explain(model, torch.randn(1, 3, 32, 32), layer="layer4", methods=("cam", "gradcam"),
                  classifier="fc", skip_inapplicable=True)
    assert out.skipped == {} and set(out.maps) == {"cam", "gradcam"}
