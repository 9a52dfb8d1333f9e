"""Putting the shards of a ``torchrun`` evaluation back together, in image order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
import torch.distributed as dist


def merge_shards(run: Any) -> None:
    """Replace ``run``'s per-image values (a ``cam_scores._Run``: ``values``, ``index``,
    ``correct``, ``zero``, ``skipped``, ``layer_methods``) by those of every rank, ordered by
    image position, so the means are taken as one process would take them."""
    mine = {"values": {k: torch.cat(v) for k, v in run.values.items() if v},
            "index": torch.cat(run.index) if run.index else torch.zeros(0, dtype=torch.long),
            "correct": run.correct, "zero": dict(run.zero), "skipped": run.skipped,
            "layer_methods": run.layer_methods}
    shards: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(shards, mine)
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
