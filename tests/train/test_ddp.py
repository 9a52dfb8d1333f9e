"""The same command under torchrun: 2 CPU processes (gloo), sharded data, rank 0 writes."""

import csv
import json
import subprocess
import sys

ENTRY = "import sys; from camviz.cli import main; sys.exit(main(sys.argv[1:]))"


def test_torchrun_two_processes(tmp_path):
    script = tmp_path / "entry.py"
    script.write_text(ENTRY + "\n")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), "train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1",
           "--batch-size", "32", "--lr", "3e-3", "--opt", "activation=relu", "--out", str(run),
           "--checkpoints-dir", str(tmp_path / "ckpts"), "--name", "ddp", "--quiet"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["world_size"] == 2
    # each rank trained on half of the 1,150 train images: 575 / 32 -> 18 steps
    steps = list(csv.DictReader((run / "steps.csv").open()))
    assert len(steps) == 18
    # val and test cover the whole splits (val summed over ranks, test on rank 0)
    preds = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(preds) == summary["test"]["n"] == 359
    assert (tmp_path / "ckpts" / "ddp.safetensors").is_file()
    # one line of results from rank 0 only
    assert done.stdout.count("best_val_accuracy=") == 1
    assert 0.0 <= summary["best_val_accuracy"] <= 1.0 and summary["epochs"][0]["val_loss"] > 0
