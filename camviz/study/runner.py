"""Running a study: every run trained (or reused, or resumed), in one or several processes.

``jobs`` runs train side by side in child processes, ``threads`` (default: this process's
torch threads) split evenly between them: two 1-thread runs beat one 2-thread run on a
small CPU. A run trains with the same number of threads whatever ``jobs`` is given the same
``threads // jobs``, and the runs are seeded, so ``jobs`` changes the wall time, not the
numbers. Runs start seed by seed (the first seed of every row, then the second, ...) so an
interrupted study has one seed of as many rows as possible.

A run dir whose ``study.json`` marks it finished with the same config is reused (checked again
just before the run starts, so a run another process finished meanwhile is not trained
twice); one with a ``state.pt`` is resumed. Each run gets a status: *diverged* (its loss
became non-finite, or its validation accuracy never left chance after its first epoch),
*converged* (the validation accuracy of its last three epochs within :data:`PLATEAU` of each
other) or *not converged* (rising or falling: the label says only that it has not settled);
a diverged run has no accuracy in the tables and charts.

``previous`` names a published study folder whose runs are taken instead of trained when
their run dirs are gone (:mod:`~camviz.study.previous`).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import camviz.train
from camviz.checkpoint import read_meta
from camviz.errors import ConfigError
from camviz.fileio import check_output
from camviz.models import build_model
from camviz.study.config import Study, StudyRun, base_text, describe
from camviz.study.previous import load_previous
from camviz.train import TrainConfig, TrainingDivergedError, from_dict, resume_config
from camviz.train.artifacts import write_text
from camviz.train.state import STATE_FILE

log = logging.getLogger(__name__)

#: Keys that may differ between a stored run and the study without retraining it.
IGNORED_ON_REUSE = ("device", "workers", "checkpoints_dir", "register", "overwrite", "out")
MARKER = "study.json"
#: Converged: the last three epochs' validation accuracies lie within this range.
PLATEAU = 0.01
#: At chance: validation accuracy below this multiple of 1 / classes.
CHANCE_FACTOR = 1.5
STATUSES = ("converged", "not converged", "diverged")


@dataclass
class StudyResult:
    out: Path
    rows: list[dict[str, Any]]                       # one per run, in the study's order
    histories: dict[str, list[dict[str, Any]]]       # run -> metrics.json epochs
    trained: list[str]          # runs trained or resumed by this call
    scale: str
    charts: list[Path] = field(default_factory=list)
    previous: Path | None = None   # the published folder some rows were taken from
    taken: list[str] = field(default_factory=list)   # runs taken from it
    reused: list[str] = field(default_factory=list)  # finished run dirs used as they were


def scale_text(limit: int | None, epochs: int | None) -> str:
    parts = ([f"--limit {limit} (<= {limit} images per split)"] if limit is not None else []) \
        + ([f"--epochs {epochs}"] if epochs is not None else [])
    return ("reduced: " + ", ".join(parts)) if parts else "full (as configured)"


def seed_major(runs: tuple[StudyRun, ...]) -> list[StudyRun]:
    """The runs with the first seed of every row first, then the second seeds, ..."""
    seen: dict[str, int] = {}
    ranks = []
    for run in runs:
        ranks.append(seen.get(run.row, 0))
        seen[run.row] = ranks[-1] + 1
    return [run for _, _, run in sorted(zip(ranks, range(len(runs)), runs), key=lambda t: t[:2])]


def check_scale(**values: int | None) -> None:
    """--limit, --epochs, --jobs, --threads: absent or an integer >= 1 (a 0 is refused, not
    taken as 'not given')."""
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"--{key} must be an integer >= 1, got {value!r}; pass e.g. "
                              f"--{key} 2 or leave it out")


def execute(study: Study, out: str | Path | None = None, *, limit: int | None = None,
            epochs: int | None = None, device: str | None = None, quiet: bool = False,
            jobs: int = 1, threads: int | None = None, train: bool = True,
            previous: str | Path | None = None,
            progress: Callable[[str], None] | None = None) -> StudyResult:
    """Train every run of ``study`` but its ``skip`` rows (reusing finished runs) and collect
    their rows; ``train=False`` only collects the runs that have finished. Runs without a
    finished run dir that ``previous`` (a published study folder) lists are taken from it,
    not trained."""
    check_scale(limit=limit, epochs=epochs, jobs=jobs, threads=threads)
    threads = threads or torch.get_num_threads()
    per_run = max(1, threads // jobs)
    out = check_output(out, "--out") if out else Path("runs") / "studies" / study.name
    scale = {k: v for k, v in (("limit", limit), ("epochs", epochs), ("device", device))
             if v is not None}
    taken, taken_histories = load_previous(previous, study, base_text(study),
                                           scale_text(limit, epochs)) if previous else ({}, {})
    configs = {run.name: from_dict({**run.values, **scale, "out": str(out / "runs" / run.name)})
               for run in study.runs if run.row not in study.skip}
    todo = [run for run in seed_major(study.runs)
            if run.name in configs and run.name not in taken
            and not _finished(configs[run.name])] if train else []
    trained = []
    if jobs == 1 or len(todo) <= 1:
        for i, run in enumerate(todo, start=1):
            if progress:
                progress(f"[{i}/{len(todo)}] {run.name} ({describe(run.changes)})")
            if _with_threads(per_run, train_run, configs[run.name], quiet):
                trained.append(run.name)
    else:
        ctx = multiprocessing.get_context("spawn")   # no forked torch thread pools
        others = set(multiprocessing.active_children())   # not the pool's: left alone
        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(_child, configs[run.name], True, per_run): run for run in todo}
            try:
                for i, future in enumerate(as_completed(futures), start=1):
                    if future.result():
                        trained.append(futures[future].name)
                    if progress:
                        progress(f"[{i}/{len(todo)}] finished {futures[future].name}")
            except BaseException:
                _stop_children(pool, others)
                raise
    rows, histories, used, reused = [], {}, [], []
    for run in study.runs:
        if run.name in configs and _finished(configs[run.name]):
            row, history = run_row(run, Path(configs[run.name].out), scale)
            rows.append(row)
            histories[run.name] = history
            if run.name not in trained:
                reused.append(run.name)
        elif run.name in configs and run.name in taken:
            rows.append(taken[run.name])
            used.append(run.name)
            if run.name in taken_histories:
                histories[run.name] = taken_histories[run.name]
    return StudyResult(out, rows, histories, [r.name for r in todo if r.name in trained],
                       scale_text(limit, epochs), previous=Path(previous) if previous else None,
                       taken=used, reused=reused)


def _stop_children(pool: ProcessPoolExecutor, others: set) -> None:
    """End the runs in progress when the study stops (SIGTERM, Ctrl-C, a failed run): leaving
    the ``with`` block would otherwise wait for every running child to finish its whole run.
    A stopped run resumes from its last finished epoch when the study runs again."""
    pool.shutdown(wait=False, cancel_futures=True)
    workers = [c for c in multiprocessing.active_children() if c not in others]
    for child in workers:
        child.terminate()
    for child in workers:
        child.join(timeout=10)


def _with_threads(n: int, fn: Callable, *args: Any) -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(before)


def _child(config: TrainConfig, quiet: bool, threads: int) -> bool:
    """One run in a child process (its own interpreter: set its thread count first)."""
    torch.set_num_threads(threads)
    return train_run(config, quiet)


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in IGNORED_ON_REUSE}


def _finished(config: TrainConfig) -> bool:
    marker = Path(config.out) / MARKER
    if not marker.is_file():
        return False
    stored = json.loads(marker.read_text()).get("config", {})
    try:    # a key added to TrainConfig after the run was made compares as its default
        stored = from_dict(stored).to_dict()
    except ConfigError:
        return False
    return _comparable(stored) == _comparable(json.loads(json.dumps(config.to_dict())))


def train_run(config: TrainConfig, quiet: bool) -> bool:
    """Train (or resume) one run and mark its dir finished; a diverged run is a result too.
    False when the run was found finished (by another process since the study planned it)."""
    run_dir = Path(config.out)
    if _finished(config):
        log.info("%s was finished meanwhile (another process?): reused", run_dir)
        return False
    diverged = None
    try:
        if (run_dir / STATE_FILE).is_file():
            log.info("resuming %s", run_dir)
            values = {k: v for k, v in config.to_dict().items() if k != "out"}
            try:   # every key is passed so that a changed setting is an error, not ignored
                config = resume_config(run_dir, **values)
            except ConfigError as err:
                raise ConfigError(f"{err} (the study's run dir '{run_dir}' was made with other "
                                  "settings; delete it or pick another --out)") from None
            result = camviz.train.train(config, quiet=quiet, resume=True)
        else:
            result = camviz.train.train(config, quiet=quiet)
        if not result.finished:
            raise ConfigError(f"run {run_dir} stopped before its last epoch; run the study again "
                              "to resume it")
    except TrainingDivergedError as err:
        log.warning("%s: %s", run_dir.name, err)
        diverged = str(err)
    write_text(run_dir / MARKER, json.dumps({"finished": True, "diverged": diverged,
                                             "params": _params(run_dir),
                                             "config": config.to_dict()}, indent=2))
    return True


def _params(run_dir: Path) -> int | None:
    """Parameter count of the run's model, rebuilt from its checkpoint's metadata."""
    ckpt = run_dir / "best.safetensors"
    if not ckpt.is_file():   # diverged in the first epoch
        return None
    meta = read_meta(ckpt)
    return sum(p.numel() for p in build_model(meta["arch"], **meta["arch_kwargs"]).parameters())


def status(history: list[dict[str, Any]], nonfinite: bool, classes: int | None) -> str:
    """*diverged*, *converged* or *not converged* (see the module docstring)."""
    if nonfinite:
        return "diverged"
    accs = [h["val_accuracy"] for h in history]
    if classes and len(accs) >= 2 and max(accs[1:]) < CHANCE_FACTOR / classes:
        return "diverged"
    if len(accs) >= 3 and max(accs[-3:]) - min(accs[-3:]) <= PLATEAU:
        return "converged"
    return "not converged"


def run_row(run: StudyRun, run_dir: Path,
            scale: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's table row (accuracies None when it diverged) and its epoch history."""
    marker = json.loads((run_dir / MARKER).read_text())
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {"epochs": []}
    ckpt = run_dir / "best.safetensors"
    meta = read_meta(ckpt) if ckpt.is_file() else {}
    classes = len(meta.get("classes", [])) or None
    state = status(metrics["epochs"], bool(marker.get("diverged")), classes)
    test = metrics.get("test") if state != "diverged" else None
    changes = describe(run.changes)
    clobbered = [f"{k}={v}" for k, v in scale.items() if k in run.changes and run.changes[k] != v]
    if clobbered:   # the run's own setting lost to a study-wide --limit/--epochs
        changes += f" (ran with {', '.join(clobbered)})"
    sizes = metrics.get("split_sizes", {})
    row = {"run": run.name, "row": run.row, "seed": run.values.get("seed"), "changes": changes,
           "status": state,
           "best_val_accuracy": None if state == "diverged" else metrics.get("best_val_accuracy"),
           "best_epoch": metrics.get("best_epoch"),
           "test_accuracy": test["accuracy"] if test else None,
           "train_seconds": metrics.get("wall_seconds"), "params": marker.get("params"),
           "epochs": len(metrics["epochs"]), "train_images": sizes.get("train"),
           "note": marker.get("diverged") or "", "run_dir": str(run_dir)}
    return row, [h for h in metrics["epochs"] if all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in h.values())]
