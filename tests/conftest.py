import os

import pytest
import torch

# Keep the 2-core machine usable when several test processes run; tests never touch the network.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torchvision cache, so no test sees (or downloads) real weights."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_download(monkeypatch):
    """Make any weight download fail the way it does without network."""
    import urllib.error

    def fail(url, dest):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr("camviz.hub._download", fail)
