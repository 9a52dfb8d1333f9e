"""`camviz study`: config expansion, an end-to-end tiny study, reuse, resume, bad configs."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

import camviz.checkpoint
import camviz.train
from camviz.cli import main
from camviz.errors import ConfigError
from camviz.study import load_study, parse_study

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "configs" / "studies"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- shipped configs -------------------------------------------------------------------
def test_lenet_study_follows_report_003():
    study = load_study(STUDIES / "lenet_fashion_mnist.yaml")
    rows = list(dict.fromkeys(r.row for r in study.runs))
    assert rows == ["default", *(f"lr-{v / 10:.1f}" for v in range(10, 18)), "kernel-3", "kernel-4",
                    "pool-1", "relu", "maxpool", *(f"batch-{2 ** k}" for k in (10, 9, 7, 6, 5, 4, 3, 2, 1)),
                    "epochs-50", "best", "epochs-100", "resnet18-28px", "resnet18"]
    assert all(len([r for r in study.runs if r.row == row]) == 3 for row in rows)   # 3 seeds each
    runs = {r.name: r.values for r in study.runs}
    d = runs["default-seed0"]
    assert (d["model"], d["dataset"], d["optimizer"], d["lr"], d["batch_size"], d["epochs"]) == \
        ("lenet5", "fashion-mnist", "sgd", 0.9, 256, 10)
    assert (d["momentum"], d["weight_decay"], d["scheduler"], d["val_fraction"], d["register"]) == \
        (0.0, 0.0, "none", 0.0, False)   # all 60k training images, as the report
    assert (d["crop_padding"], d["hflip"], d["vflip"]) == (0, 0.0, 0.0)
    assert d["model_options"] == {"activation": "sigmoid", "fc_activation": "sigmoid", "pooling": "avg",
                                  "kernel_size": 5, "padding": 2, "pool_size": 2, "weight_init": "xavier"}
    # one change per run: everything else stays as in default
    assert runs["kernel-3-seed0"]["model_options"] == {**d["model_options"], "kernel_size": 3}
    assert runs["relu-seed1"]["model_options"] == {**d["model_options"], "activation": "relu"}
    assert {k: v for k, v in runs["lr-1.2-seed0"].items() if k != "lr"} == {k: v for k, v in d.items() if k != "lr"}
    best = runs["best-seed2"]
    assert (best["lr"], best["batch_size"], best["epochs"], best["seed"]) == (1.3, 16, 50, 2)
    assert best["model_options"]["activation"] == "relu" and best["model_options"]["fc_activation"] == "sigmoid"
    resnet = runs["resnet18-seed0"]   # d2l's: 7x7 stem, full width, 96 px, lr 0.05, own options only
    assert (resnet["model"], resnet["input_size"], resnet["lr"], resnet["epochs"]) == ("resnet18", 96, 0.05, 10)
    assert resnet["model_options"] == {"stem": "imagenet", "kernel_size": 7, "width": 1.0, "dropout": 0.0}
    small = runs["resnet18-28px-seed0"]   # the CPU's scale: the same run at the data's own 28 px
    assert {k: v for k, v in small.items() if k != "input_size"} == \
        {k: v for k, v in resnet.items() if k != "input_size"} and small["input_size"] == 28
    assert study.reference["default"] == 0.809 and study.reference["resnet18"] == 0.902
    assert set(study.skip) == {"resnet18"}


def test_five_cnns_study_follows_report_000():
    study = load_study(STUDIES / "five_cnns_fashion_mnist.yaml")
    assert [(r.name, r.values["model"]) for r in study.runs] == [
        ("lenet", "lenet5"), ("alexnet", "alexnet"), ("resnet18", "resnet18"),
        ("mobilenet_v1", "mobilenet_v1"), ("googlenet", "googlenet")]
    for r in study.runs:
        v = r.values
        assert (v["optimizer"], v["lr"], v["batch_size"], v["epochs"], v["seed"], v["val_fraction"]) == \
            ("adamw", 0.001, 128, 5, 42, 0.2)
        assert v.get("input_size") == (None if r.name == "lenet" else 56)
        if r.name in ("resnet18", "mobilenet_v1", "googlenet"):   # the report's 32x downsampling
            assert v["model_options"]["stem"] == "imagenet"


def test_resnet_study_follows_report_004():
    study = load_study(STUDIES / "resnet18_shapes_ablations.yaml")
    runs = {r.name: r.values for r in study.runs}
    assert list(runs) == ["baseline", "stem-7x7", "dropout-0.1", "dropout-0.2", "dropout-0.3",
                          "norm-instance", "norm-none", "no-lr-decay", "no-residual", "depth-14",
                          "depth-34"]
    assert runs["baseline"]["dataset"] == "shapes" and runs["baseline"]["scheduler"] == "step"
    assert runs["stem-7x7"]["model_options"]["kernel_size"] == 7
    assert runs["no-residual"]["model_options"]["residual"] is False
    assert runs["no-lr-decay"]["scheduler"] == "none"
    assert [runs[n]["model"] for n in ("depth-14", "baseline", "depth-34")] == ["resnet14", "resnet18", "resnet34"]
    assert [runs[f"dropout-0.{k}"]["model_options"]["dropout"] for k in (1, 2, 3)] == [0.1, 0.2, 0.3]


def test_hard_shapes_study_has_every_ablation_of_report_004():
    study = load_study(STUDIES / "resnet18_shapes_hard_ablations.yaml")
    rows = {}
    for run in study.runs:
        rows.setdefault(run.row, []).append(run.values)
    assert list(rows) == ["baseline", "stem-7x7", "half-width", "no-flips", "flips-0.05", "dropout-0.1",
                          "dropout-0.2", "dropout-0.3", "norm-instance", "norm-none", "no-lr-decay",
                          "lr-1e-4", "no-residual", "depth-14", "depth-34"]
    two = {"baseline", "stem-7x7", "norm-instance", "norm-none"}   # 2 seeds where the issue asks
    assert {r for r, v in rows.items() if len(v) == 2} == two and all(len(rows[r]) == 1 for r in rows if r not in two)
    assert {v["seed"] for v in rows["norm-none"]} == {20211108, 20211109}
    b = rows["baseline"][0]
    assert (b["dataset"], b["optimizer"], b["lr"], b["momentum"], b["scheduler"], b["step_size"], b["gamma"],
            b["epochs"], b["batch_size"], b["hflip"], b["vflip"]) == \
        ("shapes-hard", "sgd", 0.001, 0.9, "step", 7, 0.1, 25, 64, 0.1, 0.1)
    assert b["model_options"]["stem"] == "small" and b["model_options"]["width"] == 1.0
    assert rows["half-width"][0]["model_options"]["width"] == 0.5 and rows["half-width"][0]["step_size"] == 4
    # 3.3: "set the lr smaller from the start" replaces the decay: lr 1e-4 without it
    assert (rows["lr-1e-4"][0]["lr"], rows["lr-1e-4"][0]["scheduler"]) == (0.0001, "none")
    assert rows["no-lr-decay"][0]["scheduler"] == "none"
    assert [rows[f"depth-{d}"][0]["model"] for d in (14, 34)] == ["resnet14", "resnet34"]


def test_a_run_may_have_its_own_seeds():
    study = parse_study({"base": {"model": "lenet5", "dataset": "digits"}, "seeds": [0],
                         "runs": [{"name": "a"}, {"name": "b", "seeds": [1, 2]}]})
    assert [(r.name, r.row, r.values["seed"]) for r in study.runs] == [
        ("a", "a", 0), ("b-seed1", "b", 1), ("b-seed2", "b", 2)]
    with pytest.raises(ConfigError, match="seeds must be a non-empty list"):
        parse_study({"base": {"model": "lenet5"}, "runs": [{"name": "a", "seeds": []}]})


def test_grid_and_seeds_expand_in_order():
    study = parse_study({"name": "g", "base": {"model": "lenet5", "model_options": {"pooling": "max"}},
                         "runs": [{"name": "first", "lr": 0.1}],
                         "grid": {"lr": [0.01, 0.02], "model_options.activation": ["relu", "tanh"]},
                         "seeds": [3, 4]})
    names = [r.name for r in study.runs]
    assert len(names) == 10 and names[:2] == ["first-seed3", "first-seed4"]
    assert "lr=0.02,activation=tanh-seed4" in names
    run = next(r for r in study.runs if r.name == "lr=0.02,activation=tanh-seed4")
    assert run.values["model_options"] == {"pooling": "max", "activation": "tanh"}
    assert (run.values["lr"], run.values["seed"]) == (0.02, 4)
    repeated = parse_study({"base": {"seed": 7}, "runs": [{"name": "a"}], "repeat": 2})
    assert [(r.name, r.values["seed"]) for r in repeated.runs] == [("a-seed7", 7), ("a-seed8", 8)]


# -- running ---------------------------------------------------------------------------
def _write_study(tmp_path: Path, epochs: int = 1) -> Path:
    cfg = {"name": "tiny",
           "base": {"model": "lenet5", "dataset": "digits", "download": False, "batch_size": 64,
                    "lr": 0.003, "epochs": epochs, "model_options": {"activation": "relu"},
                    "checkpoints_dir": str(tmp_path / "ckpt")},
           "runs": [{"name": "a"}, {"name": "b", "model_options": {"pooling": "max", "width": 0.5}}]}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _count_trains(monkeypatch) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []
    real = camviz.train.train

    def counted(config, *, quiet=False, resume=False, stop_after=None):
        calls.append((Path(config.out).name, resume))
        return real(config, quiet=quiet, resume=resume, stop_after=stop_after)
    monkeypatch.setattr(camviz.train, "train", counted)
    return calls


def test_tiny_study_end_to_end_then_reused(tmp_path, monkeypatch, capsys):
    path, out = _write_study(tmp_path), tmp_path / "out"
    calls = _count_trains(monkeypatch)
    argv = ["study", str(path), "--out", str(out), "--limit", "96", "--quiet"]
    assert main(argv) == 0
    assert calls == [("a", False), ("b", False)]
    for name in ("results.csv", "summary.csv", "results.md", "curves.png", "test_accuracy.png",
                 "train_time.png"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["run"] for r in rows] == ["a", "b"]
    md = (out / "results.md").read_text()
    assert "--limit 96" in md and "--epochs" not in md
    for row in rows:
        run_dir = out / "runs" / row["run"]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert float(row["best_val_accuracy"]) == pytest.approx(metrics["best_val_accuracy"])
        assert float(row["test_accuracy"]) == pytest.approx(metrics["test"]["accuracy"])
        assert float(row["train_seconds"]) == pytest.approx(metrics["wall_seconds"])
        assert int(row["epochs"]) == len(metrics["epochs"]) == 1
        assert metrics["split_sizes"]["train"] <= 96
        state = camviz.checkpoint.load_checkpoint(run_dir / "best.safetensors")
        assert int(row["params"]) == sum(p.numel() for p in state.model.parameters())
        assert f"| {row['run']} | {row['status']} | {metrics['best_val_accuracy']:.4f} | " \
            f"{metrics['test']['accuracy']:.4f} |" in md
    assert rows[0]["params"] != rows[1]["params"]    # width 0.5 really reached the model
    assert rows[1]["changes"] == "pooling=max, width=0.5"

    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    assert main(argv) == 0
    assert calls == [("a", False), ("b", False)]     # nothing retrained
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    assert "0 trained, 2 reused" in capsys.readouterr().out


def test_interrupted_study_resumes(tmp_path, monkeypatch):
    path, out = _write_study(tmp_path, epochs=2), tmp_path / "out"
    real = camviz.train.train

    def killed_in_b(config, *, quiet=False, resume=False, stop_after=None):
        if Path(config.out).name == "b":   # one epoch of b, then the process "dies"
            real(config, quiet=quiet, resume=resume, stop_after=1)
            raise KeyboardInterrupt
        return real(config, quiet=quiet, resume=resume, stop_after=stop_after)
    monkeypatch.setattr(camviz.train, "train", killed_in_b)
    argv = ["study", str(path), "--out", str(out), "--limit", "96", "--quiet"]
    assert main(argv) == 130
    assert not (out / "results.csv").exists()
    assert len(json.loads((out / "runs" / "b" / "metrics.json").read_text())["epochs"]) == 1

    monkeypatch.setattr(camviz.train, "train", real)
    calls = _count_trains(monkeypatch)
    assert main(argv) == 0
    assert calls == [("b", True)]        # a reused, b resumed
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["run"], r["epochs"]) for r in rows] == [("a", "2"), ("b", "2")]


def test_scale_override_is_shown_where_it_clobbers_a_run_setting(tmp_path):
    from camviz.study import run_study
    study = parse_study({"name": "s", "base": {"model": "lenet5", "dataset": "digits", "download": False,
                                               "batch_size": 16, "model_options": {"activation": "relu"}},
                         "runs": [{"name": "short", "epochs": 1}, {"name": "long", "epochs": 3}]})
    result = run_study(study, tmp_path / "out", limit=48, epochs=1, quiet=True)
    assert [(r["changes"], r["epochs"]) for r in result.rows] == [
        ("epochs=1", 1), ("epochs=3 (ran with epochs=1)", 1)]
    assert "--limit 48" in (tmp_path / "out" / "results.md").read_text()


def test_changed_settings_are_not_silently_reused(tmp_path, capsys):
    path, out = _write_study(tmp_path), tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--limit", "64", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["study", str(path), "--out", str(out), "--limit", "80", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "cannot change limit" in err and "runs/a" in err and "\n" not in err


# -- bad configs -----------------------------------------------------------------------
BASE = {"model": "lenet5", "dataset": "digits"}


@pytest.mark.parametrize("data, message", [
    ({"base": BASE, "runz": [{"name": "a"}]}, "unknown study key 'runz'; did you mean 'runs'?"),
    ({"base": {**BASE, "lrr": 0.1}, "runs": [{"name": "a"}]}, "unknown config key 'lrr'; did you mean 'lr'?"),
    ({"base": BASE, "runs": [{"name": "a", "batchsize": 8}]}, "run 'a': unknown config key 'batchsize'"),
    ({"base": BASE, "grid": {"lr": []}}, "grid key 'lr' has no values"),
    ({"base": BASE, "grid": {}}, "grid: must map keys to non-empty lists"),
    ({"base": BASE}, "has neither runs: nor grid:"),
    ({"base": BASE, "runs": [{"name": "a"}, {"name": "a", "lr": 0.1}]}, "duplicate run name 'a'"),
    ({"base": BASE, "runs": [{"name": "a", "model_options": {"activaton": "relu"}}]},
     "unknown lenet5 option 'activaton'; did you mean 'activation'"),
    ({"base": {**BASE, "out": "x"}, "runs": [{"name": "a"}]}, "'out' is set by the study"),
    ({"base": BASE, "runs": [{"name": "a", "lr": -1}]}, "run 'a': learning rate must be"),
])
def test_bad_configs_are_one_line_errors(tmp_path, capsys, data, message):
    with pytest.raises(ConfigError) as info:
        parse_study(data)
    assert message in str(info.value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["study", str(path), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_diverged_run_is_a_row_not_a_crash(tmp_path, monkeypatch):
    from camviz.train import TrainingDivergedError
    path, out = _write_study(tmp_path), tmp_path / "out"
    real = camviz.train.train

    def diverge_b(config, *, quiet=False, resume=False, stop_after=None):
        if Path(config.out).name == "b":
            raise TrainingDivergedError("training loss became nan at epoch 1, step 1")
        return real(config, quiet=quiet, resume=resume, stop_after=stop_after)
    monkeypatch.setattr(camviz.train, "train", diverge_b)
    assert main(["study", str(path), "--out", str(out), "--limit", "64", "--quiet"]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["run"], r["test_accuracy"], r["epochs"], r["status"]) for r in rows][1] == \
        ("b", "", "0", "diverged")
    assert rows[0]["test_accuracy"] != ""
    md = (out / "results.md").read_text()
    assert "| b | diverged (training loss became nan at epoch 1, step 1) | n/a | n/a | n/a | 0 |" in md
    assert "| b | pooling=max, width=0.5 | 1 | n/a | n/a | 1 diverged |" in md


SMOKE_WIDTH = 0.25   # narrower than every config; ResNet-18 at 0.125 + channels_last crashes this torch


def narrowed(study):
    """The study with every width-taking model at SMOKE_WIDTH at most: the same code paths
    (stems, norms, depths, heads, every run of the grid) at a fraction of the FLOPs."""
    import dataclasses

    from camviz.models import MODELS
    runs = []
    for run in study.runs:
        values = dict(run.values)
        options = dict(values.get("model_options") or {})
        defaults = MODELS.get(values["model"]).options()
        if "width" in defaults:
            options["width"] = min(float(options.get("width", defaults["width"])), SMOKE_WIDTH)
        values["model_options"] = options
        runs.append(dataclasses.replace(run, values=values))
    return dataclasses.replace(study, runs=tuple(runs))


def _on_folder(path) -> bool:
    return str(load_study(path).base.get("dataset", "")).startswith("folder:")


FOLDER_CONFIGS = sorted(p.name for p in STUDIES.glob("*.yaml") if _on_folder(p))
# the CPU-sized report-004 study equals the full one but for width, limit and lr, the report-000
# one but for limit (tested below), which the tiny run overrides anyway: running both would test
# the same paths twice (~55 s and ~25 s)
SAME_AS_FULL = {"resnet18_shapes_hard_ablations_cpu.yaml", "five_cnns_fashion_mnist_cpu.yaml"}
DATA_CONFIGS = sorted(p.name for p in STUDIES.glob("*.yaml") if not _on_folder(p) and p.name not in SAME_AS_FULL)


@pytest.mark.parametrize("config", FOLDER_CONFIGS)
def test_folder_study_configs_build_every_run(config):
    """Configs for data a user brings (an image folder): every run is a valid train config
    whose model builds at its input size (they cannot run here without the images)."""
    from camviz.models import build_model
    from camviz.train.config import from_dict
    study = load_study(STUDIES / config)
    assert len(study.runs) >= 2
    for run in study.runs:
        cfg = from_dict(run.values)
        model = build_model(cfg.model, num_classes=12, in_channels=cfg.channels or 3,
                            input_size=cfg.input_size, **cfg.model_options)
        assert sum(p.numel() for p in model.parameters()) > 0


def test_report_002_config_is_the_reports_recipe():
    study = load_study(STUDIES / "resnet50_12cats_transfer.yaml")
    runs = {r.name: r.values for r in study.runs}
    assert runs["fine-tune"]["model"] == "resnet50" and runs["fine-tune"]["init"] == "imagenet"
    assert runs["fine-tune"]["optimizer"] == "adam" and runs["fine-tune"]["input_size"] == 196
    assert runs["head-only"]["freeze"] == "backbone" and runs["from-scratch"]["init"] is None


@pytest.mark.parametrize("config", DATA_CONFIGS)
def test_every_shipped_study_config_runs_end_to_end_tiny(config, tmp_path, require_dataset):
    from camviz.study import run_study
    study = narrowed(load_study(STUDIES / config))
    firsts = {}
    for run in study.runs:   # the first seed of every row: the code paths without the repeats
        firsts.setdefault(run.row, run)
    study = dataclasses.replace(study, runs=tuple(firsts.values()), skip={})
    require_dataset(study.base.get("dataset", "fashion-mnist"))
    limit = max(r.values.get("batch_size", 128) for r in study.runs)   # one full batch at most
    result = run_study(study, tmp_path / "out", limit=limit, epochs=1, quiet=True)
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert [r["run"] for r in rows] == [r.name for r in study.runs]
    assert result.trained == [r.name for r in study.runs]
    for row in rows:   # every run trained one epoch on a few images and was tested
        assert row["epochs"] == "1", row
        if row["status"] != "diverged":
            assert 0.0 <= float(row["test_accuracy"]) <= 1.0, row
        assert int(row["params"]) > 0, row
    assert f"--limit {limit}" in (tmp_path / "out" / "results.md").read_text()


def test_cpu_five_cnns_study_differs_from_the_full_one_only_in_its_image_limit():
    """The CPU-sized report-000 study trains the report's networks (full width, its stems) with
    its recipe; only the number of training images differs. Both carry the report's figures."""
    full = load_study(STUDIES / "five_cnns_fashion_mnist.yaml")
    cpu = load_study(STUDIES / "five_cnns_fashion_mnist_cpu.yaml")
    assert [r.name for r in cpu.runs] == [r.name for r in full.runs]
    for f, c in zip(full.runs, cpu.runs):
        cv = dict(c.values)
        assert cv.pop("limit") == 12000 and "limit" not in f.values and cv == f.values
    assert cpu.reference == full.reference == {"lenet": 0.9744, "alexnet": 0.9913, "resnet18": 0.993,
                                               "mobilenet_v1": 0.9836, "googlenet": 0.988}


def test_cpu_hard_shapes_study_differs_from_the_full_one_only_in_scale():
    """The CPU-sized report-004 study runs the same rows, seeds and recipe; only the width
    (a quarter; the half-width row half of that), the image limit and the lr (x10) differ."""
    full = load_study(STUDIES / "resnet18_shapes_hard_ablations.yaml")
    cpu = load_study(STUDIES / "resnet18_shapes_hard_ablations_cpu.yaml")
    assert [r.name for r in cpu.runs] == [r.name for r in full.runs]
    for f, c in zip(full.runs, cpu.runs):
        fv, cv = dict(f.values), dict(c.values)
        fo, co = dict(fv.pop("model_options")), dict(cv.pop("model_options"))
        assert co.pop("width") == fo.pop("width") / 4 and co == fo
        assert cv.pop("limit") == 3000 and fv.pop("limit", None) is None
        assert cv.pop("lr") == pytest.approx(10 * fv.pop("lr"))
        assert cv == fv
