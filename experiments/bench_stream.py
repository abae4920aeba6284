"""Peak memory of streaming a large image folder.

Writes a folder of ``--images`` training images (real Fashion-MNIST images, upscaled to
``--size`` px RGB JPEGs, so that the folder would not fit the in-memory path) plus a small
``val/`` split, then measures in separate processes, each with its peak resident memory
(the process and, separately, its largest child, i.e. a decoding worker):

- one full streamed pass over the training split (decode, random-resized crop, flip);
- ``nas train`` of the ``ofa_mbv3`` supernet on the folder for a few steps, with the
  epoch-end BN recalibration and validation;
- ``nas collect`` of a few subnets from that checkpoint.

    python experiments/bench_stream.py                 # 50,000 images at 224 px
    python experiments/bench_stream.py --images 2000   # a quick look

The folder goes to ``--folder`` (default ~/nas-runs/stream_folder) and is reused. Results:
``experiments/results/stream.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def write_folder(folder: Path, n_train: int, n_val: int, size: int) -> float:
    """The folder (files already there are kept); returns the seconds spent."""
    from PIL import Image
    from tqdm import tqdm

    from supernet.data import load_fashion_mnist

    t0 = time.monotonic()
    tx, ty, vx, vy = load_fashion_mnist()
    jobs = [("train", tx, ty, i % len(tx), i) for i in range(n_train)]
    jobs += [("val", vx, vy, i, i) for i in range(n_val)]
    for split, x, y, src, k in tqdm(jobs, desc="writing images", mininterval=5):
        path = folder / split / NAMES[y[src]] / f"{k:06d}.jpg"
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        im = Image.fromarray(x[src]).resize((size, size), Image.BILINEAR).convert("RGB")
        tmp = path.with_suffix(".tmp")
        im.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
    return time.monotonic() - t0


def _machine() -> str:
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    return f"{model or platform.machine()}, {os.cpu_count()} cores"


def _peak_mib(usage) -> float:
    return usage.ru_maxrss / 1024.0  # Linux: KiB


def measure_pass(folder: Path, size: int, workers: int, val_size: int) -> dict:
    """One streamed training pass over the folder, in this process."""
    import torch

    from supernet import DataConfig, build_data

    torch.set_num_threads(1)
    cfg = DataConfig(dataset="imagefolder", path=str(folder), stream=True, image_size=size,
                     val_size=val_size, workers=workers)
    data = build_data(cfg, batch_size=128)
    t0, n = time.monotonic(), 0
    for x, _ in data.train.raw(0):
        n += len(x)
    seconds = time.monotonic() - t0
    return {"images": n, "seconds": round(seconds, 1), "images_per_s": round(n / seconds, 1),
            "skipped": data.train.skipped,
            "peak_rss_mib_main": round(_peak_mib(resource.getrusage(resource.RUSAGE_SELF)), 1),
            "peak_rss_mib_largest_worker": round(_peak_mib(resource.getrusage(resource.RUSAGE_CHILDREN)), 1)}


def _run(argv: list[str], log: Path) -> dict:
    """``argv`` in a child process; its wall time and the peak RSS of it or any descendant."""
    t0 = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed; see {log}")
    return {"seconds": round(time.monotonic() - t0, 1), "peak_rss_mib": round(_peak_mib(usage), 1),
            "command": " ".join(argv[1:] if argv[0] == sys.executable else argv)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=50_000, help="training images in the folder")
    p.add_argument("--val-images", type=int, default=1000)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--folder", type=Path, default=Path.home() / "nas-runs" / "stream_folder")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "stream.json")
    p.add_argument("--measure-pass", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    val_size = max(1, min(1000, args.images // 10))  # held out of train/ for validation
    if args.measure_pass:
        print(json.dumps(measure_pass(args.folder, args.size, args.workers, val_size)))
        return 0

    import yaml

    from supernet.core import atomic_write_json

    args.folder.mkdir(parents=True, exist_ok=True)
    written = write_folder(args.folder, args.images, args.val_images, args.size)
    work = args.folder.parent / f"{args.folder.name}_work"
    work.mkdir(exist_ok=True)
    streamed = subprocess.run([sys.executable, __file__, "--measure-pass", "--folder", str(args.folder),
                               "--size", str(args.size), "--workers", str(args.workers),
                               "--images", str(args.images)],
                              capture_output=True, text=True, check=True)
    one_pass = json.loads(streamed.stdout.strip().splitlines()[-1])
    config = {"space": "ofa_mbv3", "seed": 0,
              "data": {"dataset": "imagefolder", "path": str(args.folder), "stream": True,
                       "image_size": args.size, "val_size": val_size, "calib_images": 500, "eval_images": 500,
                       "workers": args.workers},
              "train": {"batch_size": 32, "max_steps_per_epoch": 3},
              "phases": [{"name": "sandwich", "epochs": 1, "lr": 0.05, "subnets_per_step": 2,
                          "sandwich": True}]}
    (work / "train.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    nas = [sys.executable, "-m", "nas.cli"]
    train = _run([*nas, "train", "--config", str(work / "train.yaml"), "--out", str(work / "run"), "--force",
                  "--no-progress"], work / "train.log")
    collect = _run([*nas, "collect", "--supernet", str(work / "run" / "supernet.pt"), "--num-archs", "3",
                    "--calib-images", "500", "--out", str(work / "acc.csv"), "--force", "--no-progress"],
                   work / "collect.log")
    in_memory = args.images * 3 * args.size * args.size
    result = {
        "folder": {"train_images": args.images, "val_images": args.val_images, "size_px": args.size,
                   "format": "RGB JPEG (Fashion-MNIST upscaled)", "write_seconds": round(written, 1)},
        "in_memory_uint8_mib": round(in_memory / 2**20, 1),
        "stream_one_pass": one_pass,
        "nas_train_ofa_mbv3_3_steps": train,
        "nas_collect_3_archs": collect,
        "workers": args.workers,
        "load_average_1min": os.getloadavg()[0],
        "machine": _machine(),
        "note": ("peak_rss_mib of a command is the largest resident set of it or any process it "
                 "started (ru_maxrss of its children); the in-memory path would hold "
                 "in_memory_uint8_mib of pixels before the first step"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
