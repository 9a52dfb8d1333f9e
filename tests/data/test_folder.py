"""folder:PATH data sets: layout, splits, and every way a folder can be wrong."""

import logging

import pytest
import torch

from camviz.data import Preprocess, load_dataset, make_loader
from camviz.data.base import FileSplit
from camviz.errors import DataError


def test_layout_classes_and_seeded_val_split(image_folder):
    src = load_dataset(f"folder:{image_folder}")
    assert src.classes == ("cat", "dog") and src.channels == 3 and src.image_size is None
    assert {k: len(v) for k, v in src.splits.items()} == {"train": 16, "val": 4, "test": 20}
    assert isinstance(src.split("train"), FileSplit)
    again = load_dataset(f"folder:{image_folder}")
    assert again.split("val").files == src.split("val").files


def test_val_folder_is_used_when_present(make_folder, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 3, "b": 3}, splits=("train", "val"))
    src = load_dataset(f"folder:{root}")
    assert len(src.split("train")) == 6 and len(src.split("val")) == 6 and "test" not in src.splits


def test_loader_decodes_resizes_and_normalises(image_folder):
    src = load_dataset(f"folder:{image_folder}")
    pre = Preprocess(16, 3, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    batches = list(make_loader(src.split("test"), pre, batch_size=8, workers=0))
    x = torch.cat([b.x for b in batches])
    y = torch.cat([b.y for b in batches])
    assert x.shape == (20, 3, 16, 16) and 0 <= x.min() and x.max() <= 1
    # class 0 images are red, class 1 green: the dominant channel gives the label back
    assert torch.equal(x.mean((2, 3)).argmax(1), y)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")


def test_folder_without_train(tmp_path):
    (tmp_path / "x" / "test" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no train/ sub-folder"):
        load_dataset(f"folder:{tmp_path / 'x'}")


def test_class_without_images(make_folder, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 3})
    (root / "train" / "empty").mkdir()
    (root / "train" / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*empty' has no readable images") as err:
        load_dataset(f"folder:{root}")
    assert "\n" not in str(err.value)


def test_unknown_class_in_test_split(make_folder, tmp_path):
    root = make_folder(tmp_path / "d", {"a": 3, "b": 3})
    make_folder(root, {"c": 2}, splits=("test",))
    with pytest.raises(DataError, match="'c'|c that train/ lacks"):
        load_dataset(f"folder:{root}")


def test_unreadable_images_are_skipped_with_a_count(make_folder, tmp_path, caplog):
    root = make_folder(tmp_path / "d", {"a": 6, "b": 6})
    (root / "train" / "a" / "broken.png").write_bytes(b"not a png at all")
    (root / "train" / "b" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        src = load_dataset(f"folder:{root}")
    assert len(src.split("train")) + len(src.split("val")) == 12
    assert any("skipped 2 unreadable" in r.message for r in caplog.records)


def test_decode_failure_mid_epoch_is_skipped_not_raised(make_folder, tmp_path, caplog):
    root = make_folder(tmp_path / "d", {"a": 5, "b": 5}, size=40)
    victim = root / "train" / "a" / "002.png"
    victim.write_bytes(victim.read_bytes()[:120])    # header intact, pixel data cut
    src = load_dataset(f"folder:{root}", val_fraction=0.2)
    files = src.split("train").files + src.split("val").files
    assert victim in files                              # passed the header check
    split = FileSplit(files, src.split("train").labels + src.split("val").labels)
    loader = make_loader(split, Preprocess(8, 3, (0.5,) * 3, (0.5,) * 3), batch_size=4, workers=0)
    with caplog.at_level(logging.WARNING):
        n = sum(len(b.y) for b in loader)
    assert n == 9 and loader.skipped == 1
    assert any("skipped 1 unreadable" in r.message for r in caplog.records)
