"""What a model is made of: its named layers with output shapes, parameters and FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from camviz.cam.hooks import module_outputs
from camviz.cam.tokens import LayoutFinder
from camviz.errors import ConfigError
from camviz.handle import LoadedModel


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    shape: tuple[int, ...] | None   # output shape for one input image, None if not a tensor
    params: int
    is_default: bool
    spatial: bool = False           # a CAM can be computed on it: a map (N, C, h, w), channels-
                                    # last (N, h, w, C) or transformer tokens (N, L, D)


def _probe(loaded: LoadedModel, input_size: int | None = None) -> torch.Tensor:
    p = next(loaded.model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    size = int(input_size or loaded.input_size)
    return torch.zeros(1, loaded.in_channels, size, size, device=device)


def layer_table(loaded: LoadedModel) -> list[LayerRow]:
    """Every named module with its output shape for the model's input size (one forward)."""
    model = loaded.model
    shapes: dict[str, tuple[int, ...] | None] = {}
    spatial: set[str] = set()
    finder = LayoutFinder(model, (loaded.input_size, loaded.input_size))

    def record(name: str, _module: nn.Module, _inputs: tuple, out: object) -> None:
        shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        if finder.find(out) is not None:
            spatial.add(name)

    with module_outputs(model, record), torch.no_grad():
        model(_probe(loaded))
    return [LayerRow(name, type(m).__name__, shapes.get(name),
                     sum(p.numel() for p in m.parameters(recurse=True)),
                     name == loaded.cam_layer, name in spatial)
            for name, m in model.named_modules() if name and name in shapes]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(loaded: LoadedModel, input_size: int | None = None) -> int:
    """Forward FLOPs for one image (torch.utils.flop_counter: 2 per multiply-add of
    convolutions, linear layers and matmuls; normalisation, activations and pooling are 0)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        loaded.model(_probe(loaded, input_size))
    return int(counter.get_total_flops())


def _macs(module: nn.Module, inputs: tuple, out: torch.Tensor) -> int:
    """Multiply-accumulates of one module for one image, counted the way thop does."""
    if not isinstance(out, torch.Tensor):
        return 0
    per_image = out.numel() // max(1, out.shape[0])
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for d in module.kernel_size:
            k *= d
        return per_image * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return per_image * module.in_features
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                           nn.GroupNorm, nn.LayerNorm)):
        affine = getattr(module, "affine", getattr(module, "elementwise_affine", False))
        return per_image * (4 if affine else 2)
    if isinstance(module, nn.AvgPool2d):
        return per_image
    if isinstance(module, nn.AdaptiveAvgPool2d):
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if x is None or x.dim() != 4:
            return 0
        kernel = (x.shape[2] * x.shape[3]) // max(1, out.shape[2] * out.shape[3])
        return per_image * (kernel + 1)
    return 0


def count_macs(loaded: LoadedModel, input_size: int | None = None) -> int:
    """Multiply-accumulates for one image, counted as thop (PyTorch-OpCounter 0.1) counts
    them - the figure papers and the lab reports quote as "FLOPs": convolutions and linear
    layers one per multiply-add (bias not counted); batch/instance/group/layer norm 2 per
    element, doubled when affine; average pooling 1 per output, adaptive average pooling
    kernel + 1 per output; activations and max pooling 0. Only leaf modules count:
    functional calls (``F.relu``, ``torch.flatten``) add nothing, as in thop."""
    total = 0

    def add(_name: str, module: nn.Module, inputs: tuple, out: object) -> None:
        nonlocal total
        total += _macs(module, inputs, out)

    with module_outputs(loaded.model, add, leaves_only=True), torch.no_grad():
        loaded.model(_probe(loaded, input_size))
    return total


def model_info(loaded: LoadedModel, input_size: int | None = None) -> dict:
    """Parameters, FLOPs and MACs at ``input_size`` (default: the model's), input, classes,
    source and stored metrics of a loaded model."""
    meta = loaded.meta or {}
    size = int(input_size or loaded.input_size)
    try:
        flops, macs = count_flops(loaded, size), count_macs(loaded, size)
    except RuntimeError as err:   # a classifier sized for another input, or too small an input
        raise ConfigError(
            f"model '{loaded.name}' cannot take a {size}x{size} input "
            f"({str(err).splitlines()[0][:120]}); its own input size is {loaded.input_size}: "
            f"omit --input-size or pass a size its layers accept") from None
    return {
        "name": loaded.name, "source": loaded.source, "arch": loaded.arch,
        "params": count_params(loaded.model), "flops": flops, "macs": macs,
        "input": [loaded.in_channels, size, size], "model_input_size": loaded.input_size,
        "num_classes": len(loaded.classes), "classes": loaded.classes,
        "mean": list(loaded.mean), "std": list(loaded.std),
        "cam_layer": loaded.cam_layer, "classifier": loaded.classifier,
        "checkpoint": str(loaded.checkpoint) if loaded.checkpoint else None,
        "dataset": meta.get("dataset"), "metrics": meta.get("metrics"),
        "arch_kwargs": meta.get("arch_kwargs"),
    }
