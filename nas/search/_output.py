"""Artifacts of a search: front CSV and JSON, every evaluated arch, a plot and a summary
with the hypervolume against a recorded reference point. All written atomically."""

from __future__ import annotations

import io
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nas.search._pareto import pareto_mask
from nas.search._problem import SearchProblem
from nas.search._result import SearchResult
from supernet import NASError
from supernet.core import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["OUTPUT_FILES", "check_output_dir", "reference_point", "write_search_outputs"]

OUTPUT_FILES = ["front.csv", "front.json", "evaluated.csv", "front.png", "summary.json"]


def check_output_dir(out_dir: str | Path, names: list[str], *, force: bool) -> Path:
    """Refuse to overwrite any of ``names`` inside ``out_dir`` unless ``force``."""
    out_dir = Path(out_dir)
    existing = [n for n in names if (out_dir / n).exists()]
    if existing and not force:
        raise NASError(f"{out_dir} already holds {', '.join(existing)}; choose another output folder "
                       "or pass --force to overwrite them")
    return out_dir


def reference_point(problem: SearchProblem) -> list[float]:
    """A fixed reference point for the hypervolume, in natural units: per objective the
    worse of its values on the space's smallest and largest archs (accuracy of the smallest,
    latency of the largest, typically). It depends only on the space and the predictors."""
    space = problem.space
    ends = [space.smallest(), space.largest()]
    out = []
    for o in problem.objectives:
        values = np.asarray(o.predictor.predict(ends), dtype=np.float64)
        out.append(float(values.min() if o.maximize else values.max()))
    return out


def _plot(result: SearchResult, frame, front, x: str, y: str, lines: dict[str, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    ok = frame["feasible"].to_numpy()
    ax.scatter(frame[x][ok], frame[y][ok], s=6, c="0.6", label=f"evaluated ({ok.sum()})")
    if (~ok).any():
        ax.scatter(frame[x][~ok], frame[y][~ok], s=6, c="0.85", marker="x", label="infeasible")
    label = "Pareto front"
    if x not in result.problem.names:  # one objective: show its trade-off with the bound metric
        feasible = frame[ok]
        sign = -1.0 if result.problem.objectives[0].maximize else 1.0
        pts = np.stack([feasible[x].to_numpy(), sign * feasible[y].to_numpy()], axis=1)
        front = feasible[pareto_mask(pts)].sort_values(x) if len(feasible) else feasible
        label = f"{y}-{x} front of the evaluated archs"
    ax.plot(front[x], front[y], "o-", c="tab:red", ms=4, drawstyle="steps-post",
            label=f"{label} ({len(front)})")
    for name, value in lines.items():
        draw = ax.axvline if name == x else ax.axhline
        draw(value, ls="--", c="tab:blue", label=f"{name} bound {value:g}")
    units = {c.name: getattr(c.predictor, "unit", None) for c in (*result.problem.objectives,
                                                                  *result.problem.constraints)}
    ax.set_xlabel(f"{x} ({units[x]})" if units.get(x) else x)
    ax.set_ylabel(f"{y} ({units[y]})" if units.get(y) else y)
    ax.set_title(f"{result.info.get('strategy', 'search')} on {result.problem.space.name}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_search_outputs(result: SearchResult, out_dir: str | Path, *, reference: list[float],
                         extra: Mapping[str, np.ndarray] | None = None, force: bool = False,
                         meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write `OUTPUT_FILES` under ``out_dir`` (refusing to overwrite unless ``force``) and
    return the summary. ``extra`` adds per-arch columns (e.g. the latency of a
    single-objective search under a latency bound) that the plot can use as its x axis."""
    out = check_output_dir(out_dir, OUTPUT_FILES, force=force)
    problem = result.problem
    frame = result.to_frame()
    for name, values in (extra or {}).items():
        frame.insert(len(problem.names) + 1, name, np.asarray(values))
    idx = result.front_indices()
    front = frame.iloc[idx]
    hv = result.hypervolume(reference)
    atomic_write_text(out / "evaluated.csv", frame.to_csv(index=False))
    atomic_write_text(out / "front.csv", front.to_csv(index=False))
    atomic_write_json(out / "front.json", [
        {"arch": result.archs[i].to_dict(), **{c: float(front.iloc[k][c]) for c in frame.columns
                                              if c not in ("eval_index", "arch", "feasible")}}
        for k, i in enumerate(idx)])
    cols = [c for c in frame.columns if c not in ("eval_index", "arch", "feasible")]
    y = problem.names[0]
    x = problem.names[1] if len(problem.names) > 1 else (cols[1] if len(cols) > 1 else None)
    lines = {c.name: c.upper for c in problem.constraints if c.upper is not None and c.name in (x, y)}
    written = ["evaluated.csv", "front.csv", "front.json"]
    if x is not None:
        atomic_write_bytes(out / "front.png", _plot(result, frame, front, x, y, lines))
        written.append("front.png")
    summary = {
        **problem.describe(), **result.info, **dict(meta or {}),
        "evaluated": len(result.archs), "feasible": int(result.feasible.sum()), "front_size": len(idx),
        "reference_point": dict(zip(problem.names, reference)), "hypervolume": hv,
        "best": {"arch": result.best().to_dict(), **{n: float(v) for n, v in zip(
            problem.names, result.values[result.archs.index(result.best())])}} if len(idx) else None,
        "files": written + ["summary.json"], "python": platform.python_version(),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary
