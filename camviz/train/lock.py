"""One process per run directory: ``run_dir/.lock``, held while a run trains.

Two processes training into one run directory (two ``camviz study`` calls on the same
``--out``, a ``--resume`` of a run that is still going) would interleave their epochs,
checkpoints and ``state.pt`` without any error; the second one stops at once instead
(:class:`camviz.dirlock.FolderLock`).
"""

from __future__ import annotations

import os

from camviz.dirlock import LOCK_FILE, FolderLock

__all__ = ["LOCK_FILE", "RunDirLock"]


class RunDirLock(FolderLock):
    """``with RunDirLock(run_dir):`` holds the run directory for this process; a run that
    fails before its first epoch leaves no half a run directory (nor an empty ./runs)."""

    def __init__(self, run_dir: str | os.PathLike, *, enabled: bool = True):
        super().__init__(run_dir, LOCK_FILE, what="run directory", doing="trained",
                         fix="wait for it to finish (or stop it and resume the run), "
                             "or pick another --out", enabled=enabled)
