"""Batches for training and evaluation.

In-memory splits live on the training device as one uint8 tensor and are indexed by a
permutation; image folders are decoded by DataLoader workers. Both yield
:class:`Batch` objects of preprocessed float inputs, and both draw every epoch's order
and augmentation from generators seeded by (seed, epoch), so an epoch is the same whether
or not the run was interrupted before it. Under DistributedDataParallel each rank takes
every ``world_size``-th item of the same permutation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from camviz.data.base import FileSplit, Split, TensorSplit, channel_stats
from camviz.data.folder import READ_ERRORS, decode_image
from camviz.data.transforms import Augment, Preprocess, prepare_batch
from camviz.errors import DataError

log = logging.getLogger(__name__)

_ORDER, _AUGMENT = 1, 2


class Batch(NamedTuple):
    x: torch.Tensor        # float model input (N, C, H, W) on the device
    y: torch.Tensor        # int64 labels (N,) on the device
    index: torch.Tensor    # int64 positions in the split (N,), on the CPU


def epoch_generator(seed: int, epoch: int, stream: int, rank: int = 0) -> torch.Generator:
    """A CPU generator determined by (seed, epoch, stream, rank) only."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream), int(rank)]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                pad: bool = False) -> torch.Tensor:
    """The items of this rank for this epoch. ``pad`` repeats items so every rank gets the
    same count (needed in training: DDP ranks must take the same number of steps)."""
    order = torch.randperm(n, generator=epoch_generator(seed, epoch, _ORDER)) if shuffle \
        else torch.arange(n)
    if world_size > 1:
        if pad and n % world_size:
            extra = world_size - n % world_size
            order = torch.cat([order, order[:extra]])
        order = order[rank::world_size]
    return order


def _batches(order: torch.Tensor, batch_size: int, drop_singleton: bool) -> list[torch.Tensor]:
    out = list(order.split(batch_size))
    # BatchNorm cannot train on one image; dropping a final batch of one costs nothing.
    if drop_singleton and out and len(out[-1]) == 1 and len(out) > 1:
        out.pop()
    return out


class _Loader:
    """What both loaders share: batch size, order, sharding, preprocessing."""

    def __init__(self, n: int, pre: Preprocess, *, batch_size: int, device: torch.device,
                 shuffle: bool, seed: int, augment: Augment | None, rank: int, world_size: int,
                 channels_last: bool, train: bool) -> None:
        self.n, self.pre, self.batch_size, self.device = n, pre, int(batch_size), torch.device(device)
        self.shuffle, self.seed, self.augment = shuffle, int(seed), augment
        self.rank, self.world_size, self.channels_last, self.train = rank, world_size, channels_last, train
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> list[torch.Tensor]:
        order = epoch_order(self.n, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch,
                            rank=self.rank, world_size=self.world_size, pad=self.train)
        return _batches(order, self.batch_size, drop_singleton=self.train)

    def _prepare(self, images: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        return prepare_batch(images, self.pre, augment=self.augment, generator=gen,
                             channels_last=self.channels_last)

    def _augment_generator(self) -> torch.Generator | None:
        if self.augment is None or not self.augment.active:
            return None
        return epoch_generator(self.seed, self.epoch, _AUGMENT, self.rank)

    def __len__(self) -> int:
        return len(self._order())


class TensorLoader(_Loader):
    """A resident split: one uint8 tensor on the device, gathered by index per batch."""

    def __init__(self, split: TensorSplit, pre: Preprocess, **kw) -> None:
        super().__init__(len(split), pre, **kw)
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device)

    def __iter__(self) -> Iterator[Batch]:
        gen = self._augment_generator()
        for idx in self._order():
            dev_idx = idx.to(self.device, non_blocking=True)
            yield Batch(self._prepare(self.images[dev_idx], gen), self.labels[dev_idx], idx)


class _FileDataset(Dataset):
    def __init__(self, split: FileSplit, size: int) -> None:
        self.split, self.size = split, size

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        try:
            return decode_image(self.split.files[i], self.size), self.split.labels[i], i
        except READ_ERRORS:
            return None   # counted and reported by FileLoader, never a crash mid-epoch


def _collate(items):
    good = [it for it in items if it is not None]
    skipped = len(items) - len(good)
    if not good:
        return None, skipped
    return (torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good]),
            torch.tensor([g[2] for g in good])), skipped


class _EpochBatches(Sampler):
    """Batch sampler reading the loader's current epoch when iterated (in the main process)."""

    def __init__(self, loader: FileLoader) -> None:
        self.loader = loader

    def __iter__(self):
        return (b.tolist() for b in self.loader._order())

    def __len__(self) -> int:
        return len(self.loader._order())


class FileLoader(_Loader):
    """An image folder split decoded by ``workers`` processes; unreadable files are skipped."""

    def __init__(self, split: FileSplit, pre: Preprocess, *, workers: int = 2, **kw) -> None:
        super().__init__(len(split), pre, **kw)
        self.files = split
        self.skipped = 0
        self.loader = DataLoader(
            _FileDataset(split, pre.size), batch_sampler=_EpochBatches(self), num_workers=workers,
            collate_fn=_collate, pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0)

    def __iter__(self) -> Iterator[Batch]:
        gen = self._augment_generator()
        skipped = 0
        for packed, n_bad in self.loader:
            skipped += n_bad
            if packed is None:
                continue
            images, labels, idx = packed
            images = images.to(self.device, non_blocking=True)
            yield Batch(self._prepare(images, gen), labels.to(self.device), idx)
        if skipped:
            self.skipped += skipped
            log.warning("skipped %d unreadable image(s) while decoding (%d in total so far)",
                        skipped, self.skipped)


def make_loader(split: Split, pre: Preprocess, *, batch_size: int, device: torch.device | str = "cpu",
                shuffle: bool = False, seed: int = 0, augment: Augment | None = None, rank: int = 0,
                world_size: int = 1, channels_last: bool = False, train: bool = False,
                workers: int = 2) -> TensorLoader | FileLoader:
    """A loader for ``split``: resident for tensors, worker-decoded for files.

    ``train=True`` pads shards to equal length (DDP) and drops a final batch of one image.
    """
    kw = {"batch_size": batch_size, "device": torch.device(device), "shuffle": shuffle, "seed": seed,
          "augment": augment if train else None, "rank": rank, "world_size": world_size,
          "channels_last": channels_last, "train": train}
    if isinstance(split, TensorSplit):
        return TensorLoader(split, pre, **kw)
    return FileLoader(split, pre, workers=workers, **kw)


def split_stats(split: Split, size: int, channels: int, max_files: int = 2000
                ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of a (train) split in [0, 1] pixels after channel conversion.

    In-memory splits use every pixel at native size; image folders a seeded sample of up to
    ``max_files`` images decoded at ``size``.
    """
    if isinstance(split, TensorSplit):
        return channel_stats(split.images, channels)
    pick = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:max_files]
    images = []
    for i in pick.tolist():
        try:
            images.append(decode_image(split.files[i], size))
        except READ_ERRORS:
            continue
    if not images:
        raise DataError("no image of the train split could be decoded; check the folder")
    return channel_stats(torch.stack(images), channels)
