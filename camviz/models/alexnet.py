"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet classification with deep
convolutional neural networks"), as one tower (the paper's two GPU halves added up).

Two layouts, chosen by ``variant``:

* ``"original"`` -- the 2012 layout for 224 px: conv 11x11/4 (96), 5x5 (256), 3x3 (384,
  384, 256), overlapping 3x3/2 max pooling after conv1, conv2 and conv5, then
  4096-4096 fully connected layers with dropout. For 1x224x224 and 10 classes this is lab
  report 000's "AlexNetLarge" (58,299,082 parameters). Local response normalisation is left
  out, as in torchvision and d2l (``norm="batch"`` is the modern replacement).
* ``"small"`` -- report 000's reduction for 28-64 px inputs: first conv 5x5 stride 1,
  every convolution's channel count halved, pooling padded so 56 -> 28 -> 14 -> 7
  (43,446,122 parameters for 1x56x56 and 10 classes).

``"auto"`` picks ``"small"`` up to 64 px. The flatten size follows from ``input_size``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from camviz.models.layers import (
    ACTIVATIONS,
    NORMS,
    POOLS,
    SMALL_INPUT_MAX,
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

VARIANTS = ("auto", "small", "original")
_CHANNELS = {"original": (96, 256, 384, 384, 256), "small": (48, 128, 192, 192, 128)}
_POOL_AFTER = (1, 2, 5)  # overlapping pooling follows conv1, conv2 and conv5


class AlexNet(nn.Module):
    """``features`` (conv1..conv5 with act/pool) then ``classifier`` (drop1, fc1, ..., fc3)."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int, *, variant: str,
                 kernel_size: int, activation: str, pooling: str, norm: str, dropout: float,
                 width: float) -> None:
        super().__init__()
        channels = [scaled(c, width) for c in _CHANNELS[variant]]
        hidden = scaled(4096, width)
        if variant == "original":
            # padding 2 keeps the paper's 224 -> 55 for the 11x11 kernel
            first = {"stride": 4, "padding": max(0, kernel_size // 2 - 3)}
            pool_pad = 0
        else:
            first = {"stride": 1, "padding": kernel_size // 2}
            pool_pad = 1
        feats: OrderedDict[str, nn.Module] = OrderedDict()
        cin = in_channels
        for i, cout in enumerate(channels, start=1):
            if i == 1:
                conv = nn.Conv2d(cin, cout, kernel_size, **first)
            else:
                k = 5 if i == 2 else 3
                conv = nn.Conv2d(cin, cout, k, padding=k // 2)
            feats[f"conv{i}"] = conv
            if norm != "none":
                feats[f"norm{i}"] = make_norm(norm, cout)
            feats[f"act{i}"] = make_act(activation)
            if i in _POOL_AFTER:
                feats[f"pool{i}"] = make_pool(pooling, 3, 2, pool_pad)
            cin = cout
        self.features = nn.Sequential(feats)
        side = require_size(spatial_out(self.features, input_size), f"alexnet ({variant})", input_size,
                            "use variant='small' or a larger --input-size")
        self.classifier = nn.Sequential(OrderedDict(
            drop1=make_dropout(dropout), fc1=nn.Linear(cin * side * side, hidden),
            act1=make_act(activation),
            drop2=make_dropout(dropout), fc2=nn.Linear(hidden, hidden), act2=make_act(activation),
            fc3=nn.Linear(hidden, num_classes),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@register_model("alexnet", cam_layer="features", classifier="classifier.fc3",
                description="AlexNet (Krizhevsky 2012); small variant (report 000) for <= 64 px",
                recipe={**FASHION_RECIPE, "lr": 1e-3, "epochs": 8})
def alexnet(num_classes: int = 10, in_channels: int = 1, input_size: int = 28, *,
            variant: str = "auto", kernel_size: int | None = None, activation: str = "relu",
            pooling: str = "max", norm: str = "none", dropout: float = 0.5,
            width: float = 1.0) -> AlexNet:
    """AlexNet; ``kernel_size=None`` means 11 (original) or 5 (small) for the first conv."""
    variant = check_choice("variant", variant, VARIANTS)
    if variant == "auto":
        variant = "small" if input_size <= SMALL_INPUT_MAX else "original"
    if kernel_size is None:
        kernel_size = 11 if variant == "original" else 5
    activation = check_choice("activation", activation, ACTIVATIONS)
    model = AlexNet(num_classes, in_channels, input_size, variant=variant,
                    kernel_size=check_int("kernel_size", kernel_size), activation=activation,
                    pooling=check_choice("pooling", pooling, POOLS),
                    norm=check_choice("norm", norm, NORMS), dropout=check_dropout(dropout),
                    width=check_width(width))
    init_weights(model, activation)
    return model
