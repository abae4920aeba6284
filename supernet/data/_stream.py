"""Image folders of any size, streamed from disk: ``root/train/<class>/*`` and
``root/val/<class>/*`` (or ``test/``), the ImageNet layout.

Files are decoded with Pillow in `torch.utils.data.DataLoader` worker processes, a few
batches ahead, so memory stays bounded whatever the folder's size. Training images get a
random-resized crop and a flip, evaluation images a resize and a centre crop, both to
``data.image_size`` (the trainer then resizes each batch to the resolution it samples).
The order and every crop are fixed by the epoch seed and the image's index, whatever the
number of workers, so a resumed epoch sees the same batches. A file that cannot be decoded
is skipped and counted; it never stops an epoch."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from supernet.core import DataError
from supernet.data._datasets import IMAGE_SUFFIXES

__all__ = ["FolderLoader", "Folder", "scan_folder", "normalise", "IMAGENET_MEAN", "IMAGENET_STD"]

log = logging.getLogger("supernet.data")

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GREY_MEAN, GREY_STD = (0.449,), (0.226,)  # ImageNet's, averaged over the channels
SKIPPED_EXAMPLES = 3  # unreadable files named per pass


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as network input: scaled to [0, 1], then ``(x - mean) / std`` per channel
    (``mean`` and ``std`` shaped ``(1, C, 1, 1)``)."""
    return (x.float().div_(255.0) - mean) / std


class Folder(NamedTuple):
    """An image folder's files: ``train/`` (labels by class folder), the test split
    (``val/`` or ``test/``), the class names and the colour mode (``L`` or ``RGB``)."""

    files: list[str]
    labels: np.ndarray
    test_files: list[str]
    test_labels: np.ndarray
    classes: list[str]
    mode: str


def scan_folder(root: str | Path) -> Folder:
    """The files of an ImageNet-layout folder; a clear error when it has another layout."""
    root = Path(root)
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"image folder not found at {root}: expected {root}/train/<class>/<image> and "
                        f"{root}/val/<class>/<image> (or test/)")
    files, labels, classes = scan_split(root / "train")
    test_files, test_labels, _ = scan_split(test_dir, classes)
    return Folder(files, labels, test_files, test_labels, classes, image_mode(files))


def scan_split(root: Path, classes: list[str] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Image paths under ``root/<class>/`` (sorted, any depth), their labels and the class
    names; ``classes`` fixes the names and their indices (the training split's)."""
    if not root.is_dir():
        raise DataError(f"image folder {root} not found")
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    classes = found if classes is None else classes
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(f"{root}: class folders {unknown[:5]} are not among the training classes")
    files, labels = [], []
    for label, name in enumerate(classes):
        for dirpath, dirnames, names in os.walk(root / name):
            dirnames.sort()
            picked = sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES))
            files += [os.path.join(dirpath, n) for n in picked]
            labels += [label] * len(picked)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}/<class>/")
    return files, np.asarray(labels, dtype=np.int64), list(classes)


GREY_MODES = ("L", "1", "I;16", "I;16B", "I;16L", "I", "F", "LA")


def image_mode(files: list[str], samples: int = 50) -> str:
    """``RGB`` when any of ``samples`` files spread over the list is in colour (a colour
    data set holds a few grey images: ImageNet does), ``L`` when all readable ones are grey."""
    from PIL import Image

    modes = []
    for i in sorted(set(np.linspace(0, len(files) - 1, min(samples, len(files))).astype(int).tolist())):
        try:
            with Image.open(files[i]) as im:
                modes.append(im.mode)
        except Exception:  # unreadable: look at the next one  # noqa: BLE001
            continue
    if not modes:
        raise DataError(f"none of {min(samples, len(files))} images sampled from {files[0]} on can be read")
    return "L" if all(m in GREY_MODES for m in modes) else "RGB"


def _eight_bit(im):
    """16-bit and float images scaled to 8 bits (Pillow's convert would clip them)."""
    from PIL import Image

    if im.mode.startswith("I") or im.mode == "F":
        x = np.asarray(im, dtype=np.float64)
        top = 1.0 if im.mode == "F" and x.size and x.max() <= 1.0 else (255.0 if im.mode == "F" else 65535.0)
        im = Image.fromarray(np.clip(np.rint(x / top * 255.0), 0, 255).astype(np.uint8))
    return im


