"""A run killed with SIGKILL mid-epoch leaves readable files and resumes to the same metrics."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from camviz.checkpoint import read_meta
from camviz.cli import main
from camviz.train.state import load_state

ENTRY = "import sys; from camviz.cli import main; sys.exit(main(sys.argv[1:]))"


def args(out):
    return ["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "2", "--batch-size", "8",
            "--limit", "320", "--lr", "0.05", "--optimizer", "sgd", "--opt", "activation=relu",
            "--opt", "dropout=0.2", "--hflip", "0.5", "--seed", "3", "--out", str(out),
            "--no-register", "--quiet"]


def metrics(run):
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_epoch_then_resume_matches_straight_run(tmp_path):
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}   # same numerics
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, *args(run)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (run / "state.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "first epoch never finished"
            time.sleep(0.02)
        time.sleep(0.2)                                   # into epoch 2 (40 steps each)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = load_state(run)
    epoch = state["epoch"]
    assert epoch in (1, 2)                                # whatever was last committed
    # state.pt is written last (the commit point): a kill while an epoch's files are being
    # written leaves them one epoch ahead of it, and resuming redoes that epoch.
    assert read_meta(run / "last.safetensors")["epoch"] in (epoch, epoch + 1)
    assert len(metrics(run)) in (epoch, epoch + 1)

    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    straight = tmp_path / "straight"
    assert main(args(straight)) == 0
    assert len(metrics(run)) == 2
    assert metrics(run) == metrics(straight)
    assert (run / "predictions.csv").read_text() == (straight / "predictions.csv").read_text()
    assert not list(run.glob(".*.tmp"))
    a, b = load_state(run), load_state(straight)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
