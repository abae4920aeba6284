"""`ProxyPredictor`: a zero-cost proxy as a search objective. It scores any arch of any
registered family from a seeded random initialisation (or a supernet's inherited weights)
on a fixed batch of the user's images, once per arch (cached)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from predictors.proxies._registry import ProxyInput, get_proxy, random_subnet
from supernet import (
    ArchConfig,
    DataError,
    NASError,
    Predictor,
    SearchSpace,
    file_hash,
    get_space,
    load_dataset,
    load_supernet,
    resize,
)
from supernet.core import progress
from supernet.data import DATASETS
from supernet.nn import fast_kernels

__all__ = ["PROXY_PREFIX", "ProxyPredictor", "proxy_images"]

PROXY_PREFIX = "proxy:"


def proxy_images(space: SearchSpace, dataset: str = "fashion_mnist", path: str | Path | None = None, *,
                 images: int = 64, seed: int = 0, mean=None, std=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``images`` training images drawn with ``seed`` (float32 NCHW at their stored size,
    normalised with ``mean``/``std`` per channel, by default those of the training set) and
    their labels; refuses a dataset whose channels or classes do not fit the space."""
    if dataset not in DATASETS:
        raise DataError(f"proxy images: unknown dataset {dataset!r}; expected one of {list(DATASETS)} "
                        "(--proxy-data DATASET or DATASET:PATH)")
    if dataset != "fashion_mnist" and path is None:
        raise DataError(f"proxy images: dataset {dataset!r} needs its location: --proxy-data {dataset}:PATH")
    data = load_dataset(dataset, path)
    x = data.train_x
    if x.shape[1] != space.in_channels:
        raise DataError(f"dataset {dataset!r} has {x.shape[1]}-channel images; the space {space.name!r} "
                        f"takes {space.in_channels}: give the proxy a dataset of the space's inputs")
    if int(data.train_y.max()) >= space.num_classes:
        raise DataError(f"dataset {dataset!r} has labels up to {int(data.train_y.max())}; the space "
                        f"{space.name!r} has {space.num_classes} classes")
    if isinstance(images, bool) or not isinstance(images, int) or not 2 <= images <= len(x):
        raise DataError(f"proxy images: got {images!r}, expected an integer in [2, {len(x)}]")
    if mean is None or std is None:
        sample = torch.from_numpy(x[np.random.default_rng(12345).permutation(len(x))[:10_000]]).float() / 255
        mean, std = sample.mean((0, 2, 3)), sample.std((0, 2, 3)).clamp_min(1e-3)
    mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    pick = np.random.default_rng(seed).permutation(len(x))[:images]
    chosen = (torch.from_numpy(x[pick]).float() / 255 - mean) / std
    return chosen.contiguous(), torch.from_numpy(np.asarray(data.train_y[pick], dtype=np.int64))


def _arch_seed(seed: int, arch: ArchConfig) -> int:
    """A seed per (run seed, arch): an arch scores the same whatever else is scored with it."""
    return int.from_bytes(hashlib.sha256(f"{seed}|{arch.to_json()}".encode()).digest()[:4], "little")


class ProxyPredictor(Predictor):
    """``predict(archs)`` -> the proxy's score per arch (higher: expected more accurate; not
    a percentage). ``weights``: a supernet checkpoint (or ``pretrained:NAME``) whose inherited
    weights are scored instead of a random initialisation. A precision policy does not change
    a score: an arch is scored as its fp32 network."""

    expensive = False

    def __init__(self, name: str, space: SearchSpace | str, images: torch.Tensor, labels: torch.Tensor, *,
                 seed: int = 0, weights: str | Path | None = None, chunk: int = 16,
                 show_progress: bool = False) -> None:
        self.name, self.fn = name, get_proxy(name)
        self.space = get_space(space) if isinstance(space, str) else space
        if not (isinstance(images, torch.Tensor) and images.dim() == 4 and len(images) >= 2
                and images.shape[1] == self.space.in_channels and images.is_floating_point()):
            got = getattr(images, "shape", type(images).__name__)
            raise NASError(f"ProxyPredictor: images must be a float tensor (N >= 2, "
                           f"{self.space.in_channels}, H, W); got {got}")
        if not (isinstance(labels, torch.Tensor) and labels.shape == (len(images),)):
            raise NASError(f"ProxyPredictor: labels must be a tensor of {len(images)} class indices")
        for key, value, low in (("seed", seed, 0), ("chunk", chunk, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise NASError(f"ProxyPredictor: {key}={value!r}, expected an integer >= {low}")
        self.images, self.labels, self.seed, self.chunk = images, labels, seed, chunk
        self.weights, self.show_progress = weights, show_progress
        self.metric = f"{PROXY_PREFIX}{name}"
        self._supernet, self._weights_hash = None, None
        if weights is not None:
            self._supernet, _ = load_supernet(weights)
            self._weights_hash = file_hash(weights)
            if self._supernet.space.hash != self.space.hash:
                raise DataError(f"proxy weights {weights}: a supernet of space "
                                f"{self._supernet.space.name!r}, not {self.space.name!r}")
        self._cache: dict[ArchConfig, float] = {}

    def fingerprint(self) -> str:
        data = hashlib.sha256(self.images.numpy().tobytes() + self.labels.numpy().tobytes()).hexdigest()[:12]
        return f"{self.metric}:seed{self.seed}:images{len(self.images)}:{data}:weights={self._weights_hash}"

    def _build(self, arch: ArchConfig):
        if self._supernet is not None:
            return lambda: self._supernet.extract(arch)
        return lambda: random_subnet(self.space, arch, _arch_seed(self.seed, arch))

    def score(self, arch: ArchConfig) -> float:
        arch = self.space.validate(arch).with_precision("fp32")
        if arch not in self._cache:
            item = ProxyInput(self.space, arch, resize(self.images, arch.resolution), self.labels,
                              self._build(arch), self.chunk)
            # plain PyTorch ops (torch.func cannot trace the custom kernels), gradients on
            # even when the caller turned them off
            with fast_kernels(False), torch.enable_grad():
                self._cache[arch] = float(self.fn(item))
        return self._cache[arch]

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        archs = [a.with_precision("fp32") for a in archs]  # as `score` keys them
        todo = len(set(archs) - set(self._cache))
        bar = progress(todo, f"{self.name} scores", unit="arch", disable=not self.show_progress or todo < 2)
        out = []
        for arch in archs:
            new = arch not in self._cache
            out.append(self.score(arch))
            bar.update(int(new))
        bar.close()
        return np.asarray(out, dtype=np.float64)
