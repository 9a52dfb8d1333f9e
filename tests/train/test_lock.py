"""One process per run directory: a second trainer is refused, a killed holder is not a block."""

import csv
import os
import signal
import subprocess
import sys

import pytest

from camviz.errors import ConfigError
from camviz.train import resume_config, train
from camviz.train.lock import LOCK_FILE, RunDirLock

HOLD = """
import sys, time
from camviz.train.lock import RunDirLock
with RunDirLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_holder_is_refused_naming_the_first_and_the_lock_goes_with_it(tmp_path):
    run_dir = tmp_path / "runs" / "run"   # `runs` missing too, as in a fresh ./runs
    with RunDirLock(run_dir):
        assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(ConfigError, match=f"'{run_dir}' is being trained by another process "
                                              rf"\(pid {os.getpid()}\).*another --out"), \
                RunDirLock(run_dir):
            pass
        assert (run_dir / LOCK_FILE).is_file()   # the refused one left the holder's file alone
    assert not (tmp_path / "runs").exists()   # made by the lock, nothing written: removed again
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("epoch\n")
    with RunDirLock(run_dir):
        pass
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.csv"]   # a folder it did not make stays


def test_another_process_holds_it_until_killed_then_a_stale_lock_file_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"another process \(pid {child.pid}\)"), \
                RunDirLock(run_dir):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (run_dir / LOCK_FILE).is_file()   # kill -9: the file stays, the kernel lock does not
    with RunDirLock(run_dir):
        assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_train_and_resume_refuse_a_run_dir_another_process_is_training(tiny):
    config = tiny(epochs=2)
    run_dir = config.out
    with RunDirLock(run_dir):   # as if another `camviz train --out` had just started there
        with pytest.raises(ConfigError, match="being trained by another process"):
            train(config, quiet=True)
        assert os.listdir(run_dir) == [LOCK_FILE]   # nothing of a second run was written
    assert not os.path.exists(run_dir)

    first = train(config, quiet=True, stop_after=1)
    assert not first.finished and not (first.run_dir / LOCK_FILE).exists()
    # still training elsewhere: a --resume must not join in
    with RunDirLock(run_dir), pytest.raises(ConfigError, match="being trained by another process"):
        train(resume_config(run_dir), quiet=True, resume=True)
    with open(first.run_dir / "metrics.csv") as f:
        assert len(list(csv.DictReader(f))) == 1   # the refused resume trained nothing
    done = train(resume_config(run_dir), quiet=True, resume=True)
    assert done.finished and len(done.history) == 2
    assert not (done.run_dir / LOCK_FILE).exists()


def test_a_lock_file_unlinked_by_the_previous_holder_while_we_waited_is_taken_again(
        tmp_path, monkeypatch):
    from camviz import dirlock as lock
    run_dir, calls, real = tmp_path / "run", [], lock._try_lock

    def previous_holder_leaves(fd):   # between our open and our lock, the holder unlinks
        calls.append(fd)
        if len(calls) == 1:
            (run_dir / LOCK_FILE).unlink()
        real(fd)

    monkeypatch.setattr(lock, "_try_lock", previous_holder_leaves)
    with RunDirLock(run_dir):
        assert len(calls) == 2   # the orphaned file was dropped and the path opened again
        monkeypatch.setattr(lock, "_try_lock", real)
        with pytest.raises(ConfigError, match="another process"), RunDirLock(run_dir):
            pass   # the file on the path is the one held


def test_a_file_system_without_locks_is_a_one_line_error_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from camviz import dirlock as lock

    def no_locks(fd):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock, "_try_lock", no_locks)
    with pytest.raises(ConfigError, match=r"cannot lock run directory '.*run' \(No locks available\)"), \
            RunDirLock(tmp_path / "run"):
        pass
    assert not (tmp_path / "run").exists()