class _Images(Dataset):
    """Item ``(index, seed)``: the decoded, cropped uint8 CHW image, its label, and the item's
    own file in a list when it cannot be decoded (else an empty list). Training items then
    take the next readable file instead (so every rank's batches stay full and the same in
    number); evaluation items have no image (``None, None``). A pass draws each index once,
    so each unreadable file it meets is listed once."""

    def __init__(self, files: list[str], labels: np.ndarray, size: int, mode: str, train: bool,
                 min_scale: float, flip: bool, center_crop: float) -> None:
        self.files, self.labels, self.size, self.mode = files, labels, size, mode
        self.train, self.min_scale, self.flip, self.center_crop = train, min_scale, flip, center_crop

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int]):
        i, seed = item
        bad = []
        for passed in range(min(len(self.files), 64) if self.train else 1):
            j = (i + passed) % len(self.files)
            pixels = self._decode(j, seed)
            if pixels is not None:
                return pixels, int(self.labels[j]), bad
            bad = [self.files[i]]
        return None, None, bad

    def _decode(self, i: int, seed: int) -> np.ndarray | None:
        from PIL import Image

        try:
            with Image.open(self.files[i]) as im:
                im = _eight_bit(im).convert(self.mode)
                rng = np.random.default_rng([seed, i])
                im = self._train_crop(im, rng) if self.train else self._eval_crop(im)
        except Exception:  # corrupt, truncated, not an image, a decompression bomb  # noqa: BLE001
            return None
        pixels = np.asarray(im, dtype=np.uint8)
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

    def _train_crop(self, im, rng: np.random.Generator):
        """A random crop of ``min_scale``..1 of the area and aspect 3/4..4/3 (the whole image
        after 10 misses), resized to ``size``; flipped with probability 1/2."""
        from PIL import Image

        w, h = im.size
        box = (0, 0, w, h)
        for _ in range(10):
            area = w * h * rng.uniform(self.min_scale, 1.0)
            aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                box = (x0, y0, x0 + cw, y0 + ch)
                break
        im = im.resize((self.size, self.size), Image.BILINEAR, box=box)
        return im.transpose(Image.FLIP_LEFT_RIGHT) if self.flip and rng.random() < 0.5 else im

    def _eval_crop(self, im):
        """The centre ``size`` square of the image with its shorter side resized to
        ``size / center_crop``, resampled straight from the source region (a very wide
        image is never resized whole)."""
        from PIL import Image

        w, h = im.size
        scale = max(self.size, round(self.size / self.center_crop)) / min(w, h)
        side = self.size / scale  # the crop's side in source pixels
        x0, y0 = (w - side) / 2, (h - side) / 2
        return im.resize((self.size, self.size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))


def _collate(items):
    bad = [path for it in items for path in it[2]]
    kept = [it for it in items if it[0] is not None]
    if not kept:
        return None, None, bad
    x = torch.from_numpy(np.stack([it[0] for it in kept]))
    return x, torch.tensor([it[1] for it in kept], dtype=torch.int64), bad


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # decoding is the work; torch ops in a worker need no thread pool


class FolderLoader:
    """Batches of ``(normalised float images, labels)`` streamed from image files; the same
    interface as `TensorLoader` (``epoch(seed)``, ``len``, ``num_images``, ``channels``,
    ``labels``). With ``world > 1`` each rank takes its own slice of every global batch.

    ``skipped`` and ``skipped_files`` (the first few paths) count the unreadable files of the
    batches taken so far in the current pass (or the last one), kept up to date batch by
    batch: a pass stopped early (the trainer's ``max_steps_per_epoch``) is counted too."""

    def __init__(self, files: list[str], labels: np.ndarray, batch_size: int, *, size: int, mode: str,
                 mean, std, train: bool = False, shuffle: bool = False, min_scale: float = 0.08,
                 flip: bool = False, center_crop: float = 0.875, drop_last: bool = False,
                 workers: int = 2, rank: int = 0, world: int = 1) -> None:
        self._images = _Images(files, labels, size, mode, train, min_scale, flip, center_crop)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.workers, self.rank, self.world = workers, rank, world
        self.skipped, self.skipped_files = 0, []

    @property
    def num_images(self) -> int:
        return len(self._images)

    @property
    def channels(self) -> int:
        return 1 if self._images.mode == "L" else 3

    def __len__(self) -> int:
        n = self.num_images
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self, seed: int) -> Iterator[list[tuple[int, int]]]:
        n = self.num_images
        order = np.random.default_rng(seed).permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(int(i), seed) for i in (idx[self.rank::self.world] if self.world > 1 else idx)]

    def raw(self, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass of ``(uint8 NCHW images, labels)``; unreadable files are left out (in
        training, replaced by the next readable file)."""
        loader = DataLoader(self._images, batch_sampler=list(self._batches(seed)), collate_fn=_collate,
                            num_workers=self.workers, worker_init_fn=_worker_init,
                            prefetch_factor=2 if self.workers else None,
                            pin_memory=torch.cuda.is_available())
        self.skipped, self.skipped_files = 0, []
        for x, y, bad in loader:
            self.skipped += len(bad)
            self.skipped_files += bad[:SKIPPED_EXAMPLES - len(self.skipped_files)]
            if x is not None:
                yield x, y
        if self.skipped:  # a whole pass; the trainer logs the epochs it stops early itself
            log.warning("skipped %d unreadable image file(s) of %d, e.g. %s", self.skipped, self.num_images,
                        self.skipped_files[0])

    def epoch(self, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.raw(seed):
            yield self.normalise(x), y

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return normalise(x, self.mean, self.std)

    def uint8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image (decoded once, unaugmented) as one uint8 tensor, and the labels; for
        the bounded calibration and validation sets only."""
        parts = list(self.raw(0))
        if not parts:
            raise DataError(f"none of the {self.num_images} images could be read")
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def default_norm(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet's mean and std (their channel average for grey images)."""
    return (GREY_MEAN, GREY_STD) if channels == 1 else (IMAGENET_MEAN, IMAGENET_STD)
