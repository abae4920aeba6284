"""Streaming an image folder written from real Fashion-MNIST images (PNG and JPEG files, two
of them broken): exact pixels, skipped files counted, order fixed by the seed whatever the
number of workers, DDP shards, and the pipeline (train, collect, export) run on it."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nas.cli import main as nas_main
from supernet import DataConfig, build_data
from supernet.data import load_fashion_mnist
from tests._train_helpers import TINY_SPACE

CLASSES = ["tshirt", "trouser", "pullover", "dress"]  # Fashion-MNIST 0..3: the tiny space has 4 classes


def _write_folder(root: Path, n_train: int = 48, n_test: int = 16) -> dict[str, np.ndarray]:
    """PNG for even, JPEG for odd indices; returns the source pixels of every PNG by path."""
    from PIL import Image

    tx, ty, vx, vy = load_fashion_mnist()
    pngs = {}
    for split, x, y, n in (("train", tx, ty, n_train), ("val", vx, vy, n_test)):
        picked = np.flatnonzero(y < 4)[:n]
        for j, i in enumerate(picked):
            folder = root / split / CLASSES[y[i]]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{j:04d}.{'png' if j % 2 == 0 else 'jpg'}"
            Image.fromarray(x[i]).save(path)
            if path.suffix == ".png":
                pngs[str(path)] = x[i]
    (root / "train" / "dress" / "broken.jpg").write_bytes(b"not an image at all")
    good = (root / "val" / "trouser" / "0001.jpg").read_bytes()
    (root / "val" / "trouser" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    return pngs


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return root, _write_folder(root)


def _cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(**{"dataset": "imagefolder", "path": str(root), "stream": True, "image_size": 28,
                         "val_size": 8, "calib_images": 16, "center_crop": 1.0, "workers": 2, **kw})


def test_evaluation_images_are_the_files_pixels_and_broken_files_are_skipped(folder, caplog):
    root, pngs = folder
    data = build_data(_cfg(root), batch_size=8)
    assert data.train.channels == 1 and data.test.num_images == 17  # 16 images + the truncated file
    x, y = data.test.uint8()
    assert x.dtype == torch.uint8 and x.shape[1:] == (1, 28, 28)
    with caplog.at_level(logging.WARNING, logger="supernet.data"):
        batches = list(data.test.epoch(0))
    assert data.test.skipped == 1 and "skipped 1 unreadable" in caplog.text
    assert sum(len(b[1]) for b in batches) == 16 and len(x) == 16
    files = data.test._images.files
    readable = [f for f in files if not f.endswith("truncated.jpg")]
    for k, f in enumerate(readable):
        if f in pngs:  # lossless: resizing 28 px to 28 px changes nothing
            assert torch.equal(x[k, 0], torch.from_numpy(pngs[f].copy()))
    normalised = batches[0][0]
    assert torch.allclose(normalised, (x[:len(normalised)].float() / 255 - 0.449) / 0.226)


def test_training_order_and_crops_depend_on_the_seed_only(folder):
    root, _ = folder
    cfg = _cfg(root, image_size=20, min_crop_scale=0.3)
    runs = {w: list(build_data(dataclasses.replace(cfg, workers=w), 8).train.raw(5)) for w in (0, 2)}
    assert len(runs[0]) == len(runs[2]) >= 4
    for (xa, ya), (xb, yb) in zip(runs[0], runs[2]):
        assert xa.shape[1:] == (1, 20, 20) and torch.equal(xa, xb) and torch.equal(ya, yb)
    other = list(build_data(cfg, 8).train.raw(6))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(runs[0], other))
    assert sum(len(b[1]) for b in runs[0]) < build_data(cfg, 8).train.num_images  # drop_last and 1 broken


def test_ddp_ranks_split_each_global_batch(folder):
    root, _ = folder
    whole = list(build_data(_cfg(root), 8).train.raw(3))
    shards = [list(build_data(_cfg(root), 8, rank=r, world=2).train.raw(3)) for r in (0, 1)]
    compared = 0
    for k, (x, y) in enumerate(whole):
        if len(y) < 8:  # the broken file fell in this batch: the interleaving shifts
            continue
        merged = torch.empty_like(x)
        merged[0::2], merged[1::2] = shards[0][k][0], shards[1][k][0]
        assert torch.equal(merged, x)
        compared += 1
    assert compared >= 3


def test_bad_stream_settings_are_clear_errors(folder, tmp_path):
    root, _ = folder
    with pytest.raises(ValueError, match="data.image_size"):
        DataConfig(dataset="imagefolder", path=str(root), stream=True)
    with pytest.raises(ValueError, match="data.dataset"):
        DataConfig(dataset="npz", path="x.npz", stream=True, image_size=28)
    with pytest.raises(Exception, match="expected .*train/<class>"):
        build_data(_cfg(tmp_path), 8)
    with pytest.raises(Exception, match="data.mean has 3 value"):
        build_data(_cfg(root, mean=[0.5, 0.5, 0.5], std=[0.2, 0.2, 0.2]), 8)


def test_train_collect_and_export_stream_from_the_folder(folder, tmp_path):
    root, _ = folder
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    config = {"space": str(tmp_path / "space.yaml"), "seed": 0,
              "data": {"dataset": "imagefolder", "path": str(root), "stream": True, "image_size": 16,
                       "val_size": 8, "calib_images": 16, "workers": 1},
              "train": {"batch_size": 8, "threads": 1, "max_steps_per_epoch": 3},
              "phases": [{"name": "full", "epochs": 1, "lr": 0.05, "subnets_per_step": 2, "sandwich": True}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    assert nas_main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "summary.json").read_text())["final"]["acc_largest"] >= 0
    ckpt = str(run / "supernet.pt")
    assert nas_main(["collect", "--supernet", ckpt, "--num-archs", "3", "--out", str(tmp_path / "a.csv"),
                     "--calib-images", "16", "--no-progress"]) == 0
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 4
    arch = {"resolution": 16, "kernel_sizes": [[3, 3], [3, 3]], "expand_ratios": [[2, 2], [2, 2]],
            "depths": [2, 2]}
    assert nas_main(["export", "--supernet", ckpt, "--arch", json.dumps(arch),
                     "--out", str(tmp_path / "m.onnx")]) == 0
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["input"]["mean"] == [0.449] and "centre 16 px" in card["input"]["note"]
    assert 0 <= card["test_acc"] <= 100


def test_training_batches_stay_full_and_ranks_even_around_broken_files(tmp_path):
    from PIL import Image

    for i in range(12):  # a colour set whose first file is grey, four broken files, one 16-bit image
        folder = tmp_path / "train" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        if i == 0:
            Image.fromarray(np.full((20, 30), 90, np.uint8)).save(folder / "000.png")
        elif i % 4 == 1:
            (folder / f"{i:03d}.jpg").write_bytes(b"broken")
        else:
            Image.fromarray(np.full((20, 30, 3), 40 * (i % 5), np.uint8)).save(folder / f"{i:03d}.png")
    (tmp_path / "val" / "c0").mkdir(parents=True)
    Image.fromarray(np.full((20, 30), 65535 // 2, np.uint16)).save(tmp_path / "val" / "c0" / "deep.png")
    cfg = DataConfig(dataset="imagefolder", path=str(tmp_path), stream=True, image_size=16, val_size=1,
                     calib_images=4, workers=0)
    ranks = [build_data(cfg, 4, rank=r, world=2) for r in (0, 1)]
    assert ranks[0].train.channels == 3  # the grey first file does not make the set grey
    batches = [list(d.train.raw(0)) for d in ranks]
    assert len(batches[0]) == len(batches[1]) == len(ranks[0].train)
    assert all(len(y) == 2 for b in batches for _, y in b)
    assert ranks[0].train.skipped + ranks[1].train.skipped > 0
    deep, _ = ranks[0].test.uint8()  # 16 bits scaled to 8, not clipped to white
    assert 120 <= int(deep.float().mean()) <= 135


def test_training_counts_bad_files_of_an_epoch_stopped_at_its_step_limit(tmp_path, caplog):
    """A truncated PNG and a zero-byte JPEG met in the 3 of 4 batches an epoch takes: the
    loader's pass never ends, the trainer still logs, records and sums them; fine-tuning too."""
    from supernet import FinetuneConfig, OptimConfig, finetune, get_space, load_train_config, train

    root = tmp_path / "images"
    _write_folder(root, n_train=32, n_test=8)
    (root / "train" / "dress" / "broken.jpg").unlink()
    good = (root / "train" / "tshirt" / "0000.png").read_bytes()
    (root / "train" / "trouser" / "cut.png").write_bytes(good[: len(good) // 2])
    (root / "train" / "pullover" / "empty.jpg").write_bytes(b"")
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(TINY_SPACE))
    config = {"space": str(tmp_path / "space.yaml"), "seed": 0,
              "data": {"dataset": "imagefolder", "path": str(root), "stream": True, "image_size": 16,
                       "val_size": 2, "calib_images": 8, "workers": 1},
              "train": {"batch_size": 8, "threads": 1, "max_steps_per_epoch": 3},
              "phases": [{"name": "full", "epochs": 1, "lr": 0.05, "kd": False, "kernels": [3],
                          "expands": [2], "depths": [1]}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        summary = train(load_train_config(tmp_path / "c.yaml"), run, progress=False)
    bad = {str(root / "train" / "trouser" / "cut.png"), str(root / "train" / "pullover" / "empty.jpg")}
    assert len(build_data(_cfg(root, val_size=2), 8).train) == 4  # 3 steps: the pass is cut short
    row = json.loads((run / "metrics.jsonl").read_text())
    assert row["bad_files"] == 2 and set(row["bad_file_examples"]) == bad
    written = json.loads((run / "summary.json").read_text())
    assert written["bad_files"] == summary["bad_files"] == 2 and set(written["bad_file_examples"]) == bad
    assert "full epoch 1/1: skipped 2 unreadable image file(s) of 32, e.g. " in caplog.text
    tuned = finetune(FinetuneConfig(supernet=str(run / "supernet.pt"), teacher="none", epochs=1,
                                    arch=get_space(str(tmp_path / "space.yaml")).smallest(),
                                    train=OptimConfig(batch_size=8, threads=1, max_steps_per_epoch=3)),
                     tmp_path / "tuned")
    row = json.loads((tmp_path / "tuned" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["bad_files"] == tuned["bad_files"] == 1 and set(tuned["bad_file_examples"]) < bad
