"""One epoch of training or evaluation: pure functions over batches that return metrics.

No files, no printing: progress goes to an optional ``on_step`` callback, and the sums
in the returned stats let the caller add them up over DDP ranks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from camviz.data.loader import Batch
from camviz.errors import CamvizError
from camviz.train.runtime import Precision


class NonFiniteLossError(CamvizError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"the training loss became {value} at step {step}")
        self.step, self.value = step, value


@dataclass
class TrainStats:
    loss_sum: float
    correct: int
    n: int
    seconds: float
    step_losses: list[float] = field(default_factory=list)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.n, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.n, 1)


@dataclass
class EvalStats:
    loss_sum: float
    confusion: torch.Tensor              # int64 (K, K) on the CPU: rows true, columns predicted
    predictions: torch.Tensor | None = None   # float64 (N, 4): index, true, predicted, probability

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(self.confusion.diag().sum())

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.n, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.n, 1)

    def per_class(self, classes: list[str] | tuple[str, ...]) -> dict[str, float | None]:
        """Recall of each class (None for a class without images in the split)."""
        totals = self.confusion.sum(1)
        return {name: (float(self.confusion[i, i]) / float(totals[i]) if totals[i] else None)
                for i, name in enumerate(classes)}


StepCallback = Callable[[int, float, float], None]   # (step, loss, running accuracy)


def train_epoch(model: nn.Module, batches: Iterable[Batch], optimizer: torch.optim.Optimizer, *,
                criterion: nn.Module, precision: Precision,
                scaler: torch.amp.GradScaler | None = None, on_step: StepCallback | None = None,
                check_every: int = 1,
                all_finite: Callable[[bool], bool] = lambda ok: ok) -> TrainStats:
    """Train ``model`` for one pass over ``batches``.

    Every ``check_every`` steps the loss is read (a device sync) and checked: a NaN/inf
    loss raises :class:`NonFiniteLossError` before the optimizer step, so the weights stay
    as they were. ``all_finite`` combines the check over DDP ranks, so all stop together.
    """
    model.train()
    start = time.perf_counter()
    losses: list[torch.Tensor] = []   # kept on the device: reading them each step would sync
    sizes: list[int] = []
    correct: torch.Tensor | int = 0
    n = 0
    for step, batch in enumerate(batches, start=1):
        with precision.autocast():
            logits = model(batch.x)
            loss = criterion(logits.float(), batch.y)
        checked = step % check_every == 0 or step == 1
        if checked:
            value = float(loss.detach())
            if not all_finite(math.isfinite(value)):
                optimizer.zero_grad(set_to_none=True)
                raise NonFiniteLossError(step, value)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        losses.append(loss.detach())
        sizes.append(int(batch.y.shape[0]))
        n += sizes[-1]
        correct = correct + (logits.detach().argmax(1) == batch.y).sum()
        if on_step is not None and checked:
            on_step(step, value, int(correct) / n)
    step_losses = torch.stack(losses).double().cpu().tolist() if losses else []
    # Steps between checks; collective too, so DDP ranks agree on stopping.
    bad = next((i for i, v in enumerate(step_losses, start=1) if not math.isfinite(v)), None)
    if not all_finite(bad is None):
        raise NonFiniteLossError(bad or len(step_losses), step_losses[bad - 1] if bad else float("nan"))
    return TrainStats(sum(v * b for v, b in zip(step_losses, sizes)), int(correct), n,
                      time.perf_counter() - start, step_losses)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], *, num_classes: int, precision: Precision,
             collect: bool = False) -> EvalStats:
    """Loss (plain cross-entropy), confusion matrix and optionally per-image predictions."""
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    rows = []
    try:
        for batch in batches:
            with precision.autocast():
                logits = model(batch.x)
            logits = logits.float()
            loss_sum += float(F.cross_entropy(logits, batch.y, reduction="sum"))
            pred = logits.argmax(1)
            confusion += torch.bincount((batch.y * num_classes + pred).cpu(),
                                        minlength=num_classes * num_classes)
            if collect:
                prob = logits.softmax(1).gather(1, pred[:, None])[:, 0]
                rows.append(torch.stack([batch.index.double(), batch.y.double().cpu(),
                                         pred.double().cpu(), prob.double().cpu()], 1))
    finally:
        model.train(was_training)
    preds = torch.cat(rows) if rows else (torch.zeros(0, 4, dtype=torch.float64) if collect else None)
    return EvalStats(loss_sum, confusion.view(num_classes, num_classes), preds)
