"""A ``cam_scores._Run``'s per-image state: taken and put back (a resumed evaluation), and
the shards of a ``torchrun`` evaluation put back together, in image order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
import torch.distributed as dist


def snapshot(run: Any) -> dict[str, Any]:
    """``run``'s per-image values and counts (``values``, ``index``, ``correct``, ``zero``,
    ``skipped``, ``layer_methods``), each value list joined into one tensor."""
    return {"values": {k: torch.cat(v) for k, v in run.values.items() if v},
            "index": torch.cat(run.index) if run.index else torch.zeros(0, dtype=torch.long),
            "correct": run.correct, "zero": dict(run.zero), "skipped": run.skipped,
            "layer_methods": run.layer_methods}


def restore(run: Any, state: dict[str, Any]) -> None:
    """Put a :func:`snapshot` back into a fresh ``run``: it goes on as if it had scored
    those images itself."""
    run.values = defaultdict(list, {k: [v] for k, v in state["values"].items()})
    run.index = [state["index"]] if len(state["index"]) else []
    run.correct = int(state["correct"])
    run.zero = defaultdict(int, state["zero"])
    run.skipped = {m: dict(layers) for m, layers in state["skipped"].items()}
    run.layer_methods = {layer: list(m) for layer, m in state["layer_methods"].items()}


def merge_shards(run: Any) -> None:
    """Replace ``run``'s per-image values by those of every rank, ordered by image
    position, so the means are taken as one process would take them."""
    shards: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(shards, snapshot(run))
    index = torch.cat([s["index"] for s in shards])
    order = torch.argsort(index)
    values: dict[tuple[str, str, str], list[torch.Tensor]] = {}
    for key in dict.fromkeys(k for s in shards for k in s["values"]):
        parts = [s["values"][key] for s in shards if key in s["values"]]
        values[key] = [torch.cat(parts)[order]]
    run.values = defaultdict(list, values)
    run.index = [index[order]]
    run.correct = sum(s["correct"] for s in shards)
    zero: dict[tuple[str, str], int] = defaultdict(int)
    for s in shards:
        for k, v in s["zero"].items():
            zero[k] += v
        for method, layers in s["skipped"].items():
            run.skipped.setdefault(method, {}).update(layers)
        for layer, methods in s["layer_methods"].items():
            run.layer_methods.setdefault(layer, methods)
    run.zero = zero
