"""Every shipped checkpoint loads and evaluates at its documented accuracy on real data."""

import json
from pathlib import Path

import pytest

from camviz.errors import DataError
from camviz.hub import load_model
from camviz.train.evaluate import evaluate_model

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = json.loads((ROOT / "checkpoints" / "shipped.json").read_text())["checkpoints"]


def test_every_listed_checkpoint_exists_and_every_file_is_listed():
    files = {p.stem for p in (ROOT / "checkpoints").glob("*.safetensors")}
    assert files == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_reaches_documented_accuracy(name):
    entry = SHIPPED[name]
    loaded = load_model(name, checkpoints_dir=ROOT / "checkpoints")
    assert loaded.source == "checkpoint"
    assert sum(p.numel() for p in loaded.model.parameters()) == entry["params"]
    try:
        report = evaluate_model(loaded, entry["dataset"], split="test", download=False)
    except DataError as err:
        pytest.skip(f"{entry['dataset']} is not installed here: {err}")
    assert report.n == {"fashion-mnist": 10_000, "shapes": 2_000}[entry["dataset"]]
    assert report.accuracy == pytest.approx(entry["test_accuracy"], abs=0.005)
