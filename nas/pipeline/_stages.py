"""The run folder's clock (``stages.json``): how long each stage of `run_experiment` took when
it really ran, kept across reruns, and the time of every run made in the folder.

A stage names the file it finishes by writing. When that file was there before the stage
started and is untouched after it (same size, modification time and inode), the stage was
reused: its measured seconds are kept and it is marked ``reused: true``. A stage that ran
adds its seconds to those of earlier runs (a stage killed part-way and finished by a rerun
records the finishing part). The record is written atomically after every stage, so a
killed run keeps the time of every stage it finished and loses only the unfinished
stage's partial time."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supernet.core import atomic_write_json, is_num

__all__ = ["RECORD", "StageClock"]

log = logging.getLogger(__name__)
RECORD = "stages.json"


class StageClock:
    """Times the stages of one run in ``out``: `run` each stage, then `finish` once.
    ``started``: the run's `time.perf_counter` start (default: now)."""

    def __init__(self, out: str | Path, *, started: float | None = None) -> None:
        out = Path(out)
        self.path = out / RECORD
        self.record = _load(self.path, out / "summary.json")
        self.record["runs"] += 1
        self.started = self.last = time.perf_counter() if started is None else started
        self.names: list[str] = []  # this run's stages, in order

    def run(self, name: str, output: Path | None, fn: Callable, *args) -> Any:
        """``fn(*args)`` as stage ``name``. ``output``: the file the stage finishes by writing;
        None for a stage that only checks a given artifact (it always counts as run)."""
        log.info("stage %s", name)
        before = _signature(output)
        tic = time.perf_counter()
        value = fn(*args)
        reused = before is not None and before == _signature(output)
        entry = self.record["stages"].setdefault(name, {"seconds": 0.0})
        if not reused:
            entry["seconds"] = round(entry["seconds"] + time.perf_counter() - tic, 3)
        entry["reused"] = reused
        self.names.append(name)
        self._save()
        return value

    def finish(self) -> dict[str, Any]:
        """Saved, and for the summary: ``seconds`` (this run), ``total_seconds`` (every run in
        the folder), ``stage_seconds`` (each stage as measured when it ran) and ``stages``
        (those and whether this run reused each)."""
        self._save()
        stages = {n: {"seconds": round(self.record["stages"][n]["seconds"], 1),
                      "reused": self.record["stages"][n]["reused"]} for n in self.names}
        return {"seconds": round(self.last - self.started, 1),
                "total_seconds": round(self.record["elapsed_seconds"], 1),
                "stage_seconds": {n: s["seconds"] for n, s in stages.items()}, "stages": stages}

    def _save(self) -> None:
        now = time.perf_counter()
        self.record["elapsed_seconds"] = round(self.record["elapsed_seconds"] + now - self.last, 3)
        self.last = now
        atomic_write_json(self.path, self.record)


def _signature(path: Path | None) -> tuple[int, int, int] | None:
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_size, st.st_mtime_ns, st.st_ino)


def _seconds(value: Any) -> float | None:
    return float(value) if is_num(value) and value >= 0 else None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _load(path: Path, summary: Path) -> dict[str, Any]:
    """The earlier runs' record; for a folder of an older version (no record), its summary's
    times; else a fresh one. A damaged record is not trusted: it is started again, with a warning."""
    data = _read(path)
    if isinstance(data, dict) and isinstance(data.get("stages"), dict):
        stages = {str(k): {"seconds": _seconds(v.get("seconds")), "reused": v.get("reused") is True}
                  for k, v in data["stages"].items() if isinstance(v, dict)}
        elapsed, runs = _seconds(data.get("elapsed_seconds")), data.get("runs")
        if elapsed is not None and isinstance(runs, int) and all(s["seconds"] is not None
                                                                 for s in stages.values()):
            return {"runs": max(runs, 0), "elapsed_seconds": elapsed, "stages": stages}
    if path.exists():
        log.warning("%s is damaged; the times of the earlier runs are not counted", path)
        return {"runs": 0, "elapsed_seconds": 0.0, "stages": {}}
    earlier = _read(summary) if summary.is_file() else None
    earlier = earlier if isinstance(earlier, dict) else {}
    measured = earlier.get("stage_seconds") if isinstance(earlier.get("stage_seconds"), dict) else {}
    total = _seconds(earlier.get("total_seconds", earlier.get("seconds")))
    return {"runs": 1 if earlier else 0, "elapsed_seconds": total or 0.0,
            "stages": {str(k): {"seconds": _seconds(v), "reused": False} for k, v in measured.items()
                       if _seconds(v)}}  # an older rerun wrote 0 for what it reused
