"""The model handle: one preprocessing path (size, channels, mean/std) for every caller."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from camviz.data.transforms import Preprocess, prepare_batch
from camviz.handle import LoadedModel, model_input, preprocess
from camviz.hub import load_zoo
from camviz.images import load_image
from camviz.models import MODELS


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def fake_loaded(in_channels, size=8, mean=None, std=None):
    return LoadedModel(model=torch.nn.Conv2d(in_channels, 1, 1), name="fake", source="untrained",
                       arch="fake", classes=["a"], input_size=size, in_channels=in_channels,
                       mean=mean or (0.5,) * in_channels, std=std or (0.25,) * in_channels,
                       cam_layer=None, classifier=None)


def test_preprocess_colour_model_normalises_each_channel():
    im = Image.new("RGB", (30, 10), (255, 0, 51))
    x = preprocess([im, im], fake_loaded(3, size=8, mean=(0.5, 0.5, 0.2), std=(0.5, 0.25, 0.1)))
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([1.0, -2.0, 0.0]))


def test_preprocess_grey_model_takes_colour_photo_by_luminance():
    im = Image.new("RGB", (10, 10), (200, 100, 50))
    x = preprocess([im], fake_loaded(1, size=4))
    luma = round(200 * 299 / 1000 + 100 * 587 / 1000 + 50 * 114 / 1000)
    assert x.shape == (1, 1, 4, 4)
    torch.testing.assert_close(x[0, 0], torch.full((4, 4), (luma / 255 - 0.5) / 0.25))


def test_preprocess_colour_model_takes_grey_image_as_three_equal_channels():
    im = load_image(encode(Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4), "PNG"))
    x = preprocess([im], fake_loaded(3, size=8))
    assert torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 1], x[0, 2])


def test_preprocess_is_a_direct_resize_without_crop():
    arr = np.zeros((10, 40, 3), np.uint8)
    arr[:, :8] = 255  # a white stripe at the far left: a centre crop would drop it
    x = preprocess([Image.fromarray(arr)], fake_loaded(3, size=10, mean=(0, 0, 0), std=(1, 1, 1)))
    assert x.shape == (1, 3, 10, 10)
    assert x[0, 0, :, 0].min() > 0.9 and x[0, 0, :, -1].max() < 0.1


def test_explaining_and_training_normalise_alike():
    """The PIL path of explaining and the tensor path of training/evaluation end in the same
    normalisation: an image already at the model's size gives the same input both ways."""
    arr = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    loaded = fake_loaded(3, size=8, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    via_pil = preprocess([Image.fromarray(arr)], loaded)
    via_batch = prepare_batch(torch.from_numpy(arr).permute(2, 0, 1)[None], loaded.preprocessing)
    torch.testing.assert_close(via_pil, via_batch)
    assert loaded.preprocessing == Preprocess(8, 3, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25))


def test_model_input_is_what_the_model_sees():
    im = Image.new("RGB", (40, 20), (200, 100, 50))
    (seen,) = model_input([im], fake_loaded(1, size=4))
    assert seen.mode == "L" and seen.size == (4, 4)


def test_mean_and_std_come_from_the_spec():
    spec = MODELS.get("resnet18")
    assert spec.normalization() == ((0.5,), (0.5,))        # no values in the spec: 0.5
    loaded = load_zoo("resnet18")
    assert (loaded.mean, loaded.std) == spec.normalization(loaded.in_channels)


def test_class_index_by_name_index_and_errors():
    loaded = fake_loaded(1)
    loaded.classes = ["cat", "Dog"]
    assert loaded.class_index("dog") == 1 and loaded.class_index("0") == 0 and loaded.class_index(1) == 1
    with pytest.raises(Exception, match="out of range"):
        loaded.class_index(2)
