"""One process per output folder: a lock file held while a process writes there.

Two processes writing one folder — two trainings into one run directory (two ``camviz study``
calls on the same ``--out``, a ``--resume`` of a run that is still going), two ``camviz
explain --resume`` into one ``--out`` — would interleave their files without any error.
:class:`FolderLock` makes the second one stop at once with a
:class:`~camviz.errors.ConfigError` naming the holder's pid. The lock is the operating
system's (``flock``; ``msvcrt.locking`` on Windows), so a killed process releases it: a lock
file left behind by ``kill -9`` does not block the next run.

A leaf: imports nothing of camviz but :mod:`camviz.errors` and :mod:`camviz.fileio`.
"""

from __future__ import annotations

import os
from pathlib import Path

from camviz.errors import ConfigError
from camviz.fileio import make_parents, remove_empty

LOCK_FILE = ".lock"
#: The hidden folder inside an output folder (explain, evaluate-cam) holding its locks and partial state.
STATE_DIR = ".camviz"

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


class FolderLock:
    """``with FolderLock(folder, what=..., doing=..., fix=...):`` holds ``folder`` for this
    process, through the file ``folder/file`` (``file`` may name a subfolder).

    A second holder is refused with "<what> '<folder>' is being <doing> by another process
    (pid N); <fix>". The lock file's folders are created if needed and removed again on exit
    while empty: a process that fails before writing anything leaves no folder behind.
    ``enabled=False`` (DDP ranks other than 0, which write nothing) does nothing."""

    def __init__(self, folder: str | os.PathLike, file: str = LOCK_FILE, *, what: str,
                 doing: str, fix: str, enabled: bool = True):
        self.folder, self.enabled = Path(folder), enabled
        self.what, self.doing, self.fix = what, doing, fix
        self.path = self.folder / file
        self._fd: int | None = None
        self._made: list[Path] = []   # the folders this lock created (make_parents' order)

    def __enter__(self) -> FolderLock:  # noqa: PYI034 - typing.Self is 3.11+, we support 3.10
        if not self.enabled:
            return self
        self._made = make_parents(self.path.parent)
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
                raise ConfigError(f"{self.what} '{self.folder}' is being {self.doing} by another "
                                  f"process (pid {holder}); {self.fix}") from None
            except OSError as err:   # ENOLCK etc.: a file system without locks
                os.close(fd)
                if self._made:   # no locks on this file system: nobody holds it
                    self.path.unlink(missing_ok=True)
                remove_empty(self._made)
                raise ConfigError(f"cannot lock {self.what} '{self.folder}' ({err.strerror}); "
                                  "pick a folder on a local disk (--out)") from None
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
