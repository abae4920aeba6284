"""`nas search`: the best subnet under a device budget, or a Pareto front, in seconds."""

from __future__ import annotations

import json

from supernet import NASError


def add_parser(sub) -> None:
    from nas._registry import DEFAULT_STRATEGY, list_strategies

    p = sub.add_parser(
        "search", help="search subnets: best under constraints, or a Pareto front",
        description="Search a space for the most accurate subnet under device constraints (one "
        "objective) or for the Pareto front of several objectives, and write front.csv, "
        "front.json, evaluated.csv, front.png and summary.json (with the hypervolume).")
    p.add_argument("--space", default="fmnist_small", help="preset name or space file")
    p.add_argument("--objectives", default=None,
                   help="comma list from accuracy,latency,macs,params,peak_memory_bytes; one name "
                   "is a single-objective search (default: accuracy under the bounds given, "
                   "else the front of accuracy,latency with --device, else accuracy,macs)")
    p.add_argument("--predictor", help="accuracy predictor folder (predictors.load_predictor)")
    p.add_argument("--measure-accuracy", metavar="CHECKPOINT",
                   help="measure accuracy on the validation split with this supernet instead of "
                   "predicting it (slow: seconds per arch; searched with a predictor in the loop)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="measured archs per round of the predictor-in-the-loop search")
    p.add_argument("--no-loop", action="store_true",
                   help="with a measured objective, run --strategy on the measurements directly "
                   "instead of on refitted surrogates")
    p.add_argument("--device", help="latency table of the target device (file or shipped name)")
    p.add_argument("--resolution", type=int, action="append", dest="resolutions", metavar="PX",
                   help="only archs at this input resolution (repeatable; default: all, or those "
                        "the --device table covers)")
    for name, unit in (("latency", "ms"), ("macs", "MACs"), ("params", "parameters"),
                       ("memory", "bytes of peak activation memory")):
        p.add_argument(f"--{name}-max", type=float, help=f"constraint: at most this many {unit}")
    p.add_argument("--accuracy-min", type=float, help="constraint: at least this accuracy (%%)")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=list_strategies())
    p.add_argument("--budget", type=int, default=1000, help="evaluations (distinct archs scored)")
    p.add_argument("--population", type=int, help="population size (evolution: 40 by default, "
                   "as benchmarked; OFA used 100. optuna-nsga2: 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", help="Optuna RDB URL (default: sqlite:///OUT/optuna.db)")
    p.add_argument("--study-name", help="Optuna study name; an existing one is resumed")
    p.add_argument("--ref-point", help="hypervolume reference point, comma list in objective "
                   "order (default: worst of the smallest and largest arch per objective)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where measured objectives run: here, or as Ray Tune trials")
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local Ray)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of this process: predictors see small batches, for which "
                   "1 is fastest (a measured objective may want more)")
    p.add_argument("--out", default="search_out", help="output folder")
    p.add_argument("--force", action="store_true",
                   help="overwrite outputs in --out, and start an existing Optuna study over (its trials "
                        "are deleted: never on a study other drivers are still writing to)")
    p.set_defaults(func=run)


def config_from_args(args):
    """The `SearchConfig` of a parsed command line."""
    from dataclasses import fields

    from nas._search import SearchConfig

    def floats(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(v) for v in text.split(","))
        except ValueError:
            raise NASError(f"--ref-point {text!r}: expected a comma list of numbers") from None

    names = tuple(n.strip() for n in args.objectives.split(",") if n.strip()) if args.objectives else None
    parsed = {"objectives": names, "loop": not args.no_loop,
              "resolutions": tuple(args.resolutions) if args.resolutions else None,
              "ref_point": floats(args.ref_point) if args.ref_point else None}
    same = {f.name: getattr(args, f.name) for f in fields(SearchConfig) if f.name not in parsed}
    return SearchConfig(**same, **parsed)


def run(args) -> int:
    from nas._search import run_search

    summary = run_search(config_from_args(args))
    print(json.dumps({k: summary[k] for k in ("strategy", "evaluated", "feasible", "front_size",
                                              "hypervolume", "reference_point", "best")}, indent=2))
    print(f"{summary['evaluated']} archs evaluated in {summary['search_seconds']:.2f} s; "
          f"results in {args.out}/")
    return 0
