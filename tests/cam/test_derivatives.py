"""Grad-CAM++ derivatives against torch.func and closed-form ground truth.

The reference differentiates the hand-written head three times (``jacfwd`` over ``jacrev``)
and takes the diagonals, so it knows nothing of the closed forms it checks.
"""

import pytest
import torch
from torch import nn
from torch.func import jacfwd, jacrev

from camviz.cam import explain
from camviz.cam.gradcampp import gradcampp_weights


class Head(nn.Module):
    """stem -> ``mid`` (captured) -> head; ``quadratic`` squares the pooled features."""

    def __init__(self, quadratic: bool):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.mid = nn.Conv2d(4, 3, 3, padding=1)
        self.top = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 5, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(5, 6)
        self.quadratic = quadratic

    def head(self, a):
        f = self.top(a).mean(dim=(-2, -1))
        return self.fc(f * f if self.quadratic else f)

    def forward(self, x):
        return self.head(self.mid(self.stem(x)))


def make(quadratic: bool) -> Head:
    torch.manual_seed(0)
    return Head(quadratic).double().eval()


X = torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


def reference_map(m: Head, n: int, c: int, score: str) -> torch.Tensor:
    """Grad-CAM++ of image n, class c from brute-force diagonal derivatives of S(A)."""
    with torch.no_grad():
        a0 = m.mid(m.stem(X[n:n + 1]))[0]
        z0 = m.head(a0[None])[0, c]

    def s(a):  # the logit score is exp(z_c), divided by its value at a0 like camviz does
        z = m.head(a[None])[0]
        return torch.exp(z[c] - z0) if score == "logit" else z.softmax(0)[c]

    size = a0.numel()
    d1 = jacrev(s)(a0)
    d2 = jacfwd(jacrev(s))(a0).reshape(size, size).diagonal().reshape(a0.shape)
    t3 = jacfwd(jacfwd(jacrev(s)))(a0).reshape(size, size, size)
    d3 = torch.stack([t3[i, i, i] for i in range(size)]).reshape(a0.shape)
    w = gradcampp_weights(a0[None], d1[None, None], d2[None, None], d3[None, None])[0, 0]
    return torch.relu((w[:, None, None] * a0).sum(0)).detach()


def gradcampp(m: Head, score: str, mode: str):
    return explain(m, X, layer="mid", methods=("gradcampp",), score=score, topk=2,
                   method_options={"gradcampp": {"derivatives": mode}})


def rel_err(e, m, score) -> float:
    errs = []
    for n in range(2):
        for k in range(2):
            want = reference_map(m, n, int(e.targets[n, k]), score)
            errs.append(float((e.raw["gradcampp"][n, k] - want).abs().max() / want.abs().max()))
    return max(errs)


@pytest.mark.parametrize("score", ["logit", "softmax"])
def test_closed_form_is_exact_for_a_piecewise_linear_head(score):
    m = make(quadratic=False)
    assert rel_err(gradcampp(m, score, "closed"), m, score) < 1e-9


@pytest.mark.parametrize("score", ["logit", "softmax"])
def test_exact_mode_handles_a_quadratic_head_where_the_closed_form_cannot(score):
    m = make(quadratic=True)
    assert rel_err(gradcampp(m, score, "exact"), m, score) < 1e-9
    assert rel_err(gradcampp(m, score, "closed"), m, score) > 1e-4  # the test can tell


def test_exact_mode_matches_the_analytic_quadratic_head():
    """z_d = sum_k W_dk m_k^2 with m = GAP(A): z' = 2 W m / P, z'' = 2 W / P^2, z''' = 0, and
    S = exp(z_c) gives (over e^z) d1 = z', d2 = z'^2 + z'', d3 = z'^3 + 3 z' z''."""
    class Quad(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(self.conv(x).mean(dim=(2, 3)) ** 2)

    torch.manual_seed(2)
    m = Quad().double().eval()
    e = explain(m, X, layer="conv", methods=("gradcampp",), targets=[2, 4],
                method_options={"gradcampp": {"derivatives": "exact"}})
    with torch.no_grad():
        a = m.conv(X)
    p = a.shape[2] * a.shape[3]
    w = m.fc.weight.detach()[e.targets[:, 0]]                     # (N, C)
    z1 = (2 * w * a.mean(dim=(2, 3)) / p)[:, None, :, None, None].expand(2, 1, *a.shape[1:])
    z2 = (2 * w / p ** 2)[:, None, :, None, None].expand_as(z1)
    want_w = gradcampp_weights(a, z1, z1 ** 2 + z2, z1 ** 3 + 3 * z1 * z2)
    want = torch.relu(torch.einsum("nkc,nchw->nkhw", want_w, a))[:, 0]
    assert (want.flatten(1).amax(1) > 0).all()
    assert torch.allclose(e.raw["gradcampp"], want, rtol=1e-9, atol=1e-12)
