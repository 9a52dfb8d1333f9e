"""capture / frozen / resolve_layers: clone-on-capture, no leaks, exact restore, threads."""

import threading

import pytest
import torch
from camtest import assert_same_state, hook_count, state, tiny
from torch import nn
from torch.nn import functional as F

from camviz.cam.hooks import capture, frozen, layer_shapes, module_outputs, resolve_layers
from camviz.errors import CamvizError, UnknownNameError


class Trap(nn.Module):
    """A residual block whose ``bn`` output is modified in place (``out += skip``)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        skip = F.relu(self.stem(x))
        out = self.bn(self.conv(skip))
        out += skip
        return self.fc(F.relu(out).mean(dim=(2, 3)))


def trap() -> Trap:
    torch.manual_seed(0)
    m = Trap().eval()
    with torch.no_grad():
        m.bn.running_mean.normal_()
        m.bn.bias.normal_()
    return m


def test_capture_keeps_the_layer_output_and_its_true_gradient(images):
    m = trap()
    with torch.no_grad():
        skip = F.relu(m.stem(images))
        want_a = m.bn(m.conv(skip))
    a_ref = want_a.clone().requires_grad_()
    logits_ref = m.fc(F.relu(a_ref + skip).mean(dim=(2, 3)))  # hand-written tail, no in-place
    want_g, = torch.autograd.grad(logits_ref[:, 2].sum(), a_ref)

    with frozen(m), capture(m, ["bn"]) as cap:
        logits = m(images)
    a = cap.activations["bn"]
    g, = torch.autograd.grad(logits[:, 2].sum(), a)
    assert torch.allclose(logits, logits_ref, atol=1e-6)
    assert torch.allclose(a, want_a, atol=1e-6), "the in-place add leaked into the capture"
    assert torch.allclose(g, want_g, atol=1e-6)
    assert hook_count(m) == 0


def test_plain_hook_would_see_the_in_place_add(images):
    """The trap is real: the module's own output tensor is changed by `out += skip`."""
    m = trap()
    with torch.no_grad():
        want = m.bn(m.conv(F.relu(m.stem(images))))
    seen = {}
    h = m.bn.register_forward_hook(lambda mod, i, o: seen.update(a=o))
    with torch.no_grad():
        m(images)
    h.remove()
    assert not torch.allclose(seen["a"], want)


def test_hooks_are_removed_and_state_restored_after_an_exception(net, images):
    net.features[0].weight.requires_grad_(False)
    net.train()
    net.fc.eval()
    before = state(net)
    with pytest.raises(RuntimeError, match="boom"), frozen(net), capture(net, ["features.2", "features"]):
        assert hook_count(net) == 2
        assert not any(m.training for m in net.modules())
        assert not any(p.requires_grad for p in net.parameters())
        raise RuntimeError("boom")
    assert_same_state(net, before)


def test_frozen_restores_the_first_state_when_threads_overlap(net):
    net.train()
    net.features[2].weight.requires_grad_(False)
    before = state(net)
    inside = threading.Barrier(2)
    seen = []

    def worker():
        with frozen(net):
            inside.wait()
            seen.append((any(m.training for m in net.modules()),
                         any(p.requires_grad for p in net.parameters())))
            inside.wait()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [(False, False), (False, False)]
    assert_same_state(net, before)


def test_default_layer_is_the_last_spatial_module(net, images):
    with frozen(net), capture(net) as cap:
        logits = net(images)
    assert cap.layers == ["features"]
    a = cap.activations["features"]
    with torch.no_grad():
        assert torch.equal(a, net.features(images))
    g, = torch.autograd.grad(logits[:, 0].sum(), a)
    assert torch.allclose(g, net.fc.weight[0][None, :, None, None].expand_as(g) / 64)


def test_other_threads_forwards_are_not_captured(net, images):
    with frozen(net), capture(net, ["features"]) as cap:
        t = threading.Thread(target=lambda: net(images[:1]))
        t.start()
        t.join()
        assert cap.activations == {}
        net(images)
    assert cap.activations["features"].shape[0] == 2


def test_layers_by_name_or_module_and_typos():
    m = tiny()
    assert list(resolve_layers(m, ["features", m.fc])) == ["features", "fc"]
    with pytest.raises(UnknownNameError,
                       match=r"unknown layer 'featurs'; did you mean 'features'.*camviz layers"):
        resolve_layers(m, "featurs")
    with pytest.raises(CamvizError, match="not a submodule"):
        resolve_layers(m, nn.Conv2d(1, 1, 1))


def test_layer_without_spatial_output_raises_and_leaves_no_hook(net, images):
    for layer, shape in (("fc", r"\(2, 6\)"), ("pool", r"\(2, 16, 1, 1\)")):
        with pytest.raises(CamvizError, match=rf"layer '{layer}' has no spatial output \(got {shape}\)"), \
                frozen(net), capture(net, [layer]):
            net(images)
        assert hook_count(net) == 0


def test_layer_shapes_lists_spatial_layers_in_forward_order(net, images):
    shapes = layer_shapes(net, images)
    assert list(shapes)[:2] == ["features.0", "features.1"]
    assert shapes["features"] == (2, 16, 8, 8)
    assert "pool" not in shapes and "fc" not in shapes
    assert hook_count(net) == 0


def test_a_module_called_twice_keeps_its_last_call(images):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.act = nn.ReLU(inplace=True)  # used twice, like ResNet's BasicBlock.relu
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.act(self.act(self.conv(x)) - 0.1).mean(dim=(2, 3)))

    torch.manual_seed(0)
    m = Twice().eval()
    with torch.no_grad():
        want = F.relu(F.relu(m.conv(images)) - 0.1)
    with frozen(m), capture(m, [m.act]) as cap:
        logits = m(images)
    assert torch.equal(cap.activations["act"], want)
    g, = torch.autograd.grad(logits[:, 1].sum(), cap.activations["act"])
    assert torch.allclose(g, m.fc.weight[1][None, :, None, None].expand_as(g) / 256)


def test_module_outputs_sees_every_named_module_once_then_leaves_no_hook(net, images):
    seen, leaves = [], []
    with module_outputs(net, lambda name, m, i, out: seen.append((name, tuple(out.shape)))):
        assert hook_count(net) == len([n for n, _ in net.named_modules() if n])
        with torch.no_grad():
            net(images)
    assert hook_count(net) == 0
    # a plain forward through the modules by hand gives the same names and shapes
    x, reference = images, []
    for name, module in net.features.named_children():
        x = module(x)
        reference.append((f"features.{name}", tuple(x.shape)))
    assert [s for s in seen if s[0].startswith("features.")] == reference
    with pytest.raises(RuntimeError, match="boom"), \
            module_outputs(net, lambda *a: leaves.append(a[0]), leaves_only=True):
        assert hook_count(net) == sum(1 for n, m in net.named_modules()
                                      if n and next(m.children(), None) is None)
        raise RuntimeError("boom")
    assert hook_count(net) == 0 and leaves == []


def test_module_outputs_ignores_other_threads_forwards(net, images):
    seen = []
    with module_outputs(net, lambda name, *a: seen.append(name)), torch.no_grad():
        t = threading.Thread(target=net, args=(images,))
        t.start()
        t.join()
        assert seen == []
        net(images)
    assert seen and hook_count(net) == 0
