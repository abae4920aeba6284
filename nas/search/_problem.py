"""Objectives and constraints of a search: any object with ``predict(archs)`` plugs in
(accuracy predictors, `latency_tables.LatencyTable`, `latency_tables.EfficiencyTable` for
MACs, params and peak memory, a `Measurement`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supernet import ArchConfig, NASError, Predictor, SearchSpace

__all__ = ["Measurement", "Objective", "Constraint", "SearchProblem"]

class Measurement(Predictor):
    """An *expensive* objective: ``fn(arch) -> float`` is run once per arch (e.g. accuracy on
    the validation split through the supernet). ``backend`` runs a batch of such calls: None
    runs them one after another here; a `nas.RayBackend` runs them as Ray Tune trials.
    Searches treat a `Measurement` as expensive (predictor-in-the-loop refits a cheap
    surrogate on it) and never call it on an arch twice (the evaluator caches)."""

    expensive = True

    def __init__(self, fn: Callable[[ArchConfig], float], *, metric: str = "measured",
                 backend: Any = None) -> None:
        if not callable(fn):
            raise NASError(f"Measurement: fn={fn!r} is not callable")
        self.fn, self.metric, self.backend = fn, metric, backend

    def fingerprint(self) -> str:
        """The measuring function's own fingerprint when it has one (a supernet's hash)."""
        own = getattr(self.fn, "fingerprint", None)
        return f"measured:{own() if callable(own) else getattr(self.fn, '__qualname__', repr(self.fn))}"

    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        if self.backend is not None:
            return np.asarray(self.backend.map(self.fn, list(archs)), dtype=np.float64)
        return np.array([float(self.fn(a)) for a in archs], dtype=np.float64)


def _check_predictor(owner: str, predictor: Any) -> None:
    if not callable(getattr(predictor, "predict", None)):
        raise NASError(f"{owner}: predictor={predictor!r} has no predict(archs) method; give a "
                       "predictors.Predictor, a latency table or any object with predict(archs)")


@dataclass(frozen=True)
class Objective:
    """One number to optimise per arch; ``maximize`` for accuracy, minimise otherwise."""

    name: str
    predictor: Any
    maximize: bool = False

    def __post_init__(self) -> None:
        _check_predictor(f"Objective {self.name!r}", self.predictor)

    @property
    def sign(self) -> float:
        """Multiply by this to turn the value into one to minimise."""
        return -1.0 if self.maximize else 1.0


@dataclass(frozen=True)
class Constraint:
    """``lower <= predictor(arch) <= upper`` (either bound may be None)."""

    name: str
    predictor: Any
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        _check_predictor(f"Constraint {self.name!r}", self.predictor)
        if self.upper is None and self.lower is None:
            raise NASError(f"Constraint {self.name!r}: give upper=, lower= or both")

    def violation(self, values: np.ndarray) -> np.ndarray:
        """How far each value is outside the bounds (0 when inside)."""
        out = np.zeros_like(values, dtype=np.float64)
        if self.upper is not None:
            out = np.maximum(out, values - self.upper)
        if self.lower is not None:
            out = np.maximum(out, self.lower - values)
        return np.where(np.isnan(values), np.inf, out)


@dataclass(frozen=True)
class SearchProblem:
    """What to search: a space, one or more objectives and the constraints an arch must meet."""

    space: SearchSpace
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", tuple(self.objectives))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        if not self.objectives:
            raise NASError("SearchProblem: objectives=() is empty; give at least one Objective")
        names = [o.name for o in self.objectives]
        if len(set(names)) != len(names):
            raise NASError(f"SearchProblem: objective names {names} are not unique")

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def signs(self) -> np.ndarray:
        return np.array([o.sign for o in self.objectives])

    def fingerprint(self) -> dict:
        """Everything that defines the values a search of this problem computes: the space,
        each objective and constraint with its bounds and the fingerprint of its source."""
        def source(p: Any) -> str:
            own = getattr(p, "fingerprint", None)
            return own() if callable(own) else type(p).__name__

        precision = {} if self.space.precisions == ("fp32",) else {"precisions": list(self.space.precisions)}
        return {"space_hash": self.space.hash, **precision,
                "objectives": [{"name": o.name, "maximize": o.maximize, "source": source(o.predictor)}
                               for o in self.objectives],
                "constraints": [{"name": c.name, "upper": c.upper, "lower": c.lower,
                                 "source": source(c.predictor)} for c in self.constraints]}

    def describe(self) -> dict:
        """What produced a result: recorded next to every front."""
        def who(p: Any) -> str:
            path = getattr(p, "path", None)
            return f"{type(p).__name__}({getattr(p, 'metric', '?')})" + (f" from {path}" if path else "")

        return {
            "space": self.space.name, "space_hash": self.space.hash,
            "objectives": [{"name": o.name, "maximize": o.maximize, "source": who(o.predictor)}
                           for o in self.objectives],
            "constraints": [{"name": c.name, "upper": c.upper, "lower": c.lower,
                             "source": who(c.predictor)} for c in self.constraints],
        }
