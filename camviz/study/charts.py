"""A study's charts (PNG): training curves, sweeps, test accuracy, time and size per row.

Every chart carries the study's data line (data set, training images, width, epochs) and
shows only runs that finished without diverging; a row's curves are its first such seed with
an epoch history (from its run dir, or from a published folder's ``histories.csv``; a taken
run has no per-batch loss, which only its run dir's ``steps.csv`` holds).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from matplotlib import colormaps

from camviz.study.config import Study, StudyRun
from camviz.train.artifacts import _figure, _save_figure

SMOOTH = 0.98   # EMA weight of the per-batch training loss (TensorBoard-style smoothing)


def _colors(n: int):
    return colormaps["tab10" if n <= 10 else "tab20"].colors


def _smoothed(run_dir: Path) -> tuple[list[float], list[float]]:
    """Per-batch training loss, EMA-smoothed, against fractional epochs."""
    path = Path(run_dir) / "steps.csv"
    if not path.is_file():
        return [], []
    rows = list(csv.DictReader(path.open()))
    per_epoch: dict[int, int] = {}
    for r in rows:
        per_epoch[int(r["epoch"])] = int(r["epoch_step"])
    xs, ys, ema = [], [], None
    for r in rows:
        loss = float(r["loss"])
        if not math.isfinite(loss):
            break
        ema = loss if ema is None else SMOOTH * ema + (1 - SMOOTH) * loss
        e = int(r["epoch"])
        xs.append(e - 1 + int(r["epoch_step"]) / per_epoch[e])
        ys.append(ema)
    return xs, ys


def plot_curves(rows: list, histories: dict[str, list[dict[str, Any]]], subtitle: str,
                out: Path) -> Path:
    """``curves.png``: smoothed training loss per batch, validation loss, training and
    validation accuracy, one line per row (x: epochs, fractional within an epoch)."""
    fig, axes = _figure(13, 8, 2, 2)
    drawn = [(s, next(r for r in s.ok if r["run"] in histories)) for s in rows
             if any(r["run"] in histories for r in s.ok)]   # a run taken without history has none
    colors = _colors(len(drawn))
    for i, (s, run) in enumerate(drawn):
        hist = histories[run["run"]]
        style = {"color": colors[i % len(colors)], "ls": "-" if i < len(colors) else "--", "lw": 1.2}
        xs, ys = _smoothed(Path(run["run_dir"]))
        axes[0, 0].plot(xs, ys, label=s.row, **style)
        epochs = [h["epoch"] for h in hist]
        axes[0, 1].plot(epochs, [h["val_loss"] for h in hist], marker="o", ms=2, **style)
        axes[1, 0].plot(epochs, [h["train_accuracy"] for h in hist], marker="o", ms=2, **style)
        axes[1, 1].plot(epochs, [h["val_accuracy"] for h in hist], marker="o", ms=2, **style)
    for ax, title in zip(axes.flat, (f"training loss per batch (EMA {SMOOTH})", "validation loss",
                                     "training accuracy", "validation accuracy")):
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("cross-entropy loss")
    axes[1, 0].set_ylabel("accuracy")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right center", fontsize=7)
    fig.suptitle(f"per-row curves (first seed with curves): {subtitle}", fontsize=9)
    return _save(fig, out / "curves.png")


def sweeps(study: Study) -> dict[str, list[tuple[str, float]]]:
    """Numeric keys that single-change rows vary: key -> [(row, value)], the base row (no
    change) included at the base's value; only keys with at least three values."""
    changes: dict[str, dict[str, Any]] = {}
    firsts: dict[str, StudyRun] = {}
    for run in study.runs:
        firsts.setdefault(run.row, run)
        changes[run.row] = {k: v for k, v in _flat_changes(run).items() if k != "seed"}
    base_row = next((r for r, c in changes.items() if not c), None)
    out: dict[str, list[tuple[str, float]]] = {}
    for row, c in changes.items():
        if len(c) == 1:
            (key, value), = c.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, []).append((row, float(value)))
    for key, points in list(out.items()):
        if base_row is not None:
            base_value = _value(firsts[base_row].values, key)
            if isinstance(base_value, (int, float)) and not isinstance(base_value, bool):
                points.append((base_row, float(base_value)))
        if len({v for _, v in points}) < 3:
            del out[key]
        else:
            points.sort(key=lambda p: p[1])
    return out


