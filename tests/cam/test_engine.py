"""explain(): layouts, one pass for many classes and layers, state, threads, errors."""

import threading
import warnings

import pytest
import torch
from camtest import assert_same_state, hook_count, state, tiny, torchvision_model
from torch import nn

from camviz.cam import METHODS, explain
from camviz.errors import CamvizError, UnknownNameError

FAST = ("cam", "gradcam", "gradcampp", "xgradcam", "hirescam", "layercam", "eigencam")


def test_layouts_and_ranges(net, images):
    e = explain(net, images, methods=FAST)
    assert e.layer == "features"  # default: the last spatial module
    assert e.targets.shape == (2, 1) and e.logits.shape == e.probs.shape == (2, 6)
    assert torch.equal(e.targets[:, 0], e.logits.argmax(1))
    for m in FAST:
        assert e.maps[m].shape == (2, 16, 16) and e.raw[m].shape == (2, 8, 8)
        assert e.maps[m].min() >= 0 and e.maps[m].max() == 1
        assert not e.maps[m].requires_grad and not e.raw[m].requires_grad
    k = explain(net, images, layer="features", methods=("gradcam",), topk=3)
    assert k.maps["gradcam"].shape == (2, 3, 16, 16) and k.targets.shape == (2, 3)
    lists = explain(net, images, layer="features", methods=("gradcam",), targets=[[0, 1], [2, 3]])
    assert lists.maps["gradcam"].shape == (2, 2, 16, 16)
    assert lists.targets.tolist() == [[0, 1], [2, 3]]


@pytest.mark.parametrize("score", ["logit", "softmax"])
def test_topk_in_one_pass_equals_one_call_per_class(net, images, score):
    methods = ("cam", "gradcam", "gradcampp", "layercam")
    e = explain(net, images, layer="features", methods=methods, topk=3, score=score)
    for k in range(3):
        one = explain(net, images, layer="features", methods=methods, score=score,
                      targets=e.targets[:, k].tolist())
        for m in methods:
            assert torch.allclose(e.raw[m][:, k], one.raw[m], rtol=1e-5, atol=1e-7), (m, k)


def test_several_layers_come_from_one_forward(images):
    m = tiny()
    calls = []
    plain_forward = m.forward

    def counted(x):
        calls.append(1)
        return plain_forward(x)
    m.forward = counted
    both = explain(m, images, layer=["features.2", "features"], methods=("gradcam", "gradcampp"),
                   topk=2)
    assert len(calls) == 1 and list(both) == ["features.2", "features"]
    for name, e in both.items():
        assert e.layer == name
        single = explain(m, images, layer=name, methods=("gradcam", "gradcampp"), topk=2)
        for meth in ("gradcam", "gradcampp"):
            assert torch.allclose(e.raw[meth], single.raw[meth], rtol=1e-5, atol=1e-7)


def test_default_layer_of_resnet_is_layer4():
    m = torchvision_model("resnet18", 64)
    x = torch.randn(1, 3, 64, 64)
    e = explain(m, x, methods=("gradcam",))
    assert e.layer == "layer4"
    assert torch.allclose(e.raw["gradcam"], explain(m, x, layer="layer4").raw["gradcam"])


def test_batch_normalisation_and_an_all_zero_map(images):
    m = tiny()
    e = explain(m, images, layer="features", methods=("gradcam",), topk=2, normalize="batch")
    assert e.maps["gradcam"].max() == 1 and e.maps["gradcam"].flatten(2).amax(2).min() < 1
    with torch.no_grad():
        m.fc.weight[3] = -m.fc.weight[3].abs()  # every channel weight of class 3 negative
    with pytest.warns(RuntimeWarning, match=r"gradcam at 'features': 2 of 2 maps are all zero"):
        z = explain(m, images, layer="features", methods=("gradcam",), targets=3)
    assert torch.equal(z.maps["gradcam"], torch.zeros(2, 16, 16))


