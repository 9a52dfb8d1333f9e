"""Resumable training state (``state.pt`` in the run directory).

Weights, optimizer, scheduler, gradient scaler, RNG states, the epoch reached and the
metrics so far. It is our own file, written atomically after each epoch with
``torch.save`` and read back with ``torch.load(weights_only=True)``: plain tensors,
numbers, strings, lists and dicts only, nothing is unpickled beyond those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from camviz.checkpoint import atomic_write
from camviz.errors import CheckpointError

STATE_FILE = "state.pt"
STATE_VERSION = 1


def save_state(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plain types only) to ``run_dir/state.pt`` atomically."""
    payload = {"version": STATE_VERSION, **state}
    return atomic_write(run_dir / STATE_FILE, lambda tmp: torch.save(payload, tmp))


def load_state(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read ``run_dir/state.pt``; a missing or unreadable file is a CheckpointError."""
    path = Path(run_dir) / STATE_FILE
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run directory '{run_dir}' does not exist; pass the directory "
                              "`camviz train` printed (runs/<name>-<time>) to --resume")
    if not path.is_file():
        raise CheckpointError(f"'{run_dir}' has no {STATE_FILE}: the run stopped before its first "
                              "epoch ended, so there is nothing to resume; start it again")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, foreign pickle: same fix
        raise CheckpointError(f"'{path}' is unreadable ({type(err).__name__}); start the run "
                              "again or resume from a copy of the run directory") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"'{path}' is not a camviz training state (version "
                              f"{state.get('version') if isinstance(state, dict) else '?'})")
    return state
