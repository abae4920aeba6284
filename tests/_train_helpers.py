"""Tiny real fixtures for the training and data tests: a small search space and a small,
learnable image dataset written as a .npz (four classes, one bright quadrant each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

TINY_SPACE = {
    "name": "tiny", "in_channels": 1, "num_classes": 4, "stem_channels": 8, "stem_stride": 2,
    "first_block_channels": 8, "stage_widths": [8, 16], "stage_strides": [1, 2],
    "stage_acts": ["relu", "hswish"], "stage_se": [False, True], "kernel_choices": [3, 5],
    "expand_choices": [2, 3], "depth_choices": [1, 2], "resolutions": [12, 16],
    "final_expand_channels": 32, "feature_mix_channels": 32, "dropout": 0.0,
}


def quadrant_images(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, size, size) images whose class (0..3) is the bright quadrant, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    x = rng.integers(0, 80, size=(n, size, size)).astype(np.float32)
    h = size // 2
    for c in range(4):
        r, q = divmod(c, 2)
        x[y == c, r * h:(r + 1) * h, q * h:(q + 1) * h] += 150
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


def write_npz(path: Path, n_train: int = 400, n_test: int = 100) -> Path:
    x_train, y_train = quadrant_images(n_train, seed=0)
    x_test, y_test = quadrant_images(n_test, seed=1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_config(tmp: Path, phases: list[dict], *, train: dict | None = None, data: dict | None = None,
                 n_train: int = 400) -> Path:
    """A training config on the tiny space and an npz dataset, both written into ``tmp``."""
    (tmp / "space.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    npz = write_npz(tmp / "data.npz", n_train=n_train)
    config = {
        "space": str(tmp / "space.yaml"), "seed": 0,
        "data": {"dataset": "npz", "path": str(npz), "val_size": 64, "calib_images": 64,
                 "flip": False, **(data or {})},  # a mirrored quadrant is another class
        "train": {"batch_size": 32, "threads": 1, **(train or {})},
        "phases": phases,
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


PS_PHASES = [
    {"name": "full", "epochs": 2, "lr": 0.1, "kd": False, "kernels": [5], "expands": [3], "depths": [2]},
    {"name": "kernel", "epochs": 1, "lr": 0.05, "expands": [3], "depths": [2]},
    {"name": "expand", "epochs": 1, "lr": 0.05, "subnets_per_step": 2, "sort_channels": True},
]
