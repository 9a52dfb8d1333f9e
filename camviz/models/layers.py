"""Small shared pieces of the zoo: option checks, layer factories, size arithmetic, init.

Every option a lab study varies (activation, pooling, norm, width, dropout, stem, first
kernel) is checked here, so a bad value gives the same one-line :class:`ConfigError`
in every architecture: the bad value, the valid ones and the keyword to fix.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from torch import nn

from camviz.errors import ConfigError, did_you_mean

# No activation here is in-place: a CAM hook may capture any layer's output, and an
# in-place op after it (ReLU(inplace=True), ``out += identity``) would overwrite it.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=False),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}
NORMS = ("batch", "instance", "none")
POOLS = ("max", "avg")
STEMS = ("auto", "small", "imagenet")

#: ``stem="auto"`` picks the small stem up to this input size (the lab reports' rule:
#: 28-64 px images lose too much resolution in an ImageNet stem).
SMALL_INPUT_MAX = 64


def check_choice(option: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise a ConfigError naming them."""
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    raise ConfigError(
        f"bad {option} {value!r}{did_you_mean(str(value), choices)} "
        f"(valid: {', '.join(choices)}); pass {option}=<one of them>")


def check_int(option: str, value: object, minimum: int = 1) -> int:
    """An integer option >= ``minimum`` (bools are rejected, they are not sizes)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"bad {option} {value!r}: must be an integer >= {minimum}")
    return value


def check_width(width: object) -> float:
    """A channel multiplier > 0 (1.0 = the published widths)."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ConfigError(f"bad width {width!r}: must be a number > 0 (1.0 = published widths, "
                          "0.5 = half the channels)")
    return float(width)


def check_dropout(p: object) -> float:
    """A dropout probability in [0, 1); 0 means no dropout layer."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ConfigError(f"bad dropout {p!r}: must be a number in [0, 1) (0 = no dropout)")
    return float(p)


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, rounded, at least 1."""
    return max(1, round(channels * width))


def resolve_stem(stem: object, input_size: int) -> str:
    """``"auto"`` becomes ``"small"`` for inputs up to 64 px, else ``"imagenet"``."""
    stem = check_choice("stem", stem, STEMS)
    if stem == "auto":
        return "small" if input_size <= SMALL_INPUT_MAX else "imagenet"
    return stem


def make_act(name: object) -> nn.Module:
    """A fresh, never in-place activation: ``relu``, ``sigmoid`` or ``tanh``."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]()


def make_norm(kind: object, channels: int) -> nn.Module:
    """A normalisation layer for ``channels`` feature maps: ``batch``, ``instance`` or ``none``.

    Instance norm has affine parameters and no running statistics, so it behaves the same
    in train and eval mode (lab report 004's "IN" ablation).
    """
    kind = check_choice("norm", kind, NORMS)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def make_pool(kind: object, kernel_size: int, stride: int | None = None, padding: int = 0,
              ceil_mode: bool = False) -> nn.Module:
    """A ``max`` or ``avg`` pooling layer (average pooling ignores the zero padding)."""
    kind = check_choice("pooling", kind, POOLS)
    stride = kernel_size if stride is None else stride
    if kind == "max":
        return nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode)
    return nn.AvgPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=False)


def make_dropout(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or ``nn.Identity`` for p = 0 so the layer name stays stable."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def conv_norm_act(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                  padding: int | None = None, *, groups: int = 1, norm: str = "batch",
                  activation: str = "relu") -> nn.Sequential:
    """``conv -> norm -> act`` with readable child names; the conv has a bias only without norm."""
    padding = kernel_size // 2 if padding is None else padding
    layers = OrderedDict(conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                        groups=groups, bias=norm == "none"))
    if norm != "none":
        layers["norm"] = make_norm(norm, out_channels)
    layers["act"] = make_act(activation)
    return nn.Sequential(layers)


def _pair_first(v: int | tuple[int, ...]) -> int:
    return v if isinstance(v, int) else v[0]


def out_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """Output side of a conv or pool on a ``size`` x ``size`` input (PyTorch's formula)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # last window must start inside
        out -= 1
    return out


def spatial_out(module: nn.Module, size: int) -> int:
    """Output side of a Sequential of convs, pools and shape-keeping layers.

    Used to compute flatten sizes from ``input_size`` instead of hard-coding them.
    """
    if isinstance(module, nn.Sequential):
        for child in module:
            size = spatial_out(child, size)
        return size
    if isinstance(module, nn.Conv2d):
        return out_size(size, module.kernel_size[0], module.stride[0], _pair_first(module.padding),
                        module.dilation[0])
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = _pair_first(module.stride or module.kernel_size)
        dilation = _pair_first(getattr(module, "dilation", 1))
        return out_size(size, _pair_first(module.kernel_size), stride, _pair_first(module.padding),
                        dilation, module.ceil_mode)
    if next(module.children(), None) is not None:
        raise TypeError(f"spatial_out cannot follow {type(module).__name__}")
    return size  # activations, norms, dropout, identity keep the size


def require_size(size: int, model: str, input_size: int, fix: str) -> int:
    """Raise a ConfigError when the feature maps of ``model`` vanish for ``input_size``."""
    if size < 1:
        raise ConfigError(f"{model}: a {input_size}x{input_size} input shrinks to nothing "
                          f"before the classifier; {fix}")
    return size


def init_weights(model: nn.Module, activation: str = "relu") -> None:
    """Deterministic (given ``torch.manual_seed``) init used by every zoo model.

    Convolutions: He normal, fan-out (He et al., 2015, as in torchvision's ResNet) for ReLU
    networks, Glorot uniform (Glorot & Bengio, 2010) for sigmoid/tanh ones; biases zero.
    Norm layers: weight 1, bias 0. Linear layers keep PyTorch's default init.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if activation == "relu":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
