"""The same space timed in ONNX Runtime, OpenVINO and LiteRT on this CPU, side by side:
each runtime's table built and validated on 100 unseen whole subnets (timed twice), the
same subnets' latency compared across runtimes (median ratio to ONNX Runtime, Kendall tau
between runtimes), and, where an accuracy predictor exists, the accuracy-latency front
found with each runtime's table timed in every runtime (what a wrong-runtime table costs).

    python experiments/bench_runtimes.py [--work ~/nas-runs/runtimes] [--runtimes ort openvino litert]
                                         [--spaces fmnist_small:28 ofa_mbv3:160] [--int8] [--report-only]

Resumable: every table and report is kept in ``--work`` and reused. Writes
``experiments/results/runtimes.json`` and ``runtimes.png`` (a space measured by an earlier
run on the same machine is kept, so spaces and runtimes can be measured in several runs). Needs the extras:
``pip install -e ".[openvino,litert]"``. Stop other work first: this times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
from pathlib import Path

import numpy as np

from latency_tables import (
    BuildConfig,
    LatencyTable,
    Protocol,
    ValidateConfig,
    build_table,
    measure_archs,
    validate_table,
)
from latency_tables._timing import default_device_name
from nas.search import hypervolume
from predictors import kendall_tau
from supernet import ArchConfig
from supernet.core import atomic_write_json
from supernet.train import cpu_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
PREDICTORS = {"fmnist_small": "pretrained:fmnist_small"}  # spaces with an accuracy predictor
TARGETS = {"within_10pct": 0.95, "within_5pct": 0.9, "kendall_tau": 0.9}
KEYS = ("within_10pct", "within_5pct", "kendall_tau", "mape", "repeat_within_5pct", "num_archs")
FRONT_ARCHS = 8

log = logging.getLogger("bench_runtimes")


QUICK = {"protocol": Protocol(rounds=20), "passes": 1, "calibration_archs": 4}  # --quick: a smoke run


def _table(work: Path, space: str, res: int, runtime: str, precision: str, quick: bool,
           rounds: int | None = None) -> LatencyTable:
    name = f"{space}_r{res}_{runtime}" + ("" if precision == "fp32" else f"_{precision}")
    csv = work / f"{name}.csv"
    config = BuildConfig(space=space, runtime=runtime, resolutions=(res,), precision=precision,
                         device=default_device_name(),
                         **(QUICK if quick else {"protocol": Protocol(rounds=rounds)} if rounds else {}))
    if csv.exists() and json.loads(csv.with_suffix(".json").read_text()).get("complete"):
        return LatencyTable.load(csv)
    log.info("building %s", csv)
    return build_table(config, csv, resume=csv.exists(), progress=True)


def _validated(work: Path, table: LatencyTable, quick: bool) -> dict:
    path = work / f"{Path(table.path).stem}_validate.json"
    if path.exists():
        return json.loads(path.read_text())
    log.info("validating %s", table.path)
    return validate_table(table, ValidateConfig(num_archs=10 if quick else 100), json_path=path,
                          plot_path=path.with_suffix(".png"), progress=True)


def _cross(reports: dict[str, dict]) -> dict:
    """The same subnets in every runtime: median latency ratio to ONNX Runtime and Kendall
    tau between each pair of runtimes' measured times."""
    names = list(reports)
    archs = [[a["arch"] for a in reports[n]["archs"]] for n in names]
    if any(a != archs[0] for a in archs):
        raise SystemExit("the validation subnets differ between runtimes: rebuild with the same seeds")
    ms = {n: np.array([a["measured_ms"] for a in reports[n]["archs"]]) for n in names}
    out = {"num_archs": len(archs[0]), "median_ms": {n: float(np.median(v)) for n, v in ms.items()}}
    if "ort" in ms:
        out["median_ratio_to_ort"] = {n: float(np.median(ms[n] / ms["ort"])) for n in names}
    out["kendall_tau_between"] = {f"{a}~{b}": kendall_tau(ms[a], ms[b])
                                  for i, a in enumerate(names) for b in names[i + 1:]}
    return out


def _front_archs(work: Path, space: str, res: int, table: LatencyTable, runtime: str,
                 budget: int) -> list[dict]:
    """Up to `FRONT_ARCHS` archs spread along the front a search finds with ``table``
    (predicted accuracy, predicted latency)."""
    from nas.pipeline import SearchConfig, run_search

    out = work / f"search_{space}_r{res}_{runtime}"
    if not (out / "front.json").exists():
        run_search(SearchConfig(space=space, predictor=PREDICTORS[space], table=str(table.path),
                                resolutions=(res,), budget=budget, out=str(out), force=True))
    rows = json.loads((out / "front.json").read_text())
    keep = np.unique(np.linspace(0, len(rows) - 1, min(FRONT_ARCHS, len(rows))).round().astype(int))
    return [rows[i] for i in keep]


