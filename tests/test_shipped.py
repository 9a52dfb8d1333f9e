"""Every shipped checkpoint is the file that was shipped and evaluates as recorded on real data.

Default suite: the file's SHA-256, then accuracy and mean loss on the first
``ship.CHECK_IMAGES`` test images compared with the figures recorded when it was shipped
(exact accuracy, loss to 1e-4 relative: a changed weight or a changed preprocessing moves
the loss). ``-m full`` (CI runs it after the default suite): the whole test split against
the documented accuracy to 1e-4.
"""

import dataclasses
import importlib.util
import json
import shlex
from pathlib import Path

import pytest

from camviz.checkpoint import file_sha256
from camviz.hub import load_model
from camviz.train.accuracy import evaluate_model

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = json.loads((ROOT / "checkpoints" / "shipped.json").read_text())["checkpoints"]


def test_every_listed_checkpoint_exists_and_every_file_is_listed():
    files = {p.stem for p in (ROOT / "checkpoints").glob("*.safetensors")}
    assert files == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_is_the_recorded_file_and_passes_its_quick_check(name, require_dataset):
    entry = SHIPPED[name]
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    assert file_sha256(path) == entry["sha256"], f"{path} is not the shipped file"
    require_dataset(entry["dataset"])
    check = _ship_module().quick_check(path, entry["dataset"])
    assert check["images"] == entry["check"]["images"]
    assert check["accuracy"] == pytest.approx(entry["check"]["accuracy"], abs=1e-4)
    assert check["loss"] == pytest.approx(entry["check"]["loss"], rel=1e-4)


@pytest.mark.full
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_reaches_documented_accuracy_on_the_whole_test_split(name, require_dataset):
    entry = SHIPPED[name]
    require_dataset(entry["dataset"])
    loaded = load_model(name, checkpoints_dir=ROOT / "checkpoints")
    assert loaded.source == "checkpoint"
    assert sum(p.numel() for p in loaded.model.parameters()) == entry["params"]
    report = evaluate_model(loaded, entry["dataset"], split="test", download=False,
                            precision="fp32")   # as documented (checkpoints/ship.py)
    assert report.n == {"fashion-mnist": 10_000, "shapes": 2_000}[entry["dataset"]]
    assert report.accuracy == pytest.approx(entry["test_accuracy"], abs=1e-4)


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
    from camviz.train.config import TrainConfig
    # keys added to TrainConfig after a checkpoint was trained take their defaults
    stored = {**dataclasses.asdict(TrainConfig()),
              **read_meta(ROOT / "checkpoints" / f"{name}.safetensors")["config"]}
    ship = _ship_module()
    ignore = set(ship.NOT_IN_COMMAND)
    assert {k: v for k, v in dataclasses.asdict(seen[0]).items() if k not in ignore} == \
        {k: v for k, v in stored.items() if k not in ignore}
