"""What `nas run`/`nas demo` would do, without doing it (``--dry-run``): each stage, its size,
whether a finished output is reused, and a rough time on a 2-core CPU."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from nas.pipeline._experiment import ExperimentConfig

__all__ = ["plan_experiment"]

# Rough costs on this project's 2-core development machines (docs/results/): training
# processes about 600 image-subnets a second (a sandwich step of 3 subnets at batch 128 takes
# about 0.6 s); a latency table about 5 ms per timed block call plus 3 s per calibration
# subnet; collection 3.4 s per arch and worker; the demo's searches, checks and exports.
IMAGE_SUBNETS_PER_S = 600.0
SECONDS_PER_BLOCK_CALL = 0.005
SECONDS_PER_CALIBRATION_ARCH = 3.0
SECONDS_PER_COLLECTED_ARCH = 3.4
SECONDS = {"fit": 15.0, "search": 3.0, "verify_arch": 1.2, "export": 40.0, "finetune_epoch": 150.0}


def plan_experiment(config: ExperimentConfig, out: str | Path) -> list[dict[str, Any]]:
    """One row per stage: ``stage``, ``what`` (its size in words), ``given`` (the config names
    its output: a trained supernet, a table, a predictor), ``reused`` (given, or a finished
    output in ``out`` that would be kept) and ``seconds`` (a rough estimate; 0 when reused)."""
    from latency_tables import LatencyTable, distinct_blocks
    from nas.pipeline._run import _space, latency_budgets
    from supernet import ArtifactMismatchError

    out = Path(out)
    space = _space(config)
    rows = [_train_row(config, out)]
    table = None
    if config.latency.table:
        rows.append(_given("latency", f"the table {config.latency.table}"))
        table = LatencyTable.load(config.latency.table, space=space)
    else:
        with contextlib.suppress(ArtifactMismatchError):  # none yet, or unfinished
            table = LatencyTable.load(out / "latency" / "table.csv", space=space)
        stage = config.latency
        blocks = len(distinct_blocks(space))
        calls = blocks * stage.passes * stage.rounds
        rows.append({"stage": "latency", "what": f"time {blocks} blocks x {stage.passes} passes x "
                     f"{stage.rounds} rounds, calibrate on {stage.calibration_archs} subnets",
                     "reused": table is not None,
                     "seconds": calls * SECONDS_PER_BLOCK_CALL
                     + stage.calibration_archs * SECONDS_PER_CALIBRATION_ARCH})
    rows.append(_predictor_row(config, out))
    values = (latency_budgets(config, table, space) if table is not None
              else list(config.search.latency_budgets_ms or []))
    budgets = [f"{b:g} ms" for b in values] or ["a budget spread over the table's range once it is built"]
    rows.append({"stage": "front", "what": f"the accuracy-latency front, {config.search.budget} archs",
                 "reused": (out / "search" / "front" / "summary.json").is_file(),
                 "seconds": SECONDS["search"]})
    count = len(values) or 3
    for i in range(count):
        label = budgets[i] if values else budgets[0]
        folder = out / "search" / f"budget_{i}"
        done = (folder / "summary.json").is_file()
        rows.append({"stage": f"budget {i}", "what": f"{label}: search {config.search.budget} archs, time "
                     f"the {config.search.verify_top} best whole, export one to ONNX", "reused": done,
                     "seconds": SECONDS["search"] + config.search.verify_top * SECONDS["verify_arch"]
                     + SECONDS["export"]})
        if config.finetune.epochs:
            rows.append({"stage": f"finetune {i}", "what": f"{config.finetune.epochs} epochs from the "
                         f"inherited weights (teacher {config.finetune.teacher}), export again",
                         "reused": values != [] and _finetuned(out, i, values[i], config.finetune.epochs),
                         "seconds": config.finetune.epochs * SECONDS["finetune_epoch"] + SECONDS["export"]})
    for row in rows:
        row.setdefault("given", False)
        row["seconds"] = 0.0 if row["reused"] else round(float(row["seconds"]))
    return rows


def _given(stage: str, what: str) -> dict[str, Any]:
    return {"stage": stage, "what": f"use {what}", "given": True, "reused": True, "seconds": 0.0}


def _finetuned(out: Path, i: int, budget: float, epochs: int) -> bool:
    card = out / "models" / f"budget_{i}_{budget:g}ms.json"
    with contextlib.suppress(OSError, ValueError):
        return (json.loads(card.read_text()).get("finetuned") or {}).get("epochs") == epochs
    return False


def _train_row(config: ExperimentConfig, out: Path) -> dict[str, Any]:
    if config.supernet is not None:
        return _given("train", f"the trained supernet {config.supernet}")
    train, data = config.train, config.train.data
    images = data.train_subset or max(60_000 - data.val_size, 0)
    steps = -(-images // train.train.batch_size)
    if train.train.max_steps_per_epoch:
        steps = min(steps, train.train.max_steps_per_epoch)
    work = sum(p.epochs * steps * train.train.batch_size * p.subnets_per_step for p in train.phases)
    epochs = sum(p.epochs for p in train.phases)
    done = (out / "supernet" / "summary.json").is_file()
    return {"stage": "train", "what": f"{config.train.space}: {epochs} epochs of {steps} steps "
            f"(batch {train.train.batch_size})", "reused": done, "seconds": work / IMAGE_SUBNETS_PER_S}


def _predictor_row(config: ExperimentConfig, out: Path) -> dict[str, Any]:
    stage = config.predictor
    if stage.path is not None:
        return _given("predictor", f"the predictor {stage.path}")
    done = (out / "predictor" / "models" / "report.json").is_file()
    return {"stage": "predictor", "what": f"collect {stage.num_archs} archs ({stage.workers} workers), "
            f"fit {', '.join(stage.models)}", "reused": done,
            "seconds": stage.num_archs * SECONDS_PER_COLLECTED_ARCH / stage.workers + SECONDS["fit"]}
