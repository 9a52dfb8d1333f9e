"""Odd but legal inputs: they must work, with valid outputs, no warning spam and files
readable by others (umask 022 -> 0644)."""

from __future__ import annotations

import json
import logging
import os
import stat
import warnings

import pytest
from harness import run_cli

ODD = ["gray16.png", "cmyk.jpg", "palette.png", "la.png", "rgba.png", "exif_rotated.jpg",
       "wide.png", "猫 の写真.png", "é ü — space.png", "frames.gif", "rgb.png"]


def strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path} holds bare {constant}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


GREY_TOO = {"gray16.png", "la.png", "palette.png", "猫 の写真.png"}   # also into a 1-channel model


@pytest.mark.parametrize("name,model", [(n, "tinyrgb") for n in ODD]
                         + [(n, "tiny") for n in ODD if n in GREY_TOO])
def test_odd_images_explain(name, model, ws, assets, umask022):
    out = ws / "out" / "解释"      # a CJK output folder too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_cli(["explain", str(assets / "img" / name), "--model", model, "--out", str(out)])
    assert res.rc == 0 and "Traceback" not in res.err, res.err
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]
    (folder,) = out.iterdir()
    manifest = strict_json(folder / "manifest.json")
    assert abs(sum(p["prob"] for p in manifest["predictions"])) <= 1.0 + 1e-6
    assert manifest["image"]["source"].endswith(name)
    if name == "exif_rotated.jpg":   # stored 32 wide x 40 high, shown rotated 90 degrees
        assert (manifest["image"]["width"], manifest["image"]["height"]) == (40, 32)
    for p in [folder, *folder.iterdir()]:   # others may read the results
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o755 if p.is_dir() else 0o644), (p, oct(mode))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]   # no staging left


def test_gif_note_once_and_grey_conversion_said(ws, assets, caplog):
    caplog.set_level(logging.INFO)
    res = run_cli(["explain", str(assets / "img" / "frames.gif"), "--model", "tiny",
                   "--out", str(ws / "out")])
    assert res.rc == 0, res.err
    frames = [r for r in caplog.records if "frames; using the first" in r.getMessage()]
    grey = [r for r in caplog.records if "converted to grey" in r.getMessage()]
    assert len(frames) == 1 and len(grey) == 1, [r.getMessage() for r in caplog.records]
    assert "frames.gif" in grey[0].getMessage() and "'tiny'" in grey[0].getMessage()
    caplog.clear()
    res = run_cli(["explain", str(assets / "img" / "gray.png"), "--model", "tiny", "--out", str(ws / "o2")])
    assert res.rc == 0 and not [r for r in caplog.records if "converted" in r.getMessage()]


def test_train_files_modes_progress_and_a_truncated_image(ws, assets, umask022):
    """One truncated image among good ones with batch size 1 trains (it is skipped with a
    warning); run files and the registered checkpoint are 0644; no progress bar (and no
    carriage return) on a stderr that is not a terminal, one plain line per epoch."""
    res = run_cli(["train", "--model", "lenet5", "--dataset", f"folder:{assets / 'data' / 'trunc'}",
                   "--epochs", "2", "--batch-size", "1", "--val-fraction", "0.5", "--name", "t",
                   "--checkpoints-dir", str(ws / "ck"), "--out", str(ws / "run")])
    assert res.rc == 0 and "Traceback" not in res.err, res.err
    assert "\r" not in res.err and "step/s" not in res.err, res.err
    assert [line.split()[:2] for line in res.out.splitlines() if line.startswith("epoch")] == \
        [["epoch", "1/2"], ["epoch", "2/2"]], res.out
    files = [*(ws / "run").iterdir(), ws / "ck" / "t.safetensors"]
    assert {p.name for p in files} >= {"config.yaml", "best.safetensors", "metrics.json", "t.safetensors"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, (p, oct(p.stat().st_mode))
    strict_json(ws / "run" / "metrics.json")
