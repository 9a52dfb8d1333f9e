"""camviz.catalog (the names `--help` shows without torch) equals the registries and defaults
it copies; a drifted entry fails by name."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import cv2
import pytest

from camviz import catalog, explainer, images
from camviz.cam import METHODS
from camviz.data import dataset_names
from camviz.metrics import BASELINES, GROUND_TRUTH, METRICS, eval_data, sanity
from camviz.train import config
from camviz.train.optim import OPTIMIZERS, SCHEDULERS
from camviz.viz import COLORMAPS

#: catalog entry -> the names its registry holds now.
COPIES = {
    "METHODS": METHODS.names,
    "DATASETS": dataset_names,
    "METRICS": METRICS.names,
    "BASELINES": BASELINES.names,
    "GROUND_TRUTH": GROUND_TRUTH.names,
    "OPTIMIZERS": OPTIMIZERS.names,
    "SCHEDULERS": SCHEDULERS.names,
}
#: catalog entry -> the modules that re-export it (defined once, in the catalog).
REEXPORTS = {
    "DEFAULT_METHODS": [explainer],
    "DEFAULT_MAX_PIXELS": [images],
    "DEFAULT_N": [eval_data],
    "SANITY_THRESHOLD": [sanity],
    "PRECISIONS": [config],
    "FREEZE": [config],
}


def drift(entry: str) -> str | None:
    """Why ``catalog.<entry>`` differs from its registry, or None."""
    copy, real = list(getattr(catalog, entry)), list(COPIES[entry]())
    if copy == real:
        return None
    return (f"camviz.catalog.{entry} drifted: missing {[n for n in real if n not in copy]}, "
            f"extra {[n for n in copy if n not in real]}, order catalog {copy} vs registry {real}")


def train_default_drift() -> list[str]:
    real = {f.name: f.default for f in dataclasses.fields(config.TrainConfig)}
    return [f"camviz.catalog.TRAIN_DEFAULTS['{k}'] = {v!r}, TrainConfig.{k} = {real.get(k, '<no field>')!r}"
            for k, v in catalog.TRAIN_DEFAULTS.items() if real.get(k, dataclasses.MISSING) != v]


@pytest.mark.parametrize("entry", sorted(COPIES))
def test_catalog_names_equal_the_registry(entry):
    assert drift(entry) is None, drift(entry)


def test_catalog_train_defaults_equal_train_config():
    assert not train_default_drift(), "; ".join(train_default_drift())


@pytest.mark.parametrize("entry", sorted(REEXPORTS))
def test_defaults_are_defined_once(entry):
    for module in REEXPORTS[entry]:
        assert getattr(module, entry) is getattr(catalog, entry), f"{module.__name__}.{entry} is a copy"


def test_every_catalog_entry_is_checked():
    public = {n for n in vars(catalog) if n.isupper()}
    assert public == set(COPIES) | set(REEXPORTS) | {"TRAIN_DEFAULTS", "COLORMAPS"}   # COLORMAPS: viz reads them


def test_drift_names_the_entry(monkeypatch):
    monkeypatch.setattr(catalog, "METHODS", (*catalog.METHODS[1:], "fancycam"))
    monkeypatch.setattr(catalog, "TRAIN_DEFAULTS", {**catalog.TRAIN_DEFAULTS, "gamma": 0.5})
    msg = drift("METHODS")
    assert msg is not None and "catalog.METHODS" in msg and "missing ['cam']" in msg
    assert "extra ['fancycam']" in msg
    assert drift("DATASETS") is None
    assert train_default_drift() == ["camviz.catalog.TRAIN_DEFAULTS['gamma'] = 0.5, TrainConfig.gamma = 0.1"]


def test_catalog_is_a_leaf():
    """It imports nothing of camviz (so nothing heavy) - stdlib only."""
    tree = ast.parse(Path(catalog.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "types"}, imported


def test_colormaps_are_the_catalogs_each_a_distinct_opencv_map():
    """viz registers exactly the catalog's names (one list); each is its own cv2 colour map."""
    assert COLORMAPS.names() == sorted(catalog.COLORMAPS)
    codes = [COLORMAPS.get(n) for n in catalog.COLORMAPS]
    assert len(set(codes)) == len(codes)
    assert all(getattr(cv2, f"COLORMAP_{n.upper()}") == c for n, c in zip(catalog.COLORMAPS, codes))
