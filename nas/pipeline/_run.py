"""The whole pipeline as resumable stages: train -> latency table -> predictor -> one search
per latency budget -> export -> report. Each stage writes plain files under the run folder
and is skipped when its output is already complete."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from nas.pipeline._experiment import ExperimentConfig
from nas.pipeline._stages import StageClock
from supernet import ArchConfig, FinetuneConfig, NASError, finetune, get_space
from supernet.core import atomic_write_json, holds_output

__all__ = ["run_experiment", "latency_budgets"]

log = logging.getLogger(__name__)
MARKER = "experiment.json"


def _prepare(config: ExperimentConfig, out: Path, fresh: bool) -> None:
    recorded = out / MARKER
    if fresh and out.exists():
        if any(out.iterdir()) and not recorded.is_file():
            raise NASError(f"--fresh: {out} is not a run folder of `nas demo`/`nas run` (no {MARKER}); "
                           "refusing to delete it, choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    from supernet import file_hash

    wanted = {"name": config.name, "supernet": config.supernet,
              "supernet_hash": file_hash(config.supernet) if config.supernet else None,
              "train": config.train.to_dict() if config.train is not None else None,
              **{k: getattr(config, k).__dict__ for k in ("latency", "predictor", "search")}}
    wanted = json.loads(json.dumps(wanted))
    if recorded.is_file() and json.loads(recorded.read_text()) != wanted:
        raise NASError(f"{out} holds a run of a different experiment config; pass --fresh to start "
                       "over there, or choose another --out")
    atomic_write_json(recorded, wanted)


def _train(config: ExperimentConfig, folder: Path, progress: bool = False) -> str | Path:
    from supernet import load_checkpoint, train

    if config.supernet is not None:  # a trained one: checked readable, not copied
        load_checkpoint(config.supernet)
        log.info("train: using the trained supernet %s", config.supernet)
        return config.supernet
    ckpt = folder / "supernet.pt"
    if (folder / "summary.json").is_file() and ckpt.is_file():
        log.info("train: reusing %s", ckpt)
        return ckpt
    train(config.train, folder, resume=True, progress=progress)  # continues a killed run, or starts one
    return ckpt


def _latency(config: ExperimentConfig, space, folder: Path, progress: bool = False):
    from latency_tables import TABLE_FORMAT as FORMAT
    from latency_tables import BuildConfig, LatencyTable, Protocol, build_table
    from supernet import ArtifactMismatchError

    stage = config.latency
    if stage.table:
        return LatencyTable.load(stage.table, space=space)
    path = folder / "table.csv"
    try:
        return LatencyTable.load(path, space=space)
    except ArtifactMismatchError:  # absent or unfinished: build it, or resume the build
        log.info("latency: building %s", path)
    meta = path.with_suffix(".json")
    older = meta.is_file() and json.loads(meta.read_text()).get("format") != FORMAT
    if older:
        log.warning("latency: %s was built by an older version; rebuilding it", path)
    build = BuildConfig(space=space, device=stage.device, threads=stage.threads, passes=stage.passes,
                        protocol=Protocol(rounds=stage.rounds), calibration_archs=stage.calibration_archs)
    build_table(build, path, resume=path.is_file() and not older, force=older, progress=progress)
    return LatencyTable.load(path, space=space)


def _predictor(config: ExperimentConfig, ckpt: str | Path, folder: Path, data_dir: str | None,
               progress: bool = False):
    from predictors import CollectConfig, FitConfig, collect, fit_predictors, load_predictor

    if config.predictor.path is not None:  # a fitted one, checked against the supernet
        return config.predictor.path, load_predictor(config.predictor.path, supernet=str(ckpt))
    data = folder / "accuracy.csv"
    models = folder / "models"
    if not (models / "report.json").is_file():
        collect(CollectConfig(supernet=str(ckpt), out=str(data), num_archs=config.predictor.num_archs,
                              calib_images=_calib_images(config, ckpt),
                              data_dir=data_dir,
                              workers=config.predictor.workers), progress=progress)
        fit_predictors(FitConfig(data=str(data), out=str(models), models=config.predictor.models,
                                 force=True))  # the run folder's own files
    return models, load_predictor(models, supernet=str(ckpt))


def _space(config: ExperimentConfig):
    """The search space: the trained supernet's, or the one the training config names."""
    from supernet import SearchSpace, load_checkpoint

    if config.supernet is not None:
        return SearchSpace.from_dict(load_checkpoint(config.supernet)["space"])
    return get_space(config.train.space)


def _calib_images(config: ExperimentConfig, ckpt: str | Path) -> int:
    """BN-recalibration images: the training config's, else the trained supernet's own."""
    from supernet import load_checkpoint

    if config.train is not None:
        return config.train.data.calib_images
    return int(((load_checkpoint(ckpt).get("config") or {}).get("data") or {}).get("calib_images", 2000))


