"""The data set registry: ``--dataset NAME`` resolves here.

Names are ``mnist``, ``fashion-mnist``, ``cifar10``, ``digits``, ``shapes`` and
``folder:PATH`` (an ImageFolder tree). Each entry's loader returns a
:class:`~camviz.data.base.DataSource` with ``train``/``val``/``test`` splits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from camviz.data.base import DataSource
from camviz.errors import DataError, unknown
from camviz.registry import Registry


@dataclass(frozen=True)
class LoadOptions:
    """How to load: where files live, the seeded train/val split and whether to download."""

    data_dir: Path
    split_seed: int = 0
    val_fraction: float = 0.2
    download: bool = True
    path: Path | None = None    # the PATH of folder:PATH
    limit: int | None = None    # loaders may stop after this many items per split


@dataclass(frozen=True)
class DatasetSpec:
    """A named data set and what is known about it before loading."""

    name: str
    load: Callable[[LoadOptions], DataSource]
    channels: int                  # native channels (1 gray, 3 RGB)
    image_size: int | None         # native square side; None when files vary (folders)
    description: str
    takes_path: bool = False       # written NAME:PATH


#: Filled by the family modules (mnist, digits, shapes, folder), which ``camviz.data``
#: imports first; this module imports none of them, so the arrows point one way.
DATASETS: Registry[DatasetSpec] = Registry(
    "data set", hint="pass one of them, or folder:PATH for an ImageFolder with train/ (val/, test/)")


def register_dataset(name: str, *, channels: int, image_size: int | None, description: str,
                     takes_path: bool = False):
    """Decorator: register a loader ``load(options) -> DataSource`` in :data:`DATASETS`."""
    def deco(load: Callable[[LoadOptions], DataSource]) -> Callable[[LoadOptions], DataSource]:
        DATASETS.register(name, DatasetSpec(name, load, channels, image_size, description, takes_path))
        return load
    return deco


def default_data_dir() -> Path:
    """``$CAMVIZ_DATA``, else ``./data``."""
    return Path(os.environ.get("CAMVIZ_DATA") or "data")


def dataset_names() -> list[str]:
    """Names as the user writes them (``folder:PATH`` for path-taking entries)."""
    return [f"{n}:PATH" if DATASETS.get(n).takes_path else n for n in DATASETS.names()]


def resolve_dataset(name: str) -> tuple[DatasetSpec, Path | None]:
    """The spec of ``name`` and the path of ``folder:PATH`` forms."""
    key, sep, rest = str(name).partition(":")
    if key in DATASETS and DATASETS.get(key).takes_path:
        if not sep or not rest:
            raise DataError(f"data set '{name}' needs a path: write {key}:PATH "
                            f"(e.g. {key}:./images with images/train/<class>/*.png)")
        return DATASETS.get(key), Path(rest).expanduser()
    if name not in DATASETS:
        raise unknown("data set", name, dataset_names(), DATASETS.hint)
    return DATASETS.get(name), None


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None, split_seed: int = 0,
                 val_fraction: float = 0.2, download: bool = True,
                 limit: int | None = None) -> DataSource:
    """Load a data set by name with its seeded train/val split.

    ``download=False`` never touches the network: missing files are a :class:`DataError`
    that names where to put them. ``limit`` keeps the first items of every split (after
    the split, so the val images are the same as in a full run). ``val_fraction=0`` trains on
    every training image and uses the test split as ``val`` (lab report 003's protocol: d2l
    evaluates the test set after each epoch); the data set must have a test split.
    """
    spec, path = resolve_dataset(name)
    if limit is not None and limit < 1:
        raise DataError(f"limit must be >= 1 image per split, got {limit}")
    opts = LoadOptions(Path(data_dir) if data_dir else default_data_dir(), int(split_seed),
                       float(val_fraction), bool(download), path, limit)
    source = spec.load(opts)
    if opts.val_fraction == 0:
        if "test" not in source.splits:
            raise DataError(f"{source.name} has no test split to validate on with val_fraction 0; "
                            "pass --val-fraction 0.2 (or another value in (0, 1))")
        source = replace(source, splits={**source.splits, "val": source.splits["test"]})
    return source.limited(limit)

