"""The training configuration: one frozen dataclass filled from YAML and flags (flags win).

:func:`build_config` (``camviz train``) and ``camviz study`` start from the architecture's
default recipe (:attr:`camviz.models.ModelSpec.recipe`: optimizer, lr, schedule, epochs,
batch size, augmentation, model options); YAML and flags override it key by key. The dataclass
defaults below apply only to keys no recipe has (and to ``TrainConfig(...)`` built directly).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from camviz.catalog import FREEZE, PRECISIONS
from camviz.errors import ConfigError, did_you_mean
from camviz.fileio import atomic_write, check_file_name
from camviz.models import MODELS
from camviz.train.optim import OPTIMIZERS, SCHEDULERS


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults follow lab report 000
    (AdamW, lr 1e-3, batch 128, 5 epochs, seeded 8:2 train/val split)."""

    model: str = "lenet5"
    dataset: str = "fashion-mnist"
    model_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    download: bool = True
    input_size: int | None = None        # None: the data's size, or the model's if too small
    channels: int | None = None          # None: the data's (1 gray, 3 RGB)
    normalize: bool = True               # standardise by the train split's mean/std; False: raw [0, 1]
    val_fraction: float = 0.2            # 0: train on all, validate on test, keep the last epoch
    split_seed: int = 0
    limit: int | None = None             # at most this many images per split (quick runs)
    epochs: int = 5
    batch_size: int = 128                # per process under torchrun
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9                # sgd only
    weight_decay: float | None = None    # None: the optimizer's default (adamw 0.01, others 0)
    scheduler: str = "none"
    step_size: int = 7                   # step scheduler: epochs between decays
    gamma: float = 0.1                   # step scheduler: decay factor
    label_smoothing: float = 0.0
    crop_padding: int = 0
    hflip: float = 0.0
    vflip: float = 0.0
    seed: int = 0
    init: str | None = None              # start from: "imagenet" or a camviz checkpoint name/path
    freeze: str = "none"                 # "backbone": train the classifier only (needs init)
    backbone_lr: float | None = None     # lr of the non-classifier parameters; None: lr
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    workers: int = 2                     # DataLoader workers for image folders
    out: str | None = None               # run directory; None: runs/<name>-<timestamp>
    name: str | None = None              # checkpoint name; None: <model>-<dataset>
    checkpoints_dir: str | None = None
    register: bool = True                # copy the best checkpoint to checkpoints_dir/<name>
    overwrite: bool = False              # replace an existing checkpoints_dir/<name> (never a shipped one)

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs, "--epochs 5")
        _positive_int("batch_size", self.batch_size, "--batch-size 128")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"learning rate must be a number > 0, got {self.lr!r}; pass e.g. --lr 1e-3")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer '{self.optimizer}'{did_you_mean(self.optimizer, OPTIMIZERS.names())} "
                              f"(valid: {', '.join(OPTIMIZERS.names())}); pass --optimizer NAME")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler '{self.scheduler}'{did_you_mean(self.scheduler, SCHEDULERS.names())} "
                              f"(valid: {', '.join(SCHEDULERS.names())}); pass --scheduler NAME")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{self.precision}' (valid: {', '.join(PRECISIONS)})")
        _range("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        if self.weight_decay is not None:
            _range("weight_decay", self.weight_decay, 0.0, math.inf)
        _range("label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        _range("hflip", self.hflip, 0.0, 1.0)
        _range("vflip", self.vflip, 0.0, 1.0)
        _range("gamma", self.gamma, 0.0, math.inf, lo_open=True)
        _range("val_fraction", self.val_fraction, 0.0, 1.0, hi_open=True)
        _positive_int("step_size", self.step_size, "--step-size 7")
        for name in ("crop_padding", "workers", "seed", "split_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.limit is not None:
            _positive_int("limit", self.limit, "--limit 1000")
        if self.input_size is not None:
            _positive_int("input_size", self.input_size, "--input-size 28")
        if self.freeze not in FREEZE:
            raise ConfigError(f"freeze must be {' or '.join(FREEZE)}, got {self.freeze!r}; pass --freeze backbone")
        if self.freeze == "backbone" and not self.init:
            raise ConfigError("--freeze backbone keeps random weights frozen without --init; pass "
                              "--init imagenet or --init CHECKPOINT")
        if self.backbone_lr is not None:
            _range("backbone_lr", self.backbone_lr, 0.0, math.inf, lo_open=True)
            if self.freeze == "backbone":
                raise ConfigError("--backbone-lr has no effect with --freeze backbone; drop one")
        if self.init is not None and not str(self.init).strip():
            raise ConfigError("--init needs a value: imagenet, a checkpoint name or a .safetensors path")
        if self.name is not None:   # a run folder and a checkpoint file are named after it
            check_file_name(self.name, "--name", "lenet5-run2")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}; pass --channels 1 or 3")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return from_dict({**self.to_dict(), **changes})

    @property
    def run_name(self) -> str:
        """``name`` or ``<model>-<dataset>`` (a folder data set contributes its folder name)."""
        if self.name:
            return self.name
        ds = self.dataset
        if ":" in ds:
            ds = Path(ds.split(":", 1)[1]).expanduser().resolve().name or "folder"
        return f"{self.model}-{ds}"


def _positive_int(name: str, value: Any, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}; pass e.g. {example}")


def _range(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False,
           hi_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ConfigError(f"{name} must be in {interval}, got {value!r}")


def _fields() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig)}


def parse_value(text: str) -> Any:
    """A command-line option value: int, float, bool (true/false), none, else the string."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``["activation=relu", "width=0.5"]`` -> ``{"activation": "relu", "width": 0.5}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"model option {item!r} is not KEY=VALUE; pass e.g. --opt activation=relu")
        out[key.strip()] = parse_value(value)
    return out


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Turn a YAML/flag value into the field's type (YAML reads ``1e-3`` as a string)."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    base = next(a for a in typing.get_args(kind) if a is not type(None)) if optional else kind
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} cannot be empty")
    if typing.get_origin(base) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping of option: value, got {value!r}")
        return dict(value)
    if base is bool:
        if isinstance(value, bool):
            return value
        parsed = parse_value(str(value))
        if isinstance(parsed, bool):
            return parsed
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            f = float(value)
            if f.is_integer():
                return int(f)
        except (TypeError, ValueError):
            pass
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if base is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
    return str(value)


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """A validated config from a mapping; keys may use dashes; unknown keys are errors."""
    kinds = _fields()
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in kinds:
            raise ConfigError(f"unknown config key '{key}'{did_you_mean(name, kinds)}; "
                              f"see `camviz train --help` for the keys")
        clean[name] = _coerce(name, kinds[name], value)
    return TrainConfig(**clean)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass an existing --config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file '{path}' is not UTF-8 text (byte {err.start}); save it "
                          "as UTF-8 YAML") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file '{path}' is not valid YAML: {yaml_problem(err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of key: value, not {type(data).__name__}")
    return data


def yaml_problem(err: yaml.YAMLError) -> str:
    """'line L, column C: <problem>' (1-based, as editors count) for a YAML syntax error."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    if mark is None and isinstance(err, yaml.reader.ReaderError):   # a control character
        return f"character {err.character!r} at byte {err.position} is not allowed; remove it"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(err, "context", None)
    return f"{where}{problem}" + (f" ({context})" if context else "") + "; fix it there"


def with_recipe(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` on top of their model's default recipe: each recipe key applies unless
    ``values`` has it; ``model_options`` merge option by option (``values`` win)."""
    recipe = dict(MODELS.get(str(values.get("model", TrainConfig.model))).recipe)
    opts = {**recipe.pop("model_options", {}), **(values.get("model_options") or {})}
    out = {**recipe, **values}
    if opts:
        out["model_options"] = opts
    return out


def build_config(yaml_path: str | os.PathLike | None = None, **flags: Any) -> TrainConfig:
    """The model's recipe, then YAML values, then explicit flags (flags win; ``model_options``
    merge)."""
    values = load_yaml(yaml_path) if yaml_path else {}
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    opts = dict(values.get("model_options") or {})
    opts.update(flags.pop("model_options", None) or {})
    values.update(flags)
    if opts:
        values["model_options"] = opts
    return from_dict(with_recipe(values))


def save_yaml(config: TrainConfig, path: str | os.PathLike) -> None:
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))
