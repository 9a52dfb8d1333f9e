"""Progress display of a run: a tqdm bar per epoch and a one-line summary (rank 0 only)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


class Progress:
    """Console progress; ``enabled=False`` makes every method a no-op (``--quiet``, library use,
    DDP ranks other than 0)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = None

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        # A bar only on a terminal: in a log file its carriage returns pile up; the per-epoch
        # line (:meth:`end_epoch`) is written either way.
        if not self.enabled or not _is_terminal(sys.stderr):
            return
        self._bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", leave=False, unit="step",
                         dynamic_ncols=True, file=sys.stderr)

    def step(self, step: int, loss: float, accuracy: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)
            self._bar.update(step - self._bar.n)    # redraws at most every mininterval

    def end_epoch(self, row: dict[str, Any], epochs: int, best: bool) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.line(f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} "
                  f"acc {row['train_accuracy']:.4f}  val loss {row['val_loss']:.4f} "
                  f"acc {row['val_accuracy']:.4f}  lr {row['lr']:.3g}  {row['epoch_seconds']:.1f}s"
                  + ("  *best" if best else ""))

    def line(self, text: str) -> None:
        if self.enabled:
            tqdm.write(text, file=sys.stdout)
            sys.stdout.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # replaced or closed streams
        return False
