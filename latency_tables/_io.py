"""Atomic writes of tables (the writers themselves are `supernet`'s, shared by every package)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supernet.core import atomic_write_json, atomic_write_text

__all__ = ["atomic_write_text", "atomic_write_json", "atomic_write_csv"]


def atomic_write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return atomic_write_text(path, frame.to_csv(index=False))
