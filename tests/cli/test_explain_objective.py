"""`camviz explain --counterfactual / --contrast` write the engine's counterfactual and
contrastive maps and record them in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from camviz.cam import explain
from camviz.cli import main
from camviz.handle import preprocess
from camviz.hub import load_model
from camviz.images import as_rgb_image

ROOT = Path(__file__).resolve().parents[2]
STAR = ROOT / "samples" / "shapes" / "3-star.png"
CKPT = ["--checkpoints-dir", str(ROOT / "checkpoints"), "--device", "cpu"]


def _engine_raw(**objective) -> np.ndarray:
    loaded = load_model("resnet14-shapes", checkpoints_dir=ROOT / "checkpoints")
    x = preprocess([as_rgb_image(STAR)], loaded)
    ex = explain(loaded.model, x, layer="layer4", methods="gradcam", **objective)
    return ex.raw["gradcam"][0].numpy(), loaded


@pytest.mark.parametrize("flags, objective", [
    (["--counterfactual", "--class", "circle"], {"counterfactual": True, "targets": "circle"}),
    (["--contrast", "circle"], {"contrast": "circle"}),
    (["--counterfactual", "--contrast", "circle", "--class", "square"],
     {"counterfactual": True, "contrast": "circle", "targets": "square"}),
])
def test_objective_maps_and_manifest(flags, objective, tmp_path, capsys):
    code = main(["explain", str(STAR), "--model", "resnet14-shapes", "--method", "gradcam",
                 "--out", str(tmp_path), *flags, *CKPT])
    assert code == 0
    assert "the maps explain" in capsys.readouterr().out
    folder = tmp_path / STAR.stem
    manifest = json.loads((folder / "manifest.json").read_text())
    loaded = load_model("resnet14-shapes", checkpoints_dir=ROOT / "checkpoints")
    if "contrast" in objective:
        c = loaded.class_index(objective["contrast"])
        objective = {**objective, "contrast": c}
        assert manifest["contrast"] == {"index": c, "name": "circle"}
    else:
        assert "contrast" not in manifest
    if "targets" in objective:
        objective = {**objective, "targets": loaded.class_index(objective["targets"])}
    assert manifest.get("counterfactual", False) is objective.get("counterfactual", False)
    got = np.load(folder / "layer4_gradcam.raw.npy")[0]
    want, _ = _engine_raw(**objective)
    plain, _ = _engine_raw(**{k: v for k, v in objective.items() if k == "targets"})
    assert got.max() > 0  # a map with evidence, not two blanks agreeing
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, plain)  # the objective changed the map


def test_plain_run_records_no_objective(tmp_path):
    assert main(["explain", str(STAR), "--model", "resnet14-shapes", "--method", "gradcam",
                 "--out", str(tmp_path), *CKPT]) == 0
    manifest = json.loads((tmp_path / STAR.stem / "manifest.json").read_text())
    assert "counterfactual" not in manifest and "contrast" not in manifest


def test_bad_contrast_class_is_one_line(tmp_path, capsys):
    code = main(["explain", str(STAR), "--model", "resnet14-shapes", "--contrast", "hexagonal",
                 "--out", str(tmp_path / "o"), *CKPT])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "hexagonal" in err
    assert not (tmp_path / "o").exists()


def test_compare_refuses_objective(tmp_path, capsys):
    code = main(["explain", str(STAR), "--model", "resnet14-shapes", "--model", "resnet14-shapes",
                 "--counterfactual", "--out", str(tmp_path / "o"), *CKPT])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "single --model" in err
