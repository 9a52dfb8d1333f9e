"""val_fraction 0: every training image trains, the test split validates, the last epoch is kept
(lab report 003's d2l protocol)."""

from __future__ import annotations

import pytest
import torch

import camviz.train
from camviz.data import load_dataset
from camviz.errors import DataError
from camviz.train.config import build_config


def test_all_training_images_train_and_test_validates():
    split = load_dataset("digits", val_fraction=0.2)
    everything = load_dataset("digits", val_fraction=0)
    assert len(everything.split("train")) == len(split.split("train")) + len(split.split("val"))
    assert torch.equal(everything.split("val").images, everything.split("test").images)
    assert torch.equal(everything.split("test").images, split.split("test").images)


def test_a_data_set_without_test_split_cannot_validate_on_it(tmp_path):
    for cls in ("a", "b"):
        d = tmp_path / "train" / cls
        d.mkdir(parents=True)
        for i in range(3):
            from PIL import Image
            Image.new("L", (8, 8), 40 * i).save(d / f"{i}.png")
    with pytest.raises(DataError, match="no test split to validate on with val_fraction 0"):
        load_dataset(f"folder:{tmp_path}", val_fraction=0)


def test_the_last_epoch_is_kept_not_the_best_on_test(tmp_path):
    torch.set_num_threads(1)
    cfg = build_config(None, model="lenet5", dataset="digits", download=False, val_fraction=0,
                       epochs=3, lr=0.05, limit=200, out=str(tmp_path / "run"), register=False)
    result = camviz.train.train(cfg, quiet=True)
    assert result.best_epoch == 3
    assert result.best_val_accuracy == result.history[-1]["val_accuracy"]
    assert result.test["accuracy"] == pytest.approx(result.history[-1]["val_accuracy"])
