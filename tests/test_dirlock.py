"""FolderLock: the lock file may sit in a subfolder; the refusal names what, who and the fix;
the Windows branch (msvcrt) refuses the same way, checked with a stand-in msvcrt."""

import os

import pytest

from camviz import dirlock
from camviz.dirlock import FolderLock
from camviz.errors import ConfigError


def _lock(folder):
    return FolderLock(folder, ".state/lock-rank0", what="output folder", doing="written",
                      fix="pick another --out")


def test_a_lock_file_in_a_subfolder_refuses_a_second_holder_and_leaves_no_folder_it_made(tmp_path):
    out = tmp_path / "out"
    with _lock(out):
        assert (out / ".state" / "lock-rank0").read_text().strip() == str(os.getpid())
        with pytest.raises(ConfigError) as refused, _lock(out):
            pass
        assert str(refused.value) == (f"output folder '{out}' is being written by another process "
                                      f"(pid {os.getpid()}); pick another --out")
        with FolderLock(out, ".state/lock-rank1", what="output folder", doing="written",
                        fix="-"):
            pass   # another rank's lock is another file: not refused
    assert not out.exists()   # made by the lock, nothing written: removed again
    with _lock(out):
        (out / "result.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]   # kept, the lock's file gone


def _windows_copy(monkeypatch):
    """camviz.dirlock loaded again as Windows sees it: no fcntl, and an msvcrt whose
    ``locking`` fails like Windows' on a held byte (OSError EACCES, not BlockingIOError)."""
    import errno
    import importlib.util
    import sys
    import types

    fcntl = pytest.importorskip("fcntl")   # the stand-in is built on the POSIX lock
    calls = []

    def locking(fd, mode, nbytes):
        calls.append((mode, nbytes))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PermissionError(errno.EACCES, "Permission denied") from None

    monkeypatch.setitem(sys.modules, "fcntl", None)   # `import fcntl` raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", types.SimpleNamespace(LK_NBLCK=2, locking=locking))
    spec = importlib.util.spec_from_file_location("dirlock_on_windows", dirlock.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, calls


def test_the_windows_branch_turns_a_held_byte_into_the_same_refusal(tmp_path, monkeypatch):
    win, calls = _windows_copy(monkeypatch)
    out = tmp_path / "out"

    def lock():
        return win.FolderLock(out, what="run directory", doing="trained", fix="wait for it")

    with lock():
        with pytest.raises(ConfigError) as refused, lock():
            pass
        assert str(refused.value) == (f"run directory '{out}' is being trained by another "
                                      f"process (pid {os.getpid()}); wait for it")
    assert calls == [(2, 1)] * 2   # a non-blocking lock of the first byte, each time
    with lock():   # released on exit: the next holder gets it
        pass
    assert calls[-1] == (2, 1) and len(calls) == 3