def _flat_changes(run: StudyRun) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in run.changes.items():
        if key == "model_options" and isinstance(value, dict):
            flat.update({f"model_options.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _value(values: dict[str, Any], key: str) -> Any:
    if key.startswith("model_options."):
        return (values.get("model_options") or {}).get(key.split(".", 1)[1])
    return values.get(key)


def plot_sweep(key: str, points: list[tuple[str, float]], by_row: dict, subtitle: str,
               out: Path, reference_label: str) -> Path | None:
    """``sweep_<key>.png``: mean test accuracy (± std over seeds) against the swept value."""
    xs, ys, es, refs = [], [], [], []
    for row, value in points:
        s = by_row.get(row)
        if s is not None and s.reference is not None:
            refs.append((value, s.reference))
        if s is None or s.mean("test_accuracy") is None:
            continue
        xs.append(value)
        ys.append(s.mean("test_accuracy"))
        es.append(s.std("test_accuracy") or 0.0)
    if len(xs) < 2:   # one point is no sweep
        return None
    fig, ax = _figure(7, 4.2)
    ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label="camviz (mean ± std over seeds)")
    if refs:
        ax.plot(*zip(*sorted(refs)), "s--", color="tab:red", alpha=0.7, label=reference_label)
    values = [v for _, v in points]
    if min(values) > 0 and max(values) / min(values) >= 16:
        ax.set_xscale("log", base=2 if all(float(v).is_integer() for v in values) else 10)
    name = key.removeprefix("model_options.")
    ax.set(xlabel=name, ylabel="test accuracy", title=f"test accuracy against {name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(subtitle, fontsize=8)
    return _save(fig, out / f"sweep_{name}.png")


PARAMS_SPREAD = 2.0   # params.png only when the largest row has this many times the smallest's


def plot_bars(rows: list, subtitle: str, out: Path, reference_label: str) -> list[Path]:
    """``test_accuracy.png`` (mean ± std, the reference beside), ``train_time.png`` and, where
    the rows' sizes differ (a comparison of architectures), ``params.png`` on a log axis."""
    shown = [s for s in rows if s.mean("test_accuracy") is not None]
    if not shown:
        return []
    paths = []
    for key, label, fname in (("test_accuracy", "test accuracy", "test_accuracy.png"),
                              ("train_seconds", "train time per run (s)", "train_time.png")):
        fig, ax = _bars(shown, [s.mean(key) for s in shown], [s.std(key) or 0.0 for s in shown],
                        "{:.3f}" if key == "test_accuracy" else "{:,.0f}", label, subtitle)
        if key == "test_accuracy":
            refs = [(i, s.reference) for i, s in enumerate(shown) if s.reference is not None]
            if refs:
                ax.scatter(*zip(*refs), marker="_", s=300, color="tab:red", zorder=3,
                           label=reference_label)
                ax.legend(fontsize=7, loc="lower right")
            ax.set_ylim(0, 1)
        paths.append(_save(fig, out / fname))
    params = [s.runs[0]["params"] or 0 for s in shown]
    if min(params) > 0 and max(params) >= PARAMS_SPREAD * min(params):
        fig, ax = _bars(shown, params, None, "{:,.0f}", "parameters", subtitle)
        ax.set_yscale("log")
        paths.append(_save(fig, out / "params.png"))
    return paths


def _bars(shown: list, values: list[float], errors: list[float] | None, fmt: str, label: str,
          subtitle: str):
    """One bar per row with its value written above it (and its ± error bar, if given)."""
    fig, ax = _figure(max(5.0, 0.45 * len(shown) + 2), 4.2)
    x = range(len(shown))
    bars = ax.bar(x, values, yerr=errors, capsize=2, color="tab:blue", label="camviz")
    ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=6, padding=2)
    ax.set_xticks(list(x), [s.row for s in shown], rotation=60, ha="right", fontsize=7)
    ax.set(ylabel=label, title=label)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(subtitle, fontsize=8)
    return fig, ax


def _save(fig, path: Path) -> Path:
    _save_figure(fig, path)
    return path
