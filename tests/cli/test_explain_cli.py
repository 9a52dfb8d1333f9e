"""`camviz explain` end to end: files written, table printed, bad inputs as one-line errors."""

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camviz.cam import METHODS
from camviz.checkpoint import save_checkpoint
from camviz.cli import main
from camviz.models import build_model

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CAT = SAMPLES / "cat.jpg"


def _checkpoint(path, in_channels, input_size, classes, seed=0):
    torch.manual_seed(seed)
    kwargs = {"num_classes": len(classes), "in_channels": in_channels, "input_size": input_size,
              "width": 0.25}
    meta = {"arch": "resnet14", "arch_kwargs": kwargs, "classes": classes,
            "mean": [0.5] * in_channels, "std": [0.25] * in_channels}
    return save_checkpoint(path, build_model("resnet14", **kwargs), meta)


@pytest.fixture(scope="module")
def grey_ckpt(tmp_path_factory):
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    return _checkpoint(tmp_path_factory.mktemp("ck") / "fashion.safetensors", 1, 28, classes)


@pytest.fixture(scope="module")
def colour_ckpt(tmp_path_factory):
    classes = [f"thing{i}" for i in range(6)]
    return _checkpoint(tmp_path_factory.mktemp("ck") / "things.safetensors", 3, 32, classes, seed=3)


