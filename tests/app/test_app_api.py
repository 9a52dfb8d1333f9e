"""The app through its API (gradio_client), as a script or the browser would call it."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from camviz.app import CAM_LAYER, PREDICTED
from camviz.cam import METHODS
from camviz.checkpoint import load_checkpoint
from camviz.data.mnist import FASHION_CLASSES
from camviz.explainer import explain_images
from camviz.images import load_image
from camviz.summary import layer_table

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CAT = SAMPLES / "cat.jpg"
COFFEE = SAMPLES / "coffee.jpg"
DEFAULT = ["cam", "gradcam", "gradcampp"]


def explain(client, image, model="resnet14-tiny", layer="", methods=DEFAULT, target=PREDICTED,
            alpha=0.5, colormap="jet"):
    """The Explain click, then the "Prepare downloads" click (files only when asked):
    (gallery, label, status, maps, pngs, model input)."""
    args = (handle_file(str(image)), model, layer, list(methods), target, alpha, colormap)
    gallery, label, status, seen = client.predict(*args, api_name="/explain")
    maps, pngs = client.predict(*args, api_name="/downloads")
    return gallery, label, status, maps, pngs, seen


def raw_maps(result) -> dict[str, np.ndarray]:
    return {Path(p).name: np.load(p) for p in result[3]}


def reference(server, name, image, layer=None, methods=None, target=None):
    loaded = load_checkpoint(server.dirs.checkpoints / f"{name}.safetensors")
    return explain_images(loaded, [load_image(image)], layers=layer, methods=methods,
                          target=target, predictions=5)[0]


def test_explain_gives_predictions_overlays_and_maps(server, client):
    gallery, label, status, maps, pngs, seen = explain(client, CAT)
    ref = reference(server, "resnet14-tiny", CAT)
    # top-5 as the library computes them, best first
    assert [c["label"] for c in label["confidences"]] == [n for n, _ in ref.predictions]
    assert [c["confidence"] for c in label["confidences"]] == pytest.approx(
        [p for _, p in ref.predictions], abs=1e-5)
    assert label["label"] == ref.predictions[0][0]
    # one overlay per method (resnet14 has a GAP -> linear head, so CAM runs too)
    assert [g["caption"].split(" · ")[0] for g in gallery] == [METHODS.get(m).title for m in DEFAULT]
    assert all(f" · layer4 · {ref.predictions[0][0]} " in g["caption"] for g in gallery)
    # the method leads each file name, so a browser that cuts names still tells them apart
    assert [Path(p).name for p in pngs] == [f"cat_{m}_layer4.png" for m in DEFAULT]
    for item in gallery:
        with Image.open(item["image"]) as im:
            assert im.format == "PNG" and im.mode == "RGB" and max(im.size) == 320
            over = np.asarray(im).astype(int)
        plain = ref.rgb.astype(int)
        assert over.shape == plain.shape and np.abs(over - plain).mean() > 5  # a heat map is on it
    # the raw maps are the library's, at layer resolution
    got = raw_maps((gallery, label, status, maps, pngs))
    assert sorted(got) == sorted(f"cat_{m}_layer4.raw.npy" for m in DEFAULT)
    for m in DEFAULT:
        assert got[f"cat_{m}_layer4.raw.npy"].shape == ref.raw[("layer4", m)][0].shape
        np.testing.assert_allclose(got[f"cat_{m}_layer4.raw.npy"], ref.raw[("layer4", m)][0],
                                   rtol=1e-5, atol=1e-6)
    assert f"**{ref.predictions[0][0]}**" in status and "resnet14-tiny" in status
    # what the model sees: the 28x28 grey input, enlarged by whole pixels, beside a warning
    with Image.open(seen) as im:
        px = np.asarray(im.convert("RGB")).astype(int)
    assert px.shape[0] == px.shape[1] and px.shape[0] % 28 == 0 and px.shape[0] >= 196
    k = px.shape[0] // 28
    np.testing.assert_array_equal(px[::k, ::k, 0], np.asarray(ref.model_input))
    assert "trained on 28×28 grey fashion-mnist images; this colour picture" in status


def test_cam_is_dropped_with_a_notice_where_it_cannot_apply(client):
    gallery, _, status, maps, *_ = explain(client, CAT, model="lenet5-tiny")
    assert [g["caption"].split(" · ")[0] for g in gallery] == ["Grad-CAM", "Grad-CAM++"]
    assert "CAM does not apply here: cam needs layer 'features'" in status and len(maps) == 2


def test_each_method_succeeds_or_fails_on_its_own(client):
    """Issue 13: CAM + Grad-CAM + Grad-CAM++ + Score-CAM at resnet14's layer3 used to fail as
    a whole (a toast in internal names, every panel "Error")."""
    methods = ["cam", "gradcam", "gradcampp", "scorecam"]
    gallery, _, status, maps, *_ = explain(client, CAT, layer="layer3", methods=methods)
    assert [g["caption"].split(" · ")[0] for g in gallery] == ["Grad-CAM", "Grad-CAM++", "Score-CAM"]
    assert len(maps) == 3 and "- CAM does not apply here: cam needs layer 'layer3'" in status


def test_identical_and_blank_maps_are_explained_in_the_page(client):
    _, _, status, *_ = explain(client, CAT, methods=["cam", "gradcam", "hirescam"])
    assert "CAM, Grad-CAM and HiResCAM are identical here" in status
    for target in FASHION_CLASSES:   # some class has no positive evidence at layer4
        _, _, status, *_ = explain(client, CAT, methods=["gradcam"], target=target)
        if "is blank for" in status:
            assert f"Grad-CAM is blank for '{target}' at `layer4`" in status
            break
    else:
        pytest.fail("no class gave a blank Grad-CAM map; pick another image")


def test_cam_asked_alone_where_it_cannot_apply_is_an_error(client):
    with pytest.raises(AppError, match=r"cam needs layer 'features' to feed global average pooling.*"
                                       r"use gradcam"):
        explain(client, CAT, model="lenet5-tiny", methods=["cam"])


def test_cam_layer_entry_means_each_models_own_cam_layer(client):
    for name, default in (("lenet5-tiny", "features"), ("resnet14-tiny", "layer4")):
        _, _, status, maps, *_ = explain(client, CAT, model=name, layer=CAM_LAYER, methods=["gradcam"])
        assert f"at `{default}` of **{name}**" in status
        assert [Path(p).name for p in maps] == [f"cat_gradcam_{default}.raw.npy"]


def test_layer_dropdown_follows_the_model(server, client):
    for name, default in (("lenet5-tiny", "features"), ("resnet14-tiny", "layer4")):
        layers, classes, info = client.predict(name, api_name="/choose_model")
        loaded = load_checkpoint(server.dirs.checkpoints / f"{name}.safetensors")
        spatial = [r.name for r in layer_table(loaded) if r.shape and len(r.shape) == 3
                   and r.shape[1] * r.shape[2] > 1]
        # blocks first (containers at most two levels down), the default listed once
        modules = dict(loaded.model.named_modules())
        blocks = [n for n in spatial if n != default and n.count(".") <= 1
                  and list(modules[n].children())]
        assert [v for _, v in layers["choices"]] == [CAM_LAYER] + blocks
        assert layers["choices"][0][0] == f"{CAM_LAYER} {default}"
        every = client.predict(name, True, CAM_LAYER, api_name="/layer_list")
        assert [v for _, v in every["choices"]] == [CAM_LAYER] + [n for n in spatial if n != default]
        assert layers["value"] == CAM_LAYER
        assert [v for _, v in classes["choices"]] == [PREDICTED] + list(FASHION_CLASSES)
        assert classes["value"] == PREDICTED
        assert name in info and "fashion-mnist" in info
    lenet, _, _ = client.predict("lenet5-tiny", api_name="/choose_model")
    assert "layer3" not in [v for _, v in lenet["choices"]]
    resnet, _, _ = client.predict("resnet14-tiny", api_name="/choose_model")
    names = [v for _, v in resnet["choices"]]
    assert "layer3" in names and "layer4" not in names     # layer4 is the (CAM layer) entry
    assert not [n for n in names if n.startswith(("bn", "relu", "conv")) or ".bn" in n]


def test_non_default_layer_and_class(server, client):
    gallery, _label, status, maps, *_ = explain(client, CAT, layer="layer3", methods=["gradcam"],
                                              target="Trouser")
    ref = reference(server, "resnet14-tiny", CAT, layer="layer3", methods=["gradcam"],
                    target="Trouser")
    assert "**Trouser**" in status and "`layer3`" in status
    assert gallery[0]["caption"].startswith("Grad-CAM · layer3 · Trouser ")
    raw = np.load(maps[0])
    assert raw.shape == (7, 7)  # layer3 of a 28x28 ResNet
    np.testing.assert_allclose(raw, ref.raw[("layer3", "gradcam")][0], rtol=1e-5, atol=1e-6)


def test_unknown_layer_and_class_are_refused(client):
    with pytest.raises(AppError, match="unknown layer 'layer9'; did you mean"):
        explain(client, CAT, layer="layer9")
    with pytest.raises(AppError, match="unknown class 'Trousers'; did you mean 'Trouser'"):
        explain(client, CAT, target="Trousers")


def test_eight_concurrent_requests_equal_sequential(server, client):
    for name in ("explain", "downloads"):
        fn = next(f for f in server.demo.fns.values() if f.api_name == name)
        assert fn.concurrency_limit == 4
    jobs = [(img, model, layer) for img in (CAT, COFFEE)
            for model, layer in (("resnet14-tiny", ""), ("resnet14-tiny", "layer2"),
                                 ("lenet5-tiny", ""), ("lenet5-tiny", "features.conv2"))]
    sequential = [raw_maps(explain(client, *job)) for job in jobs]
    futures = [client.submit(handle_file(str(img)), model, layer, DEFAULT, PREDICTED, 0.5, "jet",
                             api_name="/downloads") for img, model, layer in jobs]
    concurrent = [raw_maps((None, None, None, *f.result(timeout=120))) for f in futures]
    for job, seq, con in zip(jobs, sequential, concurrent):
        assert sorted(seq) == sorted(con), job
        for key in seq:
            np.testing.assert_allclose(con[key], seq[key], rtol=1e-6, atol=1e-7, err_msg=str(job))
    # the jobs differ, so mixed-up hooks between threads would show
    assert not np.allclose(sequential[0]["cat_gradcam_layer4.raw.npy"],
                           sequential[4]["coffee_gradcam_layer4.raw.npy"])


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("kind, message", [
    ("text", "'notes.png' is not an image file camviz can read"),
    ("truncated", "'broken.jpg' is truncated or corrupt"),
    ("empty", "'empty.png' is empty (0 bytes)"),
    ("bomb", "'bomb.png' is 8000x8000 = 64.0 megapixels, above the 50 MP limit"),
])
def test_bad_uploads_get_their_message(client, tmp_path, kind, message):
    if kind == "text":
        bad = tmp_path / "notes.png"
        bad.write_text("these are notes, not pixels\n")
    elif kind == "truncated":
        bad = tmp_path / "broken.jpg"
        bad.write_bytes(CAT.read_bytes()[: CAT.stat().st_size // 3])
    elif kind == "empty":
        bad = tmp_path / "empty.png"
        bad.write_bytes(b"")
    else:
        bad = _png_header_only(tmp_path / "bomb.png", 8000, 8000)
    with pytest.raises(AppError) as err:
        explain(client, bad)
    assert message in str(err.value)
    assert "Traceback" not in str(err.value)
    # and refused at upload already: the preview is cleared (issue 13)
    assert client.predict(handle_file(str(bad)), api_name="/check_upload") is None
    assert client.predict(handle_file(str(CAT)), api_name="/check_upload") is not None


def test_oversized_upload_is_refused(server, client, tmp_path):
    import httpx
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(21 * 1024 * 1024)  # above MAX_FILE_SIZE (20 MB)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 20971520 bytes"):
        explain(client, big)  # gradio_client reads the limit from the app and stops
    with open(big, "rb") as f:  # and the server refuses it from clients that do not
        response = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("big.png", f)})
    assert response.status_code == 413


def test_image_urls_are_not_fetched(client):
    with pytest.raises(AppError, match="does not fetch images from URLs"):
        explain(client, "http://127.0.0.1:9/cat.png")


def test_uncached_imagenet_model_is_listed_as_such_and_refused_with_the_fix(server, client):
    model = next(b for b in server.demo.blocks.values() if getattr(b, "elem_id", None) == "explain-model")
    labels = {v: lab for lab, v in model.choices}
    assert labels["resnet50"] == "resnet50 (weights not cached; offline)"
    assert labels["resnet14-tiny"] == "resnet14-tiny"
    assert "vgg11" not in labels and "lenet5" not in labels  # no untrained zoo architectures
    refusal = (r"ImageNet weights for 'resnet50' are not cached at .*resnet50-.* is offline "
               r"\(camviz app --offline or CAMVIZ_OFFLINE=1\), so it never downloads; copy")
    with pytest.raises(AppError, match=refusal):
        explain(client, CAT, model="resnet50")
    # choosing it says so in the info line and leaves nothing of the previous model
    layers, classes, info = client.predict("resnet50", api_name="/choose_model")
    assert re.search(r"\*\*resnet50\*\* cannot be opened: " + refusal, info)
    assert layers["choices"] == [] and [v for _, v in classes["choices"]] == [PREDICTED]
    assert not (server.dirs.torch_home / "hub" / "checkpoints").exists()  # nothing downloaded


def test_a_model_given_as_a_path_is_refused(server, client):
    path = str(server.dirs.checkpoints / "resnet14-tiny.safetensors")
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio's own check
        explain(client, CAT, model=path)
    # and the server's, which does not rely on the dropdown
    run = next(f for f in server.demo.fns.values() if f.api_name == "explain").fn
    with pytest.raises(gr.Error, match=r"unknown model '.*resnet14-tiny.safetensors' \(valid: "
                                       r"lenet5-tiny, resnet14-tiny, .*\); choose one from the Model list"):
        run(str(CAT), path, "", DEFAULT, PREDICTED, 0.5, "jet")


def compare(client, image, models, layers=(), methods=("gradcam",), target=PREDICTED):
    return client.predict(handle_file(str(image)), list(models), list(layers), list(methods), 0.5,
                          "jet", target, api_name="/compare")


def test_compare_models_and_layers(client):
    gallery, grid, table, status = compare(client, CAT, ["lenet5-tiny", "resnet14-tiny"])
    caps = [g["caption"] for g in gallery]
    assert [c.split(" · ")[:3] for c in caps] == [["lenet5-tiny", "features", "Grad-CAM"],
                                                  ["resnet14-tiny", "layer4", "Grad-CAM"]]
    assert [row[0] for row in table["data"]] == ["lenet5-tiny", "resnet14-tiny"]
    assert caps[0].split(" · ")[3] == table["data"][0][1]  # the first model's own top class
    # the models share their classes: the second explains the first one's class
    assert caps[1].split(" · ")[3].split(" ")[0] == caps[0].split(" · ")[3].split(" ")[0]
    with Image.open(grid) as im:
        assert im.format == "PNG" and im.width > im.height
    layers, _classes = client.predict(["resnet14-tiny"], api_name="/choose_models")
    assert "layer3" in [v for _, v in layers["choices"]]
    gallery, _, table, _ = compare(client, CAT, ["resnet14-tiny"], ["layer3", "layer4"],
                                   ["gradcam", "gradcampp"])
    assert [g["caption"].split(" · ")[1:3] for g in gallery] == [
        ["layer3", "Grad-CAM"], ["layer3", "Grad-CAM++"], ["layer4", "Grad-CAM"], ["layer4", "Grad-CAM++"]]
    # lenet5 has no layer3: that model is a note, the other is still compared
    gallery, _, table, status = compare(client, CAT, ["lenet5-tiny", "resnet14-tiny"], ["layer3"])
    assert [row[0] for row in table["data"]] == ["resnet14-tiny"]
    assert "**lenet5-tiny** could not be compared: unknown layer 'layer3'" in status


def test_compare_grid_of_three_models_by_two_methods_with_a_shared_class(server, client):
    """Issue 13: the reports' figure - 3 models x 2 methods, one class for all, one PNG."""
    models = ["lenet5-tiny", "resnet14-tiny", "resnet14-tiny2"]
    _, classes = client.predict(models, api_name="/choose_models")
    assert [v for _, v in classes["choices"]] == [PREDICTED] + list(FASHION_CLASSES)
    gallery, grid, _table, status = compare(client, CAT, models, methods=["gradcam", "gradcampp"],
                                           target="Sneaker")
    assert len(gallery) == 6
    assert [g["caption"].split(" · ")[0] for g in gallery] == [m for m in models for _ in (0, 1)]
    assert all(g["caption"].split(" · ")[3].startswith("Sneaker ") for g in gallery)
    assert "3 model(s) × 2 method(s): 6 maps in" in status and "every model explains **Sneaker**" in status
    _, one, _, _ = compare(client, CAT, models[:1], methods=["gradcam", "gradcampp"])
    with Image.open(grid) as im, Image.open(one) as single:
        assert im.format == "PNG" and im.width == single.width      # same columns
        assert im.height > 2.2 * single.height                      # three model rows
    _, _, _, status = compare(client, CAT, models)                 # no class: the first model's
    top = reference(server, "lenet5-tiny", CAT).predictions[0][0]
    assert f"every model explains **{top}**" in status


