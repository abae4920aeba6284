"""`nas search`: the best subnet under a device budget, or a Pareto front, in seconds."""

from __future__ import annotations

from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, deprecated_option, number, show
from supernet.core import NASError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "search", help="search subnets: best under constraints, or a Pareto front",
        description="Search a space for the most accurate subnet under device constraints (one "
        "objective) or for the Pareto front of several objectives, and write front.csv, "
        "front.json, evaluated.csv, front.png and summary.json (with the hypervolume).")
    p.add_argument("--space", default="fmnist_small", help="preset name or space file")
    p.add_argument("--objectives", default=None,
                   help="comma list from accuracy,latency,macs,params,peak_memory_bytes,weight_bytes "
                   "(model size: 1 byte a weight in int8 parts, else 4); one name "
                   "is a single-objective search (default: accuracy under the bounds given, "
                   "else the front of accuracy,latency with --table, else accuracy,macs)")
    p.add_argument("--predictor", help="accuracy predictor folder (predictors.load_predictor), "
                   "pretrained:NAME, or proxy:NAME for a training-free search on a zero-cost proxy's score "
                   "(gradsign, synflow, naswot, jacob_cov; params and macs as baselines): no supernet needed")
    p.add_argument("--proxy-data", default="fashion_mnist", metavar="DATASET[:PATH]",
                   help="images a proxy scores on: fashion_mnist (default), or cifar10, npz or imagefolder "
                        "with :PATH")
    p.add_argument("--proxy-images", type=int, default=64,
                   help="images per arch a proxy scores on (default 64)")
    p.add_argument("--proxy-weights", metavar="CHECKPOINT",
                   help="score the supernet's inherited weights instead of a seeded random initialisation")
    p.add_argument("--measure-accuracy", metavar="CHECKPOINT",
                   help="measure accuracy on the validation split with this supernet instead of "
                   "predicting it (slow: seconds per arch; searched with a predictor in the loop)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="measured archs per round of the predictor-in-the-loop search")
    p.add_argument("--no-loop", action="store_true",
                   help="with a measured objective, run --strategy on the measurements directly "
                   "instead of on refitted surrogates")
    p.add_argument("--warm-start", metavar="proxy:NAME",
                   help="with --measure-accuracy: measure first the best archs of a search on this "
                        "zero-cost proxy (e.g. proxy:synflow) instead of random ones")
    p.add_argument("--warm-budget", type=int, default=200,
                   help="proxy evaluations of that first search (default 200)")
    p.add_argument("--table",
                   help="latency table of the target device (a .csv file, or a shipped name: nas latency "
                        "list)")
    deprecated_option(p, "--device", "--table", dest="table")
    p.add_argument("--resolution", type=int, action="append", dest="resolutions", metavar="PX",
                   help="only archs at this input resolution (repeatable; default: all, or those "
                        "the --table table covers)")
    p.add_argument("--precision", choices=("fp32", "int8", "mixed"), default="fp32",
                   help="deployment precision searched with the arch: fp32 (default), int8 (every part), "
                        "or mixed (fp32 or int8 per part: stem, each stage, head); a --table table must "
                        "time it (`nas latency build --precision`). Give a quantisation-aware --predictor "
                        "(`nas fit-predictor --models transfer`); `nas export` measures the real drop")
    for name, unit in (("latency", "ms"), ("macs", "MACs"), ("params", "parameters"),
                       ("memory", "bytes of peak activation memory")):
        p.add_argument(f"--{name}-max", type=float, help=f"constraint: at most this many {unit}")
    p.add_argument("--margin", type=float, default=0.05,
                   help="keep predicted latency this fraction under --latency-max, so that the model still "
                        "fits when timed whole (default 0.05; 0 searches up to the budget itself)")
    p.add_argument("--accuracy-min", type=float, help="constraint: at least this accuracy (%%)")
    p.add_argument("--strategy", default="evolution",
                   help="evolution (default: 1,000 predicted archs in about a second), random, optuna-nsga2, "
                        "optuna-tpe (these two cost more per trial), or a strategy registered with "
                        "@register_strategy")
    p.add_argument("--budget", type=int, default=1000,
                   help="evaluations: distinct archs scored (default 1000)")
    p.add_argument("--population", type=int, help="population size (evolution: 40 by default, "
                   "as benchmarked; OFA used 100. optuna-nsga2: 50)")
    p.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress display")
    p.add_argument("--storage", help="Optuna RDB URL, e.g. sqlite:///search.db: the study persists, resumes "
                   "by --study-name and shows in optuna-dashboard (default: in memory with a predictor, "
                   "which is far faster; sqlite:///OUT/optuna.db when accuracy is measured)")
    p.add_argument("--study-name", help="Optuna study name; an existing one is resumed")
    p.add_argument("--ref-point", help="hypervolume reference point, comma list in objective "
                   "order (default: worst of the smallest and largest arch per objective)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where measured objectives run: here, or as Ray Tune trials")
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local Ray)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of this process: predictors see small batches, for which "
                   "1 is fastest (a measured objective may want more)")
    p.add_argument("--time-front", type=int, default=0, metavar="N",
                   help="time the N most accurate subnets of the accuracy-latency front whole on this "
                        "machine, as the --table table was built, into timed.csv (checks the table where it "
                        "models subnets poorly, e.g. mixed int8/fp32 policies; 10 take about a minute)")
    p.add_argument("--out", default="runs/search", help="output folder (default: runs/search)")
    p.add_argument("--force", action="store_true",
                   help="overwrite outputs in --out, and start an existing Optuna study over (its trials "
                        "are deleted: never on a study other drivers are still writing to)")
    add_json_flag(p)
    p.set_defaults(func=run)