def latency_budgets(config: ExperimentConfig, table, space) -> list[float]:
    """The configured budgets, each checked against the fastest subnet; or three spread
    over the range between the smallest and the largest subnet."""
    low = float(table.predict([space.smallest()])[0])
    high = float(table.predict([space.largest()])[0])
    margin = config.search.margin
    if config.search.latency_budgets_ms is None:
        return [round(low + (high - low) * q, 3) for q in (0.2, 0.45, 0.75)]
    for budget in config.search.latency_budgets_ms:
        if budget * (1 - margin) < low:
            raise NASError(
                f"latency budget {budget:g} ms cannot be met on this device: the fastest subnet "
                f"({space.smallest()}) is predicted at {low:.3f} ms, and searches keep "
                f"{margin:.0%} below the budget; ask for at least {low / (1 - margin):.3f} ms")
    return list(config.search.latency_budgets_ms)


def _search(config: ExperimentConfig, space, predictor, table, folder: Path,
            upper: float | None) -> tuple[Any, dict]:
    from nas.search import Constraint, Objective, SearchProblem, reference_point, write_search_outputs
    from nas.strategies import DEFAULT_STRATEGY, DEFAULT_STRATEGY_KWARGS, create_strategy

    if (folder / "summary.json").is_file():
        summary = json.loads((folder / "summary.json").read_text())
        return (ArchConfig.from_dict(summary["best"]["arch"]) if summary.get("best") else None), summary
    accuracy = Objective("accuracy", predictor, maximize=True)
    if upper is None:  # the accuracy-latency front
        problem = SearchProblem(space, [accuracy, Objective("latency", table)])
    else:
        problem = SearchProblem(space, [accuracy], [Constraint("latency", table, upper=upper)])
    strategy = create_strategy(DEFAULT_STRATEGY, **DEFAULT_STRATEGY_KWARGS)
    result = strategy.run(problem, budget=config.search.budget, seed=config.search.seed)
    extra = {} if upper is None else {"latency": table.predict(result.archs)}
    summary = write_search_outputs(result, folder, reference=reference_point(problem), extra=extra,
                                   force=True, meta={"latency_upper_ms": upper})
    return (result.best() if upper is not None else None), summary


def _verify_on_device(config: ExperimentConfig, table, folder: Path, budget: float) -> list:
    """Time the search's accuracy-latency front (up to ``search.verify_top``) end to end on
    this machine as the table was built, and order the candidates for export (`time_front`)."""
    import pandas as pd

    from nas.pipeline._timed import accuracy_latency_front, time_front

    choice = folder / "verified.json"
    saved = json.loads(choice.read_text()) if choice.is_file() else {}
    if saved.get("budget_ms") == budget:  # finished earlier (an older layout is redone)
        return [ArchConfig.from_dict(c["arch"]) for c in saved["candidates"]]
    front = accuracy_latency_front(pd.read_csv(folder / "evaluated.csv"))
    rows = time_front(table, front[:config.search.verify_top], budget=budget, rounds=config.latency.rounds)
    if rows and rows[0]["measured_ms"] > budget:
        log.warning("none of the %d front subnets under %g ms (predicted) measured under it "
                    "(fastest %.3f ms); raise search.margin for tight budgets", len(rows), budget,
                    rows[0]["measured_ms"])
    points = [{"latency": lat, "accuracy": acc} for _, acc, lat in front]
    atomic_write_json(choice, {"budget_ms": budget, "front": points, "candidates": [
        {"arch": r["arch"], "arch_str": r["arch_str"], "measured_ms": r["measured_ms"]} for r in rows]})
    return [ArchConfig.from_dict(r["arch"]) for r in rows]


def _export_to(arch, *, ckpt: str | Path, onnx: Path, table, predictor_dir: Path, data_dir: str | None,
               config: ExperimentConfig, weights: str | None = None) -> dict:
    from nas.export import ExportConfig, export_subnet

    return export_subnet(ExportConfig(
        supernet=str(ckpt), arch=arch, out=str(onnx), data_dir=data_dir, weights=weights,
        table=str(getattr(table, "path", config.latency.table)), predictor=str(predictor_dir),
        threads=config.latency.threads, timing_rounds=config.latency.rounds, force=True))


def _finetune(config: ExperimentConfig, card: dict, ckpt: str | Path, onnx: Path, export, progress: bool
              ) -> dict:
    """Fine-tune the exported subnet (resumed if a run stopped) and export it again with the
    fine-tuned weights to the same file; the budget's card keeps its export record."""
    stage = config.finetune
    if (card.get("finetuned") or {}).get("epochs") == stage.epochs:
        return card  # done by an earlier run
    folder = onnx.parent.parent / "finetune" / onnx.stem
    arch = ArchConfig.from_dict(card["arch"])
    if not (folder / "summary.json").is_file():
        finetune(FinetuneConfig(supernet=str(ckpt), arch=arch, epochs=stage.epochs, lr=stage.lr,
                                teacher=stage.teacher), folder, resume=True, progress=progress)
    tuned = export(arch, weights=str(folder / "finetuned.pt"))
    tuned.update({k: card[k] for k in ("latency_budget_ms", "export_attempts", "export_fallback")})
    atomic_write_json(onnx.with_suffix(".json"), tuned)
    return tuned


