"""From a config to concrete data: the data set, input size, channels, mean/std, loaders."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from camviz.data import Augment, DataSource, Preprocess, load_dataset, make_loader, split_stats
from camviz.errors import ConfigError
from camviz.models import MODELS, build_model
from camviz.train.config import TrainConfig
from camviz.train.runtime import DistInfo, barrier


@dataclass(frozen=True)
class DataPlan:
    """A loaded data set and how batches are made from it for one config."""

    config: TrainConfig
    source: DataSource
    preprocess: Preprocess
    augment: Augment

    @property
    def classes(self) -> tuple[str, ...]:
        return self.source.classes

    @property
    def num_classes(self) -> int:
        return len(self.source.classes)

    def split_sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.source.splits.items()}

    def sizes_text(self) -> str:
        return "/".join(f"{n:,}" for n in self.split_sizes().values()) + " " + \
            "/".join(self.split_sizes())

    def loader(self, split: str, device: torch.device, info: DistInfo, *, train: bool = False):
        cfg = self.config
        return make_loader(
            self.source.split(split), self.preprocess,
            batch_size=cfg.batch_size if train else 2 * cfg.batch_size, device=device,
            shuffle=train, seed=cfg.seed, augment=self.augment, rank=info.rank,
            world_size=info.world_size, channels_last=cfg.channels_last, train=train,
            workers=cfg.workers)


def default_input_size(native: int | None, spec) -> int:
    """The data's own size if the model accepts it, else the model's default size."""
    if native is None or native < spec.min_input_size:
        return spec.input_size
    return native


def plan_data(cfg: TrainConfig, info: DistInfo | None = None) -> DataPlan:
    """Load ``cfg.dataset`` and settle input size, channels and train-split mean/std."""
    info = info or DistInfo()
    spec = MODELS.get(cfg.model)
    # Rank 0 loads (and downloads) first; the others then find the files.
    if not info.is_main:
        barrier(info)
    try:
        source = load_dataset(cfg.dataset, data_dir=cfg.data_dir, split_seed=cfg.split_seed,
                              val_fraction=cfg.val_fraction, download=cfg.download, limit=cfg.limit)
    finally:
        if info.is_main:
            barrier(info)
    size = cfg.input_size or default_input_size(source.image_size, spec)
    if size < spec.min_input_size:
        raise ConfigError(f"model '{cfg.model}' needs inputs of at least {spec.min_input_size}px, "
                          f"got --input-size {size}; pass --input-size {spec.min_input_size} or more")
    channels = cfg.channels or source.channels
    train = source.split("train")
    per_rank = math.ceil(len(train) / info.world_size)
    if cfg.batch_size > per_rank:
        raise ConfigError(
            f"batch size {cfg.batch_size} is larger than the train split of {source.name} "
            f"({per_rank:,} images{' per process' if info.enabled else ''}); pass --batch-size "
            f"{per_rank} or less")
    if cfg.normalize:
        mean, std = split_stats(train, size, channels)
    else:   # raw [0, 1] pixels, as torchvision's ToTensor alone gives (d2l's protocol)
        mean, std = (0.0,) * channels, (1.0,) * channels
    return DataPlan(cfg, source, Preprocess(size, channels, mean, std),
                    Augment(cfg.crop_padding, cfg.hflip, cfg.vflip))


def build_model_for(cfg: TrainConfig, plan: DataPlan) -> nn.Module:
    p = plan.preprocess
    return build_model(cfg.model, num_classes=plan.num_classes, in_channels=p.channels,
                       input_size=p.size, **cfg.model_options)


def checkpoint_meta(cfg: TrainConfig, plan: DataPlan, metrics: dict[str, Any], epoch: int,
                    init: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to rebuild the model and preprocess its inputs (see camviz.checkpoint),
    and where its weights started from (``init``: see camviz.train.transfer)."""
    p = plan.preprocess
    return {
        "arch": cfg.model,
        "arch_kwargs": {"num_classes": plan.num_classes, "in_channels": p.channels,
                        "input_size": p.size, **cfg.model_options},
        "classes": list(plan.classes), "input_size": p.size, "in_channels": p.channels,
        "mean": list(p.mean), "std": list(p.std), "dataset": cfg.dataset,
        "data_channels": plan.source.channels, "config": cfg.to_dict(), "metrics": metrics,
        "epoch": epoch, **({"init": init} if init else {}),
    }
