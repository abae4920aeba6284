"""`nas train --log tensorboard --log mlflow`: the per-epoch metrics of metrics.jsonl land
where TensorBoard and MLflow read them (real event files, a real MLflow SQLite store), with
the config as the run's parameters, and the summary names the viewers' commands."""

from __future__ import annotations

import json

import pytest

from nas.cli import main
from tests._train_helpers import PS_PHASES, write_config


def test_metrics_reach_tensorboard_and_mlflow(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    mlflow = pytest.importorskip("mlflow")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg, out = write_config(tmp_path, PS_PHASES[:2]), tmp_path / "run"
    argv = ["train", "--config", str(cfg), "--out", str(out), "--no-progress", "--log", "tensorboard",
            "--log", "mlflow"]
    assert main([*argv, "--max-steps-per-epoch", "3"]) == 0
    text = capsys.readouterr().out
    assert f"tensorboard --logdir {out / 'tensorboard'}" in text and "mlflow ui --backend-store-uri" in text
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    for name in ("loss", "acc_smallest", "acc_largest", "lr"):
        got = [(e.step, e.value) for e in events.Scalars(name)]
        assert got == [(r["global_epoch"], pytest.approx(r[name], rel=1e-6)) for r in rows], name

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    run_id = (out / "mlflow_run_id").read_text().strip()
    history = client.get_metric_history(run_id, "acc_largest")
    assert [(m.step, m.value) for m in history] == [(r["global_epoch"], pytest.approx(r["acc_largest"]))
                                                    for r in rows]
    params = client.get_run(run_id).data.params
    assert params["phases.0.name"] == "full" and params["train.batch_size"] == "32"


def test_an_unknown_or_missing_viewer_is_a_clear_error(tmp_path):
    from supernet import ConfigError
    from supernet.train import open_sinks

    with pytest.raises(ConfigError, match="expected any of"):
        open_sinks(["wandb"], tmp_path, {})
