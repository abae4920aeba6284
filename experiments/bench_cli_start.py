"""How long `nas` takes to answer the commands a person browses with; writes
experiments/results/cli_start.json.

    python experiments/bench_cli_start.py [--repeats 7]

Each command runs in a fresh process (as a shell runs it), interleaved with the others,
``--repeats`` times; the figure is the median wall time, next to a bare ``python -c pass``
measured the same way (the floor no command can beat). Target: <= 1 s for ``--help``,
``--version``, ``latency list``, ``show`` and ``space``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from supernet.train import cpu_model  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
TABLE = "latency_tables/tables/xeon-amx-2c_t1.csv"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "nas --version": [sys.executable, "-m", "nas.cli", "--version"],
    "nas --help": [sys.executable, "-m", "nas.cli", "--help"],
    "nas search --help": [sys.executable, "-m", "nas.cli", "search", "--help"],
    "nas latency list": [sys.executable, "-m", "nas.cli", "latency", "list"],
    "nas space fmnist_small": [sys.executable, "-m", "nas.cli", "space", "fmnist_small"],
    "nas show TABLE": [sys.executable, "-m", "nas.cli", "show", TABLE],
    "nas show TABLE --json": [sys.executable, "-m", "nas.cli", "show", TABLE, "--json"],
    "nas show pretrained:fmnist_small": [sys.executable, "-m", "nas.cli", "show", "pretrained:fmnist_small"],
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=str(RESULTS / "cli_start.json"))
    args = p.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds: dict[str, list[float]] = {name: [] for name in COMMANDS}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - start)
        load.append(os.getloadavg()[0])
    median = {name: round(statistics.median(s), 3) for name, s in seconds.items()}
    record = {
        "command": "python experiments/bench_cli_start.py " + " ".join(argv or sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "load_average_1min": [round(x, 2) for x in load], "repeats": args.repeats,
        "median_seconds": median, "all_seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "within_1s": {k: v <= 1.0 for k, v in median.items() if k != "python -c pass"},
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    for name, value in median.items():
        print(f"{name:36s} {value:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
