"""`run_search`: one search, as `nas search` runs it, from a typed `SearchConfig`.

    summary = run_search(SearchConfig(predictor="runs/demo/predictor/models", table="xeon-2c_t1",
                                      latency_max=0.6, out="runs/search_06"))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path

from nas.strategies import DEFAULT_STRATEGY
from supernet import ConfigError, NASError, SearchSpace
from supernet.core import holds_output, is_num

__all__ = ["COSTS", "SearchConfig", "build_problem", "run_search"]

log = logging.getLogger("nas.search")

PRECISION_MODES = SearchSpace.PRECISION_MODES
COSTS = ("latency", "macs", "params", "peak_memory_bytes", "weight_bytes")
BACKENDS = ("local", "ray")


MAX_BUDGET = 10_000_000


def _bad(key: str, value, expected: str) -> ConfigError:
    flag = "--" + key.replace("_", "-")
    return ConfigError(f"SearchConfig.{key} ({flag}): got {value!r}, expected {expected}")


@dataclass(frozen=True)
class SearchConfig:
    """Everything `nas search` takes, one field per option (same names, same defaults).

    ``objectives``: names from accuracy + `COSTS`; None picks accuracy alone when a bound is
    given, else accuracy and latency with a ``table``, else accuracy and MACs.
    ``table``: the target's latency table (file or shipped name; ``device``, its old name,
    works for one release with a warning). ``*_max`` and
    ``accuracy_min`` are constraints; ``margin``: the search keeps predicted latency under
    ``(1 - margin) x latency_max``, so that the model still fits when timed whole.
    ``measure_accuracy`` (a supernet checkpoint) measures accuracy instead of predicting it,
    searched with a predictor in the loop unless ``loop`` is False."""

    space: str = "fmnist_small"
    objectives: tuple[str, ...] | None = None
    predictor: str | None = None
    proxy_data: str = "fashion_mnist"
    proxy_images: int = 64
    proxy_weights: str | None = None
    measure_accuracy: str | None = None
    batch_size: int = 16
    loop: bool = True
    warm_start: str | None = None
    warm_budget: int = 200
    table: str | None = None
    resolutions: tuple[int, ...] | None = None
    precision: str = "fp32"
    latency_max: float | None = None
    margin: float = 0.05
    macs_max: float | None = None
    params_max: float | None = None
    memory_max: float | None = None
    accuracy_min: float | None = None
    strategy: str = DEFAULT_STRATEGY
    budget: int = 1000
    population: int | None = None
    seed: int = 0
    storage: str | None = None
    study_name: str | None = None
    ref_point: tuple[float, ...] | None = None
    backend: str = "local"
    ray_address: str | None = None
    threads: int = 1
    time_front: int = 0
    progress: bool = False
    out: str = "runs/search"
    force: bool = False
    device: str | None = None  # the old name of ``table``

    def __post_init__(self) -> None:
        from nas.strategies import list_strategies

        if self.device is not None:
            log.warning("SearchConfig(device=...) is deprecated: use table=%r", self.device)
            if self.table is None:
                object.__setattr__(self, "table", self.device)
            object.__setattr__(self, "device", None)

        if self.strategy not in list_strategies():
            raise _bad("strategy", self.strategy, f"one of {list_strategies()}")
        if self.precision not in PRECISION_MODES:
            raise _bad("precision", self.precision, f"one of {list(PRECISION_MODES)}")
        if self.backend not in BACKENDS:
            raise _bad("backend", self.backend, f"one of {BACKENDS}")
        for key in ("budget", "batch_size", "threads", "population"):
            value = getattr(self, key)
            if key == "population" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(key, value, "a positive integer")
        if self.budget > MAX_BUDGET:
            raise _bad("budget", self.budget, f"at most {MAX_BUDGET:,} evaluations (about an hour with a "
                       "predictor; more is no search a front needs)")
        if self.objectives is not None:
            unknown = [n for n in self.objectives if n not in ("accuracy", *COSTS)]
            if unknown or not self.objectives:
                raise _bad("objectives", self.objectives, f"names from {('accuracy', *COSTS)}")
        for key in ("latency_max", "macs_max", "params_max", "memory_max"):
            value = getattr(self, key)
            if value is not None and not (is_num(value) and value > 0):
                raise _bad(key, value, "a positive, finite number (leave it out for no bound)")
        if self.ref_point is not None and not all(is_num(v) for v in self.ref_point):
            raise _bad("ref_point", self.ref_point, "finite numbers, one per objective")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _bad("seed", self.seed, "an integer >= 0")
        self._check_proxy()
        acc = self.accuracy_min
        if acc is not None and not (is_num(acc) and 0 <= acc <= 100):
            raise _bad("accuracy_min", self.accuracy_min, "a percentage in [0, 100] (leave it out for no "
                       "bound)")
        if not (is_num(self.margin) and 0.0 <= self.margin < 0.5):
            raise _bad("margin", self.margin, "a fraction in [0, 0.5) of --latency-max")
        if isinstance(self.time_front, bool) or not isinstance(self.time_front, int) or self.time_front < 0:
            raise _bad("time_front", self.time_front, "a number of subnets >= 0")
        if self.time_front and not (self.table and "accuracy" in self.objective_names()
                                    and ("latency" in self.objective_names() or self.latency_max)):
            raise _bad("time_front", self.time_front, "0 unless the search has a --table table, accuracy "
                       "as an objective and latency as an objective or a bound (--latency-max)")

    def _check_proxy(self) -> None:
        """A zero-cost proxy as the accuracy objective (``predictor="proxy:NAME"``) or to pick
        the first measured archs (``warm_start``); the ``proxy_*`` fields only with one."""
        if self.proxy is None and self.warm_start is None:
            unused = [f"--{f.name.replace('_', '-')}" for f in fields(self)
                      if f.name in ("proxy_data", "proxy_images", "proxy_weights", "warm_budget")
                      and getattr(self, f.name) != f.default]
            if unused:
                raise _bad("predictor", self.predictor, f"proxy:NAME or --warm-start proxy:NAME, which "
                           f"{unused} configure (or leave them out)")
            return
        from predictors import list_proxies

        if self.proxy is not None and self.proxy not in list_proxies():
            raise _bad("predictor", self.predictor, f"proxy:NAME with NAME one of {list_proxies()}")
        if self.proxy is not None and (self.accuracy_min is not None or self.measure_accuracy):
            raise _bad("predictor", self.predictor, "a fitted accuracy predictor with --accuracy-min or "
                       "--measure-accuracy: a proxy's score is not an accuracy in %")
        if self.warm_start is not None and self.warm_proxy not in list_proxies():
            raise _bad("warm_start", self.warm_start, f"proxy:NAME with NAME one of {list_proxies()}")
        if self.warm_start is not None and not (self.measure_accuracy and self.loop):
            raise _bad("warm_start", self.warm_start, "unset unless accuracy is measured "
                       "(--measure-accuracy) with the predictor in the loop: it picks the first archs to "
                       "measure")
        for key in ("warm_budget", "proxy_images"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise _bad(key, value, "an integer >= 2")

    @staticmethod
    def _proxy_name(text: str | None) -> str | None:
        """NAME of ``proxy:NAME``, else None."""
        from predictors import PROXY_PREFIX

        return text.removeprefix(PROXY_PREFIX) if (text or "").startswith(PROXY_PREFIX) else None

    @property
    def proxy(self) -> str | None:
        """The zero-cost proxy named by ``predictor="proxy:NAME"``, else None."""
        return self._proxy_name(self.predictor)

    @property
    def warm_proxy(self) -> str | None:
        """The zero-cost proxy named by ``warm_start="proxy:NAME"``, else None."""
        return self._proxy_name(self.warm_start)

    @property
    def bounded(self) -> bool:
        return any(v is not None for v in (self.latency_max, self.macs_max, self.params_max,
                                           self.memory_max, self.accuracy_min))

    def objective_names(self) -> list[str]:
        if self.objectives is not None:
            return list(self.objectives)
        return ["accuracy"] if self.bounded else ["accuracy", "latency" if self.table else "macs"]


def _source(name: str, config: SearchConfig, space):
    if name == "accuracy":
        if config.measure_accuracy:
            from nas.search import Measurement, SupernetAccuracy

            return Measurement(SupernetAccuracy(config.measure_accuracy), metric="accuracy")
        if not config.predictor:
            raise NASError("the accuracy objective needs --predictor DIR (a fitted accuracy "
                           "predictor) or --measure-accuracy CHECKPOINT; or drop accuracy from "
                           "--objectives")
        if config.proxy is not None:
            return _proxy(config, space)
        from predictors import load_predictor

        predictor = load_predictor(config.predictor, space=space)
        if config.precision != "fp32" and predictor.space.precisions == ("fp32",):
            log.warning("the accuracy predictor %s was fitted on fp32 accuracies: it scores an arch's int8 "
                        "parts as free. Fit a quantisation-aware one (nas collect --precision %s, then "
                        "nas fit-predictor --models transfer --base %s)", config.predictor, config.precision,
                        config.predictor)
        return predictor
    if name == "latency" and not config.table:
        raise NASError("latency needs --table <latency table file or shipped name>")
    from latency_tables import create_cost_model

    return create_cost_model(name, space=space, table=config.table)


def _proxy(config: SearchConfig, space, name: str | None = None):
    """The zero-cost proxy ``name`` (default: the one ``config.predictor`` names), on
    ``config.proxy_images`` images of ``config.proxy_data`` (``DATASET`` or ``DATASET:PATH``)."""
    from predictors import ProxyPredictor, proxy_images
    from supernet import load_checkpoint

    if config.precision != "fp32":
        log.warning("the zero-cost proxy %s scores each arch's fp32 network: a precision policy does not "
                    "change its score (int8 parts are searched on the latency table alone)",
                    name or config.proxy)
    norm = (load_checkpoint(config.proxy_weights).get("normalization") or {}) if config.proxy_weights else {}
    dataset, _, path = config.proxy_data.partition(":")
    x, y = proxy_images(space, dataset, path or None, images=config.proxy_images, seed=config.seed,
                        mean=norm.get("mean"), std=norm.get("std"))
    return ProxyPredictor(name or config.proxy, space, x, y, seed=config.seed, weights=config.proxy_weights)


def build_problem(config: SearchConfig):
    """The `SearchProblem` a config describes (predictors and tables loaded once each)."""
    from nas.search import Constraint, Objective, SearchProblem
    from supernet import get_space

    space = get_space(config.space)
    sources: dict[str, object] = {}

    def source(name):
        if name not in sources:
            sources[name] = _source(name, config, space)
        return sources[name]

    objectives = [Objective(n, source(n), maximize=n == "accuracy") for n in config.objective_names()]
    latency_upper = None if config.latency_max is None else config.latency_max * (1 - config.margin)
    bounds = [("latency", latency_upper, None), ("macs", config.macs_max, None),
              ("params", config.params_max, None), ("peak_memory_bytes", config.memory_max, None),
              ("accuracy", None, config.accuracy_min)]
    constraints = [Constraint(n, source(n), upper=hi, lower=lo) for n, hi, lo in bounds
                   if hi is not None or lo is not None]
    return SearchProblem(_sampled_space(config, space, sources.values()), objectives, constraints)


def _sampled_space(config: SearchConfig, space, sources):
    """``space`` with the resolutions the search may choose: ``config.resolutions``, which
    every latency table in use must cover, or else all that the tables cover; and the
    precisions of ``config.precision``, which every latency table must time (a mixed table
    times both)."""
    wanted = space.with_resolutions(config.resolutions, what="SearchConfig.resolutions (--resolution)")
    wanted = wanted.with_precision(config.precision)
    for table in sources:
        timed = getattr(table, "precision", None)
        if timed is not None and timed != "mixed" and timed != config.precision:
            raise ConfigError(f"SearchConfig.precision (--precision): got {config.precision!r}, but the "
                              f"latency table {config.table!r} times {timed} blocks only; build one with "
                              f"`nas latency build --precision {config.precision}` (or mixed)")
        covered = getattr(table, "covered_space", space).resolutions
        if config.resolutions is None:
            wanted = wanted.with_resolutions([r for r in wanted.resolutions if r in covered])
        elif not set(wanted.resolutions) <= set(covered):
            raise ConfigError(f"SearchConfig.resolutions (--resolution): got {list(config.resolutions)}, "
                              f"but the latency table {config.table!r} covers only {list(covered)}")
    return wanted


@holds_output(lambda config: config.out)
def run_search(config: SearchConfig) -> dict:
    """Run the search and write its outputs to ``config.out``; returns the summary."""
    import torch

    from nas.search import OUTPUT_FILES, check_output_dir
    from supernet.core import check_writable

    out = check_output_dir(config.out, OUTPUT_FILES, force=config.force)
    check_writable(out)
    if config.storage is not None:
        check_storage(config.storage)
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:  # a caller (the demo, a notebook) gets its thread count back
        return _run(config, out)
    finally:
        torch.set_num_threads(previous)


def _run(config: SearchConfig, out: Path) -> dict:
    from nas.search import reference_point, write_search_outputs
    from nas.strategies import DEFAULT_STRATEGY_KWARGS, create_strategy, is_expensive, predictor_in_the_loop
    from supernet import get_space

    problem = build_problem(config)
    if config.ref_point is not None and len(config.ref_point) != len(problem.objectives):
        raise _bad("ref_point", config.ref_point, f"{len(problem.objectives)} values, one per objective "
                   f"{problem.names}")
    kwargs = {}
    measured = [o for o in problem.objectives if is_expensive(o.predictor)]
    if config.strategy.startswith("optuna"):
        Path(out).mkdir(parents=True, exist_ok=True)
        # a study of predictions is cheap to redo: in memory (SQLite costs ~200x per trial);
        # one of measurements persists, so that a killed search resumes
        kwargs["storage"] = config.storage or (f"sqlite:///{Path(out).resolve() / 'optuna.db'}"
                                               if measured else None)
        kwargs["study_name"] = (config.study_name
                                or f"{problem.space.name}-{config.strategy}-seed{config.seed}")
        kwargs["fresh"] = config.force  # --force starts the study over instead of resuming it
    if config.strategy == DEFAULT_STRATEGY:
        kwargs.update(DEFAULT_STRATEGY_KWARGS)
    if config.population and config.strategy in ("evolution", "optuna-nsga2"):
        kwargs["population_size"] = config.population
    if config.backend == "ray":
        _attach_ray(measured, config.ray_address)
    from supernet.core import progress

    seen = [0]  # evaluations the display has been told of

    def advance(evaluator) -> None:
        bar.update(evaluator.n_evals - seen[0])
        seen[0] = evaluator.n_evals

    start = time.perf_counter()
    with progress(config.budget, "search", unit="arch", disable=not config.progress) as bar:
        if measured and config.loop:
            inner = {k: v for k, v in kwargs.items() if k not in ("storage", "study_name", "fresh")}
            warm = (_proxy(config, get_space(config.space), config.warm_proxy)  # the supernet's whole space
                    if config.warm_start is not None else None)
            result = predictor_in_the_loop(problem, budget=config.budget, batch_size=config.batch_size,
                                           warm_start=warm, warm_budget=config.warm_budget,
                                           inner=config.strategy, inner_kwargs=inner, seed=config.seed,
                                           callback=advance)
            kwargs = {"inner": config.strategy, **inner}
        else:
            strategy = create_strategy(config.strategy, **kwargs)
            result = strategy.run(problem, budget=config.budget, seed=config.seed, callback=advance)
    seconds = time.perf_counter() - start
    ref = list(config.ref_point) if config.ref_point is not None else reference_point(problem)
    extra = {c.name: c.predictor.predict(result.archs) for c in problem.constraints
             if c.name not in problem.names}
    meta = {"seed": config.seed, "search_seconds": round(seconds, 3), "table": config.table,
            "device": config.table,  # its name before --table
            "latency_budget_ms": config.latency_max, "latency_margin": config.margin,
            "resolutions": list(problem.space.resolutions), "precision": config.precision,
            "predictor": config.predictor, "measured_accuracy": config.measure_accuracy,
            **({"accuracy_is": f"the zero-cost proxy {config.proxy}'s score (higher: expected more "
                "accurate), not % accuracy", "proxy_data": config.proxy_data,
                "proxy_images": config.proxy_images, "proxy_weights": config.proxy_weights}
               if config.proxy is not None or config.warm_start is not None else {}),
            "backend": config.backend, **kwargs}
    summary = write_search_outputs(result, out, reference=ref, extra=extra, force=config.force, meta=meta)
    if config.time_front:
        summary = _time_front(config, problem, summary)
    elif config.force:  # an earlier run's timings would describe another front
        (Path(out) / "timed.csv").unlink(missing_ok=True)
    return summary


def _time_front(config: SearchConfig, problem, summary: dict) -> dict:
    """The most accurate ``config.time_front`` subnets of the accuracy-latency front timed
    whole (`time_front`) into timed.csv; the summary gains what they measured."""
    import pandas as pd

    from nas.pipeline._timed import accuracy_latency_front, time_front
    from supernet.core import atomic_write_json, atomic_write_text

    out = Path(config.out)
    table = next(s.predictor for s in (*problem.objectives, *problem.constraints) if s.name == "latency")
    front = accuracy_latency_front(pd.read_csv(out / "evaluated.csv"))
    rows = time_front(table, front[:config.time_front], budget=config.latency_max)
    columns = ["arch", "accuracy", "predicted_ms", "measured_ms"]
    frame = pd.DataFrame([{**r, "arch": r["arch_str"]} for r in rows], columns=columns)
    frame["error_pct"] = (frame["predicted_ms"] / frame["measured_ms"] - 1) * 100
    atomic_write_text(out / "timed.csv", frame.to_csv(index=False))
    # in export order: the first is the most accurate of those measured within the budget, if any
    meets = bool(rows) and (config.latency_max is None or rows[0]["measured_ms"] <= config.latency_max)
    best = rows[0] if meets else None
    summary = {**summary, "files": [*summary["files"][:-1], "timed.csv", "summary.json"], "timed": {
        "count": len(rows),
        "median_abs_error_pct": float(frame["error_pct"].abs().median()) if rows else None,
        "within_budget": None if config.latency_max is None else int(
            (frame["measured_ms"] <= config.latency_max).sum()),
        "best_measured": best}}
    atomic_write_json(out / "summary.json", summary)
    return summary


def check_storage(url: str) -> None:
    """An Optuna storage URL that SQLAlchemy can open, and for SQLite a writable file, or
    `NASError` before any work is done."""
    from sqlalchemy.engine import make_url

    from supernet.core import check_writable

    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except Exception as err:  # sqlalchemy raises several kinds for a bad URL or a missing driver
        raise _bad("storage", url, "a database URL such as sqlite:///search.db or "
                   f"postgresql://USER@HOST/DB ({type(err).__name__}: {err})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        check_writable(parsed.database)


def _attach_ray(measured, address: str | None) -> None:
    from nas.search import RayBackend

    if not measured:
        log.warning("--backend ray: no measured objective in this search (tables and predictors "
                    "run in-process); running locally")
        return
    backend = RayBackend(address=address)
    for o in measured:
        o.predictor.backend = backend
