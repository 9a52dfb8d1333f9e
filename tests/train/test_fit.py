"""train(config) -> RunResult: outputs, repeatability, resume, and the ways a run can fail."""

import csv
import json

import pytest
import torch

from camviz.checkpoint import read_meta
from camviz.errors import CamvizError, CheckpointError, ConfigError
from camviz.hub import load_model
from camviz.train import TrainingDivergedError, loop, resume_config, train


def strip_times(history):
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real 2-epoch run shared by the output tests."""
    from camviz.train import TrainConfig
    root = tmp_path_factory.mktemp("fit")
    cfg = TrainConfig(model="lenet5", dataset="digits", epochs=2, batch_size=64, lr=3e-3,
                      model_options={"activation": "relu", "pooling": "max"}, limit=300,
                      out=str(root / "run"), checkpoints_dir=str(root / "ckpts"), name="tiny")
    return train(cfg, quiet=True)


def test_run_directory_contents(finished):
    run = finished.run_dir
    for name in ("config.yaml", "metrics.csv", "metrics.json", "steps.csv", "loss.png",
                 "accuracy.png", "best.safetensors", "last.safetensors", "state.pt",
                 "confusion.csv", "confusion.png", "predictions.csv"):
        assert (run / name).is_file(), name
    for png in ("loss.png", "accuracy.png", "confusion.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                            "lr", "epoch_seconds"}
    assert float(rows[1]["val_accuracy"]) == pytest.approx(finished.history[1]["val_accuracy"])
    steps = list(csv.DictReader((run / "steps.csv").open()))
    assert len(steps) == 2 * 5                      # 300 images / 64 per step, 2 epochs
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["test"]["accuracy"] == finished.test["accuracy"]
    assert summary["split_sizes"] == {"train": 300, "val": 288, "test": 300}


def test_learns_something(finished):
    h = finished.history
    assert h[1]["train_loss"] < h[0]["train_loss"]
    assert finished.test["accuracy"] > 0.3          # 10 classes: chance is 0.1


def test_test_outputs_agree(finished):
    run, test = finished.run_dir, finished.test
    preds = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(preds) == test["n"] == 300
    assert sorted(int(p["index"]) for p in preds) == list(range(300))
    acc = sum(p["true"] == p["predicted"] for p in preds) / len(preds)
    assert acc == pytest.approx(test["accuracy"])
    assert all(0.0 < float(p["probability"]) <= 1.0 for p in preds)
    conf = list(csv.reader((run / "confusion.csv").open()))
    counts = [[int(v) for v in row[1:]] for row in conf[1:]]
    assert sum(map(sum, counts)) == 300
    assert sum(counts[i][i] for i in range(10)) / 300 == pytest.approx(test["accuracy"])


def test_checkpoint_meta_rebuilds_and_preprocesses(finished):
    meta = read_meta(finished.best_checkpoint)
    assert meta["arch"] == "lenet5"
    assert meta["arch_kwargs"] == {"num_classes": 10, "in_channels": 1, "input_size": 28,
                                   "activation": "relu", "pooling": "max"}
    assert meta["classes"] == [str(i) for i in range(10)]
    assert meta["input_size"] == 28 and meta["in_channels"] == 1 and meta["dataset"] == "digits"
    assert len(meta["mean"]) == len(meta["std"]) == 1 and 0 < meta["mean"][0] < 1
    assert meta["config"]["lr"] == 3e-3 and meta["epoch"] == finished.best_epoch
    assert meta["metrics"]["test_accuracy"] == finished.test["accuracy"]
    assert meta["metrics"]["val_accuracy"] == finished.best_val_accuracy


def test_registered_under_its_name(finished):
    assert finished.registered == finished.run_dir.parent / "ckpts" / "tiny.safetensors"
    loaded = load_model("tiny", checkpoints_dir=finished.registered.parent)
    assert loaded.source == "checkpoint" and loaded.classes[3] == "3"
    assert loaded.meta["metrics"]["test_accuracy"] == finished.test["accuracy"]


def test_same_seed_same_metrics(tiny, tmp_path):
    opts = {"model_options": {"activation": "relu", "dropout": 0.3}, "crop_padding": 2,
            "hflip": 0.5, "optimizer": "sgd", "lr": 0.05, "register": False}
    a = train(tiny(out=str(tmp_path / "a"), **opts), quiet=True)
    b = train(tiny(out=str(tmp_path / "b"), **opts), quiet=True)
    c = train(tiny(out=str(tmp_path / "c"), seed=1, **opts), quiet=True)
    assert strip_times(a.history) == strip_times(b.history)
    assert a.test == b.test
    assert strip_times(a.history) != strip_times(c.history)


def test_resume_reaches_the_same_metrics(tiny, tmp_path):
    opts = {"epochs": 3, "model_options": {"activation": "relu", "dropout": 0.2}, "hflip": 0.5,
            "scheduler": "step", "step_size": 1, "gamma": 0.5, "optimizer": "sgd", "lr": 0.05,
            "register": False}
    straight = train(tiny(out=str(tmp_path / "straight"), **opts), quiet=True)
    first = train(tiny(out=str(tmp_path / "split"), **opts), quiet=True, stop_after=1)
    assert not first.finished and len(first.history) == 1 and first.test is None
    resumed = train(resume_config(tmp_path / "split"), quiet=True, resume=True)
    assert resumed.finished
    assert strip_times(resumed.history) == strip_times(straight.history)
    assert resumed.test == straight.test
    assert [r["lr"] for r in resumed.history] == [0.05, 0.025, 0.0125]


def test_resume_errors(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        train(tiny(out=str(tmp_path / "nothing")), quiet=True, resume=True)
    train(tiny(epochs=2, register=False), quiet=True, stop_after=1)
    with pytest.raises(ConfigError, match="cannot change lr when resuming"):
        resume_config(tmp_path / "run", lr=1.0)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny(epochs=2, register=False), quiet=True)
    with pytest.raises(ConfigError, match="not a camviz run directory"):
        resume_config(tmp_path)
    extended = resume_config(tmp_path / "run", epochs=3)
    assert extended.epochs == 3 and extended.out == str(tmp_path / "run")


def test_batch_larger_than_the_data_set(tiny):
    with pytest.raises(ConfigError, match=r"batch size 512 is larger than the train split of digits "
                                          r"\(256 images\); pass --batch-size 256 or less"):
        train(tiny(batch_size=512), quiet=True)


def test_unknown_model_and_bad_option(tiny):
    with pytest.raises(CamvizError, match="did you mean 'lenet5'"):
        train(tiny(model="lenet"), quiet=True)
    with pytest.raises(ConfigError, match="no option 'widht'"):
        train(tiny(model_options={"widht": 2}), quiet=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny, monkeypatch):
    real = loop.train_epoch
    calls = []

    def poisoned(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:                       # second epoch: weights go bad
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))
        return real(model, *args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", poisoned)
    cfg = tiny(epochs=3, register=False)
    with pytest.raises(TrainingDivergedError) as err:
        train(cfg, quiet=True)
    msg = str(err.value)
    assert "became nan at epoch 2, step 1" in msg and "last.safetensors (epoch 1)" in msg
    assert "\n" not in msg
    last = read_meta(f"{cfg.out}/last.safetensors")
    assert last["epoch"] == 1
    from safetensors.torch import load_file
    assert all(torch.isfinite(t).all() for t in load_file(f"{cfg.out}/last.safetensors").values())


def test_nan_in_first_epoch_says_nothing_was_saved(tiny):
    with pytest.raises(TrainingDivergedError, match="no checkpoint was written"):
        train(tiny(optimizer="sgd", lr=1e12, momentum=0.0, register=False), quiet=True)


def test_channels_input_size_and_options_reach_the_model(tiny, tmp_path):
    r = train(tiny(dataset="shapes", limit=48, batch_size=16, channels=1, input_size=32,
                   model_options={"activation": "tanh", "width": 0.5}, register=False), quiet=True)
    meta = read_meta(r.best_checkpoint)
    assert meta["in_channels"] == 1 and meta["input_size"] == 32 and meta["data_channels"] == 3
    assert meta["arch_kwargs"]["width"] == 0.5 and len(meta["mean"]) == 1
    assert meta["classes"] == ["circle", "square", "triangle", "cross", "star"]


def test_image_folder_run_with_a_worker_and_a_broken_file(tiny, tmp_path):
    import numpy as np
    from PIL import Image

    from camviz.hub import load_model
    from camviz.train import evaluate_model
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 6)):
        for k, cls in enumerate(("red", "green")):
            d = tmp_path / "imgs" / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                arr = rng.integers(0, 50, (20, 24, 3), dtype=np.uint8)
                arr[..., k] += 200
                Image.fromarray(arr).save(d / f"{i}.png")
    (tmp_path / "imgs" / "train" / "red" / "bad.png").write_bytes(b"\x89PNG broken")
    r = train(tiny(dataset=f"folder:{tmp_path / 'imgs'}", batch_size=4, workers=1, epochs=2,
                   input_size=28, limit=None, name="colours"), quiet=True)
    assert r.test["n"] == 12 and r.registered.name == "colours.safetensors"
    meta = read_meta(r.best_checkpoint)
    assert meta["classes"] == ["green", "red"] and meta["in_channels"] == 3 and len(meta["mean"]) == 3
    loaded = load_model("colours", checkpoints_dir=r.registered.parent)
    report = evaluate_model(loaded, f"folder:{tmp_path / 'imgs'}", workers=0)
    assert report.n == 12 and report.accuracy == pytest.approx(r.test["accuracy"])
