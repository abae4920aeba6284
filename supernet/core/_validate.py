"""The one validation layer for what a stage reads from outside: comparisons of the
fingerprints that resumable outputs record, and checks of tabular artifacts (latency
tables, accuracy tables) that name the file, the column, the row, the bad value and what
is expected."""

from __future__ import annotations

from typing import Any

from supernet.core._errors import ArtifactMismatchError

__all__ = ["differences", "short", "check_columns"]


def short(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters (numpy scalars shown as plain numbers): an
    error never prints a huge value."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:  # a numpy scalar
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """The dotted keys (``train.lr``, ``objectives[0].source``) whose values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in differences(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))]
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in differences(a, b, f"{where}[{i}]")]
    return [] if old == new else [where or "<value>"]


def check_columns(frame, path: Any, columns: dict[str, tuple[float | None, float | None]], *,
                  what: str, unique: tuple[str, ...] = ()) -> None:
    """Every ``column`` of ``frame`` numeric, finite and within its ``(low, high)`` bounds
    (None: unbounded; bounds inclusive), and no two rows alike in ``unique``; else
    `ArtifactMismatchError` naming the file, column, first bad row and value."""
    import numpy as np
    import pandas as pd

    for column, (low, high) in columns.items():
        if column not in frame.columns:
            raise ArtifactMismatchError(f"{path}: {what} lacks the column {column!r}")
        values = frame[column]
        if values.dtype == bool:
            values = values.astype(object)
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)  # text: NaN, flagged
        bad = ~np.isfinite(numeric)
        if low is not None:
            bad |= numeric < low
        if high is not None:
            bad |= numeric > high
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            expected = "a finite number" + (f" >= {low:g}" if low is not None else "") + (
                f" and <= {high:g}" if high is not None else "")
            raise ArtifactMismatchError(
                f"{path}: {what}, column {column!r}, row {row + 1}: got {short(values.iloc[row])}, expected "
                f"{expected} ({int(bad.sum())} bad row(s) in all); the file was damaged or edited; "
                "make it again")
    if unique:
        dup = frame.duplicated(list(unique), keep="first").to_numpy()
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            raise ArtifactMismatchError(
                f"{path}: {what}, row {row + 1} repeats an earlier row's {list(unique)} "
                f"({int(dup.sum())} repeated row(s) in all); each must appear once (repeated rows "
                "would leak into the held-out split); remove them or collect again")
