import os
import sys
from pathlib import Path

import pytest
import torch

# --import-mode=importlib does not put test folders on sys.path; shared helpers
# (zoo_checkpoints.py) live here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Keep the 2-core machine usable when several test processes run; tests never touch the network.
# Gradio's and the Hugging Face hub's offline/telemetry variables are NOT set here: the app
# must set them itself, and tests/app/test_app_offline.py checks that it does.
# Under pytest-xdist the cores are split between the workers (2 workers on 2 cores: one
# thread each; two threads each would make every kernel wait for a descheduled thread).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


def _malloc_trim() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it otherwise, so a worker's RSS
    would stay at the peak of the heaviest module it ever ran)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@pytest.fixture(autouse=True, scope="module")
def _free_after_module():
    """What a module held (models, data sets, module fixtures) is freed before the next runs."""
    yield
    import gc
    gc.collect()
    _malloc_trim()


def skip_unless_installed(dataset: str) -> None:
    """Skip only when Debian's Fashion-MNIST files are absent; any other failure is a failure."""
    if dataset in ("fashion-mnist", "mnist"):
        from camviz.data.mnist import DEBIAN_FASHION, find_idx_dir
        if dataset == "mnist" or find_idx_dir([DEBIAN_FASHION]) is None:
            pytest.skip(f"{dataset} is not installed here (apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="session")
def colour_ckpt(tmp_path_factory):
    """A seeded 12-class RGB ResNet-14 checkpoint (32 px, width 0.25) shared by the explain-layer
    and outputs-layer tests (test files may define their own fixture of this name)."""
    from zoo_checkpoints import make_checkpoint
    return make_checkpoint(tmp_path_factory.mktemp("ck") / "colour.safetensors", seed=1,
                           classes=[f"thing{i}" for i in range(12)], in_channels=3,
                           input_size=32, width=0.25)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (training runs compared across processes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def require_dataset():
    """``require_dataset(name)`` skips the test when that data set's files are not installed."""
    return skip_unless_installed


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


# --- Per-module wall time and peak RSS (docs/testing.md): CAMVIZ_TEST_PROFILE=out.tsv pytest ...
# The kernel's peak-RSS mark (VmHWM) is reset before each module's first test by writing 5 to
# /proc/self/clear_refs, then read after its last, so each row is that module's own peak.
_PROFILE = os.environ.get("CAMVIZ_TEST_PROFILE")
_module_state: dict = {}


def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024   # MiB
    return -1


def _flush_module() -> None:
    import time
    if not _module_state:
        return
    with open(_PROFILE, "a") as f:
        f.write(f"{_module_state['name']}\t{time.perf_counter() - _module_state['t0']:.1f}\t"
                f"{_vm('VmHWM')}\t{_vm('VmRSS')}\t{os.environ.get('PYTEST_XDIST_WORKER', 'main')}\n")
    _module_state.clear()


if _PROFILE:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        import time
        name = item.nodeid.split("::")[0]
        if _module_state.get("name") != name:
            _flush_module()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            _module_state.update(name=name, t0=time.perf_counter())

    def pytest_sessionfinish(session):
        _flush_module()
