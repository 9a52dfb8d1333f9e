"""`camviz evaluate-cam` end to end on random-weight zoo checkpoints, and its one-line errors."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from camviz.checkpoint import save_checkpoint
from camviz.cli import main
from camviz.data.mnist import DIGIT_CLASSES
from camviz.data.shapes import SHAPE_CLASSES
from camviz.metrics import METRICS
from camviz.models import build_model

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from camviz.cli import main; sys.exit(main(sys.argv[1:]))"


def _checkpoint(path, arch, classes, channels, dataset, **options):
    torch.manual_seed(0)
    kwargs = {"num_classes": len(classes), "in_channels": channels, "input_size": 28, **options}
    meta = {"arch": arch, "arch_kwargs": kwargs, "classes": list(classes),
            "mean": [0.5] * channels, "std": [0.25] * channels, "dataset": dataset}
    return save_checkpoint(path, build_model(arch, **kwargs), meta)


@pytest.fixture(scope="module")
def shapes_ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ck") / "lenet-shapes.safetensors", "lenet5",
                       SHAPE_CLASSES, 3, "shapes")


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ck") / "lenet-digits.safetensors", "lenet5",
                       DIGIT_CLASSES, 1, "digits")


def run(capsys, *argv):
    code = main(["evaluate-cam", *map(str, argv)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_json_table_and_files(shapes_ckpt, capsys, tmp_path):
    code, out, err = run(capsys, "--checkpoint", shapes_ckpt, "--n", 8, "--steps", 4, "--json",
                         "--out", tmp_path / "ev", "--device", "cpu", "--seed", 1)
    assert code == 0, err
    result = json.loads(out)
    # lenet5 has no GAP head: the default methods drop cam, keep gradcam and gradcampp
    assert list(result) == ["gradcam", "gradcampp", "random", "center"]
    for by_layer in result.values():
        assert list(by_layer) == ["features"]
        assert set(METRICS.names()) <= set(by_layer["features"])
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == [
        ".camviz", "deletion_insertion.png", "evaluation.json", "sanity.png"]
    # the scores, kept for a rerun; the lock went with the process
    assert [p.name for p in (tmp_path / "ev" / ".camviz").iterdir()] == ["evaluate-rank0.safetensors"]
    saved = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert saved["metrics"] == result and saved["n"] == 8 and saved["settings"]["seed"] == 1


def test_table_lists_every_method_and_reference(shapes_ckpt, capsys):
    code, out, err = run(capsys, "--checkpoint", shapes_ckpt, "--n", 8, "--methods", "cam",
                         "gradcam", "--metrics", "pointing_game", "iou", "--layers", "features")
    assert code == 0, err
    assert "note: cam skipped at 'features'" in out
    firsts = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert [w for w in firsts if w in ("gradcam", "random", "center")] == \
        ["gradcam", "random", "center"]
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split() == ["method", "layer", "point", "IoU"]


def test_faithfulness_only_on_a_data_set_without_masks(digits_ckpt, capsys):
    code, out, err = run(capsys, "--checkpoint", digits_ckpt, "--n", 8, "--steps", 2,
                         "--methods", "gradcam", "--metrics", "deletion_auc", "average_drop",
                         "--json")
    assert code == 0, err
    assert set(json.loads(out)["gradcam"]["features"]) == {"deletion_auc", "average_drop"}


@pytest.mark.parametrize("ckpt, argv, text", [
    ("digits", ["--metrics", "pointing_game"],
     "metric 'pointing_game' needs ground-truth object masks, which data set 'digits'"),
    ("shapes", ["--metrics", "pointing_game", "--dataset", "digits"],
     "which data set 'digits' does not have (data sets with masks: shapes)"),
    ("digits", ["--n", 100000], "--n 100000 is larger than the test split of digits (359 images)"),
    ("shapes", ["--methods", "gradcam", "grad_campp"], "did you mean 'gradcampp'"),
    ("shapes", ["--layers", "featurs"], "unknown layer 'featurs'; did you mean 'features'"),
    ("shapes", ["--metrics", "deletion"], "did you mean 'deletion_auc'"),
    ("shapes", ["--methods", "cam"], "cam needs layer 'features' to feed global average pooling"),
    ("shapes", ["--restart"], "--restart drops the scores saved in an --out folder; pass --out DIR"),
])
def test_bad_inputs_are_one_line_errors(shapes_ckpt, digits_ckpt, capsys, ckpt, argv, text):
    path = shapes_ckpt if ckpt == "shapes" else digits_ckpt
    code, out, err = run(capsys, "--checkpoint", path, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("camviz: error: ")
    assert text in err


@pytest.mark.slow
def test_torchrun_two_ranks_give_the_one_process_metrics(shapes_ckpt, tmp_path):
    """Each rank scores every other image; the merged table equals one process's."""
    script = tmp_path / "entry.py"
    script.write_text("import sys; from camviz.cli import main; sys.exit(main(sys.argv[1:]))\n")
    args = ["evaluate-cam", "--checkpoint", str(shapes_ckpt), "--num-images", "10", "--steps", "4",
            "--batch-size", "4", "--json", "--device", "cpu", "--seed", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                "2", str(script), *args, "--out", str(tmp_path / "o")]
    two = subprocess.run(torchrun, env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, check=False)
    assert two.returncode == 0, two.stderr[-3000:]
    again = subprocess.run(torchrun, env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=600, check=False)   # all saved: each rank says it, by rank
    assert again.returncode == 0 and again.stdout == two.stdout, again.stderr[-3000:]
    said = re.findall(r"camviz: (rank \d )?continued .* \((\d+) image\(s\) scored before", again.stderr)
    assert sorted(said) == [("rank 0 ", "5"), ("rank 1 ", "5")], again.stderr[-3000:]
    one = subprocess.run([sys.executable, str(script), *args], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600, check=True)
    lines = [line for line in two.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1   # rank 0 prints, once
    a, b = json.loads(one.stdout.splitlines()[-1]), json.loads(lines[0])
    assert list(a) == list(b)
    for who in a:
        for layer, metrics in a[who].items():
            for name, value in metrics.items():
                assert b[who][layer][name] == pytest.approx(value, abs=2e-5), (who, name)


@pytest.mark.parametrize("sig", [signal.SIGKILL])
def test_killed_then_the_same_command_continues_to_the_uninterrupted_result(
        shapes_ckpt, tmp_path, capsys, sig):
    args = ["--checkpoint", shapes_ckpt, "--n", 20, "--steps", 4, "--batch-size", 2, "--json",
            "--device", "cpu", "--methods", "gradcam", "--metrics", "deletion_auc", "average_drop"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-c", ENTRY, "evaluate-cam", *map(str, args)]
    whole = subprocess.run([*cli, "--out", str(tmp_path / "whole")], env=env, capture_output=True,
                           text=True, timeout=600, check=True).stdout
    out = tmp_path / "out"
    saved = out / ".camviz" / "evaluate-rank0.safetensors"
    proc = subprocess.Popen([*cli, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not saved.exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert not (out / "evaluation.json").exists()
    resumed = subprocess.run([*cli, "--out", str(out)], env=env, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    before = int(re.search(r"\((\d+) image\(s\) scored before this run\)", resumed.stderr)[1])
    assert 0 < before < 20 and before % 2 == 0
    assert json.loads(resumed.stdout) == json.loads(whole)
    assert json.loads((out / "evaluation.json").read_text())["metrics"] == json.loads(whole)

    code, _, err = run(capsys, *args, "--out", out, "--steps", 5)   # other settings: refused
    assert code == 1 and err.count("\n") == 1 and "(differing: settings;" in err
    assert "--restart" in err


def test_restart_removes_the_old_result_before_scoring(shapes_ckpt, tmp_path, capsys, monkeypatch):
    """A --restart run must not leave the last run's evaluation.json and plots beside its
    partial scores: they go once the folder is held, and the new run writes its own."""
    from camviz import metrics

    out = tmp_path / "ev"
    args = ["--checkpoint", shapes_ckpt, "--n", 4, "--steps", 4, "--device", "cpu", "--json",
            "--metrics", "deletion_auc", "--methods", "gradcam", "--out", out]
    assert run(capsys, *args)[0] == 0
    old = json.loads((out / "evaluation.json").read_text())
    assert (out / "deletion_insertion.png").is_file()
    real, seen = metrics.evaluate_cam, []

    def spy(*a, **kw):   # what --out holds when the scoring starts
        seen.append(sorted(p.name for p in out.iterdir() if p.is_file()))
        return real(*a, **kw)

    monkeypatch.setattr(metrics, "evaluate_cam", spy)
    code, out_text, err = run(capsys, *args, "--steps", 5, "--restart")
    assert code == 0, err
    assert seen == [[]]
    new = json.loads((out / "evaluation.json").read_text())
    assert new["settings"]["steps"] == 5 != old["settings"]["steps"]
    assert new["metrics"] == json.loads(out_text)
