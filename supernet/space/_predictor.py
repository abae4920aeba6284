"""The one interface every predictor implements: accuracy, latency or any other metric."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from supernet.space._arch import ArchConfig

__all__ = ["Predictor"]


class Predictor(abc.ABC):
    """Maps archs to one number each (accuracy in %, latency in ms, MACs, ...).

    ``predict`` is called in the hot loop of every search, with batches of thousands of
    archs: implementations vectorise it. ``fit`` is called once per (re)fit with the archs
    and their measured values; predictors that need no data (lookup tables, cost models)
    need not override it. ``save`` is called once after fitting; `predictors.load_predictor`
    reads what it wrote.
    """

    #: what the numbers are, e.g. "accuracy" or "latency_ms"
    metric: str = "value"

    @abc.abstractmethod
    def predict(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """A float64 array of shape ``(len(archs),)``."""

    def fit(self, archs: Sequence[ArchConfig], values: np.ndarray) -> Predictor:
        raise TypeError(f"{type(self).__name__} is not fitted on data")

    def save(self, path: str | Path) -> Path:
        """Write the predictor to the folder ``path``; returns it."""
        raise TypeError(f"{type(self).__name__} cannot be saved")

    def fingerprint(self) -> str:
        """What defines this predictor's numbers, as a short string: searches and other
        resumable outputs record it and refuse to resume with a predictor of another one.
        Fitted and file-backed predictors override it with a hash of their contents."""
        return f"{type(self).__name__}:{self.metric}"
