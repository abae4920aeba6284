"""`create_cost_model`: the cost models by metric name, in front of the implementations."""

from __future__ import annotations

from latency_tables._cost_model import CostModel, EfficiencyTable
from latency_tables._table import LatencyTable
from supernet import NASError, SearchSpace

__all__ = ["create_cost_model", "list_metrics"]


def list_metrics() -> list[str]:
    """Names `create_cost_model` accepts."""
    return ["latency", *EfficiencyTable.UNITS]


def create_cost_model(metric: str, *, space: SearchSpace | str,
                      table: str | None = None) -> CostModel:
    """``latency`` (needs ``table``: a table file or a shipped table's name, checked against
    ``space``) or one of the efficiency metrics."""
    if metric == "latency":
        if table is None:
            raise NASError("create_cost_model('latency') needs table=<table file or shipped name>; "
                           "build one with `nas latency build`")
        return LatencyTable.load(table, space=space)
    if metric in EfficiencyTable.UNITS:
        return EfficiencyTable(space, metric)
    raise NASError(f"unknown cost metric {metric!r}; expected one of {list_metrics()}")
