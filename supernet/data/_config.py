"""`DataConfig`: which dataset, how it is split, augmented and fed (a section of a training
config, also what evaluation and export rebuild the data from)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from supernet.core import check, is_int

__all__ = ["DATASETS", "DataConfig"]

DATASETS = ("fashion_mnist", "cifar10", "imagefolder", "npz")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fashion_mnist"
    path: str | None = None          # None: the dataset's default location
    val_size: int = 5000             # held out of the training set, fixed seed
    train_subset: int | None = None  # use only this many training images (quick runs, tests)
    crop_padding: int = 2            # random crop with this zero padding; 0 disables
    flip: bool = True                # random horizontal flip
    calib_images: int = 2000         # BN recalibration images before every evaluation
    eval_images: int | None = None   # validation images per epoch-end evaluation (None: all)
    image_size: int | None = None    # imagefolder: resize every image to this square size
    stream: bool = False             # imagefolder: stream from disk (any size) instead of loading it
    workers: int = 2                 # stream: decoding worker processes (0: in the main process)
    min_crop_scale: float = 0.08     # stream: random-resized crop keeps this..1 of the area
    center_crop: float = 0.875       # stream: evaluation crops the centre of a resize to size / this
    mean: list[float] | None = None  # per channel; None: from the training images (in memory),
    std: list[float] | None = None   # ImageNet's (streamed)

    def __post_init__(self) -> None:
        check(self.dataset in DATASETS, "data.dataset", self.dataset, f"one of {list(DATASETS)}")
        check(self.path is None or isinstance(self.path, str), "data.path", self.path, "a path or null")
        check(is_int(self.val_size) and self.val_size > 0, "data.val_size", self.val_size,
               "a positive integer")
        for name in ("train_subset", "eval_images", "image_size"):
            v = getattr(self, name)
            check(v is None or (is_int(v) and v > 0), f"data.{name}", v, "null or a positive integer")
        check(is_int(self.crop_padding) and self.crop_padding >= 0, "data.crop_padding",
               self.crop_padding, "an integer >= 0")
        check(isinstance(self.flip, bool), "data.flip", self.flip, "true or false")
        check(is_int(self.calib_images) and self.calib_images > 0, "data.calib_images",
               self.calib_images, "a positive integer")
        check(isinstance(self.stream, bool), "data.stream", self.stream, "true or false")
        check(is_int(self.workers) and self.workers >= 0, "data.workers", self.workers, "an integer >= 0")
        for name in ("min_crop_scale", "center_crop"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1, f"data.{name}",
                   v, "a number in (0, 1]")
        if self.stream:
            check(self.dataset == "imagefolder", "data.dataset", self.dataset,
                   "imagefolder when data.stream is true (only image folders are streamed)")
            check(self.path is not None, "data.path", self.path, "the image folder to stream from")
            check(self.image_size is not None, "data.image_size", self.image_size,
                   "the square size streamed images are cropped to (e.g. 224)")
        check((self.mean is None) == (self.std is None), "data.mean/std", (self.mean, self.std),
               "both set or both null")
        for name in ("mean", "std"):
            v = getattr(self, name)
            ok = v is None or (isinstance(v, list) and v and all(
                isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e) for e in v))
            check(ok, f"data.{name}", v, "null or a list of numbers, one per channel")
        check(self.std is None or (all(e > 0 for e in self.std) and len(self.std) == len(self.mean)),
               "data.std", self.std, "positive numbers, as many as data.mean")
