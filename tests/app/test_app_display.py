"""Output images encoded at zlib level 1 (camviz.app.display): the same pixels Gradio's own
encoding gives, in a file Gradio serves from its cache without copying."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from camviz.app.display import PNG_LEVEL, fast_png, png_in_cache


@pytest.fixture(name="overlay")
def overlay_fixture():
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 320)[None, :, None] * np.ones((320, 1, 3))
    return np.clip(smooth + rng.normal(0, 20, (320, 320, 3)), 0, 255).astype(np.uint8)


def pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im)


def test_a_gallery_shows_the_same_pixels_as_gradios_own_encoding(monkeypatch, tmp_path, overlay):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    grey = overlay[..., 0]
    value = [(overlay, "Grad-CAM · layer4 · cat 0.91"), (grey, "grey")]
    ours = fast_png(gr.Gallery(format="png")).postprocess(value).model_dump()
    gradios = gr.Gallery(format="png").postprocess(value).model_dump()
    assert [g["caption"] for g in ours] == [g["caption"] for g in gradios]
    for a, b, arr in zip(ours, gradios, (overlay, grey)):
        path = a["image"]["path"]
        assert Path(path).is_relative_to(tmp_path)      # in Gradio's cache: served as is
        np.testing.assert_array_equal(pixels(path), arr)
        np.testing.assert_array_equal(pixels(path), pixels(b["image"]["path"]))


def test_an_image_output_and_what_passes_through(monkeypatch, tmp_path, overlay):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    image = fast_png(gr.Image(format="png", type="numpy", interactive=False))
    np.testing.assert_array_equal(pixels(image.postprocess(overlay).path), overlay)
    assert image.postprocess(None) is None
    other = tmp_path / "given.png"
    Image.fromarray(overlay).save(other)
    assert image.postprocess(str(other)).path == str(other)


def test_the_file_is_written_once_at_the_fast_level(tmp_path, overlay):
    first = png_in_cache(overlay, tmp_path)
    assert png_in_cache(overlay, tmp_path) == first and len(list(tmp_path.iterdir())) == 1
    data = Path(first).read_bytes()
    # the IDAT stream is zlib at level 1: its header's FLEVEL bits say "fastest" (0)
    idat = data.index(b"IDAT") + 4
    assert PNG_LEVEL == 1 and data[idat] == 0x78 and data[idat + 1] >> 6 == 0
