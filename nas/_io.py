"""Atomic artifact writes, and the rule that a user's output is never overwritten silently."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from supernet import NASError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "check_output_dir"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, then rename it over ``path``: a reader
    (or a killed run) never sees a half-written artifact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def check_output_dir(out_dir: str | Path, names: list[str], *, force: bool) -> Path:
    """Refuse to overwrite any of ``names`` inside ``out_dir`` unless ``force``."""
    out_dir = Path(out_dir)
    existing = [n for n in names if (out_dir / n).exists()]
    if existing and not force:
        raise NASError(f"{out_dir} already holds {existing}; choose another output folder "
                       "or pass --force (force=True) to overwrite them")
    return out_dir
