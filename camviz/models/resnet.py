"""ResNet-14/18/34/50 (He, Zhang, Ren & Sun, 2016, "Deep residual learning for image
recognition").

Module names are torchvision's (``conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc``;
blocks ``layerX.Y.conv1/bn1/conv2/bn2[/conv3/bn3]/downsample``), so with
``stem="imagenet"``, 3 channels, 224 px and 1000 classes the state_dict keys and parameter
counts equal torchvision's ``resnet18/34/50()`` (ResNet-50: 25,557,032), and torchvision
weights load into these models. Two differences, neither with parameters:

* the block's activations are separate, never in-place modules -- ``relu1`` (and ``relu2``
  in the bottleneck) inside, ``relu`` on the block output -- so a hook on any of them sees
  one call and the sum ``out = out + identity`` cannot overwrite a captured output;
* a ``dropout`` layer (identity unless ``dropout > 0``) sits between ``avgpool`` and ``fc``.

Depths (weighted layers = conv1 + convs in blocks + fc):

* ``resnet14``: BasicBlock [1, 1, 2, 2] -> 1 + 2 x 6 + 1 = 14 (lab report 004's shallower
  net: same four stages and block, fewer blocks, kept in the low-resolution stages);
* ``resnet18``: BasicBlock [2, 2, 2, 2] -> 1 + 2 x 8 + 1 = 18;
* ``resnet34``: BasicBlock [3, 4, 6, 3] -> 1 + 2 x 16 + 1 = 34;
* ``resnet50``: Bottleneck [3, 4, 6, 3] -> 1 + 3 x 16 + 1 = 50 (stride on the 3x3 conv,
  "ResNet v1.5", as torchvision).

Lab report 004's options: ``stem="small"`` (``"auto"`` up to 64 px) is a 3x3/1 ``conv1`` and
no max pool (``maxpool`` becomes an identity); ``residual=False`` drops every shortcut
(and the ``downsample`` projections); ``norm`` batch/instance/none; ``width=0.5`` halves
every stage; ``dropout`` before ``fc``.
"""

from __future__ import annotations

import torch
from torch import nn

from camviz.errors import ConfigError
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
    resolve_stem,
    scaled,
)
from camviz.models.spec import FASHION_RECIPE, register_model


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, *, norm: str, activation: str,
                 residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = _conv(cin, planes, 3, stride)
        self.bn1 = make_norm(norm, planes)
        self.relu1 = make_act(activation)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = make_norm(norm, planes)
        self.relu = make_act(activation)
        self.downsample = _shortcut(cin, planes, stride, norm) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, and a shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, *, norm: str, activation: str,
                 residual: bool) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.residual = residual
        self.conv1 = _conv(cin, planes, 1)
        self.bn1 = make_norm(norm, planes)
        self.relu1 = make_act(activation)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = make_norm(norm, planes)
        self.relu2 = make_act(activation)
        self.conv3 = _conv(planes, cout, 1)
        self.bn3 = make_norm(norm, cout)
        self.relu = make_act(activation)
        self.downsample = _shortcut(cin, cout, stride, norm) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def _shortcut(cin: int, cout: int, stride: int, norm: str) -> nn.Sequential | None:
    """A 1x1 projection (option B of the paper) when the shape changes, else identity (None)."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(_conv(cin, cout, 1, stride), make_norm(norm, cout))


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, ...],
                 num_classes: int, in_channels: int, *, stem: str, kernel_size: int, norm: str,
                 activation: str, residual: bool, width: float, dropout: float) -> None:
        super().__init__()
        base = scaled(64, width)
        kw = {"norm": norm, "activation": activation, "residual": residual}
        self.conv1 = _conv(in_channels, base, kernel_size, 2 if stem == "imagenet" else 1)
        self.bn1 = make_norm(norm, base)
        self.relu = make_act(activation)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        cin = base
        for i, n_blocks in enumerate(layers):
            planes = base * 2 ** i
            blocks = []
            for j in range(n_blocks):
                blocks.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1, **kw))
                cin = planes * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = make_dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def _resnet_entry(name: str, block: type[BasicBlock | Bottleneck], layers: tuple[int, ...],
                  doc: str, recipe: dict | None = None):
    """Register one depth; the options are spelled out once, here."""
    def build(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
              stem: str = "auto", kernel_size: int | None = None, activation: str = "relu",
              norm: str = "batch", residual: bool = True, width: float = 1.0,
              dropout: float = 0.0) -> ResNet:
        stem = resolve_stem(stem, input_size)
        if kernel_size is None:
            kernel_size = 7 if stem == "imagenet" else 3
        if not isinstance(residual, bool):
            raise ConfigError(f"bad residual {residual!r}: must be True or False")
        activation = check_choice("activation", activation, ACTIVATIONS)
        model = ResNet(block, layers, num_classes, in_channels, stem=stem,
                       kernel_size=check_int("kernel_size", kernel_size),
                       norm=check_choice("norm", norm, NORMS), activation=activation,
                       residual=residual, width=check_width(width), dropout=check_dropout(dropout))
        init_weights(model, activation)
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return register_model(name, cam_layer="layer4", classifier="fc",
                          description=doc.splitlines()[0],
                          # resnet18-fashion-mnist's recipe; resnet34/50 (none shipped) share it
                          recipe=recipe or {**FASHION_RECIPE, "epochs": 15})(build)


resnet14 = _resnet_entry("resnet14", BasicBlock, (1, 1, 2, 2),
                         "ResNet-14: BasicBlock [1, 1, 2, 2] (lab report 004's shallow variant).",
                         # its shipped checkpoint is resnet14-shapes: flips both ways, 4 px crops
                         {**FASHION_RECIPE, "epochs": 12, "crop_padding": 4, "vflip": 0.5})
resnet18 = _resnet_entry("resnet18", BasicBlock, (2, 2, 2, 2),
                         "ResNet-18 (He 2016): BasicBlock [2, 2, 2, 2].")
resnet34 = _resnet_entry("resnet34", BasicBlock, (3, 4, 6, 3),
                         "ResNet-34 (He 2016): BasicBlock [3, 4, 6, 3].")
resnet50 = _resnet_entry("resnet50", Bottleneck, (3, 4, 6, 3),
                         "ResNet-50 (He 2016): Bottleneck [3, 4, 6, 3].")
