"""Network in Network (Lin, Chen & Yan, 2014, "Network in network").

Four "mlpconv" blocks -- a spatial convolution followed by two 1x1 convolutions (a small
MLP shared across positions) -- with 3x3/2 max pooling between the first three, dropout
before the last, and no fully connected layer: the last block's final 1x1 convolution
outputs one map per class and global average pooling turns the maps into logits. Channels
follow the authors' ImageNet model (96, 256, 384, 1024 -> classes).

So the default CAM layer is the last block, ``features.block4``, whose output *is* the
class maps, and ``classifier`` is that block's final 1x1 convolution
(``features.block4.conv3``). Being a convolution, not an ``nn.Linear`` after global
average pooling, CAM's "GAP -> linear" identity (CAM = Grad-CAM) does not apply here;
Grad-CAM of a class reduces to that class's (rectified) map.

``stem="imagenet"`` is the paper's 11x11/4 first convolution with unpadded pooling (needs
>= 67 px); ``stem="small"`` (``"auto"`` up to 64 px) uses a 5x5/1 first convolution and
padded pooling (28 -> 14 -> 7 -> 4). ``norm="batch"`` is on by default (a deviation from
the 2014 paper, which predates batch norm; ``norm="none"`` gives the original).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from camviz.models.layers import (
    ACTIVATIONS,
    NORMS,
    POOLS,
    check_choice,
    check_dropout,
    check_int,
    check_width,
    init_weights,
    make_act,
    make_dropout,
    make_norm,
    make_pool,
    require_size,
    resolve_stem,
    scaled,
    spatial_out,
)
from camviz.models.spec import FASHION_RECIPE, register_model


def mlpconv(in_channels: int, channels: int, out_channels: int, kernel_size: int, stride: int,
            padding: int, *, norm: str, activation: str, last_is_classifier: bool = False
            ) -> nn.Sequential:
    """conv(kxk) -> act -> conv1x1 -> act -> conv1x1 [-> act], with norms after each conv."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    specs = ((in_channels, channels, kernel_size, stride, padding), (channels, channels, 1, 1, 0),
             (channels, out_channels, 1, 1, 0))
    for i, (cin, cout, k, s, p) in enumerate(specs, start=1):
        layers[f"conv{i}"] = nn.Conv2d(cin, cout, k, s, p)
        if i == 3 and last_is_classifier:
            break  # raw class maps: no norm, no activation after the classifier
        if norm != "none":
            layers[f"norm{i}"] = make_norm(norm, cout)
        layers[f"act{i}"] = make_act(activation)
    return nn.Sequential(layers)


class NiN(nn.Module):
    """``features`` (block1, pool1, ..., dropout, block4) -> ``avgpool`` -> flatten."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int, *, stem: str,
                 kernel_size: int, activation: str, pooling: str, norm: str, dropout: float,
                 width: float) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scaled(c, width) for c in (96, 256, 384, 1024))
        kw = {"norm": norm, "activation": activation}
        if stem == "imagenet":
            first = (4, max(0, kernel_size // 2 - 5))  # stride, padding: 11x11/4, unpadded
            pool_pad = 0
        else:
            first = (1, kernel_size // 2)
            pool_pad = 1
        self.features = nn.Sequential(OrderedDict(
            block1=mlpconv(in_channels, c1, c1, kernel_size, *first, **kw),
            pool1=make_pool(pooling, 3, 2, pool_pad),
            block2=mlpconv(c1, c2, c2, 5, 1, 2, **kw),
            pool2=make_pool(pooling, 3, 2, pool_pad),
            block3=mlpconv(c2, c3, c3, 3, 1, 1, **kw),
            pool3=make_pool(pooling, 3, 2, pool_pad),
            dropout=make_dropout(dropout),
            block4=mlpconv(c3, c4, num_classes, 3, 1, 1, last_is_classifier=True, **kw),
        ))
        require_size(spatial_out(self.features, input_size), f"nin (stem {stem})", input_size,
                     "use stem='small' or a larger --input-size")
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


@register_model("nin", cam_layer="features.block4", classifier="features.block4.conv3",
                description="Network in Network (Lin 2014): mlpconv blocks, class maps + GAP, no fc",
                recipe={**FASHION_RECIPE, "epochs": 8})
def nin(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *, stem: str = "auto",
        kernel_size: int | None = None, activation: str = "relu", pooling: str = "max",
        norm: str = "batch", dropout: float = 0.5, width: float = 1.0) -> NiN:
    """NiN; ``kernel_size=None`` means 11 (imagenet stem) or 5 (small stem) for the first conv."""
    stem = resolve_stem(stem, input_size)
    if kernel_size is None:
        kernel_size = 11 if stem == "imagenet" else 5
    activation = check_choice("activation", activation, ACTIVATIONS)
    model = NiN(num_classes, in_channels, input_size, stem=stem,
                kernel_size=check_int("kernel_size", kernel_size), activation=activation,
                pooling=check_choice("pooling", pooling, POOLS), norm=check_choice("norm", norm, NORMS),
                dropout=check_dropout(dropout), width=check_width(width))
    init_weights(model, activation)
    # The class-map conv plays a linear classifier's role: small weights, not He's fan-out
    # scale (which would start training from logits of ~10).
    head = model.features.block4.conv3
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return model
