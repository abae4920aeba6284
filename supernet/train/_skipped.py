"""Unreadable image files skipped in training, counted for every epoch however it ended: the
trainer stops an epoch at ``max_steps_per_epoch`` (or at the steps it planned) before the
loader's pass is over, so the loader's own end-of-pass count never runs. The trainer reads
the loader's running count after each epoch instead, logs it once, and records it in the
epoch's metrics line and the run's summary."""

from __future__ import annotations

import logging
from typing import Any

from supernet.train._distributed import DistEnv, gather_objects

__all__ = ["epoch_skipped", "run_skipped"]

log = logging.getLogger("supernet.train")
EXAMPLES = 3


def epoch_skipped(loader, env: DistEnv, what: str) -> dict[str, Any]:
    """The unreadable files ``loader`` met in the epoch just trained, summed over the
    processes, as metrics: ``bad_files`` and, when there are any, ``bad_file_examples`` (a few
    paths). Every process calls it (it gathers from all); the main one logs one warning."""
    parts = gather_objects((int(loader.skipped), list(loader.skipped_files)), env)
    count = sum(n for n, _ in parts)
    if not count:
        return {"bad_files": 0}
    examples = [path for _, paths in parts for path in paths][:EXAMPLES]
    if env.is_main:
        log.warning("%s: skipped %d unreadable image file(s) of %d, e.g. %s", what, count, loader.num_images,
                    examples[0] if examples else "?")
    return {"bad_files": count, "bad_file_examples": examples}


def run_skipped(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """For a run's summary: ``bad_files`` summed over the epochs in ``rows`` (a file met in
    every epoch counts once per epoch) and the first few distinct ``bad_file_examples``."""
    examples = dict.fromkeys(path for row in rows for path in row.get("bad_file_examples") or [])
    return {"bad_files": sum(int(row.get("bad_files") or 0) for row in rows),
            "bad_file_examples": list(examples)[:EXAMPLES]}
