"""The IDX file format of MNIST and Fashion-MNIST, read with numpy (no pickle).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian int32 per dimension, then the values in C order
(LeCun et al., http://yann.lecun.com/exdb/mnist/). Files may be gzipped.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from camviz.errors import DataError

_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one IDX file into an array of its shape and type."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(f"'{source}' is not an IDX file (bad magic number); delete it and "
                        "download the data set again")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"'{source}' is truncated (header); delete it and download it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(raw) != header + count * dtype.itemsize:
        raise DataError(f"'{source}' has {len(raw) - header} data bytes but its header says "
                        f"{count * dtype.itemsize} (shape {shape}); the file is truncated or "
                        "corrupt: delete it and download it again")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped (``.gz``) or not."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read '{path}' ({err}); delete it and download it again") from None
    return parse_idx(raw, str(path))
