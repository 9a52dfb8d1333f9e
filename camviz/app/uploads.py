"""Uploads: an image input that never opens a file or fetches a URL itself; the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client import utils as client_utils

from camviz.errors import CamvizError
from camviz.images import IMAGE_EXTENSIONS, load_image


def image_input(**kwargs: Any) -> gr.Image:
    """A ``gr.Image`` upload that hands over the file's path without opening it.

    Stock ``gr.Image`` opens uploads with PIL (unguarded) even with ``type="filepath"``, and
    the server would download a URL sent as the image; here the file is left to
    :func:`camviz.images.load_image` and URLs are refused. The overrides are per instance
    because a ``gr.Image`` subclass makes Gradio write a ``.pyi`` stub beside this module.
    """
    comp = gr.Image(type="filepath", **kwargs)
    move_async, move_sync = comp.async_move_resource_to_block_cache, comp.move_resource_to_block_cache

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        if payload.path is None or str(payload.url or "").startswith("data:"):
            raise gr.Error("send the image as an uploaded file", print_exception=False)
        return str(payload.path)

    async def guarded_async(url_or_file_path):
        _refuse_url(url_or_file_path)
        return await move_async(url_or_file_path)

    def guarded_sync(url_or_file_path):
        _refuse_url(url_or_file_path)
        return move_sync(url_or_file_path)

    comp.preprocess = preprocess
    comp.async_move_resource_to_block_cache = guarded_async
    comp.move_resource_to_block_cache = guarded_sync
    return comp


def _refuse_url(value: object) -> None:
    if value is not None and client_utils.is_http_url_like(str(value)):
        raise gr.Error("this app does not fetch images from URLs; download the image and "
                       "upload the file", print_exception=False)


def check_upload(image: str | None, max_pixels: int | None = None) -> str | None:
    """Decode an upload as soon as it arrives: a file that is no image is refused at once
    (a toast, and the broken preview cleared), not when Explain is clicked."""
    if not image:
        return None
    try:
        load_image(image, max_pixels=max_pixels, name=Path(image).name)
    except CamvizError as err:
        gr.Warning(str(err))
        return None
    return image


def _uploaded(image: str | None) -> str:
    if not image:
        raise gr.Error("upload an image first (or click one of the samples)", print_exception=False)
    return image


def sample_images(samples_dir: Path | None) -> list[Path]:
    """Image files under ``samples_dir`` (recursively, sorted), listed when the app is built."""
    if samples_dir is None or not samples_dir.is_dir():
        return []
    return sorted(p for p in samples_dir.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not p.name.endswith(".mask.png"))   # object masks are answers, not inputs


def sample_caption(path: Path) -> str:
    """A sample's caption: "ankle boot (fashion-mnist)" for fashion-mnist/9-ankle-boot-test0.png."""
    words = [w for w in path.stem.replace("_", "-").split("-") if w and not w.isdigit()
             and not (w.startswith("test") and w[4:].isdigit())]
    where = path.parent.name
    return " ".join(words) + (f" ({where})" if where and where != "samples" else "")


def default_samples_dir() -> Path:
    """``./samples`` if present, else the repo's ``samples/``."""
    here = Path.cwd() / "samples"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "samples"
