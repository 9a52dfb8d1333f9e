"""Model outputs other than a logits tensor; counterfactual and contrastive maps."""

from collections import OrderedDict

import pytest
import torch
from camtest import assert_same_state, state, tiny
from torch import nn

from camviz.cam import explain
from camviz.errors import CamvizError

METHODS = ("gradcam", "gradcampp", "layercam", "scorecam", "guidedgradcam")


class ModelOutput(OrderedDict):
    """Hugging Face's ModelOutput in miniature: a dict whose keys are also attributes."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class Logits:
    def __init__(self, logits):
        self.logits = logits


class Wrapped(nn.Module):
    """The same TinyNet returning its logits in another container."""

    def __init__(self, kind):
        super().__init__()
        self.net, self.kind = tiny(), kind

    def forward(self, x):
        z = self.net(x)
        feats = x.mean((2, 3))  # (N, 3) another output
        return {"hf": lambda: ModelOutput(loss=None, logits=z, hidden=feats),
                "object": lambda: Logits(z),
                "tuple": lambda: (z, feats),
                "features_first": lambda: [feats, z],
                "dict": lambda: {"logits": z, "features": feats},
                "scores": lambda: {"scores": z},
                "none": lambda: (None, feats)}[self.kind]()


@pytest.mark.parametrize("kind,output", [("hf", None), ("object", None), ("tuple", None),
                                         ("features_first", 1), ("dict", None),
                                         ("scores", "scores"), ("hf", "logits")])
def test_outputs_are_explained_without_a_wrapper(kind, output, images):
    plain = explain(tiny(), images, layer="features", methods=METHODS)
    m = Wrapped(kind)
    before = state(m)
    e = explain(m, images, layer="net.features", methods=METHODS, output=output)
    assert torch.allclose(e.logits, plain.logits)
    for meth in METHODS:
        assert torch.allclose(e.raw[meth], plain.raw[meth], rtol=1e-5, atol=1e-7), meth
    assert_same_state(m, before)


@pytest.mark.parametrize("kind,output,match", [
    ("scores", None, r"without key 'logits' \(keys: 'scores'\); pass output="),
    ("none", None, r"output\[0\] is NoneType, not \(N, classes\) logits; pass output="),
    ("tuple", 5, r"output=5 does not index .* 2 elements; pass output="),
    ("object", "probs", r"returns a Logits with no 'probs'; pass output="),
])
def test_outputs_without_logits_name_output(kind, output, match, images):
    m = Wrapped(kind)
    with pytest.raises(CamvizError, match=match) as err:
        explain(m, images, layer="net.features", output=output)
    assert "\n" not in str(err.value)


def test_output_must_be_an_index_or_a_key(images):
    with pytest.raises(CamvizError, match="output must be an int"):
        explain(tiny(), images, output=1.5)
    with pytest.raises(CamvizError, match="returns one tensor; drop output="):
        explain(tiny(), images, output="logits")


class Negated(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return -self.net(x)


@pytest.mark.parametrize("method", ["gradcam", "xgradcam", "hirescam", "layercam", "gradcampp",
                                    "cam", "guidedgradcam"])
def test_counterfactual_is_the_map_of_the_negated_score(method, images):
    net = tiny()
    e = explain(net, images, layer="features", methods=(method,), targets=[1, 4],
                counterfactual=True)
    if method == "cam":  # the negated model has no linear last op; CAM of -w by hand
        w = -net.fc.weight.detach()[[1, 4]]
        acts = net.features(images).detach()
        ref_raw = torch.einsum("nc,nchw->nhw", w, acts).clamp_min(0)
        assert torch.allclose(e.raw[method], ref_raw, atol=1e-6)
        return
    ref = explain(Negated(net), images, layer="net.features", methods=(method,), targets=[1, 4])
    assert torch.allclose(e.raw[method], ref.raw[method], rtol=1e-5, atol=1e-7)
    plain = explain(net, images, layer="features", methods=(method,), targets=[1, 4])
    assert not torch.allclose(plain.raw[method], e.raw[method])


class ThreeBlobs(nn.Module):
    """Three channels look at the left, centre and right third of the image; class A sums
    left + centre, class B centre + right. "Why A rather than B" is the left third."""

    def __init__(self):
        super().__init__()
        self.features = nn.Identity()
        self.fc = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def three_blobs_image():
    x = torch.zeros(1, 3, 12, 12)
    x[0, 0, 4:8, 0:4] = 1.0    # left object, seen by channel 0
    x[0, 1, 4:8, 4:8] = 3.0    # a strong centre object, seen by channel 1 (both classes)
    x[0, 2, 4:8, 8:12] = 0.5   # a weak right object, seen by channel 2
    return x


@pytest.mark.parametrize("method", ["gradcam", "cam", "hirescam", "layercam"])
def test_contrast_keeps_only_what_separates_the_two_classes(method):
    m, x = ThreeBlobs().eval(), three_blobs_image()
    plain = explain(m, x, layer="features", methods=(method,), targets=0).raw[method][0]
    why = explain(m, x, layer="features", methods=(method,), targets=0, contrast=1).raw[method][0]
    assert plain[4:8, 4:8].min() > 0  # plain: the shared centre object counts
    assert why[4:8, 0:4].min() > 0        # contrast: the left object only
    assert float(why[:, 4:].abs().max()) == 0 and float(why[:4].abs().max()) == 0


def test_contrast_errors(images):
    with pytest.raises(CamvizError, match="one class per image"):
        explain(tiny(), images, contrast=[[1, 2], [1, 2]])
    with pytest.raises(CamvizError, match="out of range"):
        explain(tiny(), images, contrast=99)
    with pytest.raises(CamvizError, match="eigencam does not look at the class"):
        explain(tiny(), images, methods=("eigencam",), counterfactual=True)
    with pytest.raises(CamvizError, match="score='logit'"):
        explain(tiny(), images, methods=("gradcampp",), score="softmax", contrast=1)
