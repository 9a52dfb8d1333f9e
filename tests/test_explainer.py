"""explain_images / write_outputs on tiny seeded checkpoints and the real CAM engine."""

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from zoo_checkpoints import make_checkpoint as zoo_checkpoint

from camviz.cam import explain as cam_explain
from camviz.checkpoint import load_checkpoint
from camviz.errors import CamvizError, ConfigError, ImageError, UnknownNameError
from camviz.explainer import explain_images, iter_explanations, unique_names
from camviz.handle import preprocess
from camviz.images import load_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CAT = SAMPLES / "cat.jpg"
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def make_checkpoint(path, classes=FASHION, **kwargs):
    return zoo_checkpoint(path, classes=classes, **kwargs)


@pytest.fixture(scope="module")
def grey_ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "grey.safetensors",
                           in_channels=1, input_size=28, width=0.25)


@pytest.fixture(scope="module")
def grey(grey_ckpt):
    return load_checkpoint(grey_ckpt)


@pytest.fixture(scope="module")
def colour(colour_ckpt):
    return load_checkpoint(colour_ckpt)


def test_one_image_gives_maps_predictions_and_display(grey):
    (r,) = explain_images(grey, [CAT], methods=["gradcam", "gradcampp"])
    assert r.name == "cat" and r.source == str(CAT) and r.size == (451, 300)
    assert r.rgb.dtype == np.uint8 and r.rgb.shape == (213, 320, 3)  # aspect of the photo kept
    assert set(r.maps) == {("layer4", "gradcam"), ("layer4", "gradcampp")}
    for m in r.maps.values():
        assert m.shape == (1, 28, 28) and m.dtype == np.float32
        assert m.min() >= 0 and m.max() <= 1 and m.max() == pytest.approx(1.0)
    assert r.raw[("layer4", "gradcam")].shape[0] == 1 and r.raw[("layer4", "gradcam")].ndim == 3
    probs = [p for _, p in r.predictions]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True)
    assert r.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert r.top_indices[0] == int(np.argmax(r.probs)) and r.targets == [r.top_indices[0]]
    assert r.predictions[0][0] == FASHION[r.targets[0]] == r.target_names[0]


def test_maps_are_the_engines_on_the_preprocessed_batch(colour):
    paths = [CAT, SAMPLES / "coffee.jpg", SAMPLES / "astronaut.jpg"]
    ours = explain_images(colour, paths, methods=["gradcam"], batch_size=2)
    x = preprocess([load_image(p) for p in paths], colour)
    ref = cam_explain(colour.model, x, layer=["layer4"], methods=("gradcam",))["layer4"]
    for i, r in enumerate(ours):
        np.testing.assert_allclose(r.map("layer4", "gradcam"), ref.maps["gradcam"][i].numpy(), atol=1e-5)
        np.testing.assert_allclose(r.probs, ref.probs[i].numpy(), atol=1e-6)
    one_by_one = explain_images(colour, paths, methods=["gradcam"], batch_size=1)
    for a, b in zip(ours, one_by_one):
        np.testing.assert_allclose(a.map(), b.map(), atol=1e-5)


def test_target_by_name_or_index(grey):
    (by_name,) = explain_images(grey, [CAT], methods=["gradcam"], target="sneaker")
    (by_index,) = explain_images(grey, [CAT], methods=["gradcam"], target=7)
    (by_text,) = explain_images(grey, [CAT], methods=["gradcam"], target="7")
    assert by_name.targets == by_index.targets == by_text.targets == [7]
    assert by_name.target_names == ["Sneaker"]
    np.testing.assert_allclose(by_name.map(), by_index.map())
    (two,) = explain_images(grey, [CAT], methods=["gradcam"], target=["Bag", 0])
    assert two.targets == [8, 0] and two.maps[("layer4", "gradcam")].shape == (2, 28, 28)
    np.testing.assert_allclose(two.map(k=0), explain_images(grey, [CAT], methods=["gradcam"],
                                                            target=8)[0].map(), atol=1e-6)