def test_an_uncached_imagenet_model_does_not_fail_the_comparison(client):
    gallery, _, table, status = compare(client, CAT, ["resnet14-tiny", "resnet50"])
    assert [row[0] for row in table["data"]] == ["resnet14-tiny"] and len(gallery) == 1
    assert "**resnet50** could not be compared: ImageNet weights for 'resnet50' are not cached" in status


def test_faithfulness_on_demand_matches_the_library(server, client):
    from camviz.metrics.on_image import image_faithfulness
    plot, text = client.predict(handle_file(str(CAT)), "resnet14-tiny", "", ["gradcam", "gradcampp"],
                                PREDICTED, api_name="/faithfulness")
    loaded = load_checkpoint(server.dirs.checkpoints / "resnet14-tiny.safetensors")
    r = reference(server, "resnet14-tiny", CAT, methods=["gradcam", "gradcampp"])
    f = image_faithfulness(loaded, r)
    for title, who in (("Grad-CAM", "gradcam"), ("random map", "random")):
        row = next(line for line in text.splitlines() if line.startswith(f"| {title}"))
        cells = [c.strip() for c in row.split("|")]
        assert float(cells[2]) == pytest.approx(f.auc[who]["deletion"], abs=1e-3)
        assert float(cells[3]) == pytest.approx(f.auc[who]["insertion"], abs=1e-3)
    assert f"{f.sanity['gradcam']:.2f}" in text
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.width > 2 * im.height * 0.9


