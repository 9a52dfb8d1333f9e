"""VGG-11 and VGG-16 (Simonyan & Zisserman, 2015, "Very deep convolutional networks for
large-scale image recognition"), configurations A and D.

Five stages of 3x3 convolutions (64, 128, 256, 512, 512 channels), each ending in a 2x2 max
pool, then 4096-4096 fully connected layers with dropout 0.5. Layer names follow the
paper's ``conv<stage>_<i>`` (``features.conv5_3``, ``features.pool5``).

Differences from the paper, all options:

* ``norm="batch"`` by default (the ``vgg*_bn`` variant of torchvision): plain VGG trained
  from scratch needs the paper's stage-wise initialisation to converge. ``norm="none"`` at
  3x224x224 with 1000 classes has exactly torchvision's ``vgg16()``/``vgg11()`` parameters.
* ``num_pools=None`` keeps as many of the five pools as leave a final map of at least 7x7
  (28 px: the first 2 pools -> 7x7; 64 px: 3 -> 8x8; 224 px: all 5 -> 7x7), so small
  images still give CAM a usable map. The flatten size follows from ``input_size``.
* ``width`` scales every convolution and the hidden fully connected layers;
  ``kernel_size`` sets the first convolution's (``conv1_1``) kernel.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from camviz.errors import ConfigError
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
    scaled,
    spatial_out,
)
from camviz.models.spec import FASHION_RECIPE, register_model

MIN_FINAL_SIDE = 7


def auto_num_pools(input_size: int) -> int:
    """How many 2x2 pools (<= 5) leave a map of at least 7x7."""
    pools = 0
    while pools < 5 and input_size // 2 ** (pools + 1) >= MIN_FINAL_SIDE:
        pools += 1
    return pools


class VGG(nn.Module):
    """``features`` (conv<s>_<i>, norm<s>_<i>, act<s>_<i>, pool<s>) then an MLP ``classifier``."""

    def __init__(self, stages: tuple[int, ...], num_classes: int, in_channels: int, input_size: int,
                 *, kernel_size: int, activation: str, pooling: str, norm: str, dropout: float,
                 width: float, num_pools: int) -> None:
        super().__init__()
        widths = (64, 128, 256, 512, 512)
        hidden = scaled(4096, width)
        feats: OrderedDict[str, nn.Module] = OrderedDict()
        cin = in_channels
        for s, (n_convs, c) in enumerate(zip(stages, widths), start=1):
            cout = scaled(c, width)
            for i in range(1, n_convs + 1):
                k = kernel_size if (s, i) == (1, 1) else 3
                feats[f"conv{s}_{i}"] = nn.Conv2d(cin, cout, k, padding=k // 2)
                if norm != "none":
                    feats[f"norm{s}_{i}"] = make_norm(norm, cout)
                feats[f"act{s}_{i}"] = make_act(activation)
                cin = cout
            if s <= num_pools:
                feats[f"pool{s}"] = make_pool(pooling, 2)
        self.features = nn.Sequential(feats)
        side = require_size(spatial_out(self.features, input_size), "vgg", input_size,
                            "use fewer num_pools or a larger --input-size")
        self.classifier = nn.Sequential(OrderedDict(
            fc1=nn.Linear(cin * side * side, hidden), act1=make_act(activation),
            drop1=make_dropout(dropout),
            fc2=nn.Linear(hidden, hidden), act2=make_act(activation), drop2=make_dropout(dropout),
            fc3=nn.Linear(hidden, num_classes),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _vgg_entry(name: str, stages: tuple[int, ...], doc: str):
    """Register one VGG configuration; the options are spelled out once, here."""
    def build(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
              norm: str = "batch", activation: str = "relu", pooling: str = "max",
              kernel_size: int = 3, dropout: float = 0.5, width: float = 1.0,
              num_pools: int | None = None) -> VGG:
        activation = check_choice("activation", activation, ACTIVATIONS)
        pools = auto_num_pools(input_size) if num_pools is None else check_int("num_pools", num_pools, 0)
        if pools > 5:
            raise ConfigError(f"bad num_pools {pools}: VGG has 5 stages, use 0..5 or None (auto)")
        model = VGG(stages, num_classes, in_channels, input_size,
                    kernel_size=check_int("kernel_size", kernel_size), activation=activation,
                    pooling=check_choice("pooling", pooling, POOLS),
                    norm=check_choice("norm", norm, NORMS), dropout=check_dropout(dropout),
                    width=check_width(width), num_pools=pools)
        init_weights(model, activation)
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return register_model(name, cam_layer="features", classifier="classifier.fc3",
                          description=doc.splitlines()[0],
                          recipe={**FASHION_RECIPE, "epochs": 12})(build)   # vgg11-fashion-mnist's


vgg11 = _vgg_entry("vgg11", (1, 1, 2, 2, 2),
                   "VGG-11 (Simonyan 2015, config A), batch norm by default; 8 conv + 3 fc layers.")
vgg16 = _vgg_entry("vgg16", (2, 2, 3, 3, 3),
                   "VGG-16 (Simonyan 2015, config D), batch norm by default; 13 conv + 3 fc layers.")
