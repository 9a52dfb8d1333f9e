"""Writing files safely: atomic replace with the umask's mode, hashing, creating folders.

A leaf: imports nothing of camviz. Checkpoints, run files, plots and explain outputs all
write through :func:`atomic_write` or :func:`make_parents`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)   # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def default_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0666 less the umask (mkstemp's
    temporary files are 0600; files we publish must not stay that way)."""
    return 0o666 & ~umask()


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``; a crash leaves the old file intact.
    The file gets the mode a plain write would (umask applied), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_parents(path: Path) -> list[Path]:
    """``mkdir -p path``, returning the folders it created (outermost first), so a caller
    that fails later can remove exactly those."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (as returned by :func:`make_parents`) innermost first, while empty."""
    for d in reversed(folders):
        try:
            d.rmdir()
        except OSError:
            break
