"""Datasets. Fashion-MNIST from the Debian IDX files by default."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from supernet.core import DataError

__all__ = ["DEFAULT_DATA_DIR", "read_idx", "load_fashion_mnist", "train_val_split"]

DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
_INSTALL_HINT = ("install it with `apt-get install dataset-fashion-mnist` or point --data-dir at a "
                 "folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                 "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) of unsigned bytes as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot read ({err}); {_INSTALL_HINT}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX file: header of {ndim} dimensions, {len(data)} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file: header says {dims}, found {body.size} bytes")
    return body.reshape(dims)


def load_fashion_mnist(data_dir: str | Path = DEFAULT_DATA_DIR):
    """``(train_images, train_labels, test_images, test_labels)`` as uint8 / int64 arrays,
    images of shape (n, 28, 28)."""
    data_dir = Path(data_dir)
    out = []
    for split in ("train", "t10k"):
        for kind, idx in (("images", "idx3"), ("labels", "idx1")):
            matches = [data_dir / f"{split}-{kind}-{idx}-ubyte{ext}" for ext in (".gz", "")]
            found = next((p for p in matches if p.is_file()), None)
            if found is None:
                raise DataError(f"Fashion-MNIST file {matches[0].name} not found in {data_dir}; "
                                f"{_INSTALL_HINT}")
            out.append(read_idx(found))
    train_x, train_y, test_x, test_y = out
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError(f"{data_dir}: image and label counts differ")
    return train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64)


def train_val_split(n: int, val_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed index split of ``n`` training examples into (train, validation)."""
    if not 0 < val_size < n:
        raise DataError(f"val_size: got {val_size}, expected between 1 and {n - 1}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])
