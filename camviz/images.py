"""Reading user images safely (the model's input is made from them in :mod:`camviz.handle`).

The one image loader of camviz (CLI and app). Every way a file can be unusable — missing,
empty, not an image, truncated, too large to decode safely — becomes a one-line
:class:`~camviz.errors.ImageError` naming the file and the fix. Odd but valid files are
normalised to 8-bit RGB: EXIF orientation is applied, 16-bit greyscale is scaled (not
clipped) to 8 bits, CMYK is converted, transparency is composited on white and an animated
GIF gives its first frame.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from camviz.catalog import DEFAULT_MAX_PIXELS
from camviz.errors import ConfigError, ImageError

log = logging.getLogger(__name__)

#: Suffixes picked up when a directory is given (files named explicitly are always tried).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray


def max_pixels_limit() -> int:
    """The pixel-count limit: ``$CAMVIZ_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    env = os.environ.get("CAMVIZ_MAX_PIXELS")
    if env is None or env.strip() == "":
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(env))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"CAMVIZ_MAX_PIXELS='{env}' is not a positive pixel count; "
                          f"set it to e.g. {DEFAULT_MAX_PIXELS} or unset it")
    return value


def list_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and directories into image paths.

    Files named explicitly are kept in the order given (whatever their suffix: the decoder
    decides); a directory contributes its image files (by suffix, not recursive, hidden
    files skipped), sorted by name. Duplicates are dropped.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise ImageError(f"directory '{path}' contains no images "
                                 f"({', '.join(IMAGE_EXTENSIONS)}); pass image files or another folder")
        elif path.exists():
            found = [path]
        else:
            raise ImageError(f"image '{path}' does not exist; check the path")
        for p in found:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    if not out:
        raise ImageError("no images given; pass image files or folders")
    return out


def load_image(source: str | os.PathLike | bytes, *, max_pixels: int | None = None,
               name: str | None = None, note: bool = True) -> Image.Image:
    """Read a file (or its bytes) fully and return it as an 8-bit RGB PIL image.

    ``max_pixels`` (default :func:`max_pixels_limit`) is checked on the header's size
    *before* decoding, so a decompression bomb costs nothing. ``name`` labels bytes in errors.
    ``note=False`` keeps the "using the first frame" remark quiet (a second decode).
    """
    limit = max_pixels_limit() if max_pixels is None else int(max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "uploaded image"
        data = bytes(source)
        if not data:
            raise ImageError(f"image '{label}' is empty (0 bytes); upload the file again")
        fp: io.BytesIO | Path = io.BytesIO(data)
    else:
        path = Path(source).expanduser()
        label = name or str(path)
        if not path.exists():
            raise ImageError(f"image '{label}' does not exist; check the path")
        if path.is_dir():
            raise ImageError(f"image '{label}' is a directory; pass image files "
                             "(the CLI expands directories itself)")
        if path.stat().st_size == 0:
            raise ImageError(f"image '{label}' is empty (0 bytes); re-copy or re-export it")
        fp = path
    try:
        with warnings.catch_warnings():
            # PIL warns above its own (higher) limit; our explicit check below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as err:   # Pillow's ceiling (2x its own limit)
        raise ImageError(_bomb_message(label, err, limit)) from None
    except UnidentifiedImageError:
        raise ImageError(f"'{label}' is not an image file camviz can read; pass a PNG, JPEG, "
                         "BMP, GIF, TIFF or WebP image") from None
    except OSError as err:
        raise ImageError(f"image '{label}' cannot be opened ({_short(err)}); check the file") from None
    with im:
        w, h = im.size
        if w * h > limit:
            raise ImageError(
                f"image '{label}' is {w}x{h} = {w * h / 1e6:.1f} megapixels, above the "
                f"{limit / 1e6:g} MP limit that guards against decompression bombs; downscale it "
                "or raise the limit with CAMVIZ_MAX_PIXELS")
        if w < 1 or h < 1:
            raise ImageError(f"image '{label}' has no pixels ({w}x{h}); check the file")
        frames = getattr(im, "n_frames", 1)
        if frames > 1 and note:
            log.info("'%s' has %d frames; using the first", label, frames)
        try:
            im.seek(0)
            # Force a full decode now: a truncated file must fail here, not in the model.
            im.load()
            im = ImageOps.exif_transpose(im)
        except Exception as err:  # noqa: BLE001 -- PIL plugins raise OSError, SyntaxError, ValueError, EOFError ...
            raise ImageError(f"image '{label}' is truncated or corrupt ({_short(err)}); "
                             "re-export or re-download it") from None
        return to_rgb(im, label)


def _bomb_message(label: str, err: BaseException, limit: int) -> str:
    """camviz's limit and variable, not Pillow's 178,956,970-pixel figure."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too large"
    if not found or int(found.group(1)) > limit:
        return (f"image '{label}' is {size}, above the {limit / 1e6:g} MP limit that guards "
                "against decompression bombs; downscale it or raise the limit with CAMVIZ_MAX_PIXELS")
    return (f"image '{label}' is {size}, above Pillow's own decompression-bomb ceiling of "
            f"{2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP, which CAMVIZ_MAX_PIXELS cannot lift; "
            "downscale it")


def _short(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:120] if text else type(err).__name__


def to_rgb(im: Image.Image, label: str = "image") -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (16-bit scaled, alpha composited on white)."""
    mode = im.mode
    if mode == "RGB":
        return im.copy()
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im).astype(np.float64)
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise ImageError(f"image '{label}' is a 32-bit integer image with values outside "
                             "0..65535; save it as 8- or 16-bit")
        # 16-bit → 8-bit by scaling the full range (65535 → 255), not by clipping at 255.
        gray = np.rint(arr * (255.0 / 65535.0)).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all() or arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
            raise ImageError(f"image '{label}' is a float image with values outside 0..1; "
                             "save it as an 8-bit image")
        gray = np.rint(arr * 255.0).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in im.info) or (mode in ("L", "RGB") and "transparency" in im.info)
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as err:
        raise ImageError(f"image '{label}' has colour mode {mode}, which cannot be converted to "
                         f"RGB ({_short(err)}); save it as an RGB image") from None


