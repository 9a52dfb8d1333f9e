"""A whole training run: data, model, epochs, checkpoints, reports — :func:`train`.

The run directory gets ``config.yaml``, ``metrics.csv``/``metrics.json``, ``steps.csv``,
``loss.png``/``accuracy.png``, ``best.safetensors``/``last.safetensors`` (camviz
checkpoints), ``state.pt`` (resumable state), ``.lock`` while a process trains it
(:mod:`camviz.train.lock`), and after the last epoch the test results:
``confusion.csv``/``confusion.png`` and ``predictions.csv``. The best checkpoint is also
registered as ``<checkpoints_dir>/<name>.safetensors`` so ``--model NAME`` finds it
(:mod:`camviz.train.registration`: ``./checkpoints`` by default, never replacing a file
without ``overwrite`` and never a shipped checkpoint).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camviz.checkpoint import atomic_write, save_checkpoint
from camviz.errors import CamvizError, ConfigError, DataError
from camviz.fileio import check_output
from camviz.train import artifacts, loop, transfer
from camviz.train.config import TrainConfig, from_dict, load_yaml, save_yaml
from camviz.train.lock import RunDirLock
from camviz.train.optim import OPTIMIZERS, SCHEDULERS
from camviz.train.plan import build_model_for, checkpoint_meta, plan_data
from camviz.train.progress import Progress
from camviz.train.registration import registration_target
from camviz.train.runtime import (
    DistInfo,
    all_sum,
    all_sum_tensor,
    barrier,
    broadcast_object,
    deterministic,
    gather_objects,
    resolve_precision,
    rng_state,
    seed_all,
    set_rng_state,
    start_distributed,
    stop_distributed,
)
from camviz.train.state import STATE_FILE, load_state, save_state

log = logging.getLogger(__name__)

#: Flags that may change when a run is resumed; everything else must stay as it was.
RESUME_OVERRIDES = frozenset({"epochs", "device", "workers", "checkpoints_dir", "register", "overwrite"})


class TrainingDivergedError(CamvizError):
    """The loss became NaN/inf; the run stopped and kept its last good checkpoint."""


@dataclass
class RunResult:
    """What a run produced. ``test`` is None when the data set has no test split or the
    call stopped early (``finished`` False, see ``stop_after``)."""

    run_dir: Path
    config: TrainConfig
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_accuracy: float
    test: dict[str, Any] | None
    best_checkpoint: Path
    last_checkpoint: Path
    registered: Path | None
    wall_seconds: float
    device: str
    precision: str
    finished: bool
    rank: int = 0          # this process's DDP rank (only rank 0 wrote files)


def new_run_dir(config: TrainConfig) -> Path:
    if config.out:
        return Path(config.out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{config.run_name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def resume_config(run_dir: str | Path, **overrides: Any) -> TrainConfig:
    """The config of ``run_dir`` with ``overrides`` (only :data:`RESUME_OVERRIDES` may change)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"'{run_dir}' is not a camviz run directory (no config.yaml); pass the "
                          "directory `camviz train` created to --resume")
    values = from_dict(load_yaml(run_dir / "config.yaml")).to_dict()   # keys added later: defaults
    bad = sorted(k for k, v in overrides.items() if k not in RESUME_OVERRIDES and values.get(k) != v)
    if bad:
        raise ConfigError(f"cannot change {', '.join(bad)} when resuming (only "
                          f"{', '.join(sorted(RESUME_OVERRIDES))} may change); start a new run instead")
    values.update(overrides)
    values["out"] = str(run_dir)
    return from_dict(values)


def train(config: TrainConfig, *, quiet: bool = False, resume: bool = False,
          stop_after: int | None = None) -> RunResult:
    """Train ``config.model`` on ``config.dataset`` and write the run directory.

    ``resume=True`` continues the run in ``config.out`` from its ``state.pt`` (use
    :func:`resume_config` to get that config). ``stop_after=k`` returns after ``k`` epochs
    of this call as if the process had been stopped there (the run stays resumable).
    Seeded: the same config on the same device gives the same metrics, resumed or not.
    Under ``torchrun`` every rank calls this; only rank 0 writes files.
    """
    info, device = start_distributed(config.device)
    progress = Progress(enabled=not quiet and info.is_main)
    try:
        with deterministic():
            return _Run(config, info, device, progress).run(resume, stop_after)
    finally:
        progress.close()
        stop_distributed(info)


