"""GoogLeNet / Inception v1 (Szegedy et al., 2015, "Going deeper with convolutions").

The paper's Table 1 layout without the two auxiliary classifiers: a stem (7x7/2 conv,
3x3/2 max pool, 1x1 and 3x3 convs, 3x3/2 max pool), nine Inception modules (3a-3b, 4a-4e,
5a-5b) with max pools between the groups, global average pooling, dropout 0.4 and one
fully connected layer. Top-level names follow torchvision's GoogLeNet (``conv1``,
``maxpool1``, ..., ``inception5b``, ``avgpool``, ``dropout``, ``fc``); each Inception
module has ``branch1`` (1x1), ``branch2`` (1x1 -> 3x3), ``branch3`` (1x1 -> 5x5, the
paper's true 5x5) and ``branch4`` (3x3 max pool -> 1x1).

Modern defaults, as torchvision: every convolution is followed by batch norm
(``norm="none"`` for the paper's network, which used local response normalisation
instead). ``stem="small"`` (``"auto"`` up to 64 px, as lab report 000 adapted it for
MNIST) uses a 3x3/1 first convolution and no first max pool, so 28 px inputs reach the
Inception modules at 14x14 and ``inception5b`` at 3x3. ``width`` scales every module.
"""

from __future__ import annotations

import torch
from torch import nn

from camviz.models.layers import (
    ACTIVATIONS,
    NORMS,
    check_choice,
    check_dropout,
    check_int,
    check_width,
    conv_norm_act,
    init_weights,
    make_dropout,
    resolve_stem,
    scaled,
)
from camviz.models.spec import FASHION_RECIPE, register_model

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per module, Table 1 of the paper
_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


class Inception(nn.Module):
    """Four parallel branches concatenated along channels."""

    def __init__(self, in_channels: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int,
                 **kw: str) -> None:
        super().__init__()
        self.branch1 = conv_norm_act(in_channels, c1, 1, **kw)
        self.branch2 = nn.Sequential(conv_norm_act(in_channels, c3r, 1, **kw),
                                     conv_norm_act(c3r, c3, 3, **kw))
        self.branch3 = nn.Sequential(conv_norm_act(in_channels, c5r, 1, **kw),
                                     conv_norm_act(c5r, c5, 5, **kw))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                     conv_norm_act(in_channels, cp, 1, **kw))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, *, stem: str, kernel_size: int,
                 activation: str, norm: str, dropout: float, width: float) -> None:
        super().__init__()
        kw = {"norm": norm, "activation": activation}
        stride = 2 if stem == "imagenet" else 1
        self.conv1 = conv_norm_act(in_channels, scaled(64, width), kernel_size, stride, **kw)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True) if stem == "imagenet" else nn.Identity()
        self.conv2 = conv_norm_act(scaled(64, width), scaled(64, width), 1, **kw)
        self.conv3 = conv_norm_act(scaled(64, width), scaled(192, width), 3, **kw)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        cin = scaled(192, width)
        for name, channels in _MODULES.items():
            module = Inception(cin, *(scaled(c, width) for c in channels), **kw)
            self.add_module(f"inception{name}", module)
            cin = module.out_channels
            if name in ("3b", "4e"):
                self.add_module(f"maxpool{3 if name == '3b' else 4}", nn.MaxPool2d(3, 2, ceil_mode=True))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = make_dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("4a", "4b", "4c", "4d", "4e"):
            x = getattr(self, f"inception{name}")(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


@register_model("googlenet", cam_layer="inception5b", classifier="fc",
                description="GoogLeNet / Inception v1 (Szegedy 2015), no aux heads, GAP + dropout + fc",
                recipe={**FASHION_RECIPE, "epochs": 6})
def googlenet(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
              stem: str = "auto", kernel_size: int | None = None, activation: str = "relu",
              norm: str = "batch", dropout: float = 0.4, width: float = 1.0) -> GoogLeNet:
    """GoogLeNet; ``kernel_size=None`` means 7 (imagenet stem) or 3 (small stem) for conv1."""
    stem = resolve_stem(stem, input_size)
    if kernel_size is None:
        kernel_size = 7 if stem == "imagenet" else 3
    activation = check_choice("activation", activation, ACTIVATIONS)
    model = GoogLeNet(num_classes, in_channels, stem=stem, kernel_size=check_int("kernel_size", kernel_size),
                      activation=activation, norm=check_choice("norm", norm, NORMS),
                      dropout=check_dropout(dropout), width=check_width(width))
    init_weights(model, activation)
    return model
