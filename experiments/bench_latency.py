"""This machine's latency tables, built and validated on subnets never used to build them,
on the idle machine and beside a competing CPU-bound process, by a local build and through
the probe bundle (bundle -> probe_runner.py -> import); build times for both.

    python experiments/bench_latency.py --device NAME [--threads 1] [--conditions idle busy]
                                        [--no-probe] [--num-archs 100] [--seed S]

Writes ``experiments/results/latency_<device>.json`` (the summary: per table and
condition, the validation scores, scaled and raw, and the build times), one full report
and scatter plot per table (``latency_<device>_t<threads>_<condition>[_probe].json/.png``),
and the idle local tables to ``latency_tables/tables/<device>_t<threads>.csv`` (shipped).
"busy": a second process trains a small convolutional net with torch on every core for
the whole build and validation (started and stopped here; `BUSY`). Stop other work first.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from latency_tables import (
    BuildConfig,
    LatencyTable,
    Protocol,
    ValidateConfig,
    build_table,
    import_results,
    validate_table,
    write_bundle,
)
from supernet.core import atomic_write_json
from supernet.train import cpu_model

ROOT = Path(__file__).resolve().parents[1]
BUSY = """
import torch
torch.set_num_threads({threads})
net = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Flatten(), torch.nn.Linear(64 * 28 * 28, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01)
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
while True:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
"""
KEYS = ("within_5pct", "within_10pct", "kendall_tau", "mape", "mean_error_pct", "repeat_within_5pct",
        "repeat_within_10pct", "num_archs")


@contextlib.contextmanager
def competing(condition: str) -> Iterator[dict | None]:
    """For ``busy``, a CPU-bound torch training process on every core while the block runs."""
    if condition == "idle":
        yield None
        return
    threads = os.cpu_count() or 1
    proc = subprocess.Popen([sys.executable, "-c", BUSY.format(threads=threads)])
    time.sleep(5)  # past its start-up
    try:
        yield {"what": "torch training steps of a 2-conv net, batch 64, 28 px", "threads": threads,
               "pid": proc.pid}
    finally:
        proc.kill()
        proc.wait()


def through_probe(config: BuildConfig, out: Path) -> tuple[LatencyTable, dict]:
    """The table made as a device without this project makes it: bundle, runner, import."""
    with tempfile.TemporaryDirectory(prefix="nas-probe-") as tmp:
        t0 = time.monotonic()
        bundle = write_bundle(config, Path(tmp) / "probe.zip")
        t1 = time.monotonic()
        results = Path(tmp) / "results.csv"
        runner = Path(tmp) / "probe_runner.py"
        subprocess.run([sys.executable, runner, bundle, "--out", results, "--quiet"], check=True)
        t2 = time.monotonic()
        table = import_results(results, bundle, out, device=config.device, force=True)
        t3 = time.monotonic()
    return table, {"bundle_seconds": round(t1 - t0, 1), "runner_seconds": round(t2 - t1, 1),
                   "import_seconds": round(t3 - t2, 1), "total_seconds": round(t3 - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", required=True, help="this machine's name in file names, e.g. xeon-amx-2c")
    parser.add_argument("--space", default="fmnist_small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--conditions", nargs="+", choices=("idle", "busy"), default=["idle", "busy"])
    parser.add_argument("--no-probe", action="store_true", help="skip the bundle -> runner -> import path")
    parser.add_argument("--num-archs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=400, help="interleaved timing rounds per entry")
    parser.add_argument("--tables-dir", type=Path, default=ROOT / "latency_tables" / "tables")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "experiments" / "results")
    args = parser.parse_args()
    command = "python experiments/bench_latency.py " + " ".join(sys.argv[1:])
    summary_path = args.results_dir / f"latency_{args.device}.json"
    summary = {"device": args.device, "cpu_model": cpu_model(), "cores": os.cpu_count(),
               "note": "validation on subnets never used to build or calibrate the table; scores on "
                       "reference-scaled times, raw: on unscaled times", "tables": []}
    if summary_path.exists():  # rows of other tables and conditions stay; the same one is replaced
        summary["tables"] = json.loads(summary_path.read_text())["tables"]
    scratch = Path(tempfile.mkdtemp(prefix="nas-bench-latency-"))
    for threads in args.threads:
        config = BuildConfig(space=args.space, device=args.device, threads=threads,
                             protocol=Protocol(rounds=args.rounds))
        for condition in args.conditions:
            sources = ["local"] + ([] if args.no_probe else ["probe"])
            for source in sources:
                name = f"{args.device}_t{threads}_{condition}" + ("_probe" if source == "probe" else "")
                keep = condition == "idle" and source == "local"
                out = (args.tables_dir / f"{args.device}_t{threads}.csv") if keep else scratch / f"{name}.csv"
                with competing(condition) as busy:
                    load = os.getloadavg()
                    t0 = time.monotonic()
                    if source == "local":
                        table = build_table(config, out, force=True)
                        build = {"total_seconds": round(time.monotonic() - t0, 1)}
                    else:
                        table, build = through_probe(config, out)
                    report = validate_table(
                        table, ValidateConfig(num_archs=args.num_archs, seed=args.seed),
                        json_path=args.results_dir / f"latency_{name}.json",
                        plot_path=args.results_dir / f"latency_{name}.png",
                        extra={"condition": condition, "competing_process": busy, "source": source,
                               "build": build, "build_load_average": list(load), "command": command})
                row = {"threads": threads, "condition": condition, "source": source, "command": command,
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "competing_process": busy and {k: v for k, v in busy.items() if k != "pid"},
                       **{k: report[k] for k in KEYS},
                       "raw": {k: report["raw"][k] for k in (*KEYS[:5], "load_factor")},
                       "uncalibrated": report["uncalibrated"], "build": build,
                       "load_average": report["load_average"], "table": str(out) if keep else None,
                       "report": f"experiments/results/latency_{name}.json"}
                key = ("threads", "condition", "source")
                summary["tables"] = [r for r in summary["tables"]
                                     if [r[k] for k in key] != [row[k] for k in key]] + [row]
                atomic_write_json(summary_path, summary)
                print(name, json.dumps({k: row[k] for k in ("within_5pct", "within_10pct", "kendall_tau")}),
                      f"raw within 10 %: {row['raw']['within_10pct']:.2f}",
                      f"build {build['total_seconds']} s", flush=True)


if __name__ == "__main__":
    main()
