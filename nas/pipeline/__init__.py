"""The pipelines behind `nas search` and `nas run`/`nas demo`: a search from its config
(predictor, cost models, strategy, outputs, the front timed on the device) and a whole
experiment (train or load, latency table, predictor, searches under budgets, export, report)."""

from nas.pipeline._experiment import (
    DEMO_CONFIG,
    DEMO_TRAIN_CONFIG,
    ExperimentConfig,
    FinetuneStage,
    load_experiment,
)
from nas.pipeline._plan import plan_experiment
from nas.pipeline._run import run_experiment
from nas.pipeline._search import SearchConfig, run_search

__all__ = ["DEMO_CONFIG", "DEMO_TRAIN_CONFIG", "ExperimentConfig", "FinetuneStage", "SearchConfig",
           "load_experiment", "plan_experiment", "run_experiment", "run_search"]
