"""Trained-alone benchmark: ``fmnist_small`` archs each trained from scratch on their own,
the ground truth that inherited accuracy, predictors and zero-cost proxies are ranked against.

    python experiments/bench_alone.py [--archs 100] [--second-seed 20] [--epochs 5] [--workers 2]
    python experiments/bench_alone.py --report-only      # the CSV and card from finished runs

Archs: a pool of 20,000 random archs sorted by MACs, cut into 10 equal MAC bands, 10 drawn
from each (seed 0): stratified over MACs; the card records that every choice value occurs.
Every 5th arch in MAC order is trained again with a second seed (the alone-vs-alone ceiling).
Schedule: the default recipe's (experiments/fmnist_sandwich.yaml) data, batch, optimizer,
label smoothing and first-phase learning rate, ``--epochs`` epochs of one cosine schedule on
the whole training split, no teacher; BN recalibrated, then test and validation accuracy.

``--fidelity`` then measures the same archs' inherited accuracy with
``pretrained:fmnist_small`` (BN recalibrated on 2,000 training images, the validation split,
as ``nas collect`` measures) and writes experiments/results/rank_fidelity.json: Kendall tau and
Spearman rho between inherited and trained-alone validation accuracy, overall and per MAC
quartile, next to the alone-vs-alone ceiling of the archs trained twice.

Long (about 1-2 minutes an epoch per arch on one core here, so hours): every arch has its
own result file under ``--work`` (outside the checkout) and checkpoints every epoch, so a
rerun continues where it stopped. Writes experiments/results/alone_benchmark.csv and
alone_benchmark.json after every finished arch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments._recipes import Job, alone_key, run_job  # noqa: E402
from predictors import kendall_tau, spearman_rho  # noqa: E402
from supernet import (  # noqa: E402
    ArchConfig,
    arch_cost,
    evaluate_accuracy,
    get_space,
    load_eval_data,
    load_supernet,
    load_train_config,
)
from supernet.core import atomic_write_json, atomic_write_text  # noqa: E402
from supernet.train import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
RECIPE = ROOT / "experiments" / "fmnist_sandwich.yaml"
POOL, BANDS = 20_000, 10
SUPERNET = "pretrained:fmnist_small"


def choose_archs(space, n: int, seed: int = 0) -> list[ArchConfig]:
    """``n`` archs stratified over MACs (``n / BANDS`` from each of ``BANDS`` MAC bands of a
    random pool), in MAC order."""
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(POOL)))
    macs = np.array([arch_cost(space, a).macs for a in pool])
    order = np.argsort(macs, kind="stable")
    picked = []
    for band in np.array_split(order, BANDS):
        picked += [pool[i] for i in rng.choice(band, size=n // BANDS, replace=False)]
    return sorted(picked, key=lambda a: arch_cost(space, a).macs)


def coverage(space, archs: list[ArchConfig]) -> dict:
    """How often each value of each choice occurs among ``archs`` (every one must)."""
    out: dict[str, dict] = {"resolution": dict(Counter(a.resolution for a in archs)),
                            "depth": dict(Counter(d for a in archs for d in a.depths))}
    for key in space.block_choices:
        out[key] = dict(Counter(v for a in archs for stage in a.choice(key) for v in stage))
    return {k: {str(v): c for v, c in sorted(counts.items())} for k, counts in out.items()}


def jobs(args, space, archs) -> list[Job]:
    cfg = load_train_config(RECIPE)
    second = set(range(0, len(archs), max(1, len(archs) // args.second_seed))[: args.second_seed])
    out = []
    for i, arch in enumerate(archs):
        for seed in (1, 2) if i in second else (1,):
            key = alone_key(cfg, arch.to_json(), args.epochs, 1.0, seed)
            out.append(Job(f"alone{i:03d}s{seed}", cfg.to_dict(), str(args.work / f"{key}.json"),
                           arch=arch.to_json(), epochs=args.epochs, seed=seed, threads=1))
    return out


def report(args, space, archs, todo: list[Job], started: float) -> dict:
    rows = []
    for job in todo:
        path = Path(job.out)
        if path.is_file():
            r = json.loads(path.read_text())
            arch = ArchConfig.from_json(job.arch)
            cost = arch_cost(space, arch)
            rows.append({"arch": job.arch, "arch_str": str(arch), "seed": job.seed, "epochs": r["epochs"],
                         "test_acc": r["acc"], "val_acc": r["val_acc"], "macs": cost.macs,
                         "params": cost.params, "minutes": r["minutes"]})
    table = pd.DataFrame(rows)
    if len(table):
        atomic_write_text(RESULTS / "alone_benchmark.csv", table.to_csv(index=False))
    pairs = table.pivot_table(index="arch", columns="seed", values="test_acc").dropna() if len(table) else []
    card = {
        "space": space.name, "space_hash": space.hash, "archs": len(archs), "runs_total": len(todo),
        "runs_done": len(table), "complete": len(table) == len(todo),
        "schedule": f"{args.epochs} epochs from scratch, one cosine schedule at the first-phase lr of "
                    f"{RECIPE.relative_to(ROOT)} (its data, batch, optimizer, label smoothing), whole "
                    "training split, no teacher, BN recalibrated; test = the 10,000 test images",
        "selection": f"{len(archs)} archs: {POOL:,} random archs in {BANDS} MAC bands, "
                     f"{len(archs) // BANDS} drawn from each (seed 0); every choice value occurs",
        "coverage": coverage(space, archs),
        "seeds": {"1": len(archs), "2": args.second_seed},
        "alone_vs_alone": None if len(pairs) < 3 else {
            "pairs": len(pairs), "kendall_tau": float(pairs[1].corr(pairs[2], method="kendall")),
            "mean_abs_diff_pp": float((pairs[1] - pairs[2]).abs().mean())},
        "wall_minutes_sum": float(table["minutes"].sum()) if len(table) else 0.0,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"Python {platform.python_version()}",
        "workers": args.workers, "this_run_minutes": round((time.time() - started) / 60, 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python experiments/bench_alone.py " + " ".join(sys.argv[1:]),
    }
    atomic_write_json(RESULTS / "alone_benchmark.json", card)
    return card


def fidelity(args, table: pd.DataFrame) -> dict:
    """Inherited vs trained-alone accuracy of the archs trained so far (seed 1)."""
    cache = args.work / "inherited.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    runs = table[table["seed"] == 1].reset_index(drop=True)
    todo = [a for a in runs["arch"] if a not in known]
    if todo:
        net, payload = load_supernet(SUPERNET)
        data = load_eval_data(payload)
        for i, arch in enumerate(todo):
            correct = evaluate_accuracy(net, ArchConfig.from_json(arch), data)
            known[arch] = 100.0 * float(correct.float().mean())
            if i % 10 == 9 or i == len(todo) - 1:
                atomic_write_json(cache, known)
                print(f"inherited accuracy: {i + 1}/{len(todo)}", flush=True)
    inherited = runs["arch"].map(known).to_numpy(float)

    def ranks(rows) -> dict:
        x = inherited[rows]
        return {"archs": int(len(x)),
                "kendall_tau": kendall_tau(x, runs["val_acc"].to_numpy(float)[rows]),
                "spearman_rho": spearman_rho(x, runs["val_acc"].to_numpy(float)[rows]),
                "kendall_tau_vs_test": kendall_tau(x, runs["test_acc"].to_numpy(float)[rows]),
                "mean_gap_pp": float((x - runs["val_acc"].to_numpy(float)[rows]).mean())}

    quartile = pd.qcut(runs["macs"], 4, labels=False)
    pairs = table.pivot_table(index="arch", columns="seed", values="val_acc").dropna()
    result = {
        "supernet": SUPERNET, "inherited": "validation split (5,000 images), BN recalibrated on 2,000 "
        "training images (nas collect's measurement)", "alone": "validation accuracy after the schedule of "
        "alone_benchmark.json (seed 1)", "all": ranks(np.arange(len(runs))),
        "per_mac_quartile": {f"Q{q + 1}": ranks(np.flatnonzero(quartile == q)) for q in range(4)},
        "alone_vs_alone_ceiling": None if len(pairs) < 3 else {
            "pairs": len(pairs), "kendall_tau": kendall_tau(pairs[1], pairs[2]),
            "spearman_rho": spearman_rho(pairs[1], pairs[2])},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python experiments/bench_alone.py --fidelity",
    }
    atomic_write_json(RESULTS / "rank_fidelity.json", result)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("~/nas-runs/alone").expanduser())
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--second-seed", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--fidelity", action="store_true", help="then inherited vs alone: rank_fidelity.json")
    args = ap.parse_args()
    if args.archs % BANDS or not 0 < args.second_seed <= args.archs:
        ap.error(f"--archs must be a multiple of {BANDS} and --second-seed in [1, --archs]")
    args.work.mkdir(parents=True, exist_ok=True)
    space = get_space("fmnist_small")
    archs = choose_archs(space, args.archs)
    offered = {"resolution": space.resolutions, "depth": space.all_depths, **space.block_choices}
    missing = [k for k, counts in coverage(space, archs).items() if len(counts) < len(offered[k])]
    if missing:
        sys.exit(f"the drawn archs miss values of {missing}: draw more archs")
    todo = jobs(args, space, archs)
    started = time.time()
    if not args.report_only:
        pending = [j for j in todo if not Path(j.out).is_file()]
        print(f"{len(todo) - len(pending)}/{len(todo)} runs done; {len(pending)} to train", flush=True)
        if args.workers <= 1:
            for job in pending:
                run_job(job)
                report(args, space, archs, todo, started)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from multiprocessing import get_context

            with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
                for done in as_completed([pool.submit(run_job, j) for j in pending]):
                    done.result()
                    report(args, space, archs, todo, started)
    card = report(args, space, archs, todo, started)
    print(json.dumps({k: card[k] for k in ("runs_done", "runs_total", "alone_vs_alone")}))
    if args.fidelity and card["runs_done"] >= 8:
        print(json.dumps(fidelity(args, pd.read_csv(RESULTS / "alone_benchmark.csv"))["all"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
