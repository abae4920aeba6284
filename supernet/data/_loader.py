"""In-memory batching and augmentation on whole tensors: no per-image Python loop, no
DataLoader workers (a small dataset fits in memory and 2 CPU cores gain nothing from them).
Folders too large for memory are streamed instead (`supernet._stream`, ``data.stream``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from supernet.core import DataError
from supernet.data._data import train_val_split
from supernet.data._datasets import ImageData, load_dataset
from supernet.data._stream import FolderLoader, default_norm, normalise, scan_folder

__all__ = ["TensorLoader", "DataSplits", "build_data", "resize", "inference_batch"]


def inference_batch(batch: int, image_size: int) -> int:
    """``batch`` for images up to 64 px; for larger ones as many as hold the pixels of that
    many 64 px images (at least 16), so evaluation at 224 px does not take gigabytes."""
    return min(batch, max(16, batch * 64 * 64 // (image_size * image_size)))


def resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """A batch at ``resolution`` (bilinear, no antialias): what every subnet input goes through."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                         antialias=False)


class TensorLoader:
    """Batches of ``(normalised float images, labels)`` drawn from uint8 NCHW tensors.

    ``epoch(seed)`` yields one pass; the order and the augmentation are fixed by ``seed``,
    so a resumed epoch sees the same batches. With ``world > 1`` each rank takes its own
    slice of every global batch (same order on every rank)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *,
                 mean: torch.Tensor, std: torch.Tensor, shuffle: bool = False, crop_padding: int = 0,
                 flip: bool = False, drop_last: bool = False, rank: int = 0, world: int = 1) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"TensorLoader: expected uint8 (n, c, h, w) images, got {images.dtype} "
                            f"{tuple(images.shape)}")
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.shuffle, self.crop_padding, self.flip, self.drop_last = shuffle, crop_padding, flip, drop_last
        self.rank, self.world = rank, world
        self.skipped, self.skipped_files = 0, []  # `FolderLoader`'s counts: nothing is unreadable here

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def uint8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image, unaugmented, as uint8 NCHW, and the labels."""
        return self.images, self.labels

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return normalise(x, self.mean, self.std)

    def epoch(self, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        n = len(self.images)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        aug = torch.Generator().manual_seed(seed * 1000 + self.rank + 1)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            idx = idx[self.rank::self.world] if self.world > 1 else idx
            yield self.transform(self.images[idx], aug), self.labels[idx]

    def transform(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Crop and flip on the uint8 pixels (a quarter of the bytes of floats), then scale
        and normalise; the same values as augmenting the floats."""
        if self.crop_padding:
            x = self._random_crop(x, self.crop_padding, gen)
        if self.flip:
            mirror = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(mirror.view(-1, 1, 1, 1), x.flip(3), x)
        return self.normalise(x)

    @staticmethod
    def _random_crop(x: torch.Tensor, pad: int, gen: torch.Generator | None) -> torch.Tensor:
        """Zero-pad by ``pad`` and cut an ``h x w`` window at a random offset per image."""
        n, _, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # n, h', w', c
        dy = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n, 1, 1), generator=gen)
        rows = dy + torch.arange(h).view(1, h, 1)
        cols = dx + torch.arange(w).view(1, 1, w)
        out = padded[torch.arange(n).view(n, 1, 1), rows, cols]  # n, h, w, c
        return out.permute(0, 3, 1, 2).contiguous()


@dataclass
class DataSplits:
    """Training loader (augmented, shuffled), BN-calibration loader (training images, no
    augmentation), validation loader (held out of training) and test loader."""

    train: TensorLoader | FolderLoader
    calib: TensorLoader | FolderLoader
    val: TensorLoader | FolderLoader
    test: TensorLoader | FolderLoader
    mean: list[float]
    std: list[float]
    classes: tuple[str, ...]


def build_data(cfg, batch_size: int, *, seed: int = 0, rank: int = 0, world: int = 1,
               data: ImageData | None = None) -> DataSplits:
    """Loaders for a `DataConfig`: the validation split is held out with a fixed seed."""
    if cfg.stream:
        return _stream_data(cfg, batch_size, seed=seed, rank=rank, world=world)
    data = data or load_dataset(cfg.dataset, cfg.path, cfg.image_size)
    train_idx, val_idx = train_val_split(len(data.train_x), cfg.val_size, seed=0)
    if cfg.train_subset is not None:
        train_idx = np.random.default_rng(seed).permutation(train_idx)[: cfg.train_subset]
    tx = torch.from_numpy(np.require(data.train_x, requirements=["C", "W"]))
    ty = torch.from_numpy(np.require(data.train_y, requirements=["C", "W"]))
    train_x, train_y = tx[torch.from_numpy(train_idx)], ty[torch.from_numpy(train_idx)]
    if cfg.mean is not None:
        mean, std = torch.tensor(cfg.mean, dtype=torch.float32), torch.tensor(cfg.std, dtype=torch.float32)
    else:
        pixels = train_x.float().div_(255.0)
        mean, std = pixels.mean((0, 2, 3)), pixels.std((0, 2, 3)).clamp_min(1e-3)
        del pixels
    norm = {"mean": mean, "std": std}
    calib_n = min(cfg.calib_images, len(train_x))
    calib_pick = torch.from_numpy(np.random.default_rng(seed + 1).permutation(len(train_x))[:calib_n])
    val_pick = torch.from_numpy(val_idx[: cfg.eval_images] if cfg.eval_images else val_idx)
    test_x = torch.from_numpy(np.require(data.test_x, requirements=["C", "W"]))
    test_y = torch.from_numpy(np.require(data.test_y, requirements=["C", "W"]))
    return DataSplits(
        train=TensorLoader(train_x, train_y, batch_size, shuffle=True, crop_padding=cfg.crop_padding,
                           flip=cfg.flip, drop_last=True, rank=rank, world=world, **norm),
        calib=TensorLoader(train_x[calib_pick], train_y[calib_pick], 250, **norm),
        val=TensorLoader(tx[val_pick], ty[val_pick], 500, **norm),
        test=TensorLoader(test_x, test_y, 500, **norm),
        mean=mean.tolist(), std=std.tolist(), classes=data.classes,
    )


def _stream_data(cfg, batch_size: int, *, seed: int, rank: int, world: int) -> DataSplits:
    """`DataSplits` streamed from ``cfg.path``: the validation split is held out of
    ``train/`` with the fixed seed of the in-memory path; ``val/`` (or ``test/``) is the test split."""
    folder = scan_folder(cfg.path)
    files, labels = folder.files, folder.labels
    channels = 1 if folder.mode == "L" else 3
    mean, std = (cfg.mean, cfg.std) if cfg.mean is not None else default_norm(channels)
    if len(mean) != channels:
        raise DataError(f"data.mean has {len(mean)} value(s) but the images of {cfg.path} have "
                        f"{channels} channel(s)")
    train_idx, val_idx = train_val_split(len(files), cfg.val_size, seed=0)
    if cfg.train_subset is not None:
        train_idx = np.random.default_rng(seed).permutation(train_idx)[: cfg.train_subset]
    calib_idx = train_idx[np.random.default_rng(seed + 1).permutation(len(train_idx))[: cfg.calib_images]]
    val_idx = val_idx[: cfg.eval_images] if cfg.eval_images else val_idx

    def loader(paths: list[str], labels_: np.ndarray, batch: int, **kw) -> FolderLoader:
        return FolderLoader(paths, labels_, batch, size=cfg.image_size, mode=folder.mode, mean=mean, std=std,
                            center_crop=cfg.center_crop, workers=cfg.workers, **kw)

    def part(idx: np.ndarray) -> tuple[list[str], np.ndarray]:
        return [files[i] for i in idx], labels[idx]

    return DataSplits(
        train=loader(*part(train_idx), batch_size, train=True, shuffle=True, min_scale=cfg.min_crop_scale,
                     flip=cfg.flip, drop_last=True, rank=rank, world=world),
        calib=loader(*part(calib_idx), inference_batch(250, cfg.image_size)),
        val=loader(*part(val_idx), inference_batch(500, cfg.image_size)),
        test=loader(folder.test_files, folder.test_labels, inference_batch(500, cfg.image_size)),
        mean=list(mean), std=list(std), classes=tuple(folder.classes),
    )
