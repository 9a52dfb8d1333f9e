"""One in-process app for the tests of this folder: tiny random-weight checkpoints, no
ImageNet weights."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from camviz.checkpoint import save_checkpoint
from camviz.data.mnist import FASHION_CLASSES
from camviz.models import build_model

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FASHION = list(FASHION_CLASSES)
# name -> (architecture, builder options, seed); 28x28 grey, like Fashion-MNIST
TINY = {"lenet5-tiny": ("lenet5", {}, 0), "resnet14-tiny": ("resnet14", {"width": 0.25}, 1),
        "resnet14-tiny2": ("resnet14", {"width": 0.25}, 5)}


def save_tiny(folder: Path, name: str, arch: str, options: dict, seed: int) -> Path:
    torch.manual_seed(seed)
    kwargs = {"num_classes": len(FASHION), "in_channels": 1, "input_size": 28, **options}
    meta = {"arch": arch, "arch_kwargs": kwargs, "classes": FASHION, "mean": [0.286],
            "std": [0.353], "dataset": "fashion-mnist"}
    return save_checkpoint(folder / f"{name}.safetensors", build_model(arch, **kwargs), meta)


@pytest.fixture(name="save_tiny")
def save_tiny_fixture():
    """:func:`save_tiny`, for tests outside this file."""
    return save_tiny


@pytest.fixture(scope="package")
def app_dirs(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("app")
    dirs = SimpleNamespace(root=root, checkpoints=root / "checkpoints", gradio=root / "gradio",
                           torch_home=root / "torch_home", downloads=root / "downloads")
    for name, (arch, options, seed) in TINY.items():
        save_tiny(dirs.checkpoints, name, arch, options, seed)
    return dirs


@pytest.fixture(scope="package")
def server(app_dirs):
    """The app launched on 127.0.0.1 (closed after the last test of this folder)."""
    from camviz.app import build_app, launch
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(app_dirs.gradio))
        mp.setenv("TORCH_HOME", str(app_dirs.torch_home))  # empty: ImageNet weights not cached
        demo = build_app(app_dirs.checkpoints, samples_dir=SAMPLES, offline=True)
        _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
        try:
            yield SimpleNamespace(demo=demo, url=url, dirs=app_dirs)
        finally:
            demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server.url, verbose=False, download_files=str(server.dirs.downloads))


CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: the dead proxy stops Chromium's background look-ups (see
# /work/shared/BROWSER_TESTING.md); the app itself is reached directly.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9",
                 "--proxy-bypass-list=127.0.0.1;localhost"]


@pytest.fixture
def browser_page():
    """A 1400x1000 page in Debian's headless Chromium (skips where it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium); the browser test needs it")
    from playwright.sync_api import expect, sync_playwright
    # Playwright's 5 s default for a waiting assertion is too short on 2 loaded cores: a fresh-clone
    # CI beside two trainings saw an upload take 6 s. A slow page still fails, after 30 s.
    expect.set_options(timeout=30_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def _choose(page, box: str, option) -> None:
    combo = page.get_by_role("combobox", name=box, exact=True)
    combo.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    combo.blur()


@pytest.fixture
def choose():
    """``choose(page, "Model", "resnet14-tiny")``: pick an option of a Gradio dropdown."""
    return _choose
