"""Fixtures of the CAM engine tests; helpers live in camtest.py."""

import sys
from pathlib import Path

import pytest
import torch

# --import-mode=importlib does not put test folders on sys.path; the helpers module is here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from camtest import TinyNet, tiny


@pytest.fixture
def net() -> TinyNet:
    return tiny()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
