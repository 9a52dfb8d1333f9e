"""What a data set loads into: named splits of uint8 images (in memory) or image files."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from camviz.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TensorSplit:
    """A split that fits in memory: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be (N,) matching images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indices: torch.Tensor) -> TensorSplit:
        return TensorSplit(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class FileSplit:
    """A split of image files (an ImageFolder); decoded by a DataLoader's workers."""

    files: tuple[Path, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)

    def take(self, indices: torch.Tensor) -> FileSplit:
        idx = [int(i) for i in indices]
        return FileSplit(tuple(self.files[i] for i in idx), tuple(self.labels[i] for i in idx))


Split = TensorSplit | FileSplit


@dataclass(frozen=True)
class DataSource:
    """A loaded data set: class names, native channels/size and its splits.

    ``image_size`` is the native square side of in-memory images, ``None`` for image
    folders (their files are resized while decoding).
    """

    name: str
    classes: tuple[str, ...]
    channels: int
    image_size: int | None
    splits: dict[str, Split] = field(default_factory=dict)

    @property
    def in_memory(self) -> bool:
        return all(isinstance(s, TensorSplit) for s in self.splits.values())

    def split(self, name: str) -> Split:
        if name not in self.splits:
            have = ", ".join(self.splits)
            raise DataError(f"data set '{self.name}' has no '{name}' split (it has: {have}); "
                            f"pick one of them with --split")
        return self.splits[name]

    def limited(self, n: int | None) -> DataSource:
        """The first ``n`` items of every split (quick runs); ``None`` keeps everything."""
        if n is None:
            return self
        return replace(self, splits={k: s.take(torch.arange(min(n, len(s))))
                                     for k, s in self.splits.items()})


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded train/val partition of ``range(n)``; each part keeps the original order.

    ``val_fraction=0.2`` of 60,000 gives 48,000 / 12,000 as in lab report 000; ``0`` keeps
    every image for training (an empty val part; :func:`~camviz.data.load_dataset` then
    validates on the test split).
    """
    if val_fraction == 0:
        return torch.arange(n), torch.arange(0)
    n_val = round(n * val_fraction)
    if not 0 < n_val < n:
        raise DataError(f"a validation fraction of {val_fraction} leaves no train or no val "
                        f"images out of {n}; use a value between 0 and 1 (default 0.2)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def split_train_val(train: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    tr, va = split_indices(len(train), val_fraction, seed)
    return train.take(tr), train.take(va)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of float RGB (N, 3, H, W), as PIL's ``convert("L")``."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Float (N, C, H, W) to ``channels``: gray repeated to 3, RGB to luma, else unchanged."""
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1:
        return x.expand(-1, channels, -1, -1)
    if have == 3 and channels == 1:
        return to_gray(x)
    raise DataError(f"cannot convert {have}-channel images to {channels} channels; "
                    "use --channels 1 or 3")


def channel_stats(images: torch.Tensor, channels: int, chunk: int = 4096
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1], after
    converting them to ``channels``."""
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for start in range(0, images.shape[0], chunk):
        x = convert_channels(images[start:start + chunk].to(torch.float64) / 255.0, channels)
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    if count == 0:
        raise DataError("cannot compute mean/std of an empty train split")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)
