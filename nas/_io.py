"""The rule that a user's output is never overwritten silently (atomic writes: `supernet`)."""

from __future__ import annotations

from pathlib import Path

from supernet import NASError
from supernet.core import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "check_output_dir"]


def check_output_dir(out_dir: str | Path, names: list[str], *, force: bool) -> Path:
    """Refuse to overwrite any of ``names`` inside ``out_dir`` unless ``force``."""
    out_dir = Path(out_dir)
    existing = [n for n in names if (out_dir / n).exists()]
    if existing and not force:
        raise NASError(f"{out_dir} already holds {', '.join(existing)}; choose another output folder "
                       "or pass --force to overwrite them")
    return out_dir
