"""Dataset readers on tiny real fixture files, and their errors on missing or corrupt data."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from supernet import (
    DataConfig,
    DataError,
    TensorLoader,
    build_data,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_image_folder,
    load_npz,
    resize,
)
from tests._train_helpers import quadrant_images, write_npz


def write_cifar(root, n=20):
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)], b"batch_label": b"x"}
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    return root


def write_tree(root, size=10):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")
    return root


def test_npz(tmp_path):
    data = load_npz(write_npz(tmp_path / "d.npz", n_train=30, n_test=10))
    assert data.train_x.shape == (30, 1, 16, 16) and data.train_x.dtype == np.uint8
    assert data.test_y.dtype == np.int64 and len(data.classes) == 4
    np.savez(tmp_path / "nhwc.npz", x_train=np.zeros((5, 8, 8, 3), np.float32), y_train=np.arange(5),
             x_test=np.ones((2, 8, 8, 3), np.float32), y_test=np.arange(2))
    nhwc = load_npz(tmp_path / "nhwc.npz")
    assert nhwc.train_x.shape == (5, 3, 8, 8) and nhwc.test_x.max() == 255


def test_cifar_pickles(tmp_path):
    data = load_cifar10(write_cifar(tmp_path / "cifar"))
    assert data.train_x.shape == (40, 3, 32, 32) and data.test_x.shape == (20, 3, 32, 32)
    assert data.classes[0] == "airplane" and data.train_y.dtype == np.int64


def test_image_folder(tmp_path):
    data = load_image_folder(write_tree(tmp_path / "tree"))
    assert data.classes == ("cat", "dog")
    assert data.train_x.shape == (6, 3, 10, 10) and list(data.train_y) == [0, 0, 0, 1, 1, 1]
    assert load_dataset("imagefolder", tmp_path / "tree", image_size=8).test_x.shape == (4, 3, 8, 8)


class Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_corrupt_and_missing_data(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    (tmp_path / "fm").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "fm" / name).write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    with pytest.raises(DataError, match="truncated|magic"):
        load_fashion_mnist(tmp_path / "fm")
    good = gzip.compress(bytes(range(256)) * 40)
    (tmp_path / "fm" / "train-images-idx3-ubyte.gz").write_bytes(good[:12] + b"\xff" * 3 + good[15:])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: cannot read .*invalid distance"):
        load_fashion_mnist(tmp_path / "fm")  # a damaged deflate stream: zlib.error
    with pytest.raises(DataError, match="data_batch_1..5 and test_batch"):
        load_cifar10(tmp_path)
    cifar = write_cifar(tmp_path / "cifar")
    (cifar / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataError, match="refusing to load posix.getcwd|refusing to load os.getcwd"):
        load_cifar10(cifar)
    (cifar / "test_batch").write_bytes(b"\x80\x02}q\x00(")  # truncated pickle
    with pytest.raises(DataError, match="not a CIFAR-10 python batch"):
        load_cifar10(cifar)
    with pytest.raises(DataError, match="ImageFolder tree not found"):
        load_image_folder(tmp_path)
    tree = write_tree(tmp_path / "tree")
    (tree / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: not a readable image"):
        load_image_folder(tree)
    with pytest.raises(DataError, match="not found"):
        load_npz(tmp_path / "none.npz")
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match=r"missing array\(s\) \['y_train', 'x_test', 'y_test'\]"):
        load_npz(tmp_path / "partial.npz")
    zeros = np.zeros((2, 4, 4), np.float32)
    np.savez(tmp_path / "standardized.npz", x_train=zeros - 0.5, y_train=np.zeros(2, np.int64),
             x_test=zeros, y_test=np.zeros(2, np.int64))
    with pytest.raises(DataError, match=r"values span \[-0.5, -0.5\].*not standardized"):
        load_npz(tmp_path / "standardized.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="needs a location"):
        load_dataset("cifar10")


def test_tensor_loader_batches_and_augments():
    x, y = quadrant_images(50)
    images = torch.from_numpy(x)[:, None]
    kw = {"mean": torch.tensor([0.5]), "std": torch.tensor([0.25])}
    loader = TensorLoader(images, torch.from_numpy(y), 16, shuffle=True, crop_padding=2, flip=True,
                          drop_last=True, **kw)
    batches = list(loader.epoch(3))
    assert len(batches) == len(loader) == 3 and batches[0][0].shape == (16, 1, 16, 16)
    again = list(loader.epoch(3))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    assert not torch.equal(batches[0][0], next(loader.epoch(4))[0])
    plain = TensorLoader(images, torch.from_numpy(y), 50, **kw)
    (xb, yb), = plain.epoch(0)
    assert torch.allclose(xb, (images.float() / 255 - 0.5) / 0.25) and torch.equal(yb, torch.from_numpy(y))
    assert resize(xb, 12).shape == (50, 1, 12, 12) and resize(xb, 16) is xb
    halves = [TensorLoader(images, torch.from_numpy(y), 16, shuffle=True, rank=r, world=2, **kw)
              for r in range(2)]
    a, b = (next(h.epoch(5))[1] for h in halves)
    assert len(a) == len(b) == 8 and torch.equal(torch.cat([a, b]).sort().values,
                                                 next(loader.epoch(5))[1].sort().values)


def test_build_data_holds_out_validation(tmp_path):
    cfg = DataConfig(dataset="npz", path=str(write_npz(tmp_path / "d.npz", n_train=200)), val_size=40,
                     calib_images=30, train_subset=100)
    splits = build_data(cfg, batch_size=20)
    assert len(splits.train.images) == 100 and len(splits.val.images) == 40
    assert len(splits.calib.images) == 30 and len(splits.test.images) == 100
    assert len(splits.mean) == 1 and splits.std[0] > 0
