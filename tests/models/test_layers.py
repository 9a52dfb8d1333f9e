import pytest
import torch
from torch import nn

from camviz.errors import ConfigError
from camviz.models.layers import (
    check_dropout,
    check_int,
    check_width,
    conv_norm_act,
    make_act,
    make_norm,
    make_pool,
    out_size,
    resolve_stem,
    scaled,
    spatial_out,
)


@pytest.mark.parametrize("name, cls", [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh)])
def test_make_act_gives_fresh_not_inplace_modules(name, cls):
    a, b = make_act(name), make_act(name)
    assert isinstance(a, cls) and a is not b
    assert not getattr(a, "inplace", False)


def test_make_act_rejects_unknown_with_suggestion_and_choices():
    with pytest.raises(ConfigError) as err:
        make_act("relux")
    msg = str(err.value)
    assert "'relux'" in msg and "did you mean 'relu'" in msg
    assert "relu, sigmoid, tanh" in msg and "activation=" in msg


def test_make_norm_kinds_and_error():
    assert isinstance(make_norm("batch", 4), nn.BatchNorm2d)
    inst = make_norm("instance", 4)
    assert isinstance(inst, nn.InstanceNorm2d) and inst.affine
    assert isinstance(make_norm("none", 4), nn.Identity)
    with pytest.raises(ConfigError, match="batch, instance, none"):
        make_norm("layer", 4)


def test_make_pool_kinds_and_error():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert make_pool("max", 2)(x).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    assert make_pool("avg", 2)(x).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    with pytest.raises(ConfigError, match="max, avg"):
        make_pool("mean", 2)


def test_avg_pool_ignores_padding_zeros():
    x = torch.ones(1, 1, 4, 4)
    assert torch.equal(make_pool("avg", 3, 2, 1)(x), torch.ones(1, 1, 2, 2))


_LAYERS = [(3, 1, 1, False), (5, 1, 0, False), (11, 4, 2, False), (3, 2, 0, True), (3, 2, 1, False),
           (2, 2, 0, False), (3, 2, 1, True)]
_CASES = [(size, *layer) for size in (1, 5, 7, 28, 31) for layer in _LAYERS
          if layer[0] <= size + 2 * layer[2]]  # PyTorch refuses windows larger than the input


@pytest.mark.parametrize("size, k, s, p, ceil", _CASES)
def test_out_size_matches_pytorch(size, k, s, p, ceil):
    x = torch.zeros(1, 1, size, size)
    for layer in (nn.MaxPool2d(k, s, p, ceil_mode=ceil), nn.AvgPool2d(k, s, p, ceil_mode=ceil)):
        assert out_size(size, k, s, p, ceil_mode=ceil) == layer(x).shape[-1]
    if not ceil:
        assert out_size(size, k, s, p) == nn.Conv2d(1, 1, k, s, p)(x).shape[-1]


def test_spatial_out_follows_a_nested_sequential():
    seq = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2), nn.ReLU(), make_pool("avg", 2),
                        nn.Sequential(nn.Conv2d(2, 2, 3, stride=2), nn.MaxPool2d(3, 2, ceil_mode=True)))
    for size in (28, 33, 64):
        assert spatial_out(seq, size) == seq(torch.zeros(1, 1, size, size)).shape[-1]


def test_spatial_out_refuses_modules_it_cannot_follow():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3)

    with pytest.raises(TypeError):
        spatial_out(nn.Sequential(Branchy()), 28)


def test_conv_norm_act_names_and_bias():
    block = conv_norm_act(3, 8, 3, 2)
    assert [n for n, _ in block.named_children()] == ["conv", "norm", "act"]
    assert block.conv.bias is None and block.conv.stride == (2, 2)
    plain = conv_norm_act(3, 8, 3, norm="none", activation="tanh")
    assert [n for n, _ in plain.named_children()] == ["conv", "act"]
    assert plain.conv.bias is not None and isinstance(plain.act, nn.Tanh)


def test_resolve_stem():
    assert resolve_stem("auto", 28) == "small"
    assert resolve_stem("auto", 64) == "small"
    assert resolve_stem("auto", 96) == "imagenet"
    assert resolve_stem("imagenet", 28) == "imagenet"
    with pytest.raises(ConfigError, match="auto, small, imagenet"):
        resolve_stem("tiny", 28)


@pytest.mark.parametrize("check, bad", [(check_width, 0), (check_width, -1.0), (check_width, "half"),
                                        (check_width, True), (check_dropout, 1.0), (check_dropout, -0.1),
                                        (check_int, 0), (check_int, 2.5), (check_int, True)])
def test_numeric_checks_reject_bad_values(check, bad):
    args = ("kernel_size", bad) if check is check_int else (bad,)
    with pytest.raises(ConfigError, match=repr(bad).replace(".", r"\.")):
        check(*args)


def test_numeric_checks_accept_good_values():
    assert check_width(0.5) == 0.5 and check_dropout(0) == 0.0 and check_int("k", 0, minimum=0) == 0
    assert scaled(64, 0.5) == 32 and scaled(6, 0.01) == 1
