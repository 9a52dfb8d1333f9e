"""MobileNet v1 (Howard et al., 2017, "MobileNets: efficient convolutional neural networks
for mobile vision applications").

A 3x3/2 convolution (32 channels) and 13 depthwise separable blocks -- a 3x3 depthwise
convolution (``dw``) and a 1x1 pointwise one (``pw``), each with batch norm and ReLU --
then global average pooling and one fully connected layer (Table 1 of the paper). Names:
``features.conv0``, ``features.block1`` .. ``features.block13`` (each ``dw`` and ``pw``
with ``conv``/``norm``/``act``), ``avgpool``, ``dropout``, ``fc``.

``width`` is the paper's width multiplier alpha (0.25, 0.5, 0.75, 1.0 in the paper).
``stem="small"`` (``"auto"`` up to 64 px) makes ``conv0`` and ``block2`` stride 1, so the
network downsamples 8x instead of 32x (28 px -> 4x4 at ``features``, where lab report 000
had to upscale MNIST to 56 px and still pooled 2x2 maps).
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
    conv_norm_act,
    init_weights,
    make_dropout,
    resolve_stem,
    scaled,
)
from camviz.models.spec import FASHION_RECIPE, register_model

# (output channels, stride) of the 13 depthwise separable blocks
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int, in_channels: int, *, stem: str, kernel_size: int,
                 activation: str, norm: str, dropout: float, width: float) -> None:
        super().__init__()
        kw = {"norm": norm, "activation": activation}
        small = stem == "small"
        cin = scaled(32, width)
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=conv_norm_act(in_channels, cin, kernel_size, 1 if small else 2, **kw))
        for i, (c, stride) in enumerate(_BLOCKS, start=1):
            cout = scaled(c, width)
            stride = 1 if (small and i == 2) else stride
            layers[f"block{i}"] = nn.Sequential(OrderedDict(
                dw=conv_norm_act(cin, cin, 3, stride, groups=cin, **kw),
                pw=conv_norm_act(cin, cout, 1, **kw)))
            cin = cout
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = make_dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


@register_model("mobilenet_v1", cam_layer="features", classifier="fc",
                description="MobileNet v1 (Howard 2017): depthwise separable convs, width multiplier",
                recipe={**FASHION_RECIPE, "epochs": 5})
def mobilenet_v1(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
                 stem: str = "auto", kernel_size: int = 3, activation: str = "relu",
                 norm: str = "batch", dropout: float = 0.0, width: float = 1.0) -> MobileNetV1:
    """MobileNet v1; ``kernel_size`` is the first (full) convolution's."""
    stem = resolve_stem(stem, input_size)
    activation = check_choice("activation", activation, ACTIVATIONS)
    model = MobileNetV1(num_classes, in_channels, stem=stem,
                        kernel_size=check_int("kernel_size", kernel_size), activation=activation,
                        norm=check_choice("norm", norm, NORMS), dropout=check_dropout(dropout),
                        width=check_width(width))
    init_weights(model, activation)
    return model
