"""Guided backpropagation and Guided Grad-CAM against Captum; the ReLU rule stays scoped."""

import threading

import pytest
import torch
from camtest import assert_same_state, hook_count, pearson, state, torchvision_model
from captum.attr import GuidedBackprop, GuidedGradCam
from torch import nn

from camviz.cam import METHODS, explain, guided_gradients, guided_relus
from camviz.cam.guided import pixel_map

SIZE = 48
CASES = {"resnet18": "layer4", "vgg16": "features.28"}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    arch = request.param
    model = torchvision_model(arch, SIZE)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    return arch, model, x


def _module(model, name):
    return dict(model.named_modules())[name]


def test_guided_backprop_and_guided_gradcam_agree_with_captum(case):
    arch, model, x = case
    layer = CASES[arch]
    before = state(model)
    e = explain(model, x, layer=layer, methods=("guidedbackprop", "guidedgradcam", "gradcam"))
    target = e.targets[:, 0]
    assert e.pixels["guidedbackprop"].shape == (2, 3, SIZE, SIZE)
    assert e.maps["guidedgradcam"].shape == (2, SIZE, SIZE)
    assert_same_state(model, before)

    ref_gb = GuidedBackprop(model).attribute(x.clone(), target=target)
    ref_ggc = GuidedGradCam(model, _module(model, layer)).attribute(
        x.clone(), target=target, interpolate_mode="bilinear")
    for i in range(2):
        r_gb = pearson(e.pixels["guidedbackprop"][i], ref_gb[i].detach())
        r_ggc = pearson(e.pixels["guidedgradcam"][i], ref_ggc[i].detach())
        assert r_gb >= 0.99 and r_ggc >= 0.99, (arch, i, r_gb, r_ggc)
    # guided backprop differs from the plain input gradient (the rule really was applied)
    with torch.enable_grad():
        xx = x.clone().requires_grad_(True)
        (plain,) = torch.autograd.grad(model(xx).gather(1, target[:, None]).sum(), xx)
    assert pearson(e.pixels["guidedbackprop"][0], plain[0]) < 0.9
    assert_same_state(model, before)


def test_relus_are_untouched_and_hooks_removed_even_after_an_exception(case):
    arch, model, x = case
    relus = [(name, m, m.inplace) for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    with pytest.raises(RuntimeError, match="boom"), guided_relus(model) as n:
        assert n == len(relus) and hook_count(model) == n
        raise RuntimeError("boom")
    assert hook_count(model) == 0
    after = [(name, m, m.inplace) for name, m in model.named_modules() if isinstance(m, nn.ReLU)]
    assert [(a, id(b), c) for a, b, c in after] == [(a, id(b), c) for a, b, c in relus]
    # after the with, gradients are plain again
    with torch.enable_grad():
        xx = x[:1].clone().requires_grad_(True)
        out = model(xx)[0, 0]
        (g1,) = torch.autograd.grad(out, xx)
    model2 = torchvision_model(arch, SIZE)
    with torch.enable_grad():
        xx2 = x[:1].clone().requires_grad_(True)
        (g2,) = torch.autograd.grad(model2(xx2)[0, 0], xx2)
    assert torch.allclose(g1, g2, atol=1e-6)


def test_guided_threads_equal_sequential(case):
    _, model, x = case
    targets = torch.tensor([[1], [2]])
    seq = guided_gradients(model, x, targets)
    out = [None] * 4

    def work(i):
        out[i] = guided_gradients(model, x, targets)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        assert torch.allclose(o, seq, atol=1e-6)
    assert hook_count(model) == 0


def test_methods_are_registered_and_maps_are_channel_maxima(case):
    _, model, x = case
    assert {"guidedbackprop", "guidedgradcam"} <= set(METHODS.names())
    e = explain(model, x, layer=CASES[case[0]], methods=("guidedbackprop",), topk=2)
    assert e.pixels["guidedbackprop"].shape == (2, 2, 3, SIZE, SIZE)
    assert torch.equal(e.raw["guidedbackprop"], pixel_map(e.pixels["guidedbackprop"]))
