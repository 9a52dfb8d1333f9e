"""Writing files safely: atomic replace with the umask's mode, hashing, creating folders.

A leaf: imports nothing of camviz but :mod:`camviz.errors`. Checkpoints, run files, plots and
explain outputs all write through :func:`atomic_write` or :func:`make_parents`, and every
folder or file a user names (``--out``, ``--checkpoints-dir``, ``--name``, a study's ``name``)
is checked by :func:`check_output` / :func:`check_file_name` before any work starts.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from camviz.errors import ConfigError

#: Kernel file systems: nothing camviz writes belongs there (a path below them fails late,
#: with FileNotFoundError or EPERM, after the work ran).
VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"))


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
    path = check_output(path, "output file", folder=False)
    make_parents(path.parent)
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


def check_output(path: str | os.PathLike, flag: str = "--out", *, folder: bool = True) -> Path:
    """The one path-safety check of every user-named output, run before any work.

    Refuses a path under /proc or /sys, one whose existing part passes through a file
    (``notes.txt/sub``, ``/dev/null/x``), an existing file where a folder is wanted (or a
    folder where a file is), and a parent folder the process cannot write. Returns the path
    with ``~`` expanded. ``flag`` names the option in the one-line error.
    """
    p = Path(path).expanduser()
    absolute = Path(os.path.abspath(p))
    for root in VIRTUAL_ROOTS:
        if absolute == root or root in absolute.parents:
            raise ConfigError(f"{flag} '{path}' is under {root}, a kernel file system camviz "
                              "cannot write to; pass a folder on disk")
    if p.exists():
        if folder and not p.is_dir():
            raise ConfigError(f"{flag} '{path}' is a file, not a folder; pass a folder "
                              "(created if missing) or remove the file")
        if not folder and p.is_dir():
            raise ConfigError(f"{flag} '{path}' is a folder; pass a file name")
    existing = absolute
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != absolute and not existing.is_dir():
        raise ConfigError(f"{flag} '{path}' passes through '{existing}', which is a file, not a "
                          "folder; pass a path whose parents are folders")
    writable = existing if existing.is_dir() else existing.parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} '{path}': folder '{writable}' is not writable; pass a "
                          "folder you can write to")
    return p


def check_file_name(name: str, flag: str = "--name", example: str = "lenet5-run2") -> str:
    """A user-chosen name that becomes one file or folder name: no separators, no '..',
    no leading '.', nothing empty, so the output stays inside its folder."""
    if (not name or name.strip() != name or name.startswith(".") or "/" in name or "\\" in name
            or "\0" in name or len(name.encode()) > 200):
        raise ConfigError(f"{flag} {name!r} is not a plain file name; pass e.g. {flag} "
                          f"{example} (no '/', no leading '.', at most 200 bytes)")
    return name


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
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:   # a race or a mount the early check could not foresee
        remove_empty(list(reversed(missing)))
        raise ConfigError(f"cannot create folder '{path}' ({err.strerror}); pass another "
                          "output folder") from None
    return list(reversed(missing))


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (as returned by :func:`make_parents`) innermost first, while empty."""
    for d in reversed(folders):
        try:
            d.rmdir()
        except OSError:
            break
