"""`CostModel`: one ``predict(archs)`` interface for every per-arch cost a search can
target (measured latency from a table, MACs, params, peak activation memory), and a small
registry in front of the implementations (`latency_tables._registry`)."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from supernet import ArchConfig, ArtifactMismatchError, NASError, Predictor, SearchSpace, arch_cost, get_space

__all__ = ["CostModel", "EfficiencyTable", "as_arch_list"]


def as_arch_list(archs: ArchConfig | Sequence[ArchConfig]) -> list[ArchConfig]:
    """One arch or a sequence of archs, as a list (``predict`` accepts both)."""
    if isinstance(archs, ArchConfig):
        return [archs]
    archs = list(archs)
    bad = [type(a).__name__ for a in archs if not isinstance(a, ArchConfig)]
    if bad:
        raise NASError(f"predict: expected ArchConfig objects, got {sorted(set(bad))}")
    return archs


class CostModel(Predictor):
    """A cost of a subnet of one search space, predicted without running the subnet (a
    `predictors.Predictor` that needs no fitting).

    Subclasses set ``space``, ``metric`` (what is predicted) and ``unit``, and implement
    `predict`. Search calls `predict` with a whole population at once, so it should be
    cheap per arch; `check_space` is called by whoever pairs a cost model with a space.
    """

    space: SearchSpace
    metric: str
    unit: str

    @abc.abstractmethod
    def predict(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        """A float64 array with one value (in ``unit``) per arch, in order; one arch gives an
        array of length 1. Archs outside ``space`` raise `SpaceError`."""

    def predict_one(self, arch: ArchConfig) -> float:
        return float(self.predict([arch])[0])

    def check_space(self, space: SearchSpace | str) -> None:
        """Raise `ArtifactMismatchError` unless ``space`` is the space this model describes."""
        space = get_space(space)
        if space.hash != self.space.hash:
            raise ArtifactMismatchError(
                f"{self!r} describes search space {self.space.name!r} (hash {self.space.hash}), "
                f"not {space.name!r} (hash {space.hash}); use or build one for that space")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metric={self.metric!r}, space={self.space.name!r})"


class EfficiencyTable(CostModel):
    """MACs, params, peak activation memory or model size from the space's cost model (no
    measurement).

    ``metric`` is one of ``macs``, ``params``, ``peak_memory_bytes``, ``weight_bytes``;
    memory counts ``bytes_per_element`` bytes per activation (4: float32), size 4 bytes per
    weight; both count 1 in the parts an arch runs in int8.
    """

    UNITS = {"macs": "MACs", "params": "parameters", "peak_memory_bytes": "bytes", "weight_bytes": "bytes"}

    def __init__(self, space: SearchSpace | str, metric: str, *, bytes_per_element: int = 4) -> None:
        if metric not in self.UNITS:
            raise NASError(f"EfficiencyTable metric: got {metric!r}, expected one of {sorted(self.UNITS)}")
        if not isinstance(bytes_per_element, int) or bytes_per_element < 1:
            raise NASError(f"EfficiencyTable bytes_per_element: got {bytes_per_element!r}, "
                           "expected a positive integer (4 for float32, 1 for int8)")
        self.space = get_space(space)
        self.metric, self.unit = metric, self.UNITS[metric]
        self.bytes_per_element = bytes_per_element

    def fingerprint(self) -> str:
        return f"{self.metric}:{self.space.hash}:{self.bytes_per_element}"

    def predict(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        return np.array([getattr(arch_cost(self.space, a, self.bytes_per_element), self.metric)
                         for a in as_arch_list(archs)], dtype=np.float64)
