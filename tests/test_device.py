import pytest
import torch

from camviz.device import resolve_device
from camviz.errors import ConfigError


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_absent_is_a_clear_error():
    with pytest.raises(ConfigError, match="CUDA is not available here; use --device cpu"):
        resolve_device("cuda")


def test_unknown_device():
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")
