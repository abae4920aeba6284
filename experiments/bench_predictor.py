"""Accuracy-predictor benchmark on a trained supernet: collect (resumable), fit every
registered predictor, evaluate on held-out archs, write experiments/results/predictor.json.

    python experiments/bench_predictor.py   # on the pretrained supernet (pretrained:fmnist_small)

Figures: per model ``rmse_pp``, ``mae_pp``, ``kendall_tau``, ``spearman`` on held-out archs;
``best`` (lowest RMSE); ``tau_vs_samples`` (best model fitted on 250..2000 archs);
``archs_per_second`` (batched predict of 100,000 archs, encoding included); ``tau_ceiling``
(tau between the two half-split accuracies of the held-out archs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import supernet  # noqa: E402
from predictors import (  # noqa: E402
    CollectConfig,
    collect,
    create_predictor,
    kendall_tau,
    list_predictors,
    load_training_data,  # noqa: E402
    regression_metrics,
    split_table,
)

SAMPLE_SIZES = (250, 500, 1000, 2000)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--supernet", default="pretrained:fmnist_small",
                   help="trained supernet: a checkpoint or pretrained:NAME (default: the shipped one)")
    p.add_argument("--workdir", default="runs/predictor_pretrained",
                   help="pinned checkpoint copy, table, models")
    p.add_argument("--num-archs", type=int, default=2500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--calib-images", type=int, default=2000)
    p.add_argument("--skip-collect", action="store_true", help="use the table in --workdir as it is")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--note", default="", help="added to the JSON")
    p.add_argument("--out", default="experiments/results/predictor.json")
    return p.parse_args()


def pinned_checkpoint(source: Path, workdir: Path) -> Path:
    """A copy of the checkpoint beside the table, so retraining at ``source`` cannot change
    it under a running collection (the table records the hash of this copy)."""
    copy = workdir / "supernet.pt"
    workdir.mkdir(parents=True, exist_ok=True)
    if not copy.exists():
        shutil.copy2(source, copy)
    if supernet.file_hash(copy) != supernet.file_hash(source):
        raise supernet.ArtifactMismatchError(
            f"{copy} (hash {supernet.file_hash(copy)}) is not {source} ({supernet.file_hash(source)}): "
            f"the checkpoint changed; use another --workdir")
    return copy


def predict_rate(model, archs, repeats: int = 3) -> float:
    """Archs per second of one batched ``predict`` call (encoding included), best of N."""
    model.predict(archs[:1000])  # warm-up
    return len(archs) / min(_timed(model.predict, archs) for _ in range(repeats))


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workdir = Path(args.workdir)
    table_path = workdir / "accuracy.csv"
    ckpt = pinned_checkpoint(supernet.resolve_checkpoint(args.supernet), workdir)
    started = time.perf_counter()
    if not args.skip_collect:
        collect(CollectConfig(supernet=str(ckpt), out=str(table_path), num_archs=args.num_archs,
                              workers=args.workers, calib_images=args.calib_images))
    collect_s = time.perf_counter() - started
    space, archs, table, meta = load_training_data(table_path)
    y = table["accuracy"].to_numpy(dtype=np.float64)
    fit_idx, test_idx = split_table(len(archs), args.test_fraction, seed=0)
    fit_archs, test_archs = [archs[i] for i in fit_idx], [archs[i] for i in test_idx]

    models, fitted = {}, {}
    for name in list_predictors():
        model = create_predictor(name, space=space, supernet_hash=meta["supernet_hash"])
        fit_s = _timed(model.fit, fit_archs, y[fit_idx])
        m = regression_metrics(y[test_idx], model.predict(test_archs))
        models[name] = {"rmse_pp": m["rmse"], "mae_pp": m["mae"], "kendall_tau": m["kendall_tau"],
                        "spearman": m["spearman"], "fit_seconds": round(fit_s, 1)}
        fitted[name] = model
        model.save(workdir / "predictor" / name)
        logging.info("%s: %s", name, models[name])
    best = min(models, key=lambda n: models[n]["rmse_pp"])

    order = np.random.default_rng(0).permutation(fit_idx)
    tau_vs_samples = {}
    for n in SAMPLE_SIZES:
        if n > len(order):
            tau_vs_samples[str(n)] = None
            continue
        model = create_predictor(best, space=space).fit([archs[i] for i in order[:n]], y[order[:n]])
        tau_vs_samples[str(n)] = kendall_tau(y[test_idx], model.predict(test_archs))

    rng = np.random.default_rng(1)
    batch = [space.sample(rng) for _ in range(100_000)]
    load_before = os.getloadavg()[0]
    rates = {name: predict_rate(model, batch) for name, model in fitted.items()}
    half_a, half_b = (table[c].to_numpy(dtype=np.float64)[test_idx] for c in ("accuracy_a", "accuracy_b"))
    tau_ceiling = kendall_tau(half_a, half_b)
    b = models[best]
    result = {
        "supernet_checkpoint": str(args.supernet), "supernet_hash": meta["supernet_hash"],
        "space": space.name, "space_hash": space.hash,
        "collection": {"archs_measured": len(archs), "archs_planned": args.num_archs,
                       "sources": table["source"].value_counts().to_dict(),
                       "calib_images": meta["calib_images"], "val_images": meta["val_size"],
                       "split": "validation (train_val_split seed 0, the trainer's); halves = even/odd",
                       "accuracy_range_pct": [float(y.min()), float(y.max())],
                       "mean_wall_seconds_per_arch_per_worker": float(table["seconds"].mean()),
                       "collect_seconds_this_run": round(collect_s, 1), "workers": args.workers},
        "n_fit": len(fit_idx), "n_held_out": len(test_idx),
        "models": models, "best": best, "tau_vs_samples": tau_vs_samples,
        "archs_per_second": {n: round(r) for n, r in rates.items()},
        "archs_per_second_best": round(rates[best]),
        "tau_ceiling": tau_ceiling,
        "rmse_noise_floor_pp": float(np.std(half_a - half_b) / 2),
        "targets": {"rmse_pp<=0.3": bool(b["rmse_pp"] <= 0.3),
                    "tau>=0.8_or_0.9xceiling": bool(b["kendall_tau"] >= 0.8 or (
                        tau_ceiling < 0.8 and b["kendall_tau"] >= 0.9 * tau_ceiling)),
                    "archs_per_second>=1e5": bool(rates[best] >= 1e5)},
        "torch_threads": torch.get_num_threads(), "load_average_1min_at_timing": round(load_before, 2),
        "cpu": platform.processor() or platform.machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]), "note": args.note,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
