"""Output images encoded for the page quickly, losslessly.

Gradio encodes an array returned to a ``gr.Image``/``gr.Gallery`` with ``format="png"`` at
zlib's default level (6): about 34 ms for one 320x320 overlay on this 2-core machine, so a
click's three overlays and the model's input cost more than the whole CAM computation of the
quick-start model (benchmarks/app_click.py). Level 1 gives the same pixels (PNG is lossless)
about 3x faster, for files about 1.3x larger, which a page fetched from this machine does not
notice. Gradio exposes no compression setting, so :func:`fast_png` wraps one component's
``postprocess`` (per instance: a subclass would make Gradio write a ``.pyi`` stub here) and
hands Gradio a file it already keeps in its cache, which it then serves without copying.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np
from gradio import processing_utils
from PIL import Image

PNG_LEVEL = 1                  # zlib level: same pixels, ~3x faster than Gradio's default 6
C = TypeVar("C", gr.Image, gr.Gallery)


def png_in_cache(arr: np.ndarray, cache_dir: str | Path, name: str = "image") -> str:
    """``arr`` (uint8 RGB/grey) as a PNG file under ``cache_dir``, in a folder named by the
    content's hash as Gradio names its own (the same picture is written once)."""
    with io.BytesIO() as buf:
        Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, "png", compress_level=PNG_LEVEL)
        data = buf.getvalue()
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if not path.exists():
        tmp = folder / f".{name}.png.part"
        tmp.write_bytes(data)
        tmp.replace(path)              # a concurrent request never sees half a file
    return str(path.resolve())


def fast_png(component: C) -> C:
    """``component`` with the arrays it is given written by :func:`png_in_cache` before its
    own ``postprocess`` (file paths, captions and ``None`` pass through unchanged)."""
    original = component.postprocess

    def encode(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return png_in_cache(value, component.GRADIO_CACHE)
        if isinstance(value, tuple) and len(value) == 2:      # (image, caption) in a gallery
            return (encode(value[0]), value[1])
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    def postprocess(value: Any) -> Any:
        return original(encode(value))

    component.postprocess = postprocess
    return component
