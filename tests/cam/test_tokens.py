"""Transformer token layouts and channels-last outputs under every CAM method.

Grad-CAM at a transformer layer is checked against a hand-written reference (a forward hook,
an explicit reshape, the paper's formula) and against pytorch-grad-cam with its documented
``reshape_transform``; state, hooks and threads as for CNNs.
"""

import threading

import numpy as np
import pytest
import torch
import torchvision
from camtest import assert_same_state, hook_count, pearson, state
from torch import nn

from camviz.cam import explain
from camviz.cam.tokens import Layout, LayoutFinder, patch_size
from camviz.errors import CamvizError


class Block(nn.Module):
    """Pre-norm transformer block (timm/torchvision layout)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """A ViT with 1 CLS + ``registers`` register tokens, classifying from the CLS token."""

    def __init__(self, classes=5, dim=32, patch=8, registers=4, depth=2, max_tokens=64):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.prefix = nn.Parameter(torch.randn(1, 1 + registers, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.1)
        self.blocks = nn.Sequential(*[Block(dim, 4) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.prefix.expand(len(t), -1, -1), t], dim=1)
        t = self.blocks(t + self.pos[:, :t.shape[1]])
        return self.head(self.norm(t)[:, 0])


def tiny_vit(seed=0):
    torch.manual_seed(seed)
    return TinyViT().eval()


def reference_gradcam(model, images, layer, to_spatial, targets):
    """Grad-CAM by hand: hook the layer, d score / d output, reshape, Eq. 1 and 2."""
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        with torch.enable_grad():
            logits = model(images)
            score = logits.gather(1, targets[:, None]).sum()  # images are independent
            (grad,) = torch.autograd.grad(score, store["a"])
    finally:
        handle.remove()
    acts, grads = to_spatial(store["a"].detach()), to_spatial(grad)
    weights = grads.mean(dim=(2, 3))
    return torch.relu((weights[:, :, None, None] * acts).sum(1))


def vit_tokens(prefix, h, w):
    """pytorch-grad-cam's documented reshape_transform for ViTs, with our grid and prefix."""
    def fn(t):
        return t[:, prefix:].reshape(t.size(0), h, w, t.size(2)).transpose(2, 3).transpose(1, 2)
    return fn


def channels_last(t):
    return t.permute(0, 3, 1, 2)


X_VIT = torch.randn(3, 3, 24, 40, generator=torch.Generator().manual_seed(5))  # 3 x 5 patches


def per_image_r(a, b):
    return [pearson(x, y) for x, y in zip(a, b)]


def test_layout_finder_drops_cls_and_registers_with_and_without_the_patch_size():
    m = tiny_vit()
    assert patch_size(m) == 8
    found = LayoutFinder(m, (24, 40)).find(torch.zeros(2, 20, 32))
    assert found == Layout("tokens", 5, 3, 5)
    blind = LayoutFinder(nn.Linear(2, 2), (24, 40))  # no patch size: search for the grid
    assert blind.patch is None and blind.find(torch.zeros(2, 20, 32)) == Layout("tokens", 5, 3, 5)
    assert blind.find(torch.zeros(2, 32)) is None and blind.find(torch.zeros(2, 20, 32).long()) is None
    assert LayoutFinder(nn.Linear(2, 2), (224, 224)).find(torch.zeros(1, 197, 8)) == \
        Layout("tokens", 1, 14, 14)
    assert LayoutFinder(nn.Linear(2, 2), (224, 224)).find(torch.zeros(1, 7, 7, 768)).kind == "nhwc"
    assert LayoutFinder(nn.Linear(2, 2), (224, 224)).find(torch.zeros(1, 768, 7, 7)).kind == "nchw"
    assert LayoutFinder(nn.Linear(2, 2), (224, 224)).find(torch.zeros(1, 512, 1, 1)) is None
    t = torch.arange(2 * 20 * 3.0).view(2, 20, 3)
    assert torch.equal(found(t), vit_tokens(5, 3, 5)(t))


def test_hand_built_vit_with_registers_matches_the_reference_at_a_non_square_input():
    m = tiny_vit()
    before = state(m)
    e = explain(m, X_VIT, layer="blocks.1.norm1")
    ref = reference_gradcam(m, X_VIT, m.blocks[1].norm1, vit_tokens(5, 3, 5), e.targets[:, 0])
    assert e.raw["gradcam"].shape == (3, 3, 5) and e.maps["gradcam"].shape == (3, 24, 40)
    assert min(per_image_r(e.raw["gradcam"], ref)) >= 0.999
    assert torch.allclose(e.raw["gradcam"], ref, rtol=1e-4, atol=1e-6)
    explicit = explain(m, X_VIT, layer="blocks.1.norm1", reshape=vit_tokens(5, 3, 5))
    assert torch.allclose(explicit.raw["gradcam"], e.raw["gradcam"], rtol=1e-5, atol=1e-7)
    assert_same_state(m, before)


