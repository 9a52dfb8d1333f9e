"""Each diagnostic is triggered by a model or input built to cause it, and only then."""

import warnings

import pytest
import torch
from camtest import tiny
from torch import nn

from camviz.cam import explain


def kinds(e):
    return [d.kind for d in e.diagnostics]


def run(model, images, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the all-zero RuntimeWarning is tested elsewhere
        return explain(model, images, **kw)


def test_a_healthy_call_has_no_diagnostics(images):
    e = run(tiny(), images, methods=("gradcam", "gradcampp", "scorecam"), topk=2)
    assert e.diagnostics == ()


def test_zero_gradient(images):
    m = tiny()
    with torch.no_grad():
        m.fc.weight[2] = 0
    e = run(m, images, layer="features", targets=2)
    assert kinds(e) == ["zero-gradient"]
    assert "2 of 2 maps are all zero" in e.diagnostics[0].message


def test_saturated_softmax(images):
    m = tiny()
    with torch.no_grad():
        m.fc.bias[1] = 1e4  # p_1 = 1.0 in float32: no softmax gradient
    e = run(m, images, layer="features", score="softmax")
    assert kinds(e) == ["saturated"] and "score='logit'" in str(e.diagnostics[0])
    assert kinds(run(m, images, layer="features")) == []  # the logit still has a gradient


def test_negative_evidence(images):
    m = tiny()
    with torch.no_grad():
        m.fc.weight[3] = -m.fc.weight[3].abs()
    e = run(m, images, layer="features", targets=3)
    assert kinds(e) == ["negative", "far-target"] or kinds(e) == ["negative"]
    assert "counterfactual=True" in e.diagnostics[0].message


def test_constant_map():
    m = tiny()
    with torch.no_grad():
        m.features[4].weight.zero_()
        m.features[4].bias.uniform_(0.5, 1.0)       # the last conv: one value per channel
        m.fc.weight.abs_()                           # and every class weighs it positively
    x = torch.randn(2, 3, 16, 16)
    e = run(m, x, layer="features")
    assert kinds(e) == ["constant"]


def test_nonfinite_input(images):
    """Issue 15: NaN input is refused with one line (it used to run and be diagnosed)."""
    from camviz.errors import NonFiniteError
    x = images.clone()
    x[0, 0, 3, 3] = float("nan")
    with pytest.raises(NonFiniteError, match="images hold 1 NaN/inf value"):
        run(tiny(), x, layer="features")


class WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.drop = tiny(), nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.net(x))


def test_training_mode(images):
    m = WithDropout().train()
    e = run(m, images, layer="net.features")
    assert kinds(e) == ["training-mode"] and "Dropout" in str(e.diagnostics[0])
    assert m.training  # restored
    assert kinds(run(m.eval(), images, layer="net.features")) == []


class InPlaceAfter(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = tiny()

    def forward(self, x):
        a = self.net.features(x)
        a += 1.0                         # in place on the layer's output
        return self.net.fc(a.mean((2, 3)))


def test_in_place_is_reported_as_handled(images):
    e = run(InPlaceAfter(), images, layer="net.features")
    assert kinds(e) == ["in-place"] and "handled" in str(e.diagnostics[0])
    assert kinds(run(InPlaceAfter(), images)) == ["in-place"]  # default layer too
    assert kinds(run(tiny(), images, layer="features")) == []


def test_far_target(images):
    m = tiny()
    with torch.no_grad():
        m.fc.bias[0] = 20.0
    e = run(m, images, layer="features", targets=5)
    assert "far-target" in kinds(e)
    assert "far-target" not in kinds(run(m, images, layer="features"))


@pytest.mark.parametrize("scale,expected", [(255.0, ["input-range"]), (1.0, [])])
def test_input_range(images, scale, expected):
    x = images.clamp(0, 1) * scale
    assert kinds(run(tiny(), x, layer="features")) == expected