def config_from_args(args):
    """The `SearchConfig` of a parsed command line."""
    from dataclasses import fields

    from nas.pipeline import SearchConfig

    def floats(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(v) for v in text.split(","))
        except ValueError:
            raise NASError(f"--ref-point {text!r}: expected a comma list of numbers") from None

    names = tuple(n.strip() for n in args.objectives.split(",") if n.strip()) if args.objectives else None
    parsed = {"objectives": names, "loop": not args.no_loop,
              "resolutions": tuple(args.resolutions) if args.resolutions else None,
              "ref_point": floats(args.ref_point) if args.ref_point else None,
              "progress": not args.quiet, "device": None}
    same = {f.name: getattr(args, f.name) for f in fields(SearchConfig) if f.name not in parsed}
    return SearchConfig(**same, **parsed)


def run(args) -> int:
    from nas.pipeline import run_search

    config = config_from_args(args)
    summary = run_search(config)
    show(args, summary, human_summary(config, summary))
    return 0


_UNITS = {"accuracy": "%", "latency": "ms", "macs": "MACs", "params": "params", "peak_memory_bytes": "B",
          "weight_bytes": "B"}


def _rows_to_show(front, limit: int = 12) -> list[int]:
    """At most ``limit`` positions of the front, evenly spaced, both ends kept."""
    if len(front) <= limit:
        return list(range(len(front)))
    return sorted({round(i * (len(front) - 1) / (limit - 1)) for i in range(limit)})


