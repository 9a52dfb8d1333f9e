"""The outputs layer: grids, and the staged folder `camviz explain` writes."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from zoo_checkpoints import make_checkpoint

from camviz.checkpoint import file_sha256, load_checkpoint
from camviz.errors import ImageError, UnknownNameError
from camviz.explainer import ImageExplanation, explain_images
from camviz.outputs import explanation_grid, overlay_of, write_outputs, write_request_files

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CAT = SAMPLES / "cat.jpg"


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    return load_checkpoint(make_checkpoint(tmp_path_factory.mktemp("ck") / "grey.safetensors",
                                           in_channels=1, input_size=28, width=0.25))


@pytest.fixture(scope="module")
def colour(colour_ckpt):
    return load_checkpoint(colour_ckpt)


# ------------------------------------------------------------------ files

def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_write_outputs_files_and_manifest(colour, colour_ckpt, tmp_path):
    results = explain_images(colour, [CAT, SAMPLES / "coffee.jpg"])
    out = tmp_path / "a" / "b" / "out"
    files = write_outputs(results, out, loaded=colour, alpha=0.4, colormap="turbo")
    assert sorted(p.name for p in (out / "cat").iterdir()) == sorted(
        ["grid.png", "manifest.json"]
        + [f"layer4_{m}{ext}" for m in ("cam", "gradcam", "gradcampp")
           for ext in (".png", ".npy", ".raw.npy")])
    assert set(files) == set((out / "cat").iterdir()) | set((out / "coffee").iterdir())
    m = _manifest(out / "cat")
    assert {"camviz_version", "image", "model", "layers", "methods", "targets", "predictions",
            "files", "overlay", "score"} <= set(m)
    assert m["model"]["checkpoint"] == str(colour_ckpt)
    assert m["model"]["sha256"] == file_sha256(colour_ckpt)
    assert m["layers"] == ["layer4"] and m["methods"] == ["cam", "gradcam", "gradcampp"]
    assert m["targets"][0]["index"] == results[0].targets[0]
    assert m["predictions"][0]["prob"] == pytest.approx(results[0].predictions[0][1])
    assert m["overlay"] == {"alpha": 0.4, "colormap": "turbo"}
    entry = m["files"]["maps"][1]
    assert entry["layer"] == "layer4" and entry["method"] == "gradcam"
    saved = np.load(out / "cat" / entry["map"])
    np.testing.assert_array_equal(saved, results[0].maps[("layer4", "gradcam")])
    png = np.asarray(Image.open(out / "cat" / entry["overlay"]))
    np.testing.assert_array_equal(png, overlay_of(results[0], "layer4", "gradcam", alpha=0.4,
                                                      colormap="turbo"))
    assert Image.open(out / "cat" / "grid.png").width > png.shape[1] * 3
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_topk_files_are_per_class(grey, tmp_path):
    results = explain_images(grey, [CAT], methods=["gradcam"], topk=2)
    write_outputs(results, tmp_path / "o", loaded=grey)
    t = results[0].targets
    names = sorted(p.name for p in (tmp_path / "o" / "cat").glob("*.png"))
    assert names == sorted(["grid.png", f"layer4_gradcam_c{t[0]}.png", f"layer4_gradcam_c{t[1]}.png"])
    assert np.load(tmp_path / "o" / "cat" / "layer4_gradcam.npy").shape == (2, 28, 28)


def test_error_midway_leaves_nothing_and_keeps_old_results(grey, tmp_path):
    (r,) = explain_images(grey, [CAT], methods=["gradcam"])
    out = tmp_path / "new" / "out"

    def failing():
        yield r
        raise ImageError("image 'x.png' is truncated or corrupt")

    with pytest.raises(ImageError):
        write_outputs(failing(), out, loaded=grey)
    assert list(tmp_path.iterdir()) == []  # not even the parent folder we created

    old = tmp_path / "old"
    (old / "keep").mkdir(parents=True)
    (old / "keep" / "mine.txt").write_text("x")
    with pytest.raises(ImageError):
        write_outputs(failing(), old, loaded=grey)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert [p.name for p in old.iterdir()] == ["keep"]

    with pytest.raises(UnknownNameError, match="colormap"):
        write_outputs([r], old, loaded=grey, colormap="nope")
    assert [p.name for p in old.iterdir()] == ["keep"]


def test_rerun_replaces_an_image_folder(grey, tmp_path):
    write_outputs(explain_images(grey, [CAT], methods=["gradcam", "gradcampp"]), tmp_path, loaded=grey)
    write_outputs(explain_images(grey, [CAT], methods=["gradcam"]), tmp_path, loaded=grey)
    assert not (tmp_path / "cat" / "layer4_gradcampp.png").exists()
    assert _manifest(tmp_path / "cat")["methods"] == ["gradcam"]


def test_grid_compares_models(grey, colour):
    a = explain_images(grey, [CAT], methods=["gradcam"])[0]
    b = explain_images(colour, [CAT], methods=["gradcam", "gradcampp"])[0]
    one = explanation_grid([a])
    two = explanation_grid([a, b])
    assert two.shape[0] > one.shape[0] * 1.5 and two.shape[1] > one.shape[1]
    assert isinstance(a, ImageExplanation)




def test_request_files_name_the_method_first(grey, tmp_path):
    (r,) = explain_images(grey, [CAT], methods=["gradcam", "gradcampp"])
    pngs, maps = write_request_files(r, tmp_path, alpha=0.3)
    assert [p.name for p in pngs] == ["cat_gradcam_layer4.png", "cat_gradcampp_layer4.png"]
    np.testing.assert_array_equal(np.load(maps[1]), r.raw[("layer4", "gradcampp")][0])
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[0])),
                                  overlay_of(r, "layer4", "gradcam", alpha=0.3))


def test_the_overlay_method_draws_what_outputs_draws(grey):
    (r,) = explain_images(grey, [CAT], methods=["gradcam"])
    np.testing.assert_array_equal(r.overlay(alpha=0.2), overlay_of(r, alpha=0.2))
