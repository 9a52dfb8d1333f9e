"""Small seeded models and checks shared by the CAM engine tests (imported as `camtest`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TinyNet(nn.Module):
    """conv -> ReLU -> conv -> ReLU (``features``) -> GAP -> ``fc``: CAM applies at ``features``."""

    def __init__(self, classes: int = 6, width: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def tiny(seed: int = 0, **kw) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kw).eval()


def calibrate_bn(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Set every batch-norm's running statistics from ``images``, as training would.

    With torchvision's default statistics (mean 0, var 1) every channel of a random-weight
    net is shifted alike and a later in-place ReLU barely changes a Grad-CAM map; centred
    activations, as in a trained net, make the in-place traps visible.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over this one batch
    model.train()
    with torch.no_grad():
        model(images)
    return model.eval()


def torchvision_model(arch: str, size: int, seed: int = 0) -> nn.Module:
    """A random-weight torchvision classifier (no download) with calibrated batch norm."""
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None)
    gen = torch.Generator().manual_seed(seed + 1)
    return calibrate_bn(model, torch.randn(4, 3, size, size, generator=gen))


def pearson(a, b) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def hook_count(model: nn.Module) -> int:
    """Forward/backward (pre-)hooks on any module, plus torch's global module hooks."""
    from torch.nn.modules import module as mm

    n = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
            + len(m._backward_pre_hooks) for m in model.modules())
    return n + len(mm._global_forward_hooks) + len(mm._global_forward_pre_hooks) \
        + len(mm._global_backward_hooks) + len(mm._global_backward_pre_hooks)


def state(model: nn.Module) -> tuple:
    """Everything explain() must leave as it found: modes, grad flags, grads, buffers."""
    return ([m.training for m in model.modules()],
            [p.requires_grad for p in model.parameters()],
            [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            [b.clone() for b in model.buffers()])


def assert_same_state(model: nn.Module, before: tuple) -> None:
    after = state(model)
    assert after[0] == before[0], "training flags changed"
    assert after[1] == before[1], "requires_grad changed"
    for a, b in zip(after[2], before[2]):
        assert (a is None and b is None) or torch.equal(a, b), ".grad was written"
    for a, b in zip(after[3], before[3]):
        assert torch.equal(a, b), "a buffer (e.g. batch-norm statistics) changed"
    assert hook_count(model) == 0, "hooks left on the model"


