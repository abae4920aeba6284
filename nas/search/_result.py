"""`SearchResult`: every evaluated arch of a run, its front, best arch and hypervolume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nas.search._pareto import hypervolume, pareto_mask
from nas.search._problem import SearchProblem
from supernet import ArchConfig, NASError

__all__ = ["SearchResult"]


@dataclass
class SearchResult:
    """Archs in evaluation order with their objective values (natural units) and total
    constraint violation (0: feasible)."""

    problem: SearchProblem
    archs: list[ArchConfig]
    values: np.ndarray
    violation: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> np.ndarray:
        return self.violation <= 0.0

    @property
    def minimized(self) -> np.ndarray:
        return self.values * self.problem.signs

    def front_indices(self, limit: int | None = None) -> np.ndarray:
        """Indices of the feasible non-dominated archs among the first ``limit`` (all by
        default), sorted by the first objective; duplicates of a value pair kept once."""
        n = len(self.archs) if limit is None else min(limit, len(self.archs))
        idx = np.flatnonzero(self.feasible[:n])
        if idx.size == 0:
            return idx
        pts = self.minimized[idx]
        idx = idx[pareto_mask(pts)]
        _, first = np.unique(self.minimized[idx], axis=0, return_index=True)
        idx = idx[np.sort(first)]
        return idx[np.argsort(self.values[idx, 0], kind="stable")]

    def best(self, objective: int = 0) -> ArchConfig:
        """The feasible arch best on one objective (the answer of a single-objective search)."""
        idx = np.flatnonzero(self.feasible)
        if idx.size == 0:
            raise NASError("no evaluated arch meets the constraints; relax them or search longer")
        return self.archs[idx[np.argmin(self.minimized[idx, objective])]]

    def hypervolume(self, reference, limit: int | None = None) -> float:
        """Hypervolume of the feasible front of the first ``limit`` evaluations against
        ``reference`` given in natural units (e.g. ``[accuracy_min, latency_max]``)."""
        ref = np.asarray(reference, dtype=np.float64) * self.problem.signs
        idx = self.front_indices(limit)
        return hypervolume(self.minimized[idx].reshape(-1, len(ref)), ref)

    def to_frame(self, indices=None) -> pd.DataFrame:
        idx = np.arange(len(self.archs)) if indices is None else np.asarray(indices, dtype=int)
        frame = pd.DataFrame(self.values[idx], columns=self.problem.names)
        frame.insert(0, "eval_index", idx)
        frame["feasible"] = self.feasible[idx]
        frame["arch"] = [self.archs[i].to_json() for i in idx]
        return frame
