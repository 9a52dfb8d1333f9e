import numpy as np
import pytest
from PIL import Image


def write_folder(root, counts: dict[str, int], size: int = 12, splits=("train",), seed: int = 0):
    """An ImageFolder with ``counts[class]`` PNGs per split; class k is mostly channel k % 3."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for k, (cls, n) in enumerate(counts.items()):
            d = root / split / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = rng.integers(0, 60, (size + i % 3, size, 3), dtype=np.uint8)
                arr[..., k % 3] += 180
                Image.fromarray(arr).save(d / f"{i:03d}.png")
    return root


@pytest.fixture
def make_folder():
    return write_folder


@pytest.fixture
def image_folder(tmp_path):
    return write_folder(tmp_path / "imgs", {"cat": 10, "dog": 10}, splits=("train", "test"))
