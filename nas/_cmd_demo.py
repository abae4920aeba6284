"""`nas demo` and `nas run`: the whole pipeline, from training to exported ONNX models."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    for name, text in (
        ("demo", "the whole pipeline on Fashion-MNIST with the small preset (about 10 min on 2 cores)"),
        ("run", "run a whole experiment described by one YAML config"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ": train a supernet "
                           "with progressive shrinking, build this machine's latency table, fit an "
                           "accuracy predictor, search one subnet per latency budget, export each "
                           "to ONNX and write report.md, pareto.png, front.csv and summary.json. "
                           "Rerunning reuses the finished stages.")
        p.add_argument("--config", required=name == "run",
                       help="experiment YAML" + (" (default: the built-in demo)" if name == "demo" else ""))
        p.add_argument("--out", default="runs/demo" if name == "demo" else None, required=name == "run",
                       help="run folder" + (" (default: runs/demo)" if name == "demo" else ""))
        p.add_argument("--data-dir", help="dataset location (default: the config's, e.g. the Debian "
                       "Fashion-MNIST files)")
        p.add_argument("--fresh", action="store_true", help="delete the run folder and start over")
        p.set_defaults(func=run)


def run(args) -> int:
    from nas._demo import run_experiment
    from nas._experiment import load_experiment

    summary = run_experiment(load_experiment(args.config), args.out, fresh=args.fresh,
                             data_dir=args.data_dir)
    print(json.dumps(summary["budgets"], indent=2))
    print(f"done in {summary['seconds']:.0f} s; report: {args.out}/report.md")
    return 0