def test_state_is_restored_and_no_grad_written_also_after_errors(images):
    m = tiny()
    m.train()
    m.features[0].weight.requires_grad_(False)
    m.features.append(nn.BatchNorm2d(16))  # a training-mode buffer that must not move
    for p in m.parameters():
        p.grad = torch.full_like(p, 0.5) if p.requires_grad else None
    before = state(m)
    explain(m, images, methods=("cam", "gradcam", "gradcampp", "smoothgradcampp", "scorecam"),
            topk=2, classifier="fc", method_options={"smoothgradcampp": {"samples": 2}})
    assert_same_state(m, before)
    for bad in ({"targets": [1, 2, 3]}, {"targets": 9}, {"layer": "fc"},
                {"layer": "features.4", "methods": ("cam",)}):
        with pytest.raises(CamvizError):
            explain(m, images, **{"layer": "features", **bad})
        assert_same_state(m, before)


def test_outer_no_grad_inference_mode_and_frozen_models(net, images):
    want = explain(net, images, methods=("gradcam", "gradcampp"), topk=2)
    with torch.no_grad():
        a = explain(net, images, methods=("gradcam", "gradcampp"), topk=2)
    with torch.inference_mode():
        b = explain(net, images, methods=("gradcam", "gradcampp"), topk=2)
    net.requires_grad_(False)
    c = explain(net, images, methods=("gradcam", "gradcampp"), topk=2)
    assert not any(p.requires_grad for p in net.parameters())
    for got in (a, b, c):
        for m in ("gradcam", "gradcampp"):
            assert torch.equal(got.raw[m], want.raw[m])


def test_eight_threads_sharing_a_model_give_the_sequential_results():
    m = torchvision_model("resnet18", 64)
    xs = [torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    methods = ("cam", "gradcam", "gradcampp")

    def run(x):
        return explain(m, x, layer="layer4", methods=methods, topk=2)

    want = [run(x) for x in xs]
    got: list = [None] * 8
    start = threading.Barrier(8)

    def worker(i):
        start.wait()
        got[i] = run(xs[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, g in zip(want, got):
        assert torch.equal(w.targets, g.targets)
        for meth in methods:
            assert torch.equal(w.raw[meth], g.raw[meth])
    assert hook_count(m) == 0 and not any(mod.training for mod in m.modules())


class Branchy(nn.Module):
    """A module that never runs (``spare``) and one whose output is thrown away (``aux``)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.aux = nn.Conv2d(4, 4, 1)
        self.spare = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = self.conv(x)
        self.aux(a)
        return self.fc(a.mean(dim=(2, 3)))


def test_errors_name_the_problem_and_the_fix(net, images):
    with pytest.raises(UnknownNameError, match="unknown CAM method 'gradcm'; did you mean 'gradcam'"):
        explain(net, images, methods=("gradcm",))
    with pytest.raises(UnknownNameError, match=r"did you mean 'features'.*camviz layers"):
        explain(net, images, layer="featurs")
    with pytest.raises(UnknownNameError,
                       match="unknown scorecam option 'top_chanels'; did you mean 'top_channels'"):
        explain(net, images, methods=("scorecam",), method_options={"scorecam": {"top_chanels": 3}})
    with pytest.raises(CamvizError, match="options for 'scorecam', which is not among the methods"):
        explain(net, images, methods=("gradcam",), method_options={"scorecam": {}})
    with pytest.raises(CamvizError, match=r"unknown derivatives mode 'exactly'"):
        explain(net, images, methods=("gradcampp",),
                method_options={"gradcampp": {"derivatives": "exactly"}})
    with pytest.raises(CamvizError, match=r"images must be a preprocessed float tensor \(N, C, H, W\)"):
        explain(net, images[0])
    with pytest.raises(CamvizError, match="images are on meta but the model is on cpu"):
        explain(net, images.to("meta"))
    with pytest.raises(UnknownNameError, match="unknown normalize mode 'pixel'"):
        explain(net, images, normalize="pixel")
    torch.manual_seed(0)
    b = Branchy().eval()
    with pytest.raises(CamvizError, match="layer 'spare' did not run during the forward pass"):
        explain(b, images, layer="spare")
    with pytest.raises(CamvizError, match="layer 'aux' does not influence the logits"):
        explain(b, images, layer="aux")
    assert hook_count(b) == 0 and hook_count(net) == 0


def test_every_registered_method_runs(net, images):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no method produces a NaN or an unexpected warning
        e = explain(net, images, layer="features", methods=METHODS.names(), topk=2,
                    method_options={"smoothgradcampp": {"samples": 2}})
    for m in METHODS.names():
        assert torch.isfinite(e.maps[m]).all() and e.maps[m].shape == (2, 2, 16, 16)
        assert METHODS.get(m).paper and METHODS.get(m).title
