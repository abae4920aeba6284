"""`nas search`: the best subnet under a device budget, or a Pareto front, in seconds."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from supernet import NASError

log = logging.getLogger("nas.search")

COSTS = ("latency", "macs", "params", "peak_memory_bytes")


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
    p.add_argument("--force", action="store_true", help="overwrite outputs in --out")
    p.set_defaults(func=run)


def _source(name: str, args, space):
    if name == "accuracy":
        if args.measure_accuracy:
            from nas._measured import SupernetAccuracy
            from nas._objectives import Measurement

            return Measurement(SupernetAccuracy(args.measure_accuracy), metric="accuracy")
        if not args.predictor:
            raise NASError("the accuracy objective needs --predictor DIR (a fitted accuracy "
                           "predictor) or --measure-accuracy CHECKPOINT; or drop accuracy from "
                           "--objectives")
        from predictors import load_predictor

        return load_predictor(args.predictor, space=space)
    if name == "latency" and not args.device:
        raise NASError("latency needs --device <latency table file or shipped name>")
    if name not in COSTS:
        raise NASError(f"unknown objective {name!r}; choose from accuracy,{','.join(COSTS)}")
    from latency_tables import create_cost_model

    return create_cost_model(name, space=space, table=args.device)


def build_problem(args):
    from nas._objectives import Constraint, Objective, SearchProblem
    from supernet import get_space

    space = get_space(args.space)
    bounded = any(v is not None for v in (args.latency_max, args.macs_max, args.params_max,
                                          args.memory_max, args.accuracy_min))
    names = args.objectives or ("accuracy" if bounded else "accuracy,latency" if args.device
                                else "accuracy,macs")
    names = [n.strip() for n in names.split(",") if n.strip()]
    sources: dict[str, object] = {}

    def source(name):
        if name not in sources:
            sources[name] = _source(name, args, space)
        return sources[name]

    objectives = [Objective(n, source(n), maximize=n == "accuracy") for n in names]
    bounds = [("latency", args.latency_max, None), ("macs", args.macs_max, None),
              ("params", args.params_max, None), ("peak_memory_bytes", args.memory_max, None),
              ("accuracy", None, args.accuracy_min)]
    constraints = [Constraint(n, source(n), upper=hi, lower=lo) for n, hi, lo in bounds
                   if hi is not None or lo is not None]
    return SearchProblem(space, objectives, constraints)


def run(args) -> int:
    from nas._io import check_output_dir
    from nas._loop import is_expensive, predictor_in_the_loop
    from nas._output import OUTPUT_FILES, reference_point, write_search_outputs
    from nas._registry import DEFAULT_STRATEGY, DEFAULT_STRATEGY_KWARGS, create_strategy

    out = check_output_dir(args.out, OUTPUT_FILES, force=args.force)
    import torch

    torch.set_num_threads(args.threads)
    problem = build_problem(args)
    kwargs = {}
    if args.strategy.startswith("optuna"):
        Path(out).mkdir(parents=True, exist_ok=True)
        kwargs["storage"] = args.storage or f"sqlite:///{Path(out).resolve() / 'optuna.db'}"
        kwargs["study_name"] = args.study_name or f"{problem.space.name}-{args.strategy}-seed{args.seed}"
    if args.strategy == DEFAULT_STRATEGY:
        kwargs.update(DEFAULT_STRATEGY_KWARGS)
    if args.population and args.strategy in ("evolution", "optuna-nsga2"):
        kwargs["population_size"] = args.population
    measured = [o for o in problem.objectives if is_expensive(o.predictor)]
    if args.backend == "ray":
        _attach_ray(measured, args)
    start = time.perf_counter()
    if measured and not args.no_loop:
        inner = {k: v for k, v in kwargs.items() if k not in ("storage", "study_name")}
        result = predictor_in_the_loop(problem, budget=args.budget, batch_size=args.batch_size,
                                       inner=args.strategy, inner_kwargs=inner, seed=args.seed)
        kwargs = {"inner": args.strategy, **inner}
    else:
        result = create_strategy(args.strategy, **kwargs).run(problem, budget=args.budget, seed=args.seed)
    seconds = time.perf_counter() - start
    if args.ref_point:
        ref = [float(v) for v in args.ref_point.split(",")]
        if len(ref) != len(problem.objectives):
            raise NASError(f"--ref-point {args.ref_point!r}: give {len(problem.objectives)} values, "
                           f"one per objective {problem.names}")
    else:
        ref = reference_point(problem)
    extra = {c.name: c.predictor.predict(result.archs) for c in problem.constraints
             if c.name not in problem.names}
    meta = {"seed": args.seed, "search_seconds": round(seconds, 3), "device": args.device,
            "predictor": args.predictor, "measured_accuracy": args.measure_accuracy,
            "backend": args.backend, **kwargs}
    summary = write_search_outputs(result, out, reference=ref, extra=extra, force=args.force, meta=meta)
    print(json.dumps({k: summary[k] for k in ("strategy", "evaluated", "feasible", "front_size",
                                              "hypervolume", "reference_point", "best")}, indent=2))
    print(f"{summary['evaluated']} archs evaluated in {seconds:.2f} s; results in {out}/")
    return 0


def _attach_ray(measured, args) -> None:
    from nas._ray import RayBackend

    if not measured:
        log.warning("--backend ray: no measured objective in this search (tables and predictors "
                    "run in-process); running locally")
        return
    backend = RayBackend(address=args.ray_address)
    for o in measured:
        o.predictor.backend = backend
