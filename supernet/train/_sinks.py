"""Where a training run's per-epoch metrics go besides ``metrics.jsonl``: TensorBoard event
files (``RUN/tensorboard``) or an MLflow run (``RUN/mlflow.db``), for the viewers users already
have. Both are optional extras: ``pip install -e ".[tensorboard]"`` or ``".[mlflow]"``.

    tensorboard --logdir RUN/tensorboard
    mlflow ui --backend-store-uri sqlite:///RUN/mlflow.db
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supernet.core import ConfigError

__all__ = ["SINKS", "open_sinks", "tracking_uri"]

SINKS = ("tensorboard", "mlflow")


def _scalars(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and k != "global_epoch"}


class _TensorBoard:
    def __init__(self, out: Path, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))
        self.writer.add_text("config", f"```\n{config}\n```")

    def log(self, metrics: dict) -> None:
        for name, value in _scalars(metrics).items():
            self.writer.add_scalar(name, value, metrics["global_epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _MLflow:
    """One MLflow run per training run: a resumed run logs into the run it started
    (its id is kept in ``RUN/mlflow_run_id``). MLflow's SQLite store: its file store is
    frozen upstream."""

    def __init__(self, out: Path, config: dict) -> None:
        import mlflow

        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri(out))
        id_file = out / "mlflow_run_id"
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
        else:
            found = self.client.get_experiment_by_name("ofa-nas")
            experiment = found.experiment_id if found else self.client.create_experiment("ofa-nas")
            self.run_id = self.client.create_run(experiment, run_name=out.resolve().name).info.run_id
            id_file.write_text(self.run_id)
            for key, value in _flat(config).items():
                self.client.log_param(self.run_id, key, str(value)[:500])

    def log(self, metrics: dict) -> None:
        for name, value in _scalars(metrics).items():
            self.client.log_metric(self.run_id, name, value, step=int(metrics["global_epoch"]))

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def tracking_uri(out: Path) -> str:
    """The MLflow store of the training run in ``out``."""
    return f"sqlite:///{(out / 'mlflow.db').resolve()}"


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    if isinstance(data, (list, tuple)) and data and all(isinstance(x, dict) for x in data):
        return {k: v for i, x in enumerate(data) for k, v in _flat(x, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): data}


def open_sinks(names: Sequence[str], out: Path, config: dict) -> list:
    """The sinks named (each at most once); a clear error for an unknown name or a viewer
    whose package is not installed."""
    unknown = sorted(set(names) - set(SINKS))
    if unknown:
        raise ConfigError(f"log: got {unknown}, expected any of {list(SINKS)}")
    made = []
    for name in dict.fromkeys(names):  # each extra is named after its sink
        try:
            made.append({"tensorboard": _TensorBoard, "mlflow": _MLflow}[name](out, config))
        except ImportError as err:
            raise ConfigError(f"--log {name}: its package is not installed ({err}); "
                              f'pip install -e ".[{name}]"') from None
    return made
