"""Optimizers and learning-rate schedules by name (``--optimizer``, ``--scheduler``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR

from camviz.registry import Registry


class TrainConfig(Protocol):
    """The fields of :class:`camviz.train.config.TrainConfig` the optimizers and schedules
    read (a protocol, so that config, which validates names against these registries, is
    the only one of the two modules that imports the other)."""

    optimizer: str
    lr: float
    momentum: float
    weight_decay: float | None
    epochs: int
    step_size: int
    gamma: float


Params = Iterable[torch.nn.Parameter]

OPTIMIZERS: Registry[Callable[[Params, TrainConfig], torch.optim.Optimizer]] = Registry(
    "optimizer", hint="pass --optimizer with one of them")
SCHEDULERS: Registry[Callable[[torch.optim.Optimizer, TrainConfig], LRScheduler | None]] = Registry(
    "scheduler", hint="pass --scheduler with one of them")

#: Weight decay when the config leaves it unset: torch's own defaults.
DEFAULT_WEIGHT_DECAY = {"sgd": 0.0, "adam": 0.0, "adamw": 0.01, "adagrad": 0.0}


def weight_decay(cfg: TrainConfig) -> float:
    return DEFAULT_WEIGHT_DECAY.get(cfg.optimizer, 0.0) if cfg.weight_decay is None else cfg.weight_decay


@OPTIMIZERS.register("sgd")
def _sgd(params: Params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum, as in lab reports 003 and 004."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=weight_decay(cfg))


@OPTIMIZERS.register("adam")
def _adam(params: Params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015)."""
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=weight_decay(cfg))


@OPTIMIZERS.register("adamw")
def _adamw(params: Params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, decoupled weight decay (Loshchilov & Hutter 2019), as in lab report 000."""
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=weight_decay(cfg))


@OPTIMIZERS.register("adagrad")
def _adagrad(params: Params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adagrad (Duchi et al. 2011)."""
    return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=weight_decay(cfg))


@SCHEDULERS.register("none")
def _none(opt: torch.optim.Optimizer, cfg: TrainConfig) -> LRScheduler | None:
    return None


@SCHEDULERS.register("step")
def _step(opt: torch.optim.Optimizer, cfg: TrainConfig) -> LRScheduler:
    """Multiply the lr by ``gamma`` every ``step_size`` epochs (report 004: 7, 0.1)."""
    return StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)


@SCHEDULERS.register("cosine")
def _cosine(opt: torch.optim.Optimizer, cfg: TrainConfig) -> LRScheduler:
    """Cosine annealing to 0 over the run's epochs (Loshchilov & Hutter 2017, no restarts)."""
    return CosineAnnealingLR(opt, T_max=cfg.epochs)
