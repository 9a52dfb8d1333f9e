"""The images an evaluation scores: the first ``n`` of a split, with object masks where the
data set has them (:data:`GROUND_TRUTH`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from camviz.catalog import DEFAULT_N
from camviz.data import load_dataset, make_loader, resize_masks
from camviz.data.shapes import shapes_split
from camviz.errors import DataError
from camviz.handle import LoadedModel
from camviz.registry import Registry
from camviz.train.accuracy import check_compatible

#: Data sets with an exact object mask per image: ``masks(split, n) -> (masks, labels)``,
#: bool (n, H, W) and int64 (n,) for the first n images of the data set's split, in order.
GROUND_TRUTH: Registry[Callable[[str, int], tuple[Tensor, Tensor]]] = Registry(
    "data set with masks", hint="localisation metrics need one of them")


@GROUND_TRUTH.register("shapes")
def _shapes_masks(split: str, n: int) -> tuple[Tensor, Tensor]:
    data = shapes_split(split, n)
    return data.masks, data.labels


@dataclass
class EvalData:
    loader: Any                # yields Batch(x, y, index)
    masks: Tensor | None       # bool (n, S, S) at input size, on the CPU
    n: int


def load_eval_data(loaded: LoadedModel, dataset: str, split: str, n: int | None,
                   batch_size: int, data_dir: str | None, download: bool, device: torch.device,
                   rank: int = 0, world_size: int = 1) -> EvalData:
    """The first ``n`` images of ``split`` (default :data:`~camviz.catalog.DEFAULT_N`), in
    order, batched for this rank; their masks at the model's input size where there are."""
    cfg = loaded.meta.get("config") or {}
    source = load_dataset(dataset, data_dir=data_dir, split_seed=int(cfg.get("split_seed", 0)),
                          val_fraction=float(cfg.get("val_fraction", 0.2)), download=download,
                          limit=DEFAULT_N if n is None else n)
    check_compatible(loaded, source.classes, source.channels, dataset)
    part = source.split(split)
    if n is not None and len(part) < n:
        raise DataError(f"--n {n} is larger than the {split} split of {dataset} ({len(part)} "
                        f"images); pass --n {len(part)} or less")
    count = len(part)
    masks = None
    if dataset in GROUND_TRUTH:
        masks, labels = GROUND_TRUTH.get(dataset)(split, count)
        if not torch.equal(torch.as_tensor(part.labels), labels):   # same images, same order
            raise RuntimeError(f"the masks of {dataset} do not belong to its {split} split")
        masks = resize_masks(masks, loaded.input_size)
    loader = make_loader(part, loaded.preprocessing, batch_size=batch_size, device=device,
                         workers=0, rank=rank, world_size=world_size)
    return EvalData(loader, masks, count)
