"""The files of a run directory: metrics (CSV, JSON), plots (PNG), confusion, predictions.

Every file is written atomically (temp + rename), so a run killed at any moment leaves
either the previous or the new version of each file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from camviz.checkpoint import atomic_write

EPOCH_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                 "epoch_seconds")


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _csv(header: list[str] | tuple[str, ...], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_metrics(run_dir: Path, history: list[dict], summary: dict[str, Any]) -> None:
    """``metrics.csv`` (one row per epoch) and ``metrics.json`` (epochs plus summary)."""
    write_text(run_dir / "metrics.csv",
               _csv(EPOCH_COLUMNS, [[row[c] for c in EPOCH_COLUMNS] for row in history]))
    write_text(run_dir / "metrics.json", json.dumps({"epochs": history, **summary}, indent=2))


def write_steps(run_dir: Path, step_losses: list[list[float]]) -> None:
    """``steps.csv``: the training loss of every optimizer step."""
    rows, k = [], 0
    for epoch, losses in enumerate(step_losses, start=1):
        for i, loss in enumerate(losses, start=1):
            k += 1
            rows.append([k, epoch, i, f"{loss:.6g}"])
    write_text(run_dir / "steps.csv", _csv(["step", "epoch", "epoch_step", "loss"], rows))


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure drawn by Agg without pyplot (no global backend or figure registry touched)
    and its axes, as ``plt.subplots`` returns them."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols)


def _save_figure(fig: Figure, path: Path) -> None:
    # layout="constrained" at creation instead of bbox_inches="tight", which draws twice.
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def plot_curves(run_dir: Path, history: list[dict], step_losses: list[list[float]], title: str) -> None:
    """``loss.png`` (loss per step, val loss per epoch) and ``accuracy.png`` (per epoch)."""
    fig, ax = _figure(6.4, 4)
    xs, ys = [], []
    for epoch, losses in enumerate(step_losses):
        m = max(len(losses), 1)
        xs += [epoch + (i + 1) / m for i in range(len(losses))]
        ys += losses
    ax.plot(xs, ys, lw=0.8, alpha=0.8, label="train (per step)")
    ax.plot([r["epoch"] for r in history], [r["val_loss"] for r in history], "o-", label="val (per epoch)")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{title}: loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _save_figure(fig, run_dir / "loss.png")

    fig, ax = _figure(6.4, 4)
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train")
    ax.plot(epochs, [r["val_accuracy"] for r in history], "o-", label="val")
    ax.set(xlabel="epoch", ylabel="accuracy", title=f"{title}: accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    _save_figure(fig, run_dir / "accuracy.png")


def write_confusion(run_dir: Path, confusion: torch.Tensor, classes: list[str], title: str) -> None:
    """``confusion.csv`` (rows: true class, columns: predicted) and ``confusion.png``."""
    names = list(classes)
    rows = [[names[i], *confusion[i].tolist()] for i in range(len(names))]
    write_text(run_dir / "confusion.csv", _csv(["true \\ predicted", *names], rows))
    k = len(names)
    side = min(max(4.0, 0.55 * k + 2), 16.0)
    fig, ax = _figure(side, side)
    ax.imshow(confusion.numpy(), cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if k <= 20:
        peak = int(confusion.max()) or 1
        for i in range(k):
            for j in range(k):
                v = int(confusion[i, j])
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > peak / 2 else "black")
    _save_figure(fig, run_dir / "confusion.png")


def write_predictions(path: Path, predictions: torch.Tensor, classes: list[str]) -> None:
    """One row per test image: index in the split, true and predicted label (number and name),
    and the softmax probability of the prediction (lab report 004's test.txt, as CSV)."""
    rows = []
    for idx, true, pred, prob in sorted(predictions.tolist()):
        t, p = int(true), int(pred)
        rows.append([int(idx), t, p, f"{prob:.6f}", classes[t], classes[p]])
    write_text(path, _csv(["index", "true", "predicted", "probability", "true_class",
                           "predicted_class"], rows))
