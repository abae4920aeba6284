"""Quantised deployment benchmark: where int8 pays on this machine, what it costs in
accuracy, how few quantised samples a transferred predictor needs, and what searching
architecture and precision together gains over fp32 alone.

    python experiments/bench_quant.py --mixed-table T1_MIXED.csv --mixed-table T1_B64_MIXED.csv \
        --quant-accuracy acc_mixed.csv --int8-accuracy acc_int8.csv

The accuracy tables come from ``nas collect --precision mixed`` / ``--precision int8`` on
the pretrained supernet; the tables from ``nas latency build --precision mixed``.

Figures (-> experiments/results/quantization.json and .png):
- ``latency_ratio.<space>_b<batch>``: int8 / fp32 end-to-end latency of the same subnets,
  timed interleaved in ONNX Runtime (1 thread, 5th percentile), per subnet and median;
- ``accuracy_drop_pp``: fp32 twin minus int8 validation accuracy (all-int8 policy) over the
  int8 table; ``accuracy_drop_pp_stem_fp32``: the same for mixed policies whose stem is fp32;
- ``transfer.{from_fp32,scratch}.{tau,rmse}.{50,100,250,500}``: held-out Kendall tau / RMSE
  of a predictor fitted on that many quantised samples, transferred from the shipped fp32
  predictor or fitted from scratch (best of ridge, gbt, mlp at each size), on one held-out
  split; ``transfer.splits``: the taus on ``--splits`` random splits, their mean and sd;
- ``tables.<name>``: per latency table, the median int8/fp32 ratio of the table's own
  predictions, the hypervolume of the joint (arch + policy) front over the fp32-only front
  (accuracy from the transfer predictor, latency from that table, one reference point),
  and the share of int8 parts on the joint front.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from latency_tables import LatencyTable, Protocol, measure_archs, measure_subnets  # noqa: E402
from nas import hypervolume, pareto_mask  # noqa: E402
from predictors import (  # noqa: E402
    TransferPredictor,
    create_predictor,
    kendall_tau,
    load_predictor,
    load_training_data,  # noqa: E402
)
from supernet import get_space  # noqa: E402
from supernet.train import cpu_model  # noqa: E402

SIZES = (50, 100, 250, 500)
HELD_OUT = 100


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixed-table", action="append", required=True, help="mixed latency table (repeatable)")
    p.add_argument("--quant-accuracy", required=True, help="nas collect --precision mixed table")
    p.add_argument("--int8-accuracy", required=True, help="nas collect --precision int8 table")
    p.add_argument("--base", default="pretrained:fmnist_small", help="fp32 accuracy predictor")
    p.add_argument("--ratio-archs", type=int, default=16, help="subnets per latency-ratio setting")
    p.add_argument("--ofa-resolution", type=int, default=160)
    p.add_argument("--search-budget", type=int, default=3000)
    p.add_argument("--splits", type=int, default=5,
                   help="held-out splits the transfer curve is also measured on (its spread; "
                        "the headline is split 0)")
    p.add_argument("--out", default="experiments/results/quantization.json")
    return p.parse_args()


def latency_ratios(space_name: str, batch: int, n: int, resolution: int | None, seed: int = 0) -> dict:
    """int8 / fp32 latency of ``n`` random subnets, both twins timed in one interleaved loop."""
    space = get_space(space_name)
    if resolution is not None:
        space = space.with_resolutions([resolution])
    rng = np.random.default_rng(seed)
    big = space_name != "fmnist_small"  # ImageNet-sized subnets: fewer of them, fewer rounds
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(n // 2 if big else n)))
    rounds = {(False, 1): 200, (False, 64): 30, (True, 1): 30, (True, 64): 10}[big, batch]
    start = time.perf_counter()
    runs, _ = measure_subnets(space, [*archs, *(a.with_precision("int8") for a in archs)], runtime="ort",
                              threads=1, batch_size=batch, protocol=Protocol(rounds=rounds),
                              group_size=2 * len(archs))
    fp32, int8 = runs[0, :len(archs)], runs[0, len(archs):]
    ratio = int8 / fp32
    print(f"{space_name} b{batch}: int8/fp32 median {np.median(ratio):.3f} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    return {"median": float(np.median(ratio)), "min": float(ratio.min()), "max": float(ratio.max()),
            "per_subnet": [round(float(r), 4) for r in ratio], "fp32_ms": [round(float(v), 4) for v in fp32],
            "rounds": rounds, "resolution": resolution}


def accuracy_drops(path: str) -> tuple[dict, np.ndarray]:
    space, archs, table, _ = load_training_data(path)
    drop = (table["accuracy_fp32"] - table["accuracy"]).to_numpy()
    return {"mean": float(drop.mean()), "worst": float(drop.max()), "median": float(np.median(drop)),
            "num_subnets": len(drop)}, drop


def transfer_curve(path: str, base, splits: int = 1) -> tuple[dict, dict]:
    """Held-out tau and RMSE against the number of quantised samples fitted on, on the
    held-out split of seed 0; with ``splits`` > 1 the same on that many random splits,
    whose per-split taus and mean go in ``splits`` (how much the split alone moves them)."""
    result, models = _transfer_split(path, base, 0)
    if splits > 1:
        taus = {key: {n: [] for n in result[key]["tau"]} for key in ("from_fp32", "scratch")}
        for seed in range(splits):
            one = result if seed == 0 else _transfer_split(path, base, seed, quiet=True)[0]
            for key in taus:
                for n in taus[key]:
                    taus[key][n].append(one[key]["tau"][n])
        result["splits"] = {"seeds": list(range(splits)),
                            **{key: {"tau": t, "tau_mean": {n: float(np.mean(v)) for n, v in t.items()},
                                     "tau_sd": {n: float(np.std(v, ddof=1)) for n, v in t.items()}}
                               for key, t in taus.items()}}
        mean = {key: result["splits"][key]["tau_mean"] for key in taus}
        print(f"over {splits} splits: transfer n=100 tau {mean['from_fp32'].get('100', np.nan):.3f} "
              f"vs scratch n=500 {mean['scratch'].get('500', np.nan):.3f}", flush=True)
    return result, models


def _transfer_split(path: str, base, seed: int, quiet: bool = False) -> tuple[dict, dict]:
    space, archs, table, meta = load_training_data(path)
    y = table["accuracy"].to_numpy(dtype=np.float64)
    order = np.random.default_rng(seed).permutation(len(archs))
    test, pool = order[:HELD_OUT], order[HELD_OUT:]
    test_archs = [archs[i] for i in test]
    result = {"from_fp32": {"tau": {}, "rmse": {}}, "scratch": {"tau": {}, "rmse": {}, "model": {}},
              "base_alone": {}, "held_out": len(test), "pool": len(pool)}
    base_pred = base.predict(test_archs)
    result["base_alone"] = {"tau": kendall_tau(base_pred, y[test]),
                            "rmse": float(np.sqrt(np.mean((base_pred - y[test]) ** 2)))}
    models = {}
    for n in SIZES:
        if n > len(pool):
            continue
        fit = [archs[i] for i in pool[:n]]
        key = str(n)
        transfer = TransferPredictor(space=space, base=base, supernet_hash=meta["supernet_hash"])
        transfer.fit(fit, y[pool[:n]])
        pred = transfer.predict(test_archs)
        result["from_fp32"]["tau"][key] = kendall_tau(pred, y[test])
        result["from_fp32"]["rmse"][key] = float(np.sqrt(np.mean((pred - y[test]) ** 2)))
        best = None
        for name in ("ridge", "gbt", "mlp"):
            model = create_predictor(name, space=space, seed=0).fit(fit, y[pool[:n]])
            p = model.predict(test_archs)
            tau, rmse = kendall_tau(p, y[test]), float(np.sqrt(np.mean((p - y[test]) ** 2)))
            if best is None or tau > best[1]:
                best = (name, tau, rmse)
        result["scratch"]["model"][key], result["scratch"]["tau"][key], result["scratch"]["rmse"][key] = best
        models[n] = transfer
        if not quiet:
            print(f"transfer n={n}: tau {result['from_fp32']['tau'][key]:.3f} vs scratch {best[1]:.3f} "
                  f"({best[0]})", flush=True)
    return result, models


def search_fronts(table: LatencyTable, predictor, budget: int) -> dict:
    """The joint (arch + policy) and fp32-only fronts of accuracy vs this table's latency."""
    from nas import Evolution, Objective, SearchProblem

    fronts, points = {}, {}
    for mode in ("fp32", "mixed"):
        space = table.covered_space.with_precision(mode)
        problem = SearchProblem(space, [Objective("accuracy", predictor, maximize=True),
                                        Objective("latency", table)], [])
        result = Evolution(population_size=100).run(problem, budget=budget, seed=0)
        values = np.column_stack([predictor.predict(result.archs), table.predict(result.archs)])
        mask = pareto_mask(np.column_stack([-values[:, 0], values[:, 1]]))
        fronts[mode] = [result.archs[i] for i in np.flatnonzero(mask)]
        points[mode] = values[mask]
    every = np.concatenate(list(points.values()))
    ref = [-(every[:, 0].min() - 0.5), every[:, 1].max() * 1.05]
    hv = {m: hypervolume(np.column_stack([-p[:, 0], p[:, 1]]), ref) for m, p in points.items()}
    # the same fronts timed whole, as the table was built: does the table's gain hold?
    timed = {m: measure_archs(table, fronts[m], passes=1, rounds=100).ms[0] for m in fronts}
    every = np.concatenate(list(timed.values()))
    ref_timed = [ref[0], every.max() * 1.05]
    hv_timed = {m: hypervolume(np.column_stack([-points[m][:, 0], timed[m]]), ref_timed) for m in fronts}
    parts = [p for a in fronts["mixed"] for p in a.policy().values()]
    return {"hv_joint": hv["mixed"], "hv_fp32_only": hv["fp32"],
            "hv_joint_over_fp32_only": hv["mixed"] / hv["fp32"], "reference_point": ref,
            "hv_joint_over_fp32_only_timed": hv_timed["mixed"] / hv_timed["fp32"],
            "timed_front_error_pct": {m: float(np.mean(points[m][:, 1] / timed[m] - 1) * 100)
                                      for m in fronts},
            "int8_share_of_parts_on_joint_front": parts.count("int8") / len(parts),
            **{f"{name}_front": [{"arch": str(a), "accuracy": float(v[0]), "latency_ms": float(v[1]),
                                  "timed_ms": float(t)} for a, v, t in zip(fronts[m], points[m], timed[m])]
               for name, m in (("joint", "mixed"), ("fp32", "fp32"))}}


