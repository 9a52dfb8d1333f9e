"""Grad-CAM++ and Smooth Grad-CAM++: the alpha formula, pytorch-grad-cam, a hand-written
noisy-average reference."""

import warnings

import pytest
import torch
from camtest import pearson, tiny, torchvision_model

from camviz.cam import explain
from camviz.cam.derivatives import exp_score
from camviz.cam.gradcampp import gradcampp_weights
from camviz.cam.hooks import capture, frozen


def test_alpha_formula_on_hand_made_tensors():
    a = torch.tensor([[[[1.0, 2.0, 0.0]]]])                  # (1, C=1, 1, 3), sum 3
    g = torch.tensor([[[[[1.0, -0.5, 0.0]]]]])               # (1, K=1, 1, 1, 3)
    w = gradcampp_weights(a, *exp_score(g))
    # alpha = g^2 / (2 g^2 + 3 g^3): 1/5 at g=1, 0.25/(0.5-0.375)=2 at g=-0.5, 0 at g=0
    assert torch.allclose(w, torch.tensor([[[1 / 5 * 1 + 2 * 0 + 0]]]))
    a = torch.tensor([[[[0.5, 1.5, 0.0]]]])                  # sum 2
    d2 = torch.tensor([[[[[1.0, 0.0, -1.0]]]]])
    d3 = torch.tensor([[[[[-1.0, 1.0, 0.5]]]]])              # denominators 0, 2, -1
    w = gradcampp_weights(a, torch.ones_like(d2), d2, d3)
    assert torch.isfinite(w).all() and torch.allclose(w, torch.tensor([[[0 + 0 + 1.0]]]))


def test_matches_pgc_which_implements_the_exponential_case():
    """For a ReLU net and the logit score both use alpha = g^2 / (2 g^2 + sum(A) g^3).

    pgc adds 1e-6 to the denominator, which bends alpha when g^2 is near 1e-6: the tiny
    net's classifier is scaled up so its gradients are not that small.
    """
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    small = tiny(width=16)
    with torch.no_grad():
        small.fc.weight.mul_(10)
    for m, layer, size in ((small, "features", 32),
                           (torchvision_model("resnet18", 96), "layer4", 96)):
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(4))
        e = explain(m, x, layer=layer, methods=("gradcampp",))
        module = dict(m.named_modules())[layer]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with GradCAMPlusPlus(m, [module]) as cam:
                pgc = cam(x, targets=[ClassifierOutputTarget(int(c)) for c in e.targets[:, 0]])
        for i in range(2):
            assert pearson(e.maps["gradcampp"][i], pgc[i]) >= 0.995


@pytest.mark.parametrize("score", ["logit", "softmax"])
def test_targets_in_chunks_give_the_same_maps(net, images, monkeypatch, score):
    whole = explain(net, images, layer="features", methods=("gradcampp",), topk=5, score=score)
    monkeypatch.setattr("camviz.cam.gradcampp.CHUNK_ELEMENTS", 2 * 16 * 8 * 8 * 2)  # 2 targets
    chunked = explain(net, images, layer="features", methods=("gradcampp",), topk=5, score=score)
    assert torch.equal(chunked.raw["gradcampp"], whole.raw["gradcampp"])


def test_smooth_without_noise_is_gradcampp(net, images):
    e = explain(net, images, layer="features", methods=("gradcampp", "smoothgradcampp"),
                topk=2, method_options={"smoothgradcampp": {"noise": 0.0, "samples": 2}})
    assert torch.allclose(e.raw["smoothgradcampp"], e.raw["gradcampp"], atol=1e-6)


def test_smooth_matches_a_hand_written_noisy_average(net, images):
    opts = {"samples": 3, "noise": 0.2, "seed": 11}
    e = explain(net, images, layer="features", methods=("smoothgradcampp",),
                method_options={"smoothgradcampp": opts})
    gen = torch.Generator().manual_seed(11)
    span = (images.flatten(1).amax(1) - images.flatten(1).amin(1)).view(-1, 1, 1, 1)
    sums = [0.0, 0.0, 0.0]
    with torch.no_grad():
        clean = net.features(images)
    for _ in range(3):
        noisy = images + 0.2 * span * torch.randn(images.shape, generator=gen)
        with frozen(net), capture(net, ["features"]) as cap, torch.enable_grad():
            logits = net(noisy)
            g, = torch.autograd.grad(logits.gather(1, e.targets).sum(), cap.activations["features"])
        for i in range(3):
            sums[i] = sums[i] + g ** (i + 1)
    d1, d2, d3 = (s[:, None] / 3 for s in sums)
    w = gradcampp_weights(clean, d1, d2, d3)[:, 0]
    want = torch.relu((w[:, :, None, None] * clean).sum(1))
    assert torch.allclose(e.raw["smoothgradcampp"], want, rtol=1e-4, atol=1e-6)
    again = explain(net, images, layer="features", methods=("smoothgradcampp",),
                    method_options={"smoothgradcampp": opts})
    assert torch.equal(again.raw["smoothgradcampp"], e.raw["smoothgradcampp"])
