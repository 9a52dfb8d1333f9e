"""What a model is made of: its named layers with output shapes, parameters and FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from camviz.hub import LoadedModel


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    shape: tuple[int, ...] | None   # output shape for one input image, None if not a tensor
    params: int
    is_default: bool


def _probe(loaded: LoadedModel) -> torch.Tensor:
    p = next(loaded.model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    return torch.zeros(1, loaded.in_channels, loaded.input_size, loaded.input_size, device=device)


def layer_table(loaded: LoadedModel) -> list[LayerRow]:
    """Every named module with its output shape for the model's input size (one forward)."""
    model = loaded.model
    shapes: dict[str, tuple[int, ...] | None] = {}
    handles = []

    def hook(name: str):
        def fn(_m, _inp, out):
            shapes[name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        return fn

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook(name)))
        with torch.no_grad():
            model(_probe(loaded))
    finally:
        for h in handles:
            h.remove()
    return [LayerRow(name, type(m).__name__, shapes.get(name),
                     sum(p.numel() for p in m.parameters(recurse=True)),
                     name == loaded.cam_layer)
            for name, m in model.named_modules() if name and name in shapes]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(loaded: LoadedModel) -> int:
    """Forward FLOPs for one image at the model's input size (torch.utils.flop_counter)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        loaded.model(_probe(loaded))
    return int(counter.get_total_flops())


def model_info(loaded: LoadedModel) -> dict:
    """Parameters, FLOPs, input, classes, source and stored metrics of a loaded model."""
    meta = loaded.meta or {}
    return {
        "name": loaded.name, "source": loaded.source, "arch": loaded.arch,
        "params": count_params(loaded.model), "flops": count_flops(loaded),
        "input": [loaded.in_channels, loaded.input_size, loaded.input_size],
        "num_classes": len(loaded.classes), "classes": loaded.classes,
        "mean": list(loaded.mean), "std": list(loaded.std),
        "cam_layer": loaded.cam_layer, "classifier": loaded.classifier,
        "checkpoint": str(loaded.checkpoint) if loaded.checkpoint else None,
        "dataset": meta.get("dataset"), "metrics": meta.get("metrics"),
        "arch_kwargs": meta.get("arch_kwargs"),
    }
