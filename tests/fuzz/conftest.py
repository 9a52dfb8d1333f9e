"""Fixtures of the fuzz suite (helpers in harness.py): shared generated assets and a clean
working directory per case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))   # harness.py, as tests/ is for zoo_checkpoints

from harness import _checkpoints, _datasets, _images


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> Path:
    """Read-only inputs shared by every case (the suite checks nobody writes here)."""
    root = tmp_path_factory.mktemp("fuzz_assets")
    for name, make in (("img", _images), ("ckpt", _checkpoints), ("data", _datasets)):
        (root / name).mkdir()
        make(root / name)
    return root


@pytest.fixture
def ws(tmp_path, monkeypatch, assets):
    """A clean working directory per case: cwd, checkpoints dir (holding 'tiny' and 'tinyrgb'),
    empty TORCH_HOME and data dir; no downloads, no app server."""
    cwd = tmp_path / "cwd"
    ckpts = tmp_path / "ckpts"
    cwd.mkdir()
    ckpts.mkdir()
    for name in ("tiny", "tinyrgb", "pair", "nan"):
        (ckpts / f"{name}.safetensors").write_bytes((assets / "ckpt" / f"{name}.safetensors").read_bytes())
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("CAMVIZ_CHECKPOINTS", str(ckpts))
    monkeypatch.setenv("CAMVIZ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("CAMVIZ_OFFLINE", "1")
    monkeypatch.delenv("CAMVIZ_DEBUG", raising=False)
    monkeypatch.delenv("CAMVIZ_MAX_PIXELS", raising=False)

    def no_download(*args, **kwargs):
        raise AssertionError("a fuzz case tried to download")

    monkeypatch.setattr("camviz.hub._download", no_download)

    def no_server(*args, **kwargs):
        raise AssertionError("a fuzz case started the app server")

    import camviz.app
    monkeypatch.setattr(camviz.app, "launch", no_server)
    return tmp_path


@pytest.fixture
def fmt(ws, assets):
    """Fill a case's ``{img}``, ``{ckpt}``, ``{data}``, ``{ws}`` placeholders."""
    values = {"img": assets / "img", "ckpt": assets / "ckpt", "data": assets / "data", "ws": ws}
    return lambda s: s.format(**{k: str(v) for k, v in values.items()})