class _Run:
    def __init__(self, config: TrainConfig, info: DistInfo, device: torch.device, progress: Progress):
        self.config, self.info, self.device, self.progress = config, info, device, progress
        self.started = time.perf_counter()

    # -- setup -------------------------------------------------------------------------
    def run(self, resume: bool, stop_after: int | None) -> RunResult:
        cfg, info = self.config, self.info
        if resume and not cfg.out:
            raise ConfigError("resuming needs the run directory (config.out); use resume_config()")
        if cfg.out and not resume:   # a bad --out fails now, not after the epochs
            check_output(cfg.out, "--out")
        self.run_dir = Path(broadcast_object(str(new_run_dir(cfg)), info))
        if resume and not self.run_dir.is_dir():   # its error, before the lock would make one
            load_state(self.run_dir)
        with RunDirLock(self.run_dir, enabled=info.is_main):   # one process per run dir
            return self._start(resume, stop_after)

    def _start(self, resume: bool, stop_after: int | None) -> RunResult:
        cfg, info = self.config, self.info
        state = load_state(self.run_dir) if resume else None   # read under the lock
        if not resume and info.is_main and (self.run_dir / STATE_FILE).exists():
            raise ConfigError(f"run directory '{self.run_dir}' already holds a run; resume it with "
                              f"--resume {self.run_dir} or pick another --out")
        if cfg.register and info.is_main:   # refuse before training, not after it
            registration_target(cfg.run_name, cfg.checkpoints_dir, overwrite=cfg.overwrite)
        seed_all(cfg.seed)
        self.plan = plan_data(cfg, info)
        self.precision = resolve_precision(state["precision"] if state else cfg.precision, self.device)
        model = build_model_for(cfg, self.plan).to(self.device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if info.enabled:   # different dropout masks per rank (the model itself is broadcast)
            seed_all(cfg.seed + 1000 * info.rank)
        # --init copies trained weights in; on resume state.pt has them (and the record)
        report = transfer.initialise(model, cfg, self.plan.classes) if state is None else None
        self.init = report.to_dict() if report else (state or {}).get("init")
        self.model = model
        self.optimizer = OPTIMIZERS.get(cfg.optimizer)(transfer.param_groups(model, cfg), cfg)
        self.scheduler = SCHEDULERS.get(cfg.scheduler)(self.optimizer, cfg)
        self.scaler = self.precision.scaler()
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.history: list[dict[str, Any]] = []
        self.step_losses: list[list[float]] = []
        self.best = {"epoch": 0, "val_accuracy": -1.0, "val_loss": float("inf")}
        self.wall_before = 0.0
        start_epoch = 0
        if state is not None:
            start_epoch = self._restore(state)
        self.net = model
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel
            self.net = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if info.is_main and self.run_dir.is_dir():
            for stale in self.run_dir.glob(".*.tmp"):   # temp files of a killed write
                stale.unlink(missing_ok=True)
        self.config_saved = False   # config.yaml comes with the first epoch's files: a run
        # that fails before (bad data, divergence) leaves no half a run directory behind
        self.progress.line(
            f"run {self.run_dir}: {cfg.model} on {self.plan.source.name} "
            f"({self.plan.sizes_text()}), input {self.plan.preprocess.channels}x"
            f"{self.plan.preprocess.size}x{self.plan.preprocess.size}, {self.device}, "
            f"{self.precision.name}" + (f", {info.world_size} processes" if info.enabled else "")
            + (f", resumed after epoch {start_epoch}" if state else ""))
        return self._loop(start_epoch, stop_after)

    def _restore(self, state: dict[str, Any]) -> int:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
            if hasattr(self.scheduler, "T_max"):   # --epochs changed on resume: cosine follows
                self.scheduler.T_max = self.config.epochs
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        rngs = state["rng"]
        set_rng_state(rngs[self.info.rank] if self.info.rank < len(rngs) else rngs[0])
        self.history = list(state["history"])
        self.step_losses = [list(s) for s in state["step_losses"]]
        self.best = dict(state["best"])
        self.wall_before = float(state.get("wall_seconds", 0.0))
        return int(state["epoch"])

    # -- epochs ------------------------------------------------------------------------
    def _loop(self, start_epoch: int, stop_after: int | None) -> RunResult:
        cfg, info, plan = self.config, self.info, self.plan
        train_loader = plan.loader("train", self.device, info, train=True)
        val_loader = plan.loader("val", self.device, info)
        for done, epoch in enumerate(range(start_epoch, cfg.epochs)):
            if stop_after is not None and done >= stop_after:
                return self._result(finished=False)
            train_loader.set_epoch(epoch)
            lr = self.optimizer.param_groups[0]["lr"]
            self.progress.start_epoch(epoch + 1, cfg.epochs, len(train_loader))
            try:
                stats = loop.train_epoch(
                    self.net, train_loader, self.optimizer, criterion=self.criterion,
                    precision=self.precision, scaler=self.scaler, on_step=self.progress.step,
                    check_every=1 if self.device.type == "cpu" else 20,
                    all_finite=lambda ok: all_sum([0.0 if ok else 1.0], info, self.device)[0] == 0)
            except loop.NonFiniteLossError as err:
                raise self._diverged(epoch + 1, err) from None
            val = loop.evaluate(self.model, val_loader, num_classes=plan.num_classes,
                                precision=self.precision)
            loss_sum, correct, n = all_sum([stats.loss_sum, stats.correct, stats.n], info, self.device)
            confusion = all_sum_tensor(val.confusion.to(self.device), info).cpu()
            val_loss_sum = all_sum([val.loss_sum], info, self.device)[0]
            val = loop.EvalStats(val_loss_sum, confusion)
            if n == 0 or val.n == 0:   # every image of a split failed to decode
                split = "train" if n == 0 else "val"
                raise DataError(f"no {split} image of {plan.source.name} could be decoded in epoch "
                                f"{epoch + 1} (all skipped as unreadable); remove or re-export the "
                                "unreadable files named in the warnings above")
            if self.scheduler is not None:
                self.scheduler.step()
            row = {"epoch": epoch + 1, "train_loss": loss_sum / n, "train_accuracy": correct / n,
                   "val_loss": val.loss, "val_accuracy": val.accuracy, "lr": lr,
                   "epoch_seconds": round(stats.seconds, 3)}
            self.history.append(row)
            self.step_losses.append(stats.step_losses)
            # val_fraction 0 validates on the test split: keep the last epoch, select nothing on it
            is_best = val.accuracy > self.best["val_accuracy"] or cfg.val_fraction == 0
            if is_best:
                self.best = {"epoch": epoch + 1, "val_accuracy": val.accuracy, "val_loss": val.loss}
            self._save_epoch(epoch + 1, row, is_best)
            self.progress.end_epoch(row, cfg.epochs, is_best)
        return self._finish()

    def _metrics(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"epoch": row["epoch"], "train_loss": row["train_loss"],
                "train_accuracy": row["train_accuracy"], "val_loss": row["val_loss"],
                "val_accuracy": row["val_accuracy"]}

    def _save_epoch(self, epoch: int, row: dict[str, Any], is_best: bool) -> None:
        """Checkpoints, then metrics, then state.pt last: a kill in between redoes the epoch."""
        rngs = gather_objects(rng_state(), self.info)
        if self.info.is_main:
            if not self.config_saved:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                save_yaml(self.config.replace(out=str(self.run_dir)), self.run_dir / "config.yaml")
                self.config_saved = True
            meta = checkpoint_meta(self.config, self.plan, self._metrics(row), epoch, self.init)
            if is_best:
                save_checkpoint(self.run_dir / "best.safetensors", self.model, meta)
            save_checkpoint(self.run_dir / "last.safetensors", self.model, meta)
            artifacts.write_metrics(self.run_dir, self.history, self._summary(None))
            artifacts.write_steps(self.run_dir, self.step_losses)
            save_state(self.run_dir, {
                "epoch": epoch, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "scaler": self.scaler.state_dict() if self.scaler else None,
                "rng": rngs, "history": self.history, "step_losses": self.step_losses,
                "best": self.best, "precision": self.precision.name,
                "wall_seconds": self._wall(), "config": self.config.to_dict(), "init": self.init})
        barrier(self.info)

    def _diverged(self, epoch: int, err: loop.NonFiniteLossError) -> TrainingDivergedError:
        last = self.run_dir / "last.safetensors"
        kept = (f"the last good checkpoint is {last} (epoch {len(self.history)})" if self.history
                else "no checkpoint was written (it diverged in the first epoch)")
        return TrainingDivergedError(
            f"training loss became {err.value} at epoch {epoch}, step {err.step} (lr "
            f"{self.optimizer.param_groups[0]['lr']:g}); stopped, {kept}; lower --lr, add "
            f"--scheduler, or try another --optimizer")

    # -- the end -----------------------------------------------------------------------
    def _wall(self) -> float:
        return round(self.wall_before + time.perf_counter() - self.started, 3)

    def _summary(self, test: dict[str, Any] | None) -> dict[str, Any]:
        p = self.plan.preprocess
        return {"best_epoch": self.best["epoch"], "best_val_accuracy": self.best["val_accuracy"],
                "test": test, "model": self.config.model, "dataset": self.config.dataset,
                "classes": list(self.plan.classes), "input_size": p.size, "channels": p.channels,
                "mean": list(p.mean), "std": list(p.std), "split_sizes": self.plan.split_sizes(),
                "device": str(self.device), "precision": self.precision.name,
                "world_size": self.info.world_size, "wall_seconds": self._wall()}

    def _finish(self) -> RunResult:
        test = None
        registered = None
        if self.info.is_main:
            test = self._test()
            best = self.run_dir / "best.safetensors"
            if self.config.register:
                registered = self._register(best)
            artifacts.write_metrics(self.run_dir, self.history, self._summary(test))
            artifacts.plot_curves(self.run_dir, self.history, self.step_losses,
                                  f"{self.config.model} on {self.config.dataset}")
            self.progress.line(
                f"best val acc {self.best['val_accuracy']:.4f} (epoch {self.best['epoch']})"
                + (f", test acc {test['accuracy']:.4f} on {test['n']} images" if test else "")
                + f"; {self.run_dir}" + (f"; registered as {registered}" if registered else ""))
        barrier(self.info)
        return self._result(finished=True, test=test, registered=registered)

    def _test(self) -> dict[str, Any] | None:
        """Evaluate the best checkpoint's weights on the test split (rank 0, whole split)."""
        if "test" not in self.plan.source.splits:
            log.warning("%s has no test split: no test accuracy, confusion matrix or predictions",
                        self.plan.source.name)
            return None
        from safetensors.torch import load_file
        best = self.run_dir / "best.safetensors"
        self.model.load_state_dict(load_file(str(best), device=str(self.device)))
        loader = self.plan.loader("test", self.device, DistInfo())
        stats = loop.evaluate(self.model, loader, num_classes=self.plan.num_classes,
                              precision=self.precision, collect=True)
        classes = list(self.plan.classes)
        test = {"accuracy": stats.accuracy, "loss": stats.loss, "n": stats.n,
                "per_class": stats.per_class(classes), "epoch": self.best["epoch"]}
        title = f"{self.config.model} on {self.config.dataset}: test acc {stats.accuracy:.4f}"
        artifacts.write_confusion(self.run_dir, stats.confusion, classes, title)
        artifacts.write_predictions(self.run_dir / "predictions.csv", stats.predictions, classes)
        best_row = self.history[self.best["epoch"] - 1]
        meta = checkpoint_meta(self.config, self.plan, {
            **self._metrics(best_row), "test_accuracy": stats.accuracy, "test_loss": stats.loss},
            self.best["epoch"], self.init)
        save_checkpoint(best, self.model, meta)
        return test

    def _register(self, best: Path) -> Path:
        cfg = self.config
        dest = registration_target(cfg.run_name, cfg.checkpoints_dir, overwrite=cfg.overwrite)
        if dest.exists():
            log.warning("replacing checkpoint %s (--overwrite)", dest)
        return atomic_write(dest, lambda tmp: shutil.copyfile(best, tmp))

    def _result(self, *, finished: bool, test: dict | None = None,
                registered: Path | None = None) -> RunResult:
        return RunResult(
            run_dir=self.run_dir, config=self.config, history=list(self.history),
            best_epoch=self.best["epoch"], best_val_accuracy=self.best["val_accuracy"], test=test,
            best_checkpoint=self.run_dir / "best.safetensors",
            last_checkpoint=self.run_dir / "last.safetensors", registered=registered,
            wall_seconds=self._wall(), device=str(self.device), precision=self.precision.name,
            finished=finished, rank=self.info.rank)