def as_rgb_image(source: ImageSource, *, max_pixels: int | None = None,
                 name: str | None = None, note: bool = True) -> Image.Image:
    """Any supported source (path, bytes, PIL image, HxW/HxWxC uint8 array) as RGB PIL."""
    if isinstance(source, Image.Image):
        label = name or "image"
        limit = max_pixels_limit() if max_pixels is None else int(max_pixels)
        if source.width * source.height > limit:
            raise ImageError(f"image '{label}' is {source.width}x{source.height}, above the "
                             f"{limit / 1e6:g} MP limit; downscale it")
        try:
            source = ImageOps.exif_transpose(source)  # a no-op when already upright
        except Exception as err:  # noqa: BLE001 -- a lazily opened image decodes here
            raise ImageError(f"image '{label}' is truncated or corrupt ({_short(err)}); "
                             "re-export or re-download it") from None
        return to_rgb(source, label)
    if isinstance(source, np.ndarray):
        return to_rgb(_array_to_image(source, name or "array"), name or "array")
    return load_image(source, max_pixels=max_pixels, name=name, note=note)


def _array_to_image(arr: np.ndarray, label: str) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"image '{label}' has array shape {arr.shape}; expected HxW, HxWx3 or HxWx4")
    if arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr))
    if arr.dtype == np.uint16 and arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr))  # uint16 → mode I;16
    raise ImageError(f"image '{label}' has array dtype {arr.dtype}; expected uint8")


def display_image(img: Image.Image, size: int | tuple[int, int]) -> np.ndarray:
    """An RGB image as uint8 HxWx3 for overlays.

    ``size`` is the longest side (aspect kept) or an exact ``(width, height)``.
    """
    img = img.convert("RGB")
    if isinstance(size, int):
        if size < 1:
            raise ValueError(f"display size must be >= 1, got {size}")
        scale = size / max(img.width, img.height)
        wh = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    else:
        wh = (int(size[0]), int(size[1]))
    if wh != img.size:
        up = wh[0] > img.width
        img = img.resize(wh, Image.Resampling.BICUBIC if up else Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8).copy()
