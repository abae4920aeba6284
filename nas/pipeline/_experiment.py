"""One YAML file describing a whole experiment: training, the latency table, the predictor,
the searches for each latency budget and the exports. Validated on load; every error names
the key and the value."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nas.pipeline._search import MAX_BUDGET
from supernet import TrainConfig, load_train_config
from supernet.core import check, is_int, is_num, read_yaml, set_keys
from supernet.train import MAX_LR

__all__ = ["ExperimentConfig", "LatencyStage", "PredictorStage", "SearchStage", "load_experiment",
           "DEMO_CONFIG", "DEMO_TRAIN_CONFIG"]

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")              # the pretrained supernet
DEMO_TRAIN_CONFIG = Path(__file__).with_name("demo_train.yaml")  # trains its own first


def _positive_int(key: str, value: Any) -> None:
    check(is_int(value) and value > 0, key, value, "a positive integer")


@dataclass(frozen=True)
class LatencyStage:
    """``table``: use this latency table (file or shipped name) instead of building one.
    ``rounds`` and ``passes`` time the blocks, and with ``rounds`` the front's subnets and
    the exported models are timed too, as the table was built."""

    table: str | None = None
    device: str | None = None
    threads: int = 1
    rounds: int = 60
    passes: int = 3
    calibration_archs: int = 12

    def __post_init__(self) -> None:
        for key in ("threads", "rounds", "passes"):
            _positive_int(f"latency.{key}", getattr(self, key))
        check(self.calibration_archs == 0 or self.calibration_archs >= 2, "latency.calibration_archs",
               self.calibration_archs, "0 (no calibration) or at least 2")


@dataclass(frozen=True)
class PredictorStage:
    """``path``: use this fitted predictor (a `nas fit-predictor` folder, or
    ``pretrained:NAME``) instead of collecting and fitting one."""

    num_archs: int = 400
    models: tuple[str, ...] = ("ridge", "mlp")
    workers: int = 2
    path: str | None = None

    def __post_init__(self) -> None:
        check(self.path is None or (isinstance(self.path, str) and self.path != ""), "predictor.path",
               self.path, "null or a predictor folder / pretrained:NAME")
        _positive_int("predictor.num_archs", self.num_archs)
        _positive_int("predictor.workers", self.workers)
        check(isinstance(self.models, (list, tuple)) and len(self.models) > 0, "predictor.models",
               self.models, "a non-empty list of predictor names")
        object.__setattr__(self, "models", tuple(self.models))


@dataclass(frozen=True)
class SearchStage:
    """``latency_budgets_ms``: the budgets; None picks three spread over the space's range.
    ``margin``: searches keep predicted latency under ``(1 - margin) x budget``.
    ``verify_top``: how many of a search's front subnets are timed on this machine; the most
    accurate one whose *measured* latency meets the budget is exported."""

    latency_budgets_ms: tuple[float, ...] | None = None
    budget: int = 1000
    seed: int = 0
    margin: float = 0.05
    verify_top: int = 12

    def __post_init__(self) -> None:
        _positive_int("search.budget", self.budget)
        check(self.budget <= MAX_BUDGET, "search.budget", self.budget, f"at most {MAX_BUDGET:,} evaluations")
        _positive_int("search.verify_top", self.verify_top)
        check(is_num(self.margin) and 0.0 <= self.margin < 0.5, "search.margin", self.margin,
              "a fraction in [0, 0.5)")
        if self.latency_budgets_ms is not None:
            ok = (isinstance(self.latency_budgets_ms, (list, tuple)) and len(self.latency_budgets_ms) > 0
                  and all(is_num(b) and b > 0 for b in self.latency_budgets_ms))
            check(ok, "search.latency_budgets_ms", self.latency_budgets_ms,
                   "null or a non-empty list of positive numbers (milliseconds)")
            object.__setattr__(self, "latency_budgets_ms", tuple(float(b) for b in self.latency_budgets_ms))


@dataclass(frozen=True)
class FinetuneStage:
    """``epochs`` > 0: each exported subnet is fine-tuned that many epochs from its inherited
    weights (`supernet.finetune`, ``lr``, ``teacher``) and exported again with them."""

    epochs: int = 0
    lr: float = 0.02
    teacher: str = "largest"

    def __post_init__(self) -> None:
        check(is_int(self.epochs) and self.epochs >= 0, "finetune.epochs", self.epochs,
              "an integer >= 0 (0: no fine-tuning)")
        check(is_num(self.lr) and 0 < self.lr <= MAX_LR, "finetune.lr", self.lr,
              f"a positive number up to {MAX_LR:g}")
        check(isinstance(self.teacher, str) and self.teacher != "", "finetune.teacher", self.teacher,
              "largest, none or a checkpoint path")


@dataclass(frozen=True)
class ExperimentConfig:
    """``supernet``: start from this trained supernet (a checkpoint path or
    ``pretrained:NAME``) instead of training one; ``train`` is then optional and, when
    given, only supplies the data settings."""

    train: TrainConfig | None
    name: str = "experiment"
    supernet: str | None = None
    latency: LatencyStage = field(default_factory=LatencyStage)
    predictor: PredictorStage = field(default_factory=PredictorStage)
    search: SearchStage = field(default_factory=SearchStage)
    finetune: FinetuneStage = field(default_factory=FinetuneStage)

    @classmethod
    def from_dict(cls, data: Any, base: Path | None = None) -> ExperimentConfig:
        check(isinstance(data, dict), "experiment", type(data).__name__, "a mapping of sections")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        check(not unknown, "experiment", unknown, f"only the keys {sorted(known)}")
        supernet = data.get("supernet")
        check(supernet is None or (isinstance(supernet, str) and supernet != ""), "supernet", supernet,
               "null, a checkpoint path or pretrained:NAME")
        check("train" in data or supernet is not None, "train", None,
               "a training config (mapping) or the path of one, unless `supernet` names a trained one")
        train = data.get("train")
        if isinstance(train, str):  # a path, relative to the experiment file
            train = load_train_config((base or Path.cwd()) / train)
        elif train is not None:
            train = TrainConfig.from_dict(train)
        sections = {"latency": LatencyStage, "predictor": PredictorStage, "search": SearchStage,
                    "finetune": FinetuneStage}
        kw: dict[str, Any] = {"train": train, "name": str(data.get("name", "experiment")),
                              "supernet": supernet}
        for key, section in sections.items():
            value = data.get(key) or {}
            check(isinstance(value, dict), key, value, "a mapping")
            names = {f.name for f in fields(section)}
            bad = sorted(set(value) - names)
            check(not bad, key, bad, f"only the keys {sorted(names)}")
            kw[key] = section(**value)
        return cls(**kw)


def load_experiment(path: str | Path | None = None,
                    overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """An experiment YAML (``yaml.safe_load``), None giving the built-in demo experiment,
    with ``overrides`` set (dotted keys: `set_keys`)."""
    path = Path(path) if path else DEMO_CONFIG
    data = read_yaml(path, "experiment config")
    if overrides:
        data = set_keys(data, overrides, str(path))
    return ExperimentConfig.from_dict(data, base=path.parent)
