"""Fixtures of the metric tests; helpers live in metricstest.py."""

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put test folders on sys.path; the helpers module is here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from metricstest import EDGES, tiny_loaded


@pytest.fixture
def tiny():
    return tiny_loaded()


@pytest.fixture
def edges_method(monkeypatch):
    """Register the weight-blind ``edges`` method for one test only."""
    from camviz.cam import METHODS
    monkeypatch.setitem(METHODS._items, "edges", EDGES)
    return "edges"
