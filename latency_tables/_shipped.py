"""The tables that ship with the package, and where a table's name points: light enough
for `nas latency list` to answer without torch or pandas."""

from __future__ import annotations

import json
from pathlib import Path

from supernet.core import ArtifactMismatchError, ConfigError

__all__ = ["TABLES_DIR", "default_table_name", "list_tables", "read_table_meta", "reference_precisions",
           "table_paths"]

TABLES_DIR = Path(__file__).parent / "tables"


def list_tables() -> list[str]:
    """Names of the tables shipped with the package (pass one to `LatencyTable.load`)."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.csv") if p.with_suffix(".json").exists())


def table_paths(path: str | Path) -> tuple[Path, Path]:
    """``(csv, json)`` of a table given its CSV path, its stem, or a shipped table's name."""
    path = Path(path)
    if path.suffix != ".csv" and str(path) in list_tables():
        if path.with_suffix(".csv").exists():  # never let a local file silently shadow a shipped table
            raise ConfigError(f"latency table {str(path)!r} is ambiguous: both the file "
                              f"{str(path.with_suffix('.csv'))!r} here and the shipped table "
                              f"{str(TABLES_DIR / f'{path}.csv')!r}; give the .csv path of the one you mean")
        path = TABLES_DIR / f"{path}.csv"
    path = path.with_suffix(".csv")
    return path, path.with_suffix(".json")


def read_table_meta(path: str | Path) -> dict:
    """A table's metadata (its ``.json``) without reading or checking its timings
    (`LatencyTable.load` does both)."""
    _, meta = table_paths(path)
    try:
        return json.loads(meta.read_text())
    except (OSError, ValueError) as err:
        raise ArtifactMismatchError(f"latency table metadata {str(meta)!r} cannot be read: {err}") from None


def reference_precisions(meta: dict) -> list[str]:
    """The precisions of the reference subnets a table's calibration level was timed with
    (its blocks' when it has no calibration), from its metadata: timings to be put on its
    scale use the same. Tables from before int8 references were scaled by fp32 ones."""
    recorded = (meta.get("calibration") or {}).get("reference_precisions") or meta.get("reference_precisions")
    return list(recorded or ["fp32"])


def default_table_name(device: str, threads: int, batch_size: int = 1, precision: str = "fp32") -> str:
    """The file a table is written to when no path is given: ``DEVICE_tTHREADS[_bBATCH][_PRECISION].csv``
    (the shipped tables' names)."""
    return (f"{device}_t{threads}" + (f"_b{batch_size}" if batch_size != 1 else "")
            + (f"_{precision}" if precision != "fp32" else "") + ".csv")
