"""Training: :class:`TrainConfig`, :func:`train` -> :class:`RunResult`, checkpoint evaluation."""

from __future__ import annotations

from camviz.train.accuracy import EvalReport, evaluate_model
from camviz.train.config import TrainConfig, build_config, from_dict, parse_options
from camviz.train.fit import RunResult, TrainingDivergedError, resume_config, train
from camviz.train.optim import OPTIMIZERS, SCHEDULERS

__all__ = [
           "OPTIMIZERS",
           "SCHEDULERS",
           "EvalReport",
           "RunResult",
           "TrainConfig",
           "TrainingDivergedError",
           "build_config",
           "evaluate_model",
           "from_dict",
           "parse_options",
           "resume_config",
           "train",
]
