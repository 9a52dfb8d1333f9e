"""`camviz train` and `camviz evaluate` through camviz.cli.main."""

import json

import pytest

from camviz.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`camviz train` once: 1 epoch of LeNet on digits, registered as 'cli-digits'."""
    root = tmp_path_factory.mktemp("cli")
    code = main(["train", "--model", "lenet5", "--dataset", "digits", "--epochs", "1",
                 "--batch-size", "32", "--lr", "3e-3", "--opt", "activation=relu",
                 "--out", str(root / "run"), "--checkpoints-dir", str(root / "ckpts"),
                 "--name", "cli-digits", "--quiet"])
    assert code == 0
    return root


def test_train_then_evaluate_round_trip(trained, capsys):
    summary = json.loads((trained / "run" / "metrics.json").read_text())
    code, out, _ = run(capsys, "evaluate", "--model", "cli-digits", "--checkpoints-dir",
                       str(trained / "ckpts"), "--dataset", "digits", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["n"] == summary["test"]["n"] == 359
    assert report["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert 0 <= report["accuracy"] <= 1 and report["loss"] > 0
    assert set(report["per_class"]) == {str(i) for i in range(10)}


def test_evaluate_val_split_is_the_runs_val_split(trained, capsys):
    summary = json.loads((trained / "run" / "metrics.json").read_text())
    code, out, _ = run(capsys, "evaluate", "--checkpoint", str(trained / "run" / "best.safetensors"),
                       "--split", "val", "--json")              # data set read from the checkpoint
    assert code == 0
    report = json.loads(out)
    assert report["accuracy"] == pytest.approx(summary["epochs"][0]["val_accuracy"])


def test_evaluate_text_output(trained, capsys):
    code, out, _ = run(capsys, "evaluate", "--checkpoint", str(trained / "run" / "last.safetensors"),
                       "--dataset", "digits", "--limit", "50")
    assert code == 0 and "(50 images): accuracy" in out and out.count("\n") == 11


@pytest.mark.parametrize("dataset, pattern", [
    ("fashion-mnist", "trained on other classes than fashion-mnist"),
    ("shapes", r"10 classes vs 5"),
])
def test_evaluate_class_mismatch(trained, capsys, dataset, pattern):
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(trained / "run" / "best.safetensors"),
                       "--dataset", dataset, "--no-download", "--limit", "8")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("camviz: error: ") and __import__("re").search(pattern, err)


def test_evaluate_channel_mismatch(tmp_path, capsys):
    from camviz.checkpoint import save_checkpoint
    from camviz.data.shapes import SHAPE_CLASSES
    from camviz.models import build_model
    model = build_model("lenet5", num_classes=5, in_channels=1, input_size=64)
    meta = {"arch": "lenet5", "arch_kwargs": {"num_classes": 5, "in_channels": 1, "input_size": 64},
            "classes": list(SHAPE_CLASSES), "mean": [0.5], "std": [0.5], "data_channels": 1}
    path = save_checkpoint(tmp_path / "gray.safetensors", model, meta)
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(path), "--dataset", "shapes",
                       "--limit", "8")
    assert code == 1 and "takes 1-channel input but shapes has 3-channel images" in err


def test_yaml_config_with_flags_winning_and_resume(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: lenet5\ndataset: digits\nepochs: 5\nbatch_size: 64\nlimit: 128\n"
                   "model_options: {activation: relu}\nregister: false\n")
    out_dir = tmp_path / "r"
    code, out, _ = run(capsys, "train", "--config", str(cfg), "--epochs", "1", "--out", str(out_dir),
                       "--quiet")
    assert code == 0 and "best_val_accuracy=" in out
    saved = (out_dir / "config.yaml").read_text()
    assert "epochs: 1" in saved and "limit: 128" in saved and "activation: relu" in saved
    code, out, _ = run(capsys, "train", "--resume", str(out_dir), "--epochs", "2", "--quiet")
    assert code == 0
    rows = (out_dir / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3                                   # header + 2 epochs
    code, _, err = run(capsys, "train", "--resume", str(out_dir), "--lr", "0.5")
    assert code == 1 and "cannot change lr when resuming" in err


@pytest.mark.parametrize("argv, pattern", [
    (["--lr", "0"], "learning rate must be a number > 0, got 0.0"),
    (["--lr", "-1"], "learning rate must be a number > 0"),
    (["--epochs", "0"], "epochs must be an integer >= 1, got 0"),
    (["--epochs", "-2"], "epochs must be an integer >= 1"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (["--batch-size", "100000"], "batch size 100000 is larger than the train split of digits"),
    (["--dataset", "digit"], "unknown data set 'digit'; did you mean 'digits'"),
    (["--dataset", "folder:/no/such/dir"], "image folder '/no/such/dir' does not exist"),
    (["--model", "resnet"], "unknown model 'resnet'"),
    (["--opt", "width"], "is not KEY=VALUE"),
    (["--optimizer", "sdg"], "did you mean 'sgd'"),
    (["--resume", "/no/such/run"], "not a camviz run directory"),
])
def test_bad_input_is_one_line_exit_1(tmp_path, capsys, argv, pattern):
    base = ["train", "--model", "lenet5", "--dataset", "digits", "--out", str(tmp_path / "r"),
            "--no-register", "--quiet"]
    code, _, err = run(capsys, *base, *argv)
    assert code == 1
    assert err.startswith("camviz: error: ") and err.count("\n") == 1
    assert pattern in err
