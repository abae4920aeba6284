"""A user's own image data: a CIFAR-10 python-pickle folder, an ImageFolder-style tree of
images, or a ``.npz`` of arrays. Every loader returns an `ImageData` of uint8 NCHW arrays."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

from supernet.core import DataError
from supernet.data._data import DEFAULT_DATA_DIR, load_fashion_mnist

__all__ = ["ImageData", "load_dataset", "load_cifar10", "load_image_folder", "load_npz"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageData(NamedTuple):
    train_x: np.ndarray  # uint8 (n, c, h, w)
    train_y: np.ndarray  # int64 (n,)
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]


def _as_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 NCHW from (n, h, w), (n, h, w, c) or (n, c, h, w); floats in [0, 1] are scaled."""
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{where}: images of dtype {x.dtype}, expected uint8 or floats in [0, 1]")
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: image values span [{lo:g}, {hi:g}]; expected uint8, floats in "
                            "[0, 1] or in [0, 255] (pass raw pixels, not standardized ones: the "
                            "loader normalizes them itself)")
        x = np.rint(x * 255.0 if hi <= 1.0 else x).astype(np.uint8)
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim == 4:
        return x
    raise DataError(f"{where}: images of shape {x.shape}, expected (n, h, w), (n, h, w, c) or (n, c, h, w)")


class _SafeUnpickler(pickle.Unpickler):
    """Builtin containers plus exactly what a pickled numpy array needs; nothing else."""

    ALLOWED = {("_codecs", "encode"), ("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        return super().find_class(module, name)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
        batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
        images = data.reshape(len(data), 3, 32, 32)
    except Exception as err:  # corrupt, truncated, foreign or malicious pickle
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err}); expected "
                        "a pickled dict with 'data' (n x 3072 uint8) and 'labels'") from None
    if len(labels) != len(images):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


def load_cifar10(path: str | Path) -> ImageData:
    """The ``cifar-10-batches-py`` folder: ``data_batch_1..5`` and ``test_batch``."""
    root = Path(path)
    train = sorted(root.glob("data_batch_*"))
    if not train or not (root / "test_batch").is_file():
        raise DataError(f"CIFAR-10 batches not found in {root}: expected data_batch_1..5 and test_batch "
                        "(download and extract cifar-10-python.tar.gz from "
                        "https://www.cs.toronto.edu/~kriz/cifar.html and point --data-dir at "
                        "cifar-10-batches-py)")
    parts = [_cifar_batch(p) for p in train]
    test_x, test_y = _cifar_batch(root / "test_batch")
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    return ImageData(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                     test_x, test_y, names)


def _read_tree(root: Path, classes: list[str], size: int | None) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if im.mode in ("L", "1", "I;16") else "RGB")
                    if size is not None:
                        im = im.resize((size, size), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8))
            except (OSError, UnidentifiedImageError) as err:
                raise DataError(f"{f}: not a readable image ({err})") from None
            labels.append(label)
    if not images:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(f"{root}: images of different sizes or modes {sorted(shapes)[:4]}; set "
                        "data.image_size to resize them all to one square size, and convert a mix "
                        "of grey and colour images to one mode")
    return _as_nchw(np.stack(images), str(root)), np.asarray(labels, dtype=np.int64)


def load_image_folder(path: str | Path, image_size: int | None = None) -> ImageData:
    """``root/train/<class>/*.png`` and ``root/test/<class>/*.png`` (or ``val/``): one folder
    per class, class index = position of its name in sorted order."""
    root = Path(path)
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"ImageFolder tree not found at {root}: expected {root}/train/<class>/<image> "
                        f"and {root}/test/<class>/<image> (or val/)")
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{root}/train has no class folders")
    missing = sorted(d.name for d in test_dir.iterdir() if d.is_dir() and d.name not in classes)
    if missing:
        raise DataError(f"{test_dir}: class folders {missing} are not in {root}/train")
    train_x, train_y = _read_tree(root / "train", classes, image_size)
    present = [c for c in classes if (test_dir / c).is_dir()]
    test_x, test_y = _read_tree(test_dir, present, image_size)
    test_y = np.asarray([classes.index(present[i]) for i in test_y], dtype=np.int64)
    return ImageData(train_x, train_y, test_x, test_y, tuple(classes))


def load_npz(path: str | Path) -> ImageData:
    """A ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (no pickled objects)."""
    path = Path(path)
    keys = ("x_train", "y_train", "x_test", "y_test")
    if not path.is_file():
        raise DataError(f"npz file {str(path)!r} not found; expected a .npz with arrays {list(keys)}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing}; it has {f.files}, "
                                f"expected {list(keys)}")
            arrays = {k: f[k] for k in keys}
    except DataError:
        raise
    except Exception as err:  # zip errors, bad headers, object arrays
        raise DataError(f"{path}: not a readable .npz of arrays ({type(err).__name__}: {err})") from None
    out = []
    for split in ("train", "test"):
        x, y = _as_nchw(arrays[f"x_{split}"], f"{path}:x_{split}"), arrays[f"y_{split}"]
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y_{split} must be {len(x)} integer labels, got {y.dtype} {y.shape}")
        out += [x, y.astype(np.int64)]
    n = int(max(out[1].max(initial=0), out[3].max(initial=0))) + 1
    return ImageData(*out, tuple(str(i) for i in range(n)))


def load_dataset(name: str, path: str | Path | None = None, image_size: int | None = None) -> ImageData:
    """One of ``fashion_mnist`` (IDX files, default `DEFAULT_DATA_DIR`), ``cifar10``,
    ``imagefolder`` or ``npz``; the last three need ``path``."""
    if name == "fashion_mnist":
        tx, ty, vx, vy = load_fashion_mnist(path or DEFAULT_DATA_DIR)
        names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                 "Bag", "Ankle boot")
        return ImageData(tx[:, None], ty, vx[:, None], vy, names)
    if path is None:
        raise DataError(f"dataset {name!r} needs a location: set data.path in the config or pass --data-dir")
    loaders = {"cifar10": load_cifar10, "npz": load_npz,
               "imagefolder": lambda p: load_image_folder(p, image_size)}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; expected fashion_mnist, cifar10, imagefolder or npz")
    return loaders[name](path)
