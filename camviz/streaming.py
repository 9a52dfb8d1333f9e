"""Explaining many image files as a stream — the explain layer at folder scale, no files written.

:func:`stream_explanations` decodes images in ``DataLoader`` workers through the one guarded
loader (:func:`camviz.images.load_image`), explains them batch by batch
(:func:`camviz.explainer.iter_explanations`) and yields, in input order within each batch,
an :class:`~camviz.explainer.ImageExplanation` per good file and a :class:`Failure` per
file that cannot be read — a bad file never ends the run. Only one batch is in memory at a
time, so memory does not grow with the number of images. :func:`shard` splits the work of
a ``torchrun`` job; :mod:`camviz.folder_outputs` writes the results as they come.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from torch.utils.data import DataLoader, Dataset

from camviz.errors import ConfigError
from camviz.explainer import ImageExplanation, iter_explanations, unique_names
from camviz.handle import LoadedModel
from camviz.images import load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """A file that could not be explained, and why (one line)."""

    name: str
    source: str
    error: str


class _Decoded(Dataset):
    """Paths -> ``(position, RGB image or None, error or None)``; never raises for a bad file."""

    def __init__(self, paths: Sequence[Path], max_pixels: int | None) -> None:
        self.paths, self.max_pixels = list(paths), max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Image.Image | None, str | None]:
        try:
            return i, load_image(self.paths[i], max_pixels=self.max_pixels), None
        except Exception as err:  # noqa: BLE001  reported per file; the run goes on
            return i, None, str(err).splitlines()[0] if str(err) else type(err).__name__


def output_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The output stem of every path, unique over the whole list (as a small run names them),
    so shards and resumed runs name each image the same way."""
    return unique_names([Path(p).stem for p in paths])


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """This rank's share: every ``world_size``-th item from ``rank`` (balanced, in order)."""
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is outside a job of {world_size} processes")
    return list(items)[rank::world_size]


def stream_explanations(loaded: LoadedModel, paths: Sequence[str | os.PathLike],
                        names: Sequence[str], *, batch_size: int = 16, workers: int = 2,
                        max_pixels: int | None = None, methods: Sequence[str] | None = None,
                        **kwargs) -> Iterator[ImageExplanation | Failure]:
    """Explain ``paths`` (output stems ``names``) ``batch_size`` at a time, decoding in
    ``workers`` processes (0: in this one). Other arguments as
    :func:`~camviz.explainer.iter_explanations`."""
    if len(names) != len(paths):
        raise ConfigError(f"{len(names)} names for {len(paths)} images")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"workers {workers!r} must be an integer >= 0 (0 decodes in the main "
                          "process)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size {batch_size!r} must be a positive integer")
    if not paths:
        return
    loader = DataLoader(_Decoded(paths, max_pixels), batch_size=batch_size, shuffle=False,
                        num_workers=min(workers, len(paths)), collate_fn=list)
    skipped: dict[str, str] | None = None
    for items in loader:
        good = []
        for i, image, error in items:
            if error is None:
                good.append((i, image))
            else:
                log.debug("skipping %s: %s", paths[i], error)
                yield Failure(names[i], str(paths[i]), error)
        if not good:
            continue
        results = iter_explanations(
            loaded, [im for _, im in good], names=[names[i] for i, _ in good],
            labels=[str(paths[i]) for i, _ in good], batch_size=len(good), methods=methods,
            **({} if skipped is None else {"skip_inapplicable": False}), **kwargs)
        for r in results:
            if skipped is None:   # the first batch decided which methods apply: keep them
                skipped, methods = dict(r.skipped), list(r.methods)
            r.skipped = dict(skipped)
            yield r
