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
    run_dir = tmp_path / "run"
    with RunDirLock(run_dir):
        assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(ConfigError, match=f"'{run_dir}' is being trained by another process "
                                              rf"\(pid {os.getpid()}\).*another --out"), \
                RunDirLock(run_dir):
            pass
        assert (run_dir / LOCK_FILE).is_file()   # the refused one left the holder's file alone
    assert not run_dir.exists()   # made by the lock, nothing written: removed again
    (run_dir).mkdir()
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
