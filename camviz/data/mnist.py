"""MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (torchvision's class).

Fashion-MNIST is found offline where Debian's ``dataset-fashion-mnist`` package puts it
(``/usr/share/datasets/fashion-mnist``), in torchvision's ``DATA_DIR/FashionMNIST/raw``
layout, or directly in ``--data-dir``. MNIST likewise in ``DATA_DIR/MNIST/raw``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torchvision

from camviz.data.base import DataSource, TensorSplit, split_train_val
from camviz.data.datasets import LoadOptions, register_dataset
from camviz.data.idx import read_idx
from camviz.errors import DataError

log = logging.getLogger(__name__)

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _one_line(err: BaseException, limit: int = 120) -> str:
    """``Type: message`` squeezed to one line (torchvision's download errors span several)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:limit]}" if text else type(err).__name__


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def find_idx_dir(candidates: list[Path]) -> Path | None:
    """The first directory holding all four IDX files (gzipped or not)."""
    for d in candidates:
        if all(_find(d, stem) for pair in IDX_FILES.values() for stem in pair):
            return d
    return None


def load_idx_pair(directory: Path, split: str) -> TensorSplit:
    """Images (N, 1, 28, 28) and labels of one IDX split in ``directory``."""
    img_stem, lab_stem = IDX_FILES[split]
    images = read_idx(_find(directory, img_stem))
    labels = read_idx(_find(directory, lab_stem))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"IDX files in '{directory}' do not match: images {images.shape}, "
                        f"labels {labels.shape}; delete them and download them again")
    return TensorSplit(torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
                       torch.from_numpy(labels.astype(np.int64)))


def _load_idx_dataset(opts: LoadOptions, *, name: str, tv_name: str, classes: tuple[str, ...],
                      extra: list[Path]) -> DataSource:
    root = opts.data_dir
    candidates = [root / tv_name / "raw", root] + extra
    directory = find_idx_dir(candidates)
    if directory is None and opts.download:
        directory = _download_torchvision(name, tv_name, root, candidates)
    if directory is None:
        raise DataError(
            f"{name} not found (looked in {', '.join(map(str, candidates))}) and downloading is "
            f"off; put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in {root / tv_name / 'raw'} "
            f"(or pass --data-dir), or run once with internet")
    train, val = split_train_val(load_idx_pair(directory, "train"), opts.val_fraction, opts.split_seed)
    log.debug("%s from %s", name, directory)
    return DataSource(name, classes, 1, 28, {"train": train, "val": val,
                                             "test": load_idx_pair(directory, "test")})


def _download_torchvision(name: str, tv_name: str, root: Path, candidates: list[Path]) -> Path:
    """Download with torchvision's class into ``root/tv_name/raw``; failures are DataErrors."""
    cls = getattr(torchvision.datasets, tv_name)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as err:  # noqa: BLE001 - network, proxy, disk: the user's fix is the same
        raise DataError(
            f"{name} is not on this machine (looked in {', '.join(map(str, candidates))}) and "
            f"could not be downloaded ({_one_line(err)}); put the four IDX "
            f"files in {root / tv_name / 'raw'} or pass --data-dir") from None
    found = find_idx_dir([root / tv_name / "raw"])
    if found is None:
        raise DataError(f"downloaded {name} but its IDX files are not in {root / tv_name / 'raw'}; "
                        "delete that folder and try again")
    return found


@register_dataset("mnist", channels=1, image_size=28,
                  description="MNIST handwritten digits, 28x28 gray (LeCun et al. 1998)")
def load_mnist(opts: LoadOptions) -> DataSource:
    return _load_idx_dataset(opts, name="mnist", tv_name="MNIST", classes=DIGIT_CLASSES,
                             extra=[opts.data_dir / "mnist"])


@register_dataset("fashion-mnist", channels=1, image_size=28,
                  description="Fashion-MNIST clothing, 28x28 gray (Xiao et al. 2017)")
def load_fashion_mnist(opts: LoadOptions) -> DataSource:
    return _load_idx_dataset(opts, name="fashion-mnist", tv_name="FashionMNIST",
                             classes=FASHION_CLASSES,
                             extra=[opts.data_dir / "fashion-mnist", DEBIAN_FASHION])


@register_dataset("cifar10", channels=3, image_size=32,
                  description="CIFAR-10 objects, 32x32 RGB (Krizhevsky 2009)")
def load_cifar10(opts: LoadOptions) -> DataSource:
    root = opts.data_dir
    where = root / "cifar-10-batches-py"
    splits = {}
    for split, train in (("train", True), ("test", False)):
        try:
            ds = torchvision.datasets.CIFAR10(str(root), train=train, download=opts.download)
        except RuntimeError:
            raise DataError(
                f"cifar10 not found in {where}; extract "
                f"cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) into {root} "
                f"(or pass --data-dir), or run with internet and downloading on") from None
        except Exception as err:  # noqa: BLE001 - download failures of any kind
            raise DataError(
                f"cifar10 is not in {where} and could not be downloaded ({_one_line(err)}); "
                f"extract cifar-10-python.tar.gz into {root} or pass --data-dir"
            ) from None
        splits[split] = TensorSplit(torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)
                                    .contiguous(), torch.as_tensor(ds.targets, dtype=torch.int64))
        classes = tuple(ds.classes)
    train, val = split_train_val(splits["train"], opts.val_fraction, opts.split_seed)
    return DataSource("cifar10", classes, 3, 32, {"train": train, "val": val, "test": splits["test"]})
