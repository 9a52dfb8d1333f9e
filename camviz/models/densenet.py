"""DenseNet-121 (Huang, Liu, van der Maaten & Weinberger, 2017, "Densely connected
convolutional networks"), DenseNet-BC: growth rate 32, bottleneck 4 x growth, compression
0.5, dense blocks of [6, 12, 24, 16] layers.

Names are torchvision's (``features.conv0/norm0/relu0/pool0``, ``features.denseblockN
.denselayerM.norm1/relu1/conv1/norm2/relu2/conv2``, ``features.transitionN``,
``features.norm5``, ``classifier``), so at 3x224x224 with 1000 classes and
``stem="imagenet"`` the state_dict keys and the 7,978,856 parameters equal torchvision's
``densenet121()``. Added without parameters: ``features.relu5`` (torchvision applies this
last ReLU functionally, so ``features`` -- the default CAM layer -- would end before it),
``avgpool`` and ``dropout``.

``width`` multiplies the growth rate (32) and the stem width (64): ``width=0.25`` is a
growth-8 DenseNet-121 that trains on a CPU. ``stem="small"`` (``"auto"`` up to 64 px) is a
3x3/1 ``conv0`` and no ``pool0``, so 28 px inputs leave the last dense block at 3x3.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from camviz.models.layers import (
    ACTIVATIONS,
    NORMS,
    check_choice,
    check_dropout,
    check_int,
    check_width,
    init_weights,
    make_act,
    make_dropout,
    make_norm,
    out_size,
    require_size,
    resolve_stem,
    scaled,
)
from camviz.models.spec import FASHION_RECIPE, register_model

BLOCKS = (6, 12, 24, 16)
BN_SIZE = 4
COMPRESSION = 0.5


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (4k channels) - BN-ReLU-Conv3x3 (k new feature maps)."""

    def __init__(self, cin: int, growth: int, *, norm: str, activation: str) -> None:
        super().__init__()
        mid = BN_SIZE * growth
        self.norm1 = make_norm(norm, cin)
        self.relu1 = make_act(activation)
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.norm2 = make_norm(norm, mid)
        self.relu2 = make_act(activation)
        self.conv2 = nn.Conv2d(mid, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """Each layer sees the concatenation of the block input and every earlier layer's output."""

    def __init__(self, n_layers: int, cin: int, growth: int, **kw: str) -> None:
        super().__init__()
        for i in range(n_layers):
            self.add_module(f"denselayer{i + 1}", DenseLayer(cin + i * growth, growth, **kw))
        self.out_channels = cin + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.children():
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


def transition(cin: int, cout: int, *, norm: str, activation: str) -> nn.Sequential:
    """BN-ReLU-Conv1x1 (compression) then 2x2 average pooling."""
    return nn.Sequential(OrderedDict(
        norm=make_norm(norm, cin), relu=make_act(activation),
        conv=nn.Conv2d(cin, cout, 1, bias=False), pool=nn.AvgPool2d(2, 2)))


class DenseNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, *, stem: str, kernel_size: int,
                 activation: str, norm: str, dropout: float, width: float) -> None:
        super().__init__()
        kw = {"norm": norm, "activation": activation}
        growth = scaled(32, width)
        cin = scaled(64, width)
        imagenet = stem == "imagenet"
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_channels, cin, kernel_size, 2 if imagenet else 1, kernel_size // 2,
                            bias=False),
            norm0=make_norm(norm, cin), relu0=make_act(activation),
            pool0=nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity())
        for i, n_layers in enumerate(BLOCKS, start=1):
            block = DenseBlock(n_layers, cin, growth, **kw)
            layers[f"denseblock{i}"] = block
            cin = block.out_channels
            if i < len(BLOCKS):
                cout = int(cin * COMPRESSION)
                layers[f"transition{i}"] = transition(cin, cout, **kw)
                cin = cout
        layers["norm5"] = make_norm(norm, cin)
        layers["relu5"] = make_act(activation)
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = make_dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


def _final_side(input_size: int, stem: str, kernel_size: int) -> int:
    side = input_size
    if stem == "imagenet":
        side = out_size(out_size(side, kernel_size, 2, kernel_size // 2), 3, 2, 1)
    for _ in range(len(BLOCKS) - 1):
        side //= 2  # transitions: 2x2 average pooling
    return side


@register_model("densenet121", cam_layer="features", classifier="classifier",
                description="DenseNet-121 (Huang 2017): growth 32 x width, blocks [6, 12, 24, 16]",
                recipe={**FASHION_RECIPE, "epochs": 5})
def densenet121(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
                stem: str = "auto", kernel_size: int | None = None, activation: str = "relu",
                norm: str = "batch", dropout: float = 0.0, width: float = 1.0) -> DenseNet:
    """DenseNet-121; ``kernel_size=None`` means 7 (imagenet stem) or 3 (small stem) for conv0."""
    stem = resolve_stem(stem, input_size)
    if kernel_size is None:
        kernel_size = 7 if stem == "imagenet" else 3
    kernel_size = check_int("kernel_size", kernel_size)
    require_size(_final_side(input_size, stem, kernel_size), f"densenet121 (stem {stem})", input_size,
                 "use stem='small' or a larger --input-size")
    activation = check_choice("activation", activation, ACTIVATIONS)
    model = DenseNet(num_classes, in_channels, stem=stem, kernel_size=kernel_size, activation=activation,
                     norm=check_choice("norm", norm, NORMS), dropout=check_dropout(dropout),
                     width=check_width(width))
    init_weights(model, activation)
    return model
