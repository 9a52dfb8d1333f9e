import gzip
import struct

import numpy as np
import pytest

from camviz.data.idx import parse_idx, read_idx
from camviz.errors import DataError


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_round_trip_uint8_and_gzip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    plain = tmp_path / "x-idx3-ubyte"
    plain.write_bytes(idx_bytes(arr))
    packed = tmp_path / "x-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(plain), arr)
    np.testing.assert_array_equal(read_idx(packed), arr)


def test_big_endian_int32():
    arr = np.array([1, -2, 70000], dtype=np.int32)
    out = parse_idx(idx_bytes(arr, 0x0C))
    assert out.dtype == np.int32 and out.tolist() == [1, -2, 70000]


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x08\x01", b"\x00\x00\x42\x01\x00\x00\x00\x01\x00"])
def test_bad_magic(raw):
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(raw)


def test_truncated_data_names_sizes():
    raw = idx_bytes(np.zeros((3, 2), np.uint8))[:-1]
    with pytest.raises(DataError, match="truncated or corrupt"):
        parse_idx(raw, "f")