def test_explain_ships_the_overlays_only_and_files_when_asked(server, client):
    """Issue 13 item 5: an Explain click returns overlays to show (no .npy/.png downloads);
    the files come from "Prepare downloads", and are the same overlays."""
    args = (handle_file(str(CAT)), "resnet14-tiny", "", ["gradcam", "gradcampp"], PREDICTED, 0.5, "jet")
    result = client.predict(*args, api_name="/explain")
    assert len(result) == 4 and len(result[0]) == 2           # gallery, label, status, input
    maps, pngs = client.predict(*args, api_name="/downloads")
    assert [Path(p).name for p in maps] == ["cat_gradcam_layer4.raw.npy", "cat_gradcampp_layer4.raw.npy"]
    for item, png in zip(result[0], pngs):
        with Image.open(item["image"]) as shown, Image.open(png) as file:
            np.testing.assert_array_equal(np.asarray(shown.convert("RGB")), np.asarray(file.convert("RGB")))


def test_the_page_paints_the_overlays_first_then_the_rest_as_the_api_returns_them(server):
    """The page's click is two steps (overlays, then label/status/model input, only after a
    success); together they give what the API's one /explain call gives."""
    fns = {f.api_name: f for f in server.demo.fns.values()}
    first, then, api = fns["explain_overlays"], fns["explain_details"], fns["explain"]

    def ids(blocks):
        return [getattr(b, "elem_id", None) for b in blocks]

    assert ids(api.outputs) == ["explain-gallery", "explain-label", "explain-status", "explain-seen"]
    assert ids(first.outputs)[0] == "explain-gallery" and len(first.outputs) == 2
    assert first.outputs[1].stateful                     # kept in the session, not sent
    assert first.targets and first.targets[0][1] == "click" and first.api_visibility == "private"
    assert ids(then.outputs) == ["explain-label", "explain-status", "explain-seen"]
    assert then.trigger_after == first._id and then.trigger_only_on_success
    assert not api.targets                               # API only: no second run per click

    args = (str(CAT), "resnet14-tiny", "layer3", DEFAULT, PREDICTED, 0.4, "viridis")
    gallery, shown = first.fn(*args)
    label, status, seen = then.fn(shown)
    g, lab, st, sn = api.fn(*args)
    assert [c for _, c in gallery] == [c for _, c in g] and len(g) == 2   # CAM does not apply
    for (a, _), (b, _) in zip(gallery, g):
        np.testing.assert_array_equal(a, b)
    assert label == lab and set(label) <= set(FASHION_CLASSES)
    timing = re.compile(r" in \d+\.\d\d s\.")
    assert timing.sub("", status) == timing.sub("", st) and "does not apply" in status
    np.testing.assert_array_equal(seen, sn)
