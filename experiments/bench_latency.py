"""Build and validate the shipped latency tables of the small preset (1 and 2 threads,
batch 1) on this machine; write each validation report, with ``build_seconds``, to
``experiments/results/latency_<device>_t<threads>.json`` (scatter plot beside it).

    python experiments/bench_latency.py [--threads 1 2] [--num-archs 100] [--rounds 400] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from latency_tables import (
    BuildConfig,
    Protocol,
    ValidateConfig,
    build_table,
    default_device_name,
    validate_table,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="fmnist_small")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--num-archs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=400, help="interleaved timing rounds per entry")
    parser.add_argument("--tables-dir", type=Path, default=ROOT / "latency_tables" / "tables")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "experiments" / "results")
    args = parser.parse_args()
    device = default_device_name()
    for threads in args.threads:
        name = f"{device}_t{threads}"
        load = os.getloadavg()
        start = time.monotonic()
        config = BuildConfig(space=args.space, device=device, threads=threads,
                             protocol=Protocol(rounds=args.rounds))
        table = build_table(config, args.tables_dir / f"{name}.csv", force=True)
        wall = time.monotonic() - start
        report = validate_table(
            table, ValidateConfig(num_archs=args.num_archs, seed=args.seed),
            json_path=args.results_dir / f"latency_{name}.json",
            plot_path=args.results_dir / f"latency_{name}.png",
            extra={"build_seconds": table.meta["build_seconds"], "build_wall_seconds": round(wall, 1),
                   "build_load_average": list(load),
                   "command": f"python experiments/bench_latency.py --threads {threads} "
                              f"--rounds {args.rounds} --seed {args.seed}"})
        keys = ("within_10pct", "kendall_tau", "mape", "repeat_within_10pct", "build_seconds")
        raw = {k: report["raw"][k] for k in ("within_10pct", "repeat_within_10pct", "load_factor")}
        print(name, json.dumps({**{k: report[k] for k in keys}, "raw": raw}), flush=True)


if __name__ == "__main__":
    main()