def _export_within_budget(export, candidates: list, budget: float, onnx: Path, tries: int = 3) -> dict:
    """Export the first candidate whose timing at export also meets ``budget``, trying at
    most ``tries`` of them. If none does, the fastest of those tried is exported again and
    kept (the report flags it)."""
    if not candidates:
        raise NASError(f"no feasible subnet to export for the {budget:g} ms budget; raise the "
                       "search budget or the latency budget")
    card_path = onnx.with_suffix(".json")
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("latency_budget_ms") == budget and card["arch"] in [a.to_dict() for a in candidates]:
            return card
    tried, fallback = [], True
    for arch in candidates[:tries]:
        card = export(arch)
        tried.append((card["measured_latency_ms"], arch))
        if card["measured_latency_ms"] <= budget:
            fallback = False
            break
        log.warning("export: %s measured %.3f ms at export, over the %g ms budget; trying the next "
                    "candidate", arch, card["measured_latency_ms"], budget)
    if fallback:  # none met it: the fastest of those tried is kept (timed again, it may now meet it)
        fastest = min(tried, key=lambda t: t[0])[1]
        if fastest != tried[-1][1]:
            card = export(fastest)
    card.update(latency_budget_ms=budget, export_attempts=len(tried), export_fallback=fallback)
    atomic_write_json(card_path, card)
    return card


def _budget_row(card: dict, budget: float, onnx: Path) -> dict[str, Any]:
    """One latency budget's line of the summary, from its model card."""
    tuned = card.get("finetuned") or {}
    return {"latency_budget_ms": budget, "predicted_latency_ms": card["predicted_latency_ms"],
            "measured_latency_ms": card["measured_latency_ms"],
            "measured_latency_raw_ms": card["measured_latency_raw_ms"],
            "load_factor": card["load_factor"], "export_attempts": card["export_attempts"],
            "predicted_acc": card["predicted_acc"], "test_acc": card["test_acc"],
            "onnx_path": str(onnx), "parity_max_abs_diff": card["parity_max_abs_diff"],
            "meets_budget": card["measured_latency_ms"] <= budget, "arch": card["arch_str"],
            "macs": card["macs"], "params": card["params"],
            "inherited_test_acc": tuned.get("inherited", {}).get("test_acc"),
            "finetune_epochs": tuned.get("epochs")}


@holds_output(lambda config, out, **_: out)
def run_experiment(config: ExperimentConfig, out: str | Path, *, fresh: bool = False,
                   data_dir: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Run (or finish) the experiment in ``out``; returns what ``out/summary.json`` holds.
    ``seconds``: this run; ``total_seconds``: every run in ``out`` (a killed one loses only its
    unfinished stage's partial time); ``stage_seconds``: each stage as measured when it ran,
    kept when a rerun reuses it; ``stages``: those and whether this run reused each
    (`StageClock`, ``out/stages.json``)."""
    from nas.pipeline._report import write_report

    start = time.perf_counter()
    out = Path(out)
    if data_dir and config.train is not None:
        config = replace(config, train=replace(config.train, data=replace(config.train.data, path=data_dir)))
    _prepare(config, out, fresh)
    space = _space(config)
    clock = StageClock(out, started=start)
    stage = clock.run

    trained = None if config.supernet else out / "supernet" / "summary.json"  # None: a given one
    built = None if config.latency.table else out / "latency" / "table.csv"
    fitted = None if config.predictor.path else out / "predictor" / "models" / "report.json"
    ckpt = stage("train", trained, _train, config, out / "supernet", progress)
    table = stage("latency", built, _latency, config, space, out / "latency", progress)
    predictor_dir, predictor = stage("predictor", fitted, _predictor, config, ckpt, out / "predictor",
                                     data_dir, progress)
    budgets = latency_budgets(config, table, space)
    front = out / "search" / "front"
    stage("front", front / "summary.json", _search, config, space, predictor, table, front, None)
    rows = []
    for i, budget in enumerate(budgets):
        upper = budget * (1 - config.search.margin)
        folder = out / "search" / f"budget_{i}"
        stage(f"search_{i}", folder / "summary.json", _search, config, space, predictor, table, folder, upper)
        candidates = stage(f"verify_{i}", folder / "verified.json", _verify_on_device, config, table, folder,
                           budget)
        onnx = out / "models" / f"budget_{i}_{budget:g}ms.onnx"
        export = partial(_export_to, ckpt=ckpt, onnx=onnx, table=table, predictor_dir=predictor_dir,
                         data_dir=data_dir, config=config)
        card_path = onnx.with_suffix(".json")
        card = stage(f"export_{i}", card_path, _export_within_budget, export, candidates, budget, onnx)
        if config.finetune.epochs:
            card = stage(f"finetune_{i}", card_path, _finetune, config, card, ckpt, onnx, export, progress)
        rows.append(_budget_row(card, budget, onnx))
    summary = {"name": config.name, **clock.finish(), "budgets": rows, "supernet": str(ckpt),
               "latency_table": str(getattr(table, "path", config.latency.table)),
               "predictor": str(predictor_dir)}
    write_report(out, summary)
    atomic_write_json(out / "summary.json", summary)
    return summary
