"""Zero-cost proxies against the supernet's inherited accuracy: how well does each proxy
(and the #params / MACs baselines) rank ``fmnist_small`` archs, at what cost per arch?

    python experiments/bench_proxies.py [--archs 100] [--seeds 5] [--images 64]

The archs are drawn as ``nas collect`` draws them (a quarter stratified over MACs) and their
inherited accuracy measured with ``pretrained:fmnist_small`` (BN recalibrated, the whole
validation split), once, into ``--work``. Each proxy scores every arch with 5 seeds (the seed
picks both the images and the random initialisation); per seed: Kendall tau and Spearman rho
against inherited accuracy; the JSON gives their mean and sd over seeds, seconds per arch
(median over seeds), and the half-split ceiling (tau between the two halves of the
validation split: what no scorer of inherited accuracy can exceed).

Resumable: each (proxy, seed) is saved in ``--work`` (default ~/nas-runs/proxies) when done.
Trained-alone accuracy (issue 34's benchmark) is not here yet: ``vs_alone`` is null until
``experiments/results/alone_benchmark.csv`` exists. Writes experiments/results/proxies.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from predictors import (  # noqa: E402
    CollectConfig,
    ProxyPredictor,
    collect,
    kendall_tau,
    list_proxies,
    proxy_images,
    read_table,
    spearman_rho,
)
from supernet import ArchConfig, get_space  # noqa: E402
from supernet.core import atomic_write_json  # noqa: E402
from supernet.train import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUPERNET = "pretrained:fmnist_small"


def inherited(work: Path, n: int) -> tuple[list[ArchConfig], np.ndarray, float]:
    """``n`` archs, their inherited accuracy and the half-split Kendall tau ceiling."""
    table = work / f"inherited_{n}.csv"
    if not table.exists() or len(read_table(table)[0]) < n:
        collect(CollectConfig(supernet=SUPERNET, out=str(table), num_archs=n, seed=7))
    rows, _ = read_table(table)
    rows = rows[rows["accuracy"].notna()]
    archs = [ArchConfig.from_json(a) for a in rows["arch"]]
    return archs, rows["accuracy"].to_numpy(float), kendall_tau(rows["accuracy_a"], rows["accuracy_b"])


def trained_alone() -> tuple[list[ArchConfig], np.ndarray] | None:
    """The archs of the trained-alone benchmark (seed 1) and their test accuracy, if it ran."""
    path = ROOT / "experiments" / "results" / "alone_benchmark.csv"
    if not path.is_file():
        return None
    rows = pd.read_csv(path)
    rows = rows[rows["seed"] == 1]
    return [ArchConfig.from_json(a) for a in rows["arch"]], rows["test_acc"].to_numpy(float)


def scores(work: Path, space, name: str, seed: int, archs: list[ArchConfig], images: int) -> dict:
    which = hashlib.sha256("|".join(a.to_json() for a in archs).encode()).hexdigest()[:8]
    path = work / f"{name}_seed{seed}_img{images}_{which}.json"
    if path.exists():
        return json.loads(path.read_text())
    x, y = proxy_images(space, images=images, seed=seed)
    proxy = ProxyPredictor(name, space, x, y, seed=seed, show_progress=True)
    start = time.perf_counter()
    values = proxy.predict(archs)
    result = {"scores": values.tolist(), "seconds_per_arch": (time.perf_counter() - start) / len(archs),
              "load_average": list(os.getloadavg())}
    atomic_write_json(path, result)
    return result


def summarise(per_seed: list[dict], accuracy: np.ndarray) -> dict:
    taus = [kendall_tau(r["scores"], accuracy) for r in per_seed]
    rhos = [spearman_rho(r["scores"], accuracy) for r in per_seed]
    return {"kendall_tau": {"mean": float(np.mean(taus)), "sd": float(np.std(taus, ddof=1)) if len(taus) > 1
                            else None, "per_seed": taus},
            "spearman_rho": {"mean": float(np.mean(rhos)), "sd": float(np.std(rhos, ddof=1)) if len(rhos) > 1
                             else None, "per_seed": rhos},
            "seconds_per_arch": float(np.median([r["seconds_per_arch"] for r in per_seed]))}


def plot(result: dict, path: Path) -> None:
    """Kendall tau of each scorer against inherited (and trained-alone) accuracy, mean ± sd
    over seeds, with the half-split ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proxies = result["proxies"]
    names = sorted(proxies, key=lambda n: -proxies[n]["vs_inherited"]["kendall_tau"]["mean"])
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for offset, key, label in ((-0.2, "vs_inherited", "vs inherited accuracy"),
                               (0.2, "vs_alone", "vs trained alone")):
        rows = [proxies[n][key] for n in names]
        if all(r is None for r in rows):
            continue
        means = [r["kendall_tau"]["mean"] if r else np.nan for r in rows]
        sds = [(r["kendall_tau"]["sd"] or 0) if r else 0 for r in rows]
        ax.bar(np.arange(len(names)) + offset, means, 0.4, yerr=sds, capsize=3, label=label)
    ax.axhline(result["half_split_tau_ceiling"], color="k", ls="--", lw=1,
               label="ceiling: tau between two halves of the validation split")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("Kendall tau")
    ax.set_title(f"{result['archs']} {result['space']} archs, {result['seeds']} seeds, "
                 f"{result['images_per_arch']} images per arch", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(result: dict) -> str:
    lines = ["| scorer | Kendall tau vs inherited (mean ± sd) | Spearman rho | s / arch |",
             "| --- | ---: | ---: | ---: |"]
    ranked = sorted(result["proxies"].items(), key=lambda kv: -kv[1]["vs_inherited"]["kendall_tau"]["mean"])
    for name, r in ranked:
        v = r["vs_inherited"]
        t, s = v["kendall_tau"], v["spearman_rho"]
        sd = f" ± {t['sd']:.3f}" if t["sd"] else ""
        lines.append(f"| {name} | {t['mean']:.3f}{sd} | {s['mean']:.3f} | {v['seconds_per_arch']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("~/nas-runs/proxies").expanduser())
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--proxies", nargs="+", default=None, help="default: every registered proxy")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "proxies.json")
    ap.add_argument("--report-only", action="store_true", help="redraw the plot, print the markdown")
    args = ap.parse_args()
    if args.report_only:
        result = json.loads(args.out.read_text())
        plot(result, args.out.with_suffix(".png"))
        print(markdown(result))
        return 0
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    space = get_space("fmnist_small")
    archs, accuracy, ceiling = inherited(args.work, args.archs)
    alone = trained_alone()
    load_start = list(os.getloadavg())
    proxies = {}
    for name in args.proxies or list_proxies():
        runs = [scores(args.work, space, name, seed, archs, args.images) for seed in range(args.seeds)]
        proxies[name] = {"vs_inherited": summarise(runs, accuracy), "vs_alone": None}
        if alone is not None:
            runs = [scores(args.work, space, name, seed, alone[0], args.images) for seed in range(args.seeds)]
            proxies[name]["vs_alone"] = summarise(runs, alone[1])
        print(name, json.dumps(proxies[name]["vs_inherited"]["kendall_tau"]), flush=True)
    result = {
        "space": space.name, "supernet": SUPERNET, "archs": len(archs), "seeds": args.seeds,
        "images_per_arch": args.images, "threads": args.threads,
        "inherited_accuracy": "top-1 % on the 5,000-image validation split, BN recalibrated on 2,000 "
                              "training images (nas collect), archs drawn by nas collect with seed 7",
        "half_split_tau_ceiling": ceiling,
        "vs_alone": (f"test accuracy of the {len(alone[0])} seed-1 archs of "
                     "experiments/results/alone_benchmark.csv" if alone else
                     "not measured: experiments/results/alone_benchmark.csv does not exist yet"),
        "proxies": proxies,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"Python {platform.python_version()}",
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python experiments/bench_proxies.py " + " ".join(sys.argv[1:]),
    }
    atomic_write_json(args.out, result)
    plot(result, args.out.with_suffix(".png"))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
