"""``folder:PATH``: an ImageFolder tree ``PATH/train/<class>/*.png`` with optional
``PATH/val`` and ``PATH/test`` (the layout of lab report 004).

Without ``val/`` a seeded 8:2 split of ``train/`` is used. Every file is checked (header
only) when the folder is scanned: unreadable images are skipped with one warning that
counts them, and a file that fails later while decoding is skipped by the loader.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from camviz.data.base import DataSource, FileSplit, split_train_val
from camviz.data.datasets import LoadOptions, register_dataset
from camviz.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                            ".ppm", ".pgm"})
READ_ERRORS = (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError)


def readable(path: Path) -> bool:
    """Whether PIL can identify ``path`` as an image (reads the header only)."""
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018 - touching the header is the check
        return True
    except READ_ERRORS:
        return False


def decode_image(path: Path, size: int) -> torch.Tensor:
    """Decode ``path`` to RGB uint8 (3, size, size); raises one of :data:`READ_ERRORS`."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)


def scan_split(directory: Path, classes: list[str] | None, *, require_all: bool) -> tuple[list[str], FileSplit, list[Path]]:
    """Class names (sorted sub-folders) and the readable image files of one split folder.

    Returns (classes, files, unreadable). With ``classes`` given, the folder's classes
    must be among them.
    """
    found = sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DataError(f"'{directory}' has no class sub-folders; put the images of each class in "
                        f"{directory}/<class name>/")
    if classes is None:
        classes = found
    else:
        extra = [c for c in found if c not in classes]
        if extra:
            raise DataError(f"'{directory}' has class folder(s) {', '.join(extra)} that train/ lacks "
                            f"(train classes: {', '.join(classes)}); rename or remove them")
    files, labels, bad = [], [], []
    for label, name in enumerate(classes):
        cdir = directory / name
        if not cdir.is_dir():
            if require_all:
                raise DataError(f"class '{name}' has no folder in '{directory}'")
            continue
        count = 0
        for f in sorted(cdir.rglob("*")):
            if f.suffix.lower() not in IMAGE_SUFFIXES or not f.is_file():
                continue
            if readable(f):
                files.append(f)
                labels.append(label)
                count += 1
            else:
                bad.append(f)
        if count == 0 and require_all:
            raise DataError(f"class folder '{cdir}' has no readable images "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))}); add images or remove the folder")
    return classes, FileSplit(tuple(files), tuple(labels)), bad


@register_dataset("folder", channels=3, image_size=None, takes_path=True,
                  description="an ImageFolder: PATH/train/<class>/*.png, optional PATH/val and PATH/test")
def load_folder(opts: LoadOptions) -> DataSource:
    root = opts.path
    if root is None or not root.is_dir():
        raise DataError(f"image folder '{root}' does not exist; pass folder:PATH with "
                        "PATH/train/<class>/<images> (and optional PATH/val, PATH/test)")
    if not (root / "train").is_dir():
        raise DataError(f"image folder '{root}' has no train/ sub-folder; lay it out as "
                        f"{root}/train/<class>/<images> (optional val/ and test/ beside train/)")
    classes, train, bad = scan_split(root / "train", None, require_all=True)
    if len(classes) < 2:   # it would "train" to accuracy 1.0 and explain nothing
        raise DataError(f"image folder '{root}' has one class ('{classes[0]}') in train/; a "
                        "classifier needs at least two: add a folder per class under "
                        f"{root}/train/")
    splits: dict = {}
    for name in ("val", "test"):
        if (root / name).is_dir():
            _, splits[name], more = scan_split(root / name, classes, require_all=False)
            bad += more
    if bad:
        log.warning("skipped %d unreadable image file(s) in %s, e.g. %s", len(bad), root,
                    ", ".join(str(p) for p in bad[:3]))
    if "val" not in splits and opts.val_fraction > 0:   # 0: load_dataset validates on test
        train, splits["val"] = split_train_val(train, opts.val_fraction, opts.split_seed)
    splits = {"train": train, **splits}
    for name, split in splits.items():
        if len(split) == 0:
            raise DataError(f"the {name} split of '{root}' has no readable images; add images")
    return DataSource(f"folder:{root}", tuple(classes), 3, None, splits)
