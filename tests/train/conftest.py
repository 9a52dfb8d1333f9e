import pytest

from camviz.train import TrainConfig


@pytest.fixture
def tiny(tmp_path):
    """A seconds-long config: LeNet (ReLU) on a slice of the real digits data set."""
    def make(**changes) -> TrainConfig:
        base = {"model": "lenet5", "dataset": "digits", "epochs": 1, "batch_size": 64, "lr": 3e-3,
                "model_options": {"activation": "relu", "pooling": "max"}, "limit": 256,
                "out": str(tmp_path / "run"), "checkpoints_dir": str(tmp_path / "checkpoints"),
                "download": False}
        base.update(changes)
        return TrainConfig(**base)
    return make


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is much faster than two
    fighting other processes (and subprocesses get the same count, for equal numerics)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
