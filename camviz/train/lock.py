"""One process per run directory: ``run_dir/.lock``, held while a run trains.

Two processes training into one run directory (two ``camviz study`` calls on the same
``--out``, a ``--resume`` of a run that is still going) would interleave their epochs,
checkpoints and ``state.pt`` without any error. :class:`RunDirLock` makes the second one
stop at once with a :class:`~camviz.errors.ConfigError` naming the holder's pid. The lock is
the operating system's (``flock``; ``msvcrt.locking`` on Windows), so a killed process
releases it: a ``.lock`` file left behind by ``kill -9`` does not block the next run.
"""

from __future__ import annotations

import os
from pathlib import Path

from camviz.errors import ConfigError
from camviz.fileio import make_parents, remove_empty

LOCK_FILE = ".lock"

try:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except ImportError:   # Windows
    import msvcrt

    def _try_lock(fd: int) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as err:   # it reports a held lock as EACCES / EDEADLOCK
            raise BlockingIOError(*err.args) from None


class RunDirLock:
    """``with RunDirLock(run_dir):`` holds the run directory for this process.

    The directory is created if needed; the folders this lock created are removed again on
    exit while empty: a run that fails before its first epoch leaves no half a run
    directory (nor an empty ./runs) behind.
    ``enabled=False`` (DDP ranks other than 0, which write nothing) does nothing."""

    def __init__(self, run_dir: str | os.PathLike, *, enabled: bool = True):
        self.run_dir, self.enabled = Path(run_dir), enabled
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._made: list[Path] = []   # the folders this lock created (make_parents' order)

    def __enter__(self) -> RunDirLock:  # noqa: PYI034 - typing.Self is 3.11+, we support 3.10
        if not self.enabled:
            return self
        self._made = make_parents(self.run_dir)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _try_lock(fd)
            except BlockingIOError:   # EWOULDBLOCK: another open file holds it
                try:
                    holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                except OSError:   # Windows: the holder's locked byte cannot be read
                    holder = "?"
                os.close(fd)
                remove_empty(self._made)
                raise ConfigError(
                    f"run directory '{self.run_dir}' is being trained by another process "
                    f"(pid {holder}); wait for it to finish (or stop it and resume the run), "
                    "or pick another --out") from None
            except OSError as err:   # ENOLCK etc.: a file system without locks
                os.close(fd)
                if self._made:   # no locks on this file system: nobody holds it
                    self.path.unlink(missing_ok=True)
                remove_empty(self._made)
                raise ConfigError(f"cannot lock run directory '{self.run_dir}' ({err.strerror}); "
                                  "train into a local folder (--out)") from None
            # the holder before us may have unlinked the file between our open and our lock:
            # then we hold a lock on a file nobody else can see; open the path again
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)   # while still held: the next holder makes a new one
        except OSError:   # Windows: an open file cannot be removed; the lock still goes below
            pass
        os.close(self._fd)
        self._fd = None
        remove_empty(self._made)   # only while empty: a run that wrote files keeps its folder
