"""`SearchStrategy`: the one interface of every search algorithm (ask/tell, driven by `run`)."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable

import numpy as np

from nas.search import Evaluator, SearchProblem, SearchResult
from supernet import ArchConfig, NASError, as_rng
from supernet.core import check

__all__ = ["SearchStrategy"]

log = logging.getLogger(__name__)


class SearchStrategy(abc.ABC):
    """Proposes archs (``ask``) and learns from their scores (``tell``).

    `run` calls ``setup`` once, then alternates ``ask`` and ``tell`` until the budget of
    evaluations (distinct archs scored on every objective) is spent or ``ask`` returns
    nothing. ``tell`` receives values to *minimise* (maximised objectives negated) and the
    total constraint violation per arch (0: feasible). Subclasses take keyword-only
    constructor arguments and validate them at once.
    """

    #: registry name, set by each subclass
    name = "base"
    #: `run` stops after this many asks in a row that brought no arch not evaluated before
    max_stalls = 200

    def setup(self, problem: SearchProblem, evaluator: Evaluator, rng: np.random.Generator) -> None:
        """Called once, before the first ``ask``. Subclasses extending it call super()."""
        self.problem, self.evaluator, self.rng = problem, evaluator, rng

    @abc.abstractmethod
    def ask(self, n: int) -> list[ArchConfig]:
        """Up to about ``n`` archs to evaluate next (``n`` is what is left of the budget)."""

    def tell(self, archs: list[ArchConfig], values: np.ndarray, violation: np.ndarray) -> None:
        """Scores of the archs of the last ``ask`` (``values`` to minimise, ``(n, m)``).
        Strategies that learn nothing from scores (random search) keep this default."""
        return None

    def run(self, problem: SearchProblem, *, budget: int, seed: int | np.random.Generator | None = None,
            evaluator: Evaluator | None = None,
            callback: Callable[[Evaluator], None] | None = None) -> SearchResult:
        """Search until ``budget`` distinct archs are evaluated; every arch evaluated on the
        way is in the result, in evaluation order."""
        check(isinstance(budget, int) and budget > 0, f"{type(self).__name__}.budget", budget,
              "a positive int")
        evaluator = evaluator or Evaluator(problem)
        self.setup(problem, evaluator, as_rng(seed))
        stalls = 0  # asks in a row that brought no new arch (a converged sampler repeats itself)
        while evaluator.n_evals < budget and stalls < self.max_stalls:
            before = evaluator.n_evals
            archs = self.ask(budget - before)
            if not archs:
                break
            values, viol = evaluator.evaluate(archs)
            self.tell(archs, evaluator.minimized(values), viol)
            stalls = stalls + 1 if evaluator.n_evals == before else 0
            if callback is not None:
                callback(evaluator)
        archs, values, viol = evaluator.history()
        return SearchResult(problem, archs, values, viol,
                            info={"strategy": self.name, "budget": budget, "evaluations": len(archs)})

    # ------------------------------------------------------------- helpers
    def draw_feasible(self, make: Callable[[], ArchConfig], n: int, *, max_tries: int) -> list[ArchConfig]:
        """Up to ``n`` distinct, not yet evaluated archs from ``make()`` that meet the
        constraints (rejection sampling, as OFA does), trying at most ``max_tries * n`` times."""
        out: dict[ArchConfig, None] = {}
        tries = 0
        while len(out) < n and tries < max_tries * n:
            cands = [make() for _ in range(n - len(out))]
            tries += len(cands)
            for arch, ok in zip(cands, self.evaluator.feasible(cands)):
                if ok and arch not in self.evaluator:
                    out[arch] = None
        if not out and self.evaluator.n_evals == 0:
            raise NASError(self._infeasible_message(tries))
        return list(out)[:n]

    def _infeasible_message(self, tries: int) -> str:
        space = self.problem.space
        parts = []
        for c in self.problem.constraints:
            small = float(c.predictor.predict([space.smallest()])[0])
            unit = getattr(c.predictor, "unit", "")
            limits = (("at least", c.lower), ("at most", c.upper))
            bound = " and ".join(f"{word} {v:g} {unit}".rstrip() for word, v in limits if v is not None)
            parts.append(f"{c.name} {bound} (the smallest arch: {small:.4g} {unit})".replace(" )", ")"))
        return (f"no arch met the constraints in {tries} tries: {'; '.join(parts)}. "
                "Relax the bounds (see `nas space` for the cost range of the space).")
