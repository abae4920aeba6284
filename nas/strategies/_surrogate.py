"""Predictor in the loop (DyNAS-T's LINAS): when an objective is *measured* (expensive),
measure a batch, refit a cheap surrogate per measured objective, search the surrogates with
a fast strategy, measure the most promising new archs, and repeat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge

from nas.search import Evaluator, SearchProblem, SearchResult
from nas.strategies._evolution import select_survivors
from nas.strategies._random import RandomSearch
from nas.strategies._registry import create_strategy
from supernet import ArchConfig, NASError, Predictor, SearchSpace, as_rng
from supernet.core import check

__all__ = ["RidgeSurrogate", "is_expensive", "predictor_in_the_loop"]


def is_expensive(predictor: Any) -> bool:
    """Objects that say so (``expensive = True``, e.g. `nas.Measurement`) are measured."""
    return bool(getattr(predictor, "expensive", False))


class RidgeSurrogate(Predictor):
    """Ridge regression on `SearchSpace.encode`: refit in milliseconds, predicts thousands
    of archs per millisecond (DyNAS-T's cheap predictor)."""

    def __init__(self, space: SearchSpace, *, metric: str = "surrogate", alpha: float = 1.0) -> None:
        self.space, self.metric, self.model = space, metric, Ridge(alpha=alpha)

    def fit(self, archs: Sequence[ArchConfig], values: np.ndarray) -> RidgeSurrogate:
        self.model.fit(self.space.encode(list(archs)), np.asarray(values, dtype=np.float64))
        return self

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        return self.model.predict(self.space.encode(list(archs))).astype(np.float64)


def _surrogate_problem(problem: SearchProblem, evaluator: Evaluator) -> SearchProblem:
    archs, values, _ = evaluator.history()
    ok = np.isfinite(values).all(axis=1)
    if ok.sum() < 2:
        raise NASError(f"predictor in the loop: only {int(ok.sum())} of {len(archs)} measurements "
                       "succeeded, too few to fit a surrogate; see the log for the failures")
    objectives = []
    for j, o in enumerate(problem.objectives):
        if is_expensive(o.predictor):
            fitted = RidgeSurrogate(problem.space, metric=f"{o.name} (surrogate)").fit(
                [a for a, k in zip(archs, ok) if k], values[ok, j])
            o = replace(o, predictor=fitted)
        objectives.append(o)
    return replace(problem, objectives=tuple(objectives))


def _warm_start(problem: SearchProblem, warm: Predictor, k: int, pool: int, inner: str,
                inner_kwargs: dict | None, rng: np.random.Generator) -> list[ArchConfig]:
    """The ``k`` archs to measure first: ``inner`` searches the problem with ``warm`` (a
    zero-cost proxy, say) standing in for every expensive objective, for ``pool`` of its
    evaluations, and the best ``k`` of what it found are taken (non-dominated rank, then
    crowding: spread along the front, not only the highest scores)."""
    objectives = tuple(replace(o, predictor=warm) if is_expensive(o.predictor) else o
                       for o in problem.objectives)
    found = create_strategy(inner, **(inner_kwargs or {})).run(replace(problem, objectives=objectives),
                                                                budget=pool, seed=rng)
    pick = select_survivors(found.minimized, found.violation, min(k, len(found.archs)))
    return [found.archs[i] for i in pick]


def predictor_in_the_loop(problem: SearchProblem, *, budget: int, batch_size: int = 20,
                          initial_size: int | None = None, inner: str = "evolution",
                          inner_budget: int = 2000, inner_kwargs: dict | None = None,
                          seed: int | np.random.Generator | None = None,
                          callback: Callable[[Evaluator], None] | None = None,
                          warm_start: Predictor | None = None, warm_budget: int = 200) -> SearchResult:
    """Search ``problem`` spending ``budget`` measurements. The first ``initial_size``
    (default ``batch_size``) archs are feasible random samples, or, with ``warm_start`` (a
    cheap scorer such as a zero-cost proxy), the best of a ``warm_budget``-evaluation search
    of the problem with that scorer in place of the measured objectives; each later round refits a
    `RidgeSurrogate` per expensive objective on everything measured so far, runs ``inner``
    for ``inner_budget`` surrogate evaluations, and measures the ``batch_size`` best new
    archs of that run (non-dominated rank, then crowding). Constraints must be cheap.
    ``callback(evaluator)`` runs after every batch of measurements."""
    own = "predictor_in_the_loop"
    for arg, value in (("budget", budget), ("batch_size", batch_size), ("inner_budget", inner_budget)):
        check(isinstance(value, int) and value > 0, f"{own}.{arg}", value, "a positive int")
    initial_size = initial_size or batch_size
    check(isinstance(initial_size, int) and initial_size >= 2, f"{own}.initial_size", initial_size,
          "an int >= 2 (a surrogate needs data)")
    if any(is_expensive(c.predictor) for c in problem.constraints):
        raise NASError(f"{own}: constraints must be cheap (tables, cost models); make the "
                       "measured metric an objective instead")
    check(isinstance(warm_budget, int) and warm_budget >= 2, f"{own}.warm_budget", warm_budget, "an int >= 2")
    rng = as_rng(seed)
    evaluator = Evaluator(problem)
    k = min(initial_size, budget)
    if warm_start is not None:
        evaluator.evaluate(_warm_start(problem, warm_start, k, max(warm_budget, k), inner, inner_kwargs, rng))
    else:
        start = RandomSearch(batch_size=k)
        start.setup(problem, evaluator, rng)
        evaluator.evaluate(start.ask(k))
    if callback is not None:
        callback(evaluator)
    rounds = 0
    while evaluator.n_evals < budget:
        surrogate = _surrogate_problem(problem, evaluator)
        found = create_strategy(inner, **(inner_kwargs or {})).run(surrogate, budget=inner_budget, seed=rng)
        new = np.array([a not in evaluator for a in found.archs], dtype=bool)
        if not new.any():
            break
        idx = np.flatnonzero(new)
        k = min(batch_size, budget - evaluator.n_evals)
        pick = idx[select_survivors(found.minimized[idx], found.violation[idx], k)]
        evaluator.evaluate([found.archs[i] for i in pick])
        rounds += 1
        if callback is not None:
            callback(evaluator)
    archs, values, viol = evaluator.history()
    return SearchResult(problem, archs, values, viol, info={
        "strategy": f"predictor-in-the-loop({inner})", "budget": budget, "evaluations": len(archs),
        "rounds": rounds, "batch_size": batch_size, "inner_budget": inner_budget,
        **({"warm_start": getattr(warm_start, "metric", type(warm_start).__name__),
            "warm_budget": warm_budget} if warm_start is not None else {})})