def plot(result: dict, drops: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    names = list(result["latency_ratio"])
    ax.boxplot([result["latency_ratio"][n]["per_subnet"] for n in names],
               tick_labels=[n.replace("_b", "\nbatch ") for n in names])
    ax.axhline(1.0, color="k", lw=1, ls="--")
    ax.set(ylabel="int8 / fp32 latency (same subnet)", title="where int8 pays: below the line")
    ax = axes[0, 1]
    every = np.concatenate(list(drops.values()))
    bins = np.linspace(every.min() - 0.1, every.max() + 0.1, 30)
    for label, d in drops.items():
        ax.hist(d, bins=bins, alpha=0.6, label=f"{label}: mean {d.mean():.2f}, worst {d.max():.2f} pp")
    ax.set(xlabel="validation accuracy lost to int8 (pp)", ylabel="subnets", title="accuracy drop")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    t = result["transfer"]
    for key, label in (("from_fp32", "transferred from the fp32 predictor"),
                       ("scratch", "from scratch (best model)")):
        sizes = sorted(int(k) for k in t[key]["tau"])
        line, = ax.plot(sizes, [t[key]["tau"][str(s)] for s in sizes], "o-", label=f"{label}, split 0")
        if "splits" in t:  # mean and sd over the random splits
            m, sd = (t["splits"][key][f] for f in ("tau_mean", "tau_sd"))
            ax.errorbar(sizes, [m[str(s)] for s in sizes], [sd[str(s)] for s in sizes],
                        color=line.get_color(), ls=":", capsize=3,
                        label=f"{label.split(' (')[0]}: mean ± sd over {len(t['splits']['seeds'])} splits")
    ax.set(xscale="log", xlabel="quantised samples fitted on", ylabel="held-out Kendall tau",
           title="quantisation-aware accuracy predictor")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for table in result["tables"].values():
        for key, marker in (("fp32_front", "x"), ("joint_front", "o")):
            pts = [(p["timed_ms"], p["accuracy"]) for p in table[key]]
            gain = (f"(HV x{table['hv_joint_over_fp32_only_timed']:.3f} timed, "
                    f"x{table['hv_joint_over_fp32_only']:.3f} by the table)") if key == "joint_front" else ""
            label = f"batch {table['batch_size']} {key.split('_')[0]} {gain}"
            ax.scatter(*zip(*pts), s=12, marker=marker, label=label)
    ax.set(xscale="log", xlabel="latency of the front's subnets, timed whole (ms)",
           ylabel="predicted accuracy (%)", title="joint arch + precision front vs fp32 only")
    ax.legend(fontsize=7)
    fig.suptitle(f"int8 on {result['machine']['cpu']} (ONNX Runtime, 1 thread)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    started = time.time()
    base = load_predictor(args.base)
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                          "load_average_start": list(os.getloadavg())},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "latency_ratio": {}}
    partial = out.with_suffix(".partial.json")  # the timings, kept for a rerun (the slow part)
    if partial.is_file():
        result["latency_ratio"] = json.loads(partial.read_text())["latency_ratio"]
        print(f"latency ratios from {partial}")
    for space_name, res in (("fmnist_small", None), ("ofa_mbv3", args.ofa_resolution)):
        for batch in (1, 64):
            key = f"{space_name}_b{batch}"
            if key not in result["latency_ratio"]:
                result["latency_ratio"][key] = latency_ratios(space_name, batch, args.ratio_archs, res)
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({"latency_ratio": result["latency_ratio"]}))
    result["accuracy_drop_pp"], all_int8 = accuracy_drops(args.int8_accuracy)
    space, archs, table, _ = load_training_data(args.quant_accuracy)
    stem_fp32 = np.array([a.quantized and a.policy()["stem"] == "fp32" for a in archs])
    drop = (table["accuracy_fp32"] - table["accuracy"]).to_numpy()[stem_fp32]
    result["accuracy_drop_pp_stem_fp32"] = {"mean": float(drop.mean()), "worst": float(drop.max()),
                                            "num_subnets": int(stem_fp32.sum())}
    result["transfer"], models = transfer_curve(args.quant_accuracy, base, args.splits)
    predictor = models[max(models)]
    result["tables"] = {}
    for path in args.mixed_table:
        t = LatencyTable.load(path)
        probe = [t.covered_space.sample(i) for i in range(200)]
        ratio = t.predict([a.with_precision("int8") for a in probe]) / \
            t.predict([a.with_precision("fp32") for a in probe])
        name = Path(path).stem
        result["tables"][name] = {"batch_size": t.meta["batch_size"], "threads": t.meta["threads"],
                                  "int8_over_fp32_latency_median": float(np.median(ratio)),
                                  **search_fronts(t, predictor, args.search_budget)}
        print(f"{name}: int8/fp32 (table) {np.median(ratio):.3f}, HV joint/fp32 "
              f"{result['tables'][name]['hv_joint_over_fp32_only']:.4f}", flush=True)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["seconds"] = round(time.time() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=out.parent, delete=False, suffix=".tmp") as f:
        json.dump(result, f, indent=1)
    os.replace(f.name, out)
    partial.unlink(missing_ok=True)
    plot(result, {"all int8": all_int8, "mixed, stem fp32": drop}, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