def test_default_layer_of_a_class_token_model_is_the_input_of_its_last_attention():
    m = tiny_vit()
    e = explain(m, X_VIT)
    assert e.layer == "blocks.1.norm1"  # after it, patch tokens no longer reach the CLS token
    assert float(e.raw["gradcam"].amax()) > 0
    after = explain(m, X_VIT, layer="blocks.1.norm2", methods=("gradcam", "hirescam"))
    for meth in ("gradcam", "hirescam"):
        assert float(after.raw[meth].abs().max()) == 0  # why the default skips it


@pytest.mark.parametrize("method", ["gradcampp", "xgradcam", "hirescam", "layercam", "scorecam",
                                    "eigencam", "smoothgradcampp"])
def test_every_method_runs_on_tokens_and_equals_its_nchw_counterpart(method):
    """The same ViT with its tokens rearranged by hand into a conv-like layer gives equal maps."""
    m = tiny_vit()
    opts = {"smoothgradcampp": {"samples": 2}}.get(method)
    e = explain(m, X_VIT, layer="blocks.1.norm1", methods=(method,), topk=2,
                method_options={method: opts} if opts else None)
    explicit = explain(m, X_VIT, layer="blocks.1.norm1", methods=(method,), topk=2,
                       reshape=vit_tokens(5, 3, 5), method_options={method: opts} if opts else None)
    assert e.raw[method].shape == (3, 2, 3, 5)
    assert torch.allclose(e.raw[method], explicit.raw[method], rtol=1e-4, atol=1e-6)
    assert float(e.raw[method].amax()) > 0


def test_threads_equal_sequential_and_state_is_restored():
    m = tiny_vit()
    m.train()
    before = state(m)
    xs = [torch.randn(2, 3, 24, 40, generator=torch.Generator().manual_seed(i)) for i in range(8)]
    seq = [explain(m, x, methods=("gradcam", "gradcampp")).raw for x in xs]
    out = [None] * 8

    def work(i):
        out[i] = explain(m, xs[i], methods=("gradcam", "gradcampp")).raw

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(seq, out):
        for meth in a:
            assert torch.allclose(a[meth], b[meth], rtol=1e-5, atol=1e-7)
    assert_same_state(m, before)


def test_errors_name_the_fix():
    m = tiny_vit()
    with pytest.raises(CamvizError, match="reshape=.*needs layer="):
        explain(m, X_VIT, reshape=vit_tokens(5, 3, 5))
    with pytest.raises(CamvizError, match=r"layer 'head' has no spatial output .*pass reshape=fn"):
        explain(m, X_VIT, layer="head")
    with pytest.raises(CamvizError, match="reshape returned"):
        explain(m, X_VIT, layer="blocks.1.norm1", reshape=lambda t: t[:, 0])
    assert hook_count(m) == 0


# --- torchvision models (random weights) ---------------------------------------------------

def _vit_b_16(size):
    torch.manual_seed(0)
    m = torchvision.models.vit_b_16(weights=None, image_size=size).eval()
    nn.init.normal_(m.heads.head.weight, std=0.05)  # torchvision zero-initialises the head
    return m


def _pgc(model, layer, images, targets, reshape=None):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=model, target_layers=[layer], reshape_transform=reshape) as cam:
        return cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])


CASES = {  # model, input, layer name, its module, explicit reshape (pgc convention)
    "vit_b_16": (lambda: _vit_b_16(48), (2, 3, 48, 48), "encoder.layers.encoder_layer_11.ln_1",
                 lambda m: m.encoder.layers[-1].ln_1, vit_tokens(1, 3, 3)),
    "swin_t": (lambda: torchvision.models.swin_t().eval(), (2, 3, 64, 96), "features.7.1.norm1",
               lambda m: m.features[7][1].norm1, channels_last),
    "convnext_tiny": (lambda: torchvision.models.convnext_tiny().eval(), (2, 3, 64, 96),
                      "features.7", lambda m: m.features[7], None),
}


@pytest.mark.parametrize("arch", list(CASES))
def test_torchvision_transformers_match_reference_and_pytorch_grad_cam(arch):
    build, shape, name, module, reshape = CASES[arch]
    torch.manual_seed(1)
    m = build()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    before = state(m)
    e = explain(m, x, layer=name, methods=("gradcam",))
    ref = reference_gradcam(m, x, module(m), reshape or (lambda t: t), e.targets[:, 0])
    assert float(ref.amax()) > 0
    assert min(per_image_r(e.raw["gradcam"], ref)) >= 0.999
    assert_same_state(m, before)
    theirs = _pgc(m, module(m), x, e.targets[:, 0], reshape)
    r = per_image_r(e.maps["gradcam"].numpy(), theirs)
    assert min(r) >= 0.99, r
    assert hook_count(m) == 0 and np.isfinite(theirs).all()
