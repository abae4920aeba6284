"""`Evaluator`: scores archs on a problem's objectives and constraints, caches every value
(an arch is never predicted or measured twice) and keeps the history in evaluation order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.search._problem import SearchProblem
from supernet import ArchConfig

__all__ = ["Evaluator"]


class Evaluator:
    """One per search run. ``evaluate`` scores a batch on every objective (this is what
    counts as an *evaluation*); ``feasible`` checks only the constraints (cheap lookups used
    by rejection sampling, not counted). Values are in natural units (accuracy in %, latency
    in ms); ``minimized`` gives them with maximised objectives negated."""

    def __init__(self, problem: SearchProblem) -> None:
        self.problem = problem
        self._cache: dict[int, dict[ArchConfig, float]] = {}
        self.archs: list[ArchConfig] = []
        self._index: dict[ArchConfig, int] = {}
        self._rows: list[np.ndarray] = []
        self._viol: list[float] = []

    # ------------------------------------------------------------------ values
    def _values(self, predictor: Any, archs: Sequence[ArchConfig]) -> np.ndarray:
        cache = self._cache.setdefault(id(predictor), {})
        missing = list(dict.fromkeys(a for a in archs if a not in cache))
        if missing:
            values = np.asarray(predictor.predict(missing), dtype=np.float64).reshape(-1)
            cache.update(zip(missing, values.tolist()))
        return np.array([cache[a] for a in archs], dtype=np.float64)

    def violation(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Total constraint violation per arch (0: feasible)."""
        total = np.zeros(len(archs))
        for c in self.problem.constraints:
            total += c.violation(self._values(c.predictor, archs))
        return total

    def feasible(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        return self.violation(archs) <= 0.0

    def seed(self, archs: Sequence[ArchConfig], values: np.ndarray) -> None:
        """Record already known objective values (a resumed study's trials) without
        predicting or measuring them again; they join the history like evaluations."""
        for j, objective in enumerate(self.problem.objectives):
            self._cache.setdefault(id(objective.predictor), {}).update(zip(archs, values[:, j].tolist()))
        self.evaluate(archs)

    def evaluate(self, archs: Sequence[ArchConfig]) -> tuple[np.ndarray, np.ndarray]:
        """``(values (n, m), violation (n,))`` of a batch; new archs join the history."""
        archs = list(archs)
        values = np.stack([self._values(o.predictor, archs) for o in self.problem.objectives], axis=1)
        viol = self.violation(archs)
        viol = np.where(np.isnan(values).any(axis=1), np.inf, viol)
        for arch, row, v in zip(archs, values, viol):
            if arch not in self._index:
                self._index[arch] = len(self.archs)
                self.archs.append(arch)
                self._rows.append(row)
                self._viol.append(float(v))
        return values, viol

    # ----------------------------------------------------------------- history
    @property
    def n_evals(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: ArchConfig) -> bool:
        return arch in self._index

    def history(self, limit: int | None = None) -> tuple[list[ArchConfig], np.ndarray, np.ndarray]:
        """The first ``limit`` evaluated archs (all by default), their values and violations."""
        n = self.n_evals if limit is None else min(limit, self.n_evals)
        m = len(self.problem.objectives)
        values = np.array(self._rows[:n]).reshape(n, m)
        return self.archs[:n], values, np.array(self._viol[:n])

    def minimized(self, values: np.ndarray) -> np.ndarray:
        return values * self.problem.signs
