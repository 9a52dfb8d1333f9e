"""Every shipped checkpoint loads and evaluates at its documented accuracy on real data."""

import dataclasses
import importlib.util
import json
import shlex
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
        report = evaluate_model(loaded, entry["dataset"], split="test", download=False,
                                precision="fp32")   # as documented (checkpoints/ship.py)
    except DataError as err:
        pytest.skip(f"{entry['dataset']} is not installed here: {err}")
    assert report.n == {"fashion-mnist": 10_000, "shapes": 2_000}[entry["dataset"]]
    assert report.accuracy == pytest.approx(entry["test_accuracy"], abs=0.005)


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship", ROOT / "checkpoints" / "ship.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_in_readme_and_docs_are_rendered_from_shipped_json():
    ship = _ship_module()
    data = json.loads((ROOT / "checkpoints" / "shipped.json").read_text())
    assert (ROOT / "docs" / "checkpoints.md").read_text() == ship.render_doc(data)
    readme = (ROOT / "README.md").read_text()
    assert ship.render_readme(data, readme) == readme
    for name in SHIPPED:
        assert f"| `{name}` |" in readme


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_documented_command_is_the_checkpoints_training_config(name, monkeypatch):
    """The table's command, run through `camviz train`'s parser, gives the stored config."""
    import camviz.train
    from camviz.checkpoint import read_meta
    from camviz.cli import main
    seen = []
    monkeypatch.setattr(camviz.train, "train", lambda config, **kw: seen.append(config))
    assert main(shlex.split(SHIPPED[name]["command"])[1:]) == 0
    stored = read_meta(ROOT / "checkpoints" / f"{name}.safetensors")["config"]
    ship = _ship_module()
    ignore = set(ship.NOT_IN_COMMAND)
    assert {k: v for k, v in dataclasses.asdict(seen[0]).items() if k not in ignore} == \
        {k: v for k, v in stored.items() if k not in ignore}
