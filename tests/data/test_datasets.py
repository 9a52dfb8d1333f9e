"""Data sets by name: real Fashion-MNIST and digits, offline errors for the others."""


import pytest
import torch

from camviz.data import DATASETS, dataset_names, load_dataset, split_indices
from camviz.data.mnist import DEBIAN_FASHION, FASHION_CLASSES
from camviz.errors import DataError, UnknownNameError

HAS_FASHION = all((DEBIAN_FASHION / f).is_file() for f in (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))


def test_registry_lists_every_data_set():
    assert DATASETS.names() == ["mnist", "fashion-mnist", "cifar10", "digits", "shapes", "shapes-hard", "folder"]
    assert dataset_names()[-1] == "folder:PATH"


def test_unknown_name_suggests_close_match():
    with pytest.raises(UnknownNameError, match="did you mean 'fashion-mnist'") as err:
        load_dataset("fashion_mnist", download=False)
    assert "\n" not in str(err.value)


def test_split_indices_sizes_and_determinism():
    tr, va = split_indices(60000, 0.2, seed=0)
    assert (len(tr), len(va)) == (48000, 12000)
    assert torch.equal(torch.sort(torch.cat([tr, va])).values, torch.arange(60000))
    _, va2 = split_indices(60000, 0.2, seed=0)
    assert torch.equal(va, va2)
    assert not torch.equal(va, split_indices(60000, 0.2, seed=1)[1])


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist files are absent")
def test_fashion_mnist_from_debian_files(tmp_path):
    src = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert {k: len(v) for k, v in src.splits.items()} == {"train": 48000, "val": 12000, "test": 10000}
    assert src.classes == FASHION_CLASSES and src.classes[0] == "T-shirt/top"
    train = src.split("train")
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    # Balanced classes, real pixels (not a blank or constant array).
    assert torch.bincount(src.split("test").labels).tolist() == [1000] * 10
    mean = train.images.float().mean() / 255
    assert 0.2 < mean < 0.4
    again = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert torch.equal(again.split("val").labels, src.split("val").labels)


@pytest.mark.skipif(not HAS_FASHION, reason="Debian's dataset-fashion-mnist files are absent")
def test_fashion_mnist_torchvision_layout_wins(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in DEBIAN_FASHION.iterdir():
        (raw / f.name).symlink_to(f)
    from camviz.data.mnist import find_idx_dir
    assert find_idx_dir([raw, DEBIAN_FASHION]) == raw
    assert len(load_dataset("fashion-mnist", data_dir=tmp_path, download=False, limit=10).split("test")) == 10


def test_digits_real_and_split():
    src = load_dataset("digits")
    sizes = {k: len(v) for k, v in src.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["val"] == round(0.2 * (sizes["train"] + sizes["val"]))
    assert src.image_size == 8 and src.split("train").images.max() == 255
    other = load_dataset("digits", split_seed=1)
    assert torch.equal(other.split("test").labels, src.split("test").labels)   # test split is fixed
    assert not torch.equal(other.split("val").labels, src.split("val").labels)


@pytest.mark.parametrize("name, where", [("mnist", "MNIST/raw"), ("cifar10", "cifar-10-batches-py")])
def test_offline_error_names_where_files_go(tmp_path, name, where):
    with pytest.raises(DataError) as err:
        load_dataset(name, data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert str(tmp_path / where) in msg and "\n" not in msg


def test_failed_download_is_a_data_error(tmp_path, monkeypatch):
    import torchvision

    class NoNetwork:
        def __init__(self, *a, **k):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, "
                               "<urlopen error no network>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", NoNetwork)
    with pytest.raises(DataError, match="could not be downloaded .*RuntimeError: Error") as err:
        load_dataset("mnist", data_dir=tmp_path, download=True)
    assert "\n" not in str(err.value) and str(tmp_path / "MNIST" / "raw") in str(err.value)


def test_limit_keeps_a_prefix():
    full = load_dataset("digits")
    small = load_dataset("digits", limit=7)
    assert all(len(s) == 7 for s in small.splits.values())
    assert torch.equal(small.split("val").images, full.split("val").images[:7])
    with pytest.raises(DataError, match="limit"):
        load_dataset("digits", limit=0)


def test_missing_split_is_a_data_error():
    src = load_dataset("digits", limit=3)
    with pytest.raises(DataError, match="no 'extra' split"):
        src.split("extra")
