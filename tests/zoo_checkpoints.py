"""Seeded, randomly initialised zoo models saved as camviz checkpoints (test helper)."""

from __future__ import annotations

import torch

from camviz.checkpoint import save_checkpoint
from camviz.models import build_model

TEN = tuple(f"c{i}" for i in range(10))


def make_checkpoint(path, arch="resnet14", classes=TEN, seed=0, **kwargs):
    """A randomly initialised (seeded) zoo model saved as a camviz checkpoint."""
    torch.manual_seed(seed)
    model = build_model(arch, num_classes=len(classes), **kwargs)
    ch = kwargs.get("in_channels", 1)
    meta = {"arch": arch, "arch_kwargs": {"num_classes": len(classes), **kwargs},
            "classes": list(classes), "mean": [0.5] * ch, "std": [0.25] * ch, "dataset": "test"}
    return save_checkpoint(path, model, meta)
