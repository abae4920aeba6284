"""`LatencyTable`: measured block latencies of one device, keyed by `BlockSpec`.

On disk a table is two files side by side: ``NAME.csv`` (one row per block, precision and
timing pass: the BlockSpec fields, the precision the block ran in, then the timings) and
``NAME.json`` (metadata: device, CPU, runtime, threads, batch size, precision, the search
space and its hash, the timing protocol, the per-call overhead and the calibration fitted
on whole subnets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd

from latency_tables._calibration import apply_calibration
from latency_tables._cost_model import CostModel, as_arch_list
from latency_tables._io import atomic_write_csv, atomic_write_json
from latency_tables._shipped import list_tables, table_paths
from supernet import PRECISIONS, ArchConfig, ArtifactMismatchError, BlockSpec, SearchSpace
from supernet.core import NASError, check_columns, is_num, short

__all__ = ["FORMAT", "KEY_COLUMNS", "TABLE_FORMAT", "VALUE_COLUMNS", "LatencyTable", "distinct_blocks",
           "list_tables", "table_paths"]

FORMAT = "ofa-nas-latency-table/2"
KEY_COLUMNS = [*(f.name for f in fields(BlockSpec)), "precision"]
VALUE_COLUMNS = ["pass", "latency_ms", "raw_ms", "overhead_ms", "reference_ms"]
TABLE_FORMAT = FORMAT


def distinct_blocks(space: SearchSpace) -> list[BlockSpec]:
    """Every distinct block any arch of ``space`` can contain, at every resolution (the
    family's `SearchSpace.distinct_blocks`)."""
    return space.distinct_blocks()


def block_key(fields: dict) -> tuple[BlockSpec, str]:
    """A row's (or a bundle manifest entry's) key: its block and the precision it ran in
    (fp32 where none is recorded: tables and bundles from before int8)."""
    fields = dict(fields)
    precision = fields.pop("precision", "fp32")
    return BlockSpec(**fields), precision


def with_precision_column(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``precision`` column: tables from before int8 timed fp32 blocks only."""
    return frame if "precision" in frame.columns else frame.assign(precision="fp32")


def _check_values(frame: pd.DataFrame, meta: dict, path: Path) -> None:
    """Timings finite and not negative (a block net of the per-call overhead can be 0), block
    fields in range, the calibration's numbers finite: a damaged or edited table is refused
    before any search uses it."""
    positive, counts = (1e-9, None), (0, None)
    bad = set(frame.get("precision", pd.Series(dtype=str)).unique()) - set(PRECISIONS)
    if bad:
        raise ArtifactMismatchError(f"{path}: precision column holds {sorted(map(str, bad))}; expected "
                                    f"{list(PRECISIONS)}; rebuild the table")
    check_columns(frame, path, {"latency_ms": counts, "raw_ms": positive, "reference_ms": positive,
                                "overhead_ms": counts, "pass": counts, "resolution": (1, None),
                                "in_channels": (1, None), "out_channels": (1, None), "kernel": (1, None),
                                "stride": (1, None), "mid_channels": counts, "se_channels": counts,
                                "mix_channels": counts}, what="latency table",
                  unique=tuple(c for c in (*KEY_COLUMNS, "pass") if c in frame.columns))
    for key, low in (("threads", 1), ("batch_size", 1), ("num_blocks", 1), ("passes", 1), ("overhead_ms", 0)):
        value = meta.get(key, low)
        if not (is_num(value) and value >= low and (key == "overhead_ms" or int(value) == value)):
            raise ArtifactMismatchError(f"{path}: its metadata's {key} is {short(value)}; expected "
                                        + ("a finite number of ms >= 0" if key == "overhead_ms" else
                                           f"an integer >= {low}") + "; the table was damaged or edited; "
                                        "make it again")
    expected = meta.get("num_blocks", 0) * meta.get("passes", 1)
    if meta.get("complete") and len(frame) != expected:
        raise ArtifactMismatchError(f"{path}: holds {len(frame)} block timings, its metadata {expected} "
                                    f"({meta.get('num_blocks')} blocks x {meta.get('passes', 1)} passes); "
                                    "the table was damaged or edited; make it again")
    cal = meta.get("calibration")
    if cal is not None:
        ok = isinstance(cal, dict) and isinstance(cal.get("slopes"), dict)
        slopes = list(cal["slopes"].values()) if ok else []
        fine = slopes and is_num(cal.get("intercept_ms")) and all(is_num(v) and 0 < v < 1e3 for v in slopes)
        if not fine:
            raise ArtifactMismatchError(f"{path}: the calibration in its metadata holds {short(cal)}; "
                                        "expected a finite intercept_ms and slopes in (0, 1000); rebuild the "
                                        "table")


class LatencyTable(CostModel):
    """Predicted end-to-end latency (ms) of an arch: the sum of its blocks' latencies (each
    without the runtime's per-call overhead, averaged over the timing passes), plus that
    overhead once, mapped through the calibration fitted on whole subnets when the table has
    one (an intercept and one slope per resolution)."""

    metric, unit = "latency", "ms"

    def __init__(self, frame: pd.DataFrame, meta: dict) -> None:
        if frame.empty:  # a build that has not saved its first chunk yet
            frame = frame.reindex(columns=KEY_COLUMNS + VALUE_COLUMNS)
        frame = with_precision_column(frame)
        self.meta, self.frame, self.path = meta, frame, None
        self.space = SearchSpace.from_dict(meta["space"])
        if self.space.hash != meta["space_hash"]:
            raise ArtifactMismatchError(
                f"latency table metadata: its space fields hash to {self.space.hash}, but it "
                f"records hash {meta['space_hash']}; the file was edited, rebuild the table")
        missing = [c for c in KEY_COLUMNS + VALUE_COLUMNS if c not in frame.columns]
        if missing:
            raise ArtifactMismatchError(f"latency table rows lack the column(s) {missing}; expected "
                                        f"{KEY_COLUMNS + VALUE_COLUMNS}; rebuild the table")
        per_block = frame.groupby(KEY_COLUMNS, sort=False, dropna=False)["latency_ms"].mean()  # over passes
        records = per_block.index.to_frame(index=False).to_dict("records")
        keys = [block_key(r) for r in records]
        self._index = {key: i for i, key in enumerate(keys)}
        self._values = per_block.to_numpy(dtype=np.float64)
        self._arch_rows: dict[ArchConfig, np.ndarray] = {}

    def fingerprint(self) -> str:
        """A hash of the table's timings and metadata: another table, or this one rebuilt,
        gives another fingerprint."""
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(self.meta, sort_keys=True, default=str).encode())
        frame = self.frame  # an fp32 table hashes as before precisions were recorded
        if set(frame["precision"]) <= {"fp32"}:
            frame = frame.drop(columns="precision")
        digest.update(frame.to_csv(index=False).encode())
        return f"latency:{digest.hexdigest()[:16]}"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, *, space: SearchSpace | str | None = None,
             require_complete: bool = True) -> LatencyTable:
        """A table from ``NAME.csv`` + ``NAME.json`` (or a shipped table's name); with
        ``space``, refuse a table built for another space."""
        import json

        csv, meta_path = table_paths(path)
        if Path(f"{csv}.meta.json").is_file():
            raise ArtifactMismatchError(f"{csv}: an accuracy table of `nas collect`, not a latency table; "
                                        f"shipped tables: {list_tables()}")
        for p in (csv, meta_path):
            if not p.is_file():
                raise ArtifactMismatchError(
                    f"latency table file {str(p)!r} does not exist; a table is a .csv and its .json "
                    f"metadata side by side; shipped tables: {list_tables()}")
        try:
            meta = json.loads(meta_path.read_text())
            frame = pd.read_csv(csv)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
            raise ArtifactMismatchError(f"latency table {csv}: not readable ({short(str(err))})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ArtifactMismatchError(f"{meta_path}: format {got!r}, expected {FORMAT!r}")
        if require_complete and not meta.get("complete"):
            raise ArtifactMismatchError(
                f"latency table {csv} is incomplete ({meta.get('rows_done', '?')} of "
                f"{meta.get('num_blocks', 0) * meta.get('passes', 1)} block timings done); finish it with "
                f"`nas latency build "
                f"--resume --out {csv}` and the options it was started with")
        _check_values(frame, meta, csv)
        table = cls(frame, meta)
        table.path = csv
        if meta.get("complete"):
            table._check_predictions()
        if space is not None:
            table.check_space(space)
        return table

    def save(self, path: str | Path) -> Path:
        csv, meta_path = table_paths(path)
        atomic_write_csv(csv, self.frame)
        atomic_write_json(meta_path, self.meta)
        return csv

    # ---------------------------------------------------------------- querying
    def _check_predictions(self) -> None:
        """The smallest and largest subnet the table covers get a positive, finite latency;
        else metadata that predictions depend on (overhead, calibration) was damaged."""
        space = self.covered_space
        archs = [space.smallest(r) for r in space.resolutions] + [space.largest(r) for r in space.resolutions]
        try:
            ms = self.predict([a.with_precision("int8") if self.precision == "int8" else a for a in archs])
        except NASError:
            return  # a table of other precisions says so when it is used
        if not (np.isfinite(ms).all() and (ms > 0).all()):
            raise ArtifactMismatchError(
                f"{self.path}: its metadata makes latencies impossible (e.g. {float(ms.min()):.3g} ms for a "
                "covered subnet; overhead_ms or the calibration was damaged or edited); make it again")

    @property
    def num_blocks(self) -> int:
        """Distinct blocks in the table (each timed in ``meta["passes"]`` passes)."""
        return len(self._index)

    @property
    def precision(self) -> str:
        """``fp32``, ``int8`` (every block timed quantised) or ``mixed`` (both)."""
        return self.meta.get("precision", "fp32")

    @property
    def covered_space(self) -> SearchSpace:
        """The table's space with the resolutions it covers (all, unless it was built with
        ``--resolution``) and the precisions it times: what a search that uses the table
        samples from."""
        return self.space.with_resolutions(self.meta.get("resolutions")).with_precision(self.precision)

    @property
    def overhead_ms(self) -> float:
        return float(self.meta.get("overhead_ms", 0.0))

    @property
    def calibration(self) -> dict | None:
        return self.meta.get("calibration")

    def block_latency(self, spec: BlockSpec, precision: str = "fp32") -> float:
        return float(self._values[self._rows_of_specs([(spec, precision)], None)[0]])

    def _rows_of_specs(self, specs: Sequence[tuple[BlockSpec, str]], arch: ArchConfig | None) -> np.ndarray:
        rows = [self._index.get(s, -1) for s in specs]
        missing = sorted({p for _, p in specs} - set(SearchSpace.PRECISION_MODES[self.precision]))
        if missing:
            where = f" (arch {arch})" if arch is not None else ""
            raise ArtifactMismatchError(
                f"latency table {self.meta.get('device')!r} times {self.precision} blocks only, and the "
                f"subnet{where} has {missing[0]} parts; search with --precision {self.precision}, or "
                f"build a table with `nas latency build --precision {missing[0]}` (or mixed)")
        if -1 not in rows:
            return np.asarray(rows, dtype=np.int64)
        covered = self.covered_space.resolutions
        if arch is not None and arch.resolution not in covered:
            raise ArtifactMismatchError(
                f"latency table {self.meta.get('device')!r} covers resolutions {list(covered)} only, "
                f"not {arch.resolution} (arch {arch}); search with --resolution among those, or "
                "build a table for that resolution")
        spec, precision = specs[rows.index(-1)]
        spec = spec if precision == "fp32" else f"{spec} in {precision}"
        where = f" (a block of arch {arch})" if arch is not None else ""
        raise ArtifactMismatchError(
            f"latency table {self.meta.get('device')!r} ({len(self._index)} blocks, space "
            f"{self.space.name!r} hash {self.space.hash}) has no entry for {spec}{where}; "
            "the table is incomplete or was built for another space: rebuild or resume it")

    def _rows(self, arch: ArchConfig) -> np.ndarray:
        rows = self._arch_rows.get(arch)
        if rows is None:
            keys = list(zip(self.space.layout(arch), self.space.block_precisions(arch)))
            rows = self._arch_rows[arch] = self._rows_of_specs(keys, arch)
        return rows

    def predict(self, archs: ArchConfig | Sequence[ArchConfig], *, calibrated: bool = True) -> np.ndarray:
        """Latency in ms per arch. ``calibrated=False`` gives the plain sum of block
        latencies plus one per-call overhead, before the whole-subnet calibration."""
        archs = as_arch_list(archs)
        if not archs:
            return np.zeros(0)
        per_arch = [self._rows(a) for a in archs]
        owner = np.repeat(np.arange(len(archs)), [len(r) for r in per_arch])
        total = np.bincount(owner, weights=self._values[np.concatenate(per_arch)], minlength=len(archs))
        total = total + self.overhead_ms
        if calibrated and self.calibration:
            total = apply_calibration(self.calibration, total, [a.resolution for a in archs])
        return total

    def __repr__(self) -> str:
        m = self.meta
        return (f"LatencyTable(device={m.get('device')!r}, runtime={m.get('runtime')!r}, "
                f"precision={self.precision!r}, "
                f"threads={m.get('threads')}, batch_size={m.get('batch_size')}, "
                f"space={self.space.name!r}, blocks={len(self._index)})")
