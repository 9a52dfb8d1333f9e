"""`camviz explain IMG --model A --model B ...`: one labelled grid of models x methods."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camviz.cli import main
from camviz.explainer import explain_models
from camviz.hub import load_model

ROOT = Path(__file__).resolve().parents[2]
BOOT = ROOT / "samples" / "fashion-mnist" / "9-ankle-boot-test0.png"
STAR = ROOT / "samples" / "shapes" / "3-star.png"
CKPTS = ROOT / "checkpoints"
MODELS = ["resnet18-fashion-mnist", "densenet121-fashion-mnist", "lenet5-fashion-mnist"]


def test_three_models_two_methods_in_one_grid(tmp_path, capsys):
    argv = ["explain", str(BOOT), "--checkpoints-dir", str(CKPTS), "--out", str(tmp_path),
            "--method", "gradcam", "--method", "gradcampp", "--device", "cpu"]
    for m in MODELS:
        argv += ["--model", m]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["9-ankle-boot-test0.png"]
    with Image.open(tmp_path / "9-ankle-boot-test0.png") as im:
        grid = np.asarray(im.convert("RGB"))
    one = tmp_path / "one"
    assert main(["explain", str(BOOT), "--checkpoints-dir", str(CKPTS), "--out", str(one),
                 "--method", "gradcam", "--method", "gradcampp", "--model", MODELS[0]]) == 0
    with Image.open(one / "9-ankle-boot-test0" / "grid.png") as im:
        single = np.asarray(im.convert("RGB"))
    assert grid.shape[0] > 2.5 * single.shape[0]          # three model rows
    assert grid.shape[1] == pytest.approx(single.shape[1], rel=0.1)   # same columns
    for m in MODELS:
        assert f"({m}): explained Ankle boot" in out


def test_models_sharing_classes_explain_the_first_models_class():
    models = [load_model(m, checkpoints_dir=CKPTS) for m in MODELS[:2]]
    a, b = explain_models(models, BOOT, target=None, methods=["gradcam"])
    assert a.targets == b.targets == [a.top_indices[0]]
    a, b = explain_models(models, BOOT, target="Sneaker", methods=["gradcam"])
    assert a.target_names == b.target_names == ["Sneaker"]


def test_models_with_other_classes_explain_their_own_top_class():
    models = [load_model(m, checkpoints_dir=CKPTS) for m in ("lenet5-fashion-mnist", "resnet14-shapes")]
    _a, b = explain_models(models, STAR, methods=["gradcam"])
    assert b.targets == [b.top_indices[0]] and b.target_names[0] in models[1].classes