def human_summary(config, summary: dict) -> Summary:
    """The best subnet (or the front) in a few lines, then where the files are."""
    import pandas as pd

    from supernet import ArchConfig, arch_cost, get_space

    out = Path(config.out)
    space = get_space(config.space)
    front = pd.read_csv(out / "front.csv")
    bounds = {c["name"]: c for c in summary["constraints"]}
    names = [o["name"] for o in summary["objectives"]]
    columns = [c for c in front.columns if c not in ("eval_index", "arch", "feasible")]
    feasible = f", {summary['feasible']} feasible" if bounds else ""
    report = Summary(f"search ({summary['strategy']}, {space.name}): {summary['evaluated']} archs evaluated "
                     f"in {summary['search_seconds']:.1f} s{feasible}")
    label = {"accuracy": "accuracy (predicted)" if config.predictor else "accuracy (measured)"}
    units = dict(_UNITS)
    if config.proxy:  # the accuracy column holds the proxy's score
        label["accuracy"], units["accuracy"] = f"{config.proxy} score (a proxy, not %)", ""
        report.fact("accuracy column", summary.get("accuracy_is", f"{config.proxy} score"))
    best = summary.get("best")
    if best is None:
        report.fact("best", "no arch met the constraints; loosen them or raise --budget")
    else:
        arch = ArchConfig.from_dict(best["arch"])
        cost = arch_cost(space, arch)
        report.fact("best subnet" if len(names) == 1 else f"best by {names[0]}", str(arch))
        row = front[front["arch"] == arch.to_json()]
        for name in columns:
            value = best.get(name, row[name].iloc[0] if len(row) else None)
            text = number(value, 3 if name == "latency" else 2, units.get(name, ""))
            if name == "latency" and config.latency_max is not None:
                text += (f"  (budget {number(config.latency_max, 3, 'ms')}, searched under "
                         f"{number(bounds[name]['upper'], 3, 'ms')}: {config.margin:.0%} margin)")
            elif name in bounds and bounds[name]["upper"] is not None:
                text += f"  (budget {number(bounds[name]['upper'], 3, _UNITS.get(name, ''))})"
            report.fact(label.get(name, name), text)
        for name, value in (("macs", cost.macs), ("params", cost.params)):
            if name not in columns:
                report.fact(name, number(value, unit=_UNITS[name]))
    if len(names) > 1 or len(front) > 1:
        picks = _rows_to_show(front)
        rows = [[str(i), str(ArchConfig.from_json(front["arch"].iloc[i])),
                 *[number(front[c].iloc[i], 3 if c == "latency" else 2) for c in columns]] for i in picks]
        shown = f", {len(picks)} shown (all in front.csv)" if len(picks) < len(front) else ""
        report.table(["rank", "arch", *[f"{c} ({units[c]})" if units.get(c) else c for c in columns]], rows,
                     title=f"front: {len(front)} subnets{shown}")
        report.fact("hypervolume", f"{number(summary.get('hypervolume'), 4)} (area the front dominates up to "
                                   "the reference point; higher is better, comparable across runs with one "
                                   "reference point)")
    timed = summary.get("timed")
    if timed and timed["count"]:
        within = "" if timed["within_budget"] is None else f", {timed['within_budget']} within the budget"
        report.fact("timed whole", f"{timed['count']} front subnets: the table was off by "
                                   f"{timed['median_abs_error_pct']:.1f} % (median){within}")
        top = timed["best_measured"]
        report.fact("best as timed", "none within the budget: loosen it or raise --time-front"
                    if top is None else f"{top['arch_str']}: {number(top['accuracy'], 2, '%')}, "
                    f"{number(top['measured_ms'], 3, 'ms')} measured "
                    f"({number(top['predicted_ms'], 3, 'ms')} predicted)")
    files = ", ".join(f for f in summary.get("files", []) if f != "front.json") or "front.csv, summary.json"
    report.fact("files", f"{out}/ ({files})")
    if best is not None and config.proxy:  # no weights come with a proxy's archs
        report.fact("next", f"train a front arch (untrained: scored by {config.proxy}), e.g. nas finetune "
                            f"--supernet SUPERNET --front {out / 'front.csv'} --rank N")
    elif best is not None:
        report.fact("next", f"nas export --supernet SUPERNET --front {out / 'front.csv'} --rank N")
    storage = summary.get("storage")
    if storage:
        report.fact("study", f"optuna-dashboard {storage}")
    return report
