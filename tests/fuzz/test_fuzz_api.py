"""Bad inputs through the Python API: each raises a CamvizError (one line naming the bad
value), never torch's RuntimeError, a KeyError or a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import camviz
from camviz.checkpoint import load_checkpoint, read_meta, save_checkpoint
from camviz.errors import CamvizError, NonFiniteError
from camviz.images import load_image
from camviz.models import build_model


@pytest.fixture(scope="module")
def lenet(assets):
    return load_checkpoint(assets / "ckpt" / "tiny.safetensors")


def x1(n=2):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def nan_images():
    x = x1()
    x[1, 0, 3, 4] = float("nan")
    return x


def inf_images():
    x = x1()
    x[0, 0, 0, 0] = float("inf")
    return x


# (id, call(lenet, assets), text the message must contain)
CASES = [
    ("nan-input", lambda m, a: camviz.explain(m.model, nan_images()), "NaN"),
    ("inf-input", lambda m, a: camviz.explain(m.model, inf_images()), "NaN/inf"),
    ("nan-input-index", lambda m, a: camviz.explain(m.model, nan_images()), "image 1"),
    ("colour-into-grey", lambda m, a: camviz.explain(m.model, torch.rand(1, 3, 28, 28)), "takes 1"),
    ("grey-into-colour", lambda m, a: camviz.explain(
        load_checkpoint(a / "ckpt" / "tinyrgb.safetensors").model, x1()), "x.expand"),
    ("two-channels", lambda m, a: camviz.explain(m.model, torch.rand(1, 2, 28, 28)), "2 channel"),
    ("three-dims", lambda m, a: camviz.explain(m.model, torch.rand(1, 28, 28)), "(1, 28, 28)"),
    ("int-tensor", lambda m, a: camviz.explain(m.model, torch.zeros(1, 1, 28, 28, dtype=torch.uint8)),
     "uint8"),
    ("numpy-images", lambda m, a: camviz.explain(m.model, np.zeros((1, 1, 28, 28))), "ndarray"),
    ("empty-batch", lambda m, a: camviz.explain(m.model, torch.zeros(0, 1, 28, 28)), "empty"),
    ("method-unknown", lambda m, a: camviz.explain(m.model, x1(), methods="gradcan"), "gradcan"),
    ("layer-unknown", lambda m, a: camviz.explain(m.model, x1(), layer="features.77"), "features.77"),
    ("target-high", lambda m, a: camviz.explain(m.model, x1(), targets=10), "10"),
    ("target-negative", lambda m, a: camviz.explain(m.model, x1(), targets=-3), "-3"),
    ("topk-zero", lambda m, a: camviz.explain(m.model, x1(), topk=0), "0"),
    ("score-unknown", lambda m, a: camviz.explain(m.model, x1(), score="logits"), "logits"),
    ("nan-weights", lambda m, a: camviz.explain(
        load_checkpoint(a / "ckpt" / "nan.safetensors").model, x1()), "NaN"),
    ("nan-weights-explain-images", lambda m, a: camviz.explain_images(
        load_checkpoint(a / "ckpt" / "nan.safetensors"), [a / "img" / "gray.png"]), "nan.safetensors"),
    ("images-missing", lambda m, a: camviz.explain_images(m, [a / "img" / "nope.png"]), "nope.png"),
    ("images-bytes-junk", lambda m, a: camviz.explain_images(m, [b"junk bytes"]), "not an image"),
    ("images-float-array", lambda m, a: camviz.explain_images(m, [np.full((8, 8), np.nan)]), "float"),
    ("images-none", lambda m, a: camviz.explain_images(m, []), "no images"),
    ("images-class-unknown", lambda m, a: camviz.explain_images(
        m, [a / "img" / "gray.png"], target="zebra"), "zebra"),
    ("images-batch-zero", lambda m, a: camviz.explain_images(
        m, [a / "img" / "gray.png"], batch_size=0), "0"),
    ("load-image-text", lambda m, a: load_image(a / "img" / "text.png"), "text.png"),
    ("load-image-bomb", lambda m, a: load_image(a / "img" / "bigbomb.png"), "CAMVIZ_MAX_PIXELS"),
    ("load-model-unknown", lambda m, a: camviz.load_model("resnet5O"), "resnet5O"),
    ("load-model-ckptdir-file", lambda m, a: camviz.load_model(
        "tiny", checkpoints_dir=a / "img" / "notes.txt"), "notes.txt"),
    ("load-checkpoint-random", lambda m, a: load_checkpoint(a / "ckpt" / "random.safetensors"),
     "random.safetensors"),
    ("read-meta-corrupt", lambda m, a: read_meta(a / "ckpt" / "corrupt_meta.safetensors"), "re-save"),
    ("build-model-unknown", lambda m, a: build_model("vgg99"), "vgg99"),
    ("save-checkpoint-proc", lambda m, a: save_checkpoint(
        "/proc/nope/x.safetensors", m.model, dict(m.meta)), "/proc"),
    ("save-checkpoint-through-file", lambda m, a: save_checkpoint(
        a / "img" / "notes.txt" / "x.safetensors", m.model, dict(m.meta)), "notes.txt"),
]


@pytest.mark.parametrize("call,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_api_input(call, needle, lenet, assets, ws):
    with pytest.raises(CamvizError) as info:
        call(lenet, assets)
    message = str(info.value)
    assert "\n" not in message and needle in message, message


def test_nan_guard_is_a_nonfinite_error(assets):
    """The NaN guard's own class, so API callers can tell a diverged model from bad options."""
    with pytest.raises(NonFiniteError):
        camviz.explain(load_checkpoint(assets / "ckpt" / "nan.safetensors").model, x1())
