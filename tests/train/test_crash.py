"""A run killed with SIGKILL mid-epoch leaves readable files and resumes to the same metrics."""

import csv
import os
import signal
import subprocess
import sys

import pytest
import torch

from camviz.checkpoint import read_meta
from camviz.cli import main
from camviz.train.state import load_state

# The child prints a marker at every training step and, at step KILL_STEP of epoch 2, waits
# to be killed: the kill lands inside epoch 2 on every run, never before or after it.
KILL_STEP = 10
ENTRY = f"""
import sys, time
from camviz.cli import main
from camviz.train.progress import Progress
start, step, where = Progress.start_epoch, Progress.step, {{}}
def start_epoch(self, epoch, epochs, steps):
    where["epoch"] = epoch
    start(self, epoch, epochs, steps)
def on_step(self, n, loss, acc):
    step(self, n, loss, acc)
    print(f"STEP {{where['epoch']}} {{n}}", flush=True)
    if (where["epoch"], n) == (2, {KILL_STEP}):
        time.sleep(600)
Progress.start_epoch, Progress.step = start_epoch, on_step
sys.exit(main(sys.argv[1:]))
"""


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
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stdout:                          # blocks until the marker or exit
            seen.append(line.strip())
            if line.strip() == f"STEP 2 {KILL_STEP}":
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert seen[-1:] == [f"STEP 2 {KILL_STEP}"], proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    assert "STEP 1 40" in seen                            # epoch 1 ran all its 40 steps
    # Killed inside epoch 2: epoch 1 is committed, nothing of epoch 2 is.
    assert load_state(run)["epoch"] == 1
    assert read_meta(run / "last.safetensors")["epoch"] == 1
    assert len(metrics(run)) == 1

    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    straight = tmp_path / "straight"
    assert main(args(straight)) == 0
    assert len(metrics(run)) == 2
    assert metrics(run) == metrics(straight)
    assert (run / "predictions.csv").read_text() == (straight / "predictions.csv").read_text()
    assert not list(run.glob(".*.tmp"))
    a, b = load_state(run), load_state(straight)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
