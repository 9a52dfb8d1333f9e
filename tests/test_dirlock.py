"""FolderLock: the lock file may sit in a subfolder; the refusal names what, who and the fix."""

import os

import pytest

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