def _fronts(work: Path, space: str, res: int, tables: dict[str, LatencyTable], budget: int) -> dict:
    """Each runtime's front timed in every runtime: the hypervolume of (accuracy, measured
    latency) of the front found with table A, timed in runtime B, over that of B's own front
    timed in B (1.0: the wrong table cost nothing)."""
    path = work / f"fronts_{space}_r{res}.json"
    if path.exists():
        return json.loads(path.read_text())
    fronts = {rt: _front_archs(work, space, res, t, rt, budget) for rt, t in tables.items()}
    timed = {}
    for found, rows in fronts.items():
        archs = [ArchConfig.from_dict(r["arch"]) for r in rows]
        timed[found] = {rt: measure_archs(t, archs, seed=1).ms[0].tolist() for rt, t in tables.items()}
    acc = {found: [r["accuracy"] for r in rows] for found, rows in fronts.items()}
    result = {"front_archs": {f: [r["arch"] for r in rows] for f, rows in fronts.items()},
              "accuracy": acc, "measured_ms": timed, "hv_ratio": {}}
    for target in tables:
        worst = max(max(timed[f][target]) for f in tables) * 1.05
        lowest = min(min(acc[f]) for f in tables) - 0.5
        ref = (-lowest, worst)
        hv = {f: hypervolume(np.column_stack([-np.array(acc[f]), timed[f][target]]), ref) for f in tables}
        result["hv_ratio"][target] = {f: hv[f] / hv[target] for f in tables}
    atomic_write_json(path, result)
    return result


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = list(summary["spaces"])
    fig, axes = plt.subplots(1, len(spaces), figsize=(5.5 * len(spaces), 4.5), squeeze=False)
    for ax, key in zip(axes[0], spaces):
        reports = summary["spaces"][key]["reports"]
        base = "ort" if "ort" in reports else next(iter(reports))
        ms = {rt: np.array(r["measured_ms"]) for rt, r in reports.items()}
        for rt, v in ms.items():
            if rt != base:
                taus = summary["spaces"][key]["cross"]["kendall_tau_between"]
                tau = taus.get(f"{base}~{rt}", taus.get(f"{rt}~{base}"))
                ax.scatter(ms[base], v, s=10, label=f"{rt} (tau vs {base} {tau:.2f})")
        lim = [min(v.min() for v in ms.values()) * 0.9, max(v.max() for v in ms.values()) * 1.1]
        ax.plot(lim, lim, "k-", lw=1, label="y = x")
        ax.set(xlabel=f"{base} latency (ms)", ylabel="latency in the other runtime (ms)", title=key,
               xscale="log", yscale="log")
        ax.legend(fontsize=8)
    fig.suptitle(f"100 subnets timed whole in each runtime, {summary['device']}, 1 thread", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(summary: dict) -> str:
    """The tables of docs/results/runtimes.md from a summary."""
    lines = []
    for key, entry in summary["spaces"].items():
        lines += [f"### {key}", "", "| runtime | version | build (s) | within ±10 % | within ±5 % "
                  "| Kendall tau | MAPE (%) | repeat ±5 % | load factor | median ms | ratio to ORT "
                  "| meets targets |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        cross = entry["cross"]
        ratios = cross.get("median_ratio_to_ort", {})
        for rt, v in entry["validation"].items():
            t = entry["tables"][rt]
            version = t["runtime_version"].split("-")[0] if rt == "openvino" else t["runtime_version"]
            lines.append(f"| {rt} | {version} | {t['build_seconds']:.0f} | "
                         f"{v['within_10pct']:.2f} | {v['within_5pct']:.2f} | {v['kendall_tau']:.3f} | "
                         f"{v['mape']:.1f} | {v['repeat_within_5pct']:.2f} | {v['load_factor']:.2f} | "
                         f"{cross['median_ms'][rt]:.3f} | {ratios.get(rt, float('nan')):.2f} | "
                         f"{'yes' if v['meets_targets'] else 'no'} |")
        lines += ["", "Kendall tau between runtimes (the same subnets, timed whole): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in cross["kendall_tau_between"].items()), ""]
        fronts = entry.get("fronts")
        if fronts:
            names = list(fronts["hv_ratio"])
            lines += ["Hypervolume of each table's front, timed in each runtime, over the right table's "
                      "front (rows: the runtime deployed on; columns: the table searched with):", "",
                      "| deployed on | " + " | ".join(f"{n} table" for n in names) + " |",
                      "| --- |" + " ---: |" * len(names)]
            for target in names:
                row = " | ".join(f"{fronts['hv_ratio'][target][f]:.3f}" for f in names)
                lines.append(f"| {target} | {row} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("~/nas-runs/runtimes").expanduser())
    ap.add_argument("--runtimes", nargs="+", default=["ort", "openvino", "litert"])
    ap.add_argument("--spaces", nargs="+", default=["fmnist_small:28", "ofa_mbv3:160"])
    ap.add_argument("--int8", action="store_true", help="also int8 tables where the runtime has int8")
    ap.add_argument("--out", type=Path, default=RESULTS / "runtimes.json")
    ap.add_argument("--quick", action="store_true", help="a smoke run: short timings, 10 subnets")
    ap.add_argument("--rounds", type=int, help="timing rounds per model (default: the build's 400; the "
                    "shipped ofa_mbv3 table used 100, its subnets taking 10-30 ms a call here)")
    ap.add_argument("--report-only", action="store_true", help="print the markdown tables of --out")
    args = ap.parse_args()
    if args.report_only:
        print(markdown(json.loads(args.out.read_text())))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    summary = {"device": default_device_name(), "cpu_model": cpu_model(), "threads": 1,
               "targets": TARGETS, "spaces": {}, "load_average_start": list(os.getloadavg())}
    if args.out.exists():  # spaces measured by an earlier run on this machine stay
        earlier = json.loads(args.out.read_text())
        if earlier.get("device") == summary["device"]:
            summary["spaces"] = earlier.get("spaces", {})
            summary["runs"] = earlier.get("runs", []) + [earlier.get("command")]
    for item in args.spaces:
        space, res = item.split(":")
        res = int(res)
        precisions = ["fp32", "int8"] if args.int8 else ["fp32"]
        for precision in precisions:
            runtimes = list(args.runtimes)  # every runtime here times int8 (LiteRT: all-int8 models)
            tables = {rt: _table(args.work, space, res, rt, precision, args.quick, args.rounds)
                      for rt in runtimes}
            reports = {rt: _validated(args.work, t, args.quick) for rt, t in tables.items()}
            key = f"{space}_r{res}" + ("" if precision == "fp32" else f"_{precision}")
            entry = {
                "rounds": tables[runtimes[0]].meta["protocol"]["rounds"],
                "validated": {rt: {"date": r["date"], "load_average": r["load_average"]}
                              for rt, r in reports.items()},
                "tables": {rt: {"runtime_version": t.meta["runtime_version"],
                                "build_seconds": t.meta["build_seconds"], "num_blocks": t.meta["num_blocks"],
                                "table": str(t.path)} for rt, t in tables.items()},
                "validation": {rt: {k: r[k] for k in KEYS} | {"load_factor": r["raw"]["load_factor"],
                                                               "meets_targets": all(r[k] >= v for k, v in
                                                                                    TARGETS.items())}
                               for rt, r in reports.items()},
                "reports": {rt: {"measured_ms": [a["measured_ms"] for a in r["archs"]]}
                            for rt, r in reports.items()},
                "cross": _cross(reports),
            }
            if space in PREDICTORS and precision == "fp32" and len(tables) > 1:
                entry["fronts"] = _fronts(args.work, space, res, tables, 300 if args.quick else 3000)
            summary["spaces"][key] = entry
            log.info("%s: %s", key, json.dumps({"validation": entry["validation"], "cross": entry["cross"]}))
    summary["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    summary["load_average_end"] = list(os.getloadavg())
    summary["command"] = "python experiments/bench_runtimes.py " + " ".join(
        f"--spaces {' '.join(args.spaces)} --runtimes {' '.join(args.runtimes)}".split()
        + (["--int8"] if args.int8 else []) + ([f"--rounds {args.rounds}"] if args.rounds else []))
    atomic_write_json(args.out, summary)
    _plot(summary, args.out.with_suffix(".png"))
    print(json.dumps({k: {"validation": v["validation"], "cross": v["cross"],
                          "hv_ratio": v.get("fronts", {}).get("hv_ratio")}
                      for k, v in summary["spaces"].items()}, indent=1))


if __name__ == "__main__":
    main()