def test_unknown_class_and_out_of_range_index(grey):
    with pytest.raises(UnknownNameError, match="unknown class 'snekaer'; did you mean 'Sneaker'"):
        explain_images(grey, [CAT], target="snekaer")
    with pytest.raises(ConfigError, match=r"class index 10 is out of range .* 10 classes; pass 0..9"):
        explain_images(grey, [CAT], target=10)


def test_unknown_class_among_many_lists_a_few(colour):
    colour_many = dataclasses.replace(colour, classes=[f"c{i:03d}" for i in range(12)] + ["zz"])
    with pytest.raises(UnknownNameError, match=r"e.g. c000, c001, c002, c003, c004, \.\.\. \(13 classes\)"):
        explain_images(colour_many, [CAT], target="kitten")


def test_topk_explains_the_k_best_classes(grey):
    (r,) = explain_images(grey, [CAT], methods=["gradcam"], topk=3)
    assert r.targets == r.top_indices[:3]
    assert r.maps[("layer4", "gradcam")].shape == (3, 28, 28)
    with pytest.raises(ConfigError, match="not both"):
        explain_images(grey, [CAT], target=1, topk=2)
    with pytest.raises(ConfigError, match="between 1 and 10"):
        explain_images(grey, [CAT], topk=11)


def test_unknown_method_and_layer_suggest(grey):
    with pytest.raises(UnknownNameError, match="did you mean 'gradcam'"):
        iter_explanations(grey, [CAT], methods=["gradcma"])
    with pytest.raises(UnknownNameError, match="unknown layer 'layer5'.*did you mean 'layer4'"):
        iter_explanations(grey, [CAT], layers=["layer5"])


def test_arguments_are_checked_before_any_image_is_read(grey, tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(UnknownNameError):
        iter_explanations(grey, [missing], methods=["nope"])
    gen = iter_explanations(grey, [missing])  # valid arguments: the file is read on next()
    with pytest.raises(ImageError, match="does not exist"):
        next(gen)


def test_default_methods_skip_cam_without_gap_head(tmp_path, caplog):
    lenet = load_checkpoint(make_checkpoint(tmp_path / "lenet.safetensors", arch="lenet5",
                                            in_channels=1, input_size=28))
    with caplog.at_level(logging.INFO, logger="camviz.explainer"):
        (r,) = explain_images(lenet, [CAT])
    assert r.methods == ["gradcam", "gradcampp"]
    assert any("skipping 'cam'" in rec.getMessage() for rec in caplog.records)
    with pytest.raises(CamvizError, match="cam needs"):
        explain_images(lenet, [CAT], methods=["cam", "gradcam"])


def test_cam_kept_and_equal_to_gradcam_on_gap_linear_head(grey):
    (r,) = explain_images(grey, [CAT])
    assert r.methods == ["cam", "gradcam", "gradcampp"]
    np.testing.assert_allclose(r.map(method="cam"), r.map(method="gradcam"), atol=1e-4)


def test_several_layers(grey):
    (r,) = explain_images(grey, [CAT], layers=["layer3", "layer4"], methods=["gradcam"])
    assert r.layers == ["layer3", "layer4"]
    assert r.raw[("layer3", "gradcam")].shape[-1] > r.raw[("layer4", "gradcam")].shape[-1]


def test_in_memory_sources_and_names(colour):
    arr = np.asarray(load_image(CAT))
    rs = explain_images(colour, [Image.fromarray(arr), arr, CAT.read_bytes()], methods=["gradcam"])
    assert [r.name for r in rs] == ["image001", "image002", "image003"]
    np.testing.assert_allclose(rs[0].map(), rs[1].map())
    assert unique_names(["cat", "cat", "a b/c", ".."]) == ["cat", "cat-2", "a_b_c", "image"]


@pytest.mark.parametrize("method", __import__("camviz.cam", fromlist=["METHODS"]).METHODS.names())
def test_every_registered_method_runs_through(grey, method):
    (r,) = explain_images(grey, [CAT], methods=[method])
    m = r.maps[("layer4", method)]
    assert m.shape == (1, 28, 28) and np.isfinite(m).all() and 0 <= m.min() and m.max() <= 1
