"""`camviz layers --rank IMG...`: the layer advisor from the command line."""

from __future__ import annotations

from pathlib import Path

from camviz.advisor import format_ranking, rank_images
from camviz.cli import main
from camviz.hub import load_model

ROOT = Path(__file__).resolve().parents[2]
IMAGES = [str(ROOT / "samples" / "shapes" / f) for f in ("0-square.png", "2-cross.png", "3-star.png")]
CKPT = ["--checkpoints-dir", str(ROOT / "checkpoints")]


def test_rank_prints_the_advisors_table(capsys):
    assert main(["layers", "--model", "resnet14-shapes", "--rank", *IMAGES, "--layer", "layer3",
                 "--layer", "layer4", "--method", "cam", "--method", "gradcam", "--method",
                 "eigencam", "--steps", "4", *CKPT]) == 0
    printed = capsys.readouterr().out.splitlines()
    loaded = load_model("resnet14-shapes", checkpoints_dir=ROOT / "checkpoints")
    rows = rank_images(loaded, IMAGES, layers=["layer3", "layer4"],
                       methods=["cam", "gradcam", "eigencam"], steps=4)
    assert printed[1:] == format_ranking(rows).splitlines()
    ranked = {(r.layer, r.method) for r in rows}
    # CAM cannot apply at layer3 (no GAP -> linear after it): left out, not a failed call
    assert ("layer4", "cam") in ranked and ("layer3", "cam") not in ranked
    assert len(ranked) == 5
    # Eigen-CAM ignores the weights' training: the sanity check flags it at both layers
    assert all(r.flags for r in rows if r.method == "eigencam")


def test_layer_without_rank_is_one_line(capsys):
    assert main(["layers", "--model", "resnet14-shapes", "--layer", "layer3", *CKPT]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--rank" in err
