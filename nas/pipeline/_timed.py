"""A search's accuracy-latency front timed whole on this machine, as its latency table was
built: the check a table's prediction gets before anything is exported (the mixed
int8/fp32 tables model whole subnets poorly; every table has some error)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["accuracy_latency_front", "time_front"]


def accuracy_latency_front(evaluated: pd.DataFrame) -> list[tuple[Any, float, float]]:
    """``(arch, accuracy, latency)`` of the 2-D accuracy-latency front of the feasible rows
    of ``evaluated`` (a search's evaluated.csv: columns arch, feasible, accuracy, latency),
    most accurate first."""
    from supernet import ArchConfig

    frame = evaluated[evaluated["feasible"].astype(bool)]
    frame = frame.sort_values(["accuracy", "latency"], ascending=[False, True])
    front, fastest = [], np.inf
    for row in frame.itertuples():
        if row.latency < fastest:
            front.append((ArchConfig.from_json(row.arch), float(row.accuracy), float(row.latency)))
            fastest = row.latency
    return front


def time_front(table, front: list[tuple[Any, float, float]], *, budget: float | None = None,
               rounds: int | None = None) -> list[dict[str, Any]]:
    """The subnets of ``front`` (`accuracy_latency_front` entries, most accurate first), each
    timed end to end (`latency_tables.measure_archs`, ``rounds`` overriding the table's).
    Returned in export order: those measured within ``budget`` (all when None), most
    accurate first, then the others, fastest first; each with arch, arch_str, accuracy,
    predicted_ms, measured_ms."""
    from latency_tables import measure_archs

    if not front:
        return []
    measured = measure_archs(table, [a for a, _, _ in front], rounds=rounds).ms[0]
    rows = [{"arch": a.to_dict(), "arch_str": str(a), "accuracy": acc, "predicted_ms": pred,
             "measured_ms": float(m)} for (a, acc, pred), m in zip(front, measured)]
    within = [r for r in rows if budget is None or r["measured_ms"] <= budget]
    return within + sorted((r for r in rows if r not in within), key=lambda r: r["measured_ms"])