def run(capsys, *argv):
    code = main(["explain", *map(str, argv)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def table(out: str) -> dict[str, list[tuple[str, float, bool]]]:
    """Parse the printed tables: image → [(class, prob, explained)] in rank order."""
    rows, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^  ([* ]) (\d+|-)\. (.+?)\s+([0-9.]+)$", line)
        if m and current is not None:
            rows[current].append((m.group(3), float(m.group(4)), m.group(1) == "*"))
        elif line and not line.startswith(" ") and not line.startswith("wrote"):
            current = line.split("  (")[0]
            rows[current] = []
    return rows


def test_full_run_writes_overlays_grid_maps_and_manifest(capsys, tmp_path, colour_ckpt):
    out = tmp_path / "out"
    code, stdout, err = run(capsys, SAMPLES, "--checkpoint", colour_ckpt, "--out", out,
                            "--method", "gradcam", "--method", "gradcampp", "--alpha", "0.3",
                            "--colormap", "inferno", "--device", "cpu", "--batch-size", "2")
    assert code == 0, err
    printed = table(stdout)
    assert sorted(Path(k).name for k in printed) == ["astronaut.jpg", "cat.jpg", "coffee.jpg"]
    for source, rows in printed.items():
        folder = out / Path(source).stem
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["grid.png", "manifest.json", "layer4_gradcam.png", "layer4_gradcampp.png",
             "layer4_gradcam.npy", "layer4_gradcampp.npy", "layer4_gradcam.raw.npy",
             "layer4_gradcampp.raw.npy"])
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["image"]["source"] == source
        assert rows[0][0] == manifest["predictions"][0]["name"] == manifest["targets"][0]["name"]
        assert rows[0][2] and not any(r[2] for r in rows[1:])
        assert rows[0][1] == pytest.approx(manifest["predictions"][0]["prob"], abs=1e-4)
        assert manifest["model"]["name"] == "things" and manifest["model"]["sha256"]
        assert manifest["methods"] == ["gradcam", "gradcampp"] and manifest["layers"] == ["layer4"]
        assert manifest["overlay"] == {"alpha": 0.3, "colormap": "inferno"}
        overlay = Image.open(folder / "layer4_gradcam.png")
        assert overlay.mode == "RGB" and max(overlay.size) == 320
        assert np.load(folder / "layer4_gradcam.npy").shape == (1, 32, 32)
    assert "wrote 24 files for 3 image(s)" in stdout


def test_grey_checkpoint_takes_a_colour_photo(capsys, tmp_path, grey_ckpt):
    code, stdout, err = run(capsys, CAT, "--checkpoint", grey_ckpt, "--out", tmp_path,
                            "--class", "sneaker", "--layer", "layer3", "--layer", "layer4",
                            "--method", "gradcam")
    assert code == 0, err
    m = json.loads((tmp_path / "cat" / "manifest.json").read_text())
    assert m["targets"][0]["name"] == "Sneaker" and m["layers"] == ["layer3", "layer4"]
    assert m["model"]["in_channels"] == 1 and m["image"]["width"] == 451
    assert (tmp_path / "cat" / "layer3_gradcam.png").is_file()
    assert [c for c, _, star in table(stdout)[str(CAT)] if star] == ["Sneaker"]


def test_colour_checkpoint_takes_a_grey_image(capsys, tmp_path, colour_ckpt):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(grey)
    code, stdout, err = run(capsys, grey, "--checkpoint", colour_ckpt, "--out", tmp_path / "o",
                            "--topk", "2", "--method", "gradcam")
    assert code == 0, err
    folder = tmp_path / "o" / "grey"
    m = json.loads((folder / "manifest.json").read_text())
    assert [t["index"] for t in m["targets"]] == [p["index"] for p in m["predictions"][:2]]
    assert len(list(folder.glob("layer4_gradcam_c*.png"))) == 2
    assert [star for _, _, star in table(stdout)[str(grey)]][:3] == [True, True, False]


def _png(im, **kw):
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _header_only_png(w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _jpeg_cut():
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(
        buf, format="JPEG")
    return buf.getvalue()[:3000]


BAD = {
    "missing": (None, "missing.png' does not exist"),
    "empty dir": ("DIR", "contains no images"),
    "not an image": (b"just some text\n" * 20, "is not an image file"),
    "truncated": (_jpeg_cut(), "is truncated or corrupt"),
    "zero bytes": (b"", "is empty (0 bytes)"),
    "huge": (_header_only_png(12_000, 9_000), "108.0 megapixels, above the 50 MP limit"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, grey_ckpt, case):
    data, message = BAD[case]
    name = "missing.png" if data is None else "emptydir" if data == "DIR" else f"bad_{case[0]}.png"
    bad = tmp_path / name
    if data == "DIR":
        bad.mkdir()
        (bad / "notes.txt").write_text("no images here")
    elif data is not None:
        bad.write_bytes(data)
    out = tmp_path / "out"
    code, _stdout, err = run(capsys, CAT, bad, "--checkpoint", grey_ckpt, "--out", out)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("camviz: error: ") and message in lines[0] and bad.name in lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pixel_limit_from_environment(capsys, tmp_path, grey_ckpt, monkeypatch):
    monkeypatch.setenv("CAMVIZ_MAX_PIXELS", "100000")
    code, _, err = run(capsys, CAT, "--checkpoint", grey_ckpt, "--out", tmp_path / "o")
    assert code == 1 and "451x300" in err and "0.1 MP limit" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--class", "snekaer"], "unknown class 'snekaer'; did you mean 'Sneaker'"),
    (["--class", "12"], "class index 12 is out of range"),
    (["--method", "gradcma"], "unknown CAM method 'gradcma'; did you mean 'gradcam'"),
    (["--layer", "layer9"], "unknown layer 'layer9'"),
    (["--colormap", "virdis"], "unknown colormap 'virdis'; did you mean 'viridis'"),
    (["--alpha", "2"], "alpha 2 is outside 0..1"),
    (["--batch-size", "0"], "batch size 0"),
    (["--topk", "11"], "topk 11 must be between 1 and 10"),
    (["--method", "cam", "--layer", "layer3"], "cam needs layer 'layer3'"),
])
def test_bad_options_are_one_line(capsys, tmp_path, grey_ckpt, args, message):
    code, _, err = run(capsys, CAT, "--checkpoint", grey_ckpt, "--out", tmp_path / "o", *args)
    assert code == 1 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_help_explains_every_option(capsys):
    import argparse

    from camviz.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    explain = sub.choices["explain"]
    options = [a for a in explain._actions if not isinstance(a, argparse._HelpAction)]
    assert {o for a in options for o in a.option_strings} >= {
        "--model", "--checkpoint", "--checkpoints-dir", "--layer", "--method", "--class", "--topk",
        "--alpha", "--colormap", "--out", "--device", "--batch-size"}
    for action in options:
        assert action.help and len(action.help) > 20, action.dest
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in METHODS.names():
        assert name in text
    assert "turbo" in text and "out/explain" in text


def test_class_and_topk_are_exclusive(capsys, grey_ckpt):
    with pytest.raises(SystemExit) as exit_:
        main(["explain", str(CAT), "--checkpoint", str(grey_ckpt), "--class", "1", "--topk", "2"])
    assert exit_.value.code == 1     # issue 15: one line and exit 1, like every user error
    err = capsys.readouterr().err
    assert "not allowed with argument" in err and err.count("\n") == 1 and "usage:" not in err


def test_imagenet_model_from_the_cache(capsys, tmp_path, torch_home, no_download):
    import torchvision

    from camviz.checkpoint import file_sha256
    from camviz.hub import imagenet_cache_path
    cache = imagenet_cache_path("resnet18")
    cache.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    torch.save(reference.state_dict(), cache)
    # What the probability must be, by hand: 224x224 bilinear, /255, ImageNet mean/std.
    rgb = np.asarray(Image.open(CAT).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR),
                     dtype=np.float32) / 255
    x = (rgb - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        tabby = float(reference(torch.from_numpy(x.transpose(2, 0, 1))[None]).softmax(1)[0, 281])
    code, _stdout, err = run(capsys, CAT, "--model", "resnet18", "--checkpoints-dir", tmp_path,
                            "--class", "Tabby", "--out", tmp_path / "o")
    assert code == 0, err
    m = json.loads((tmp_path / "o" / "cat" / "manifest.json").read_text())
    assert m["targets"] == [{"index": 281, "name": "tabby", "prob": pytest.approx(tabby, rel=1e-4)}]
    assert m["model"]["source"] == "imagenet" and m["model"]["sha256"] == file_sha256(cache)
    assert m["methods"] == ["cam", "gradcam", "gradcampp"]
    assert np.load(tmp_path / "o" / "cat" / "layer4_cam.npy").shape == (1, 224, 224)
    code, _, err = run(capsys, CAT, "--model", "resnet18", "--checkpoints-dir", tmp_path,
                       "--class", "tabbby", "--out", tmp_path / "o")
    assert code == 1 and "did you mean 'tabby'" in err and "1000 classes" in err
