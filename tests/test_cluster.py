"""Scale-out on a real two-node Ray cluster started on this machine with ``ray start``:
accuracy collection and a measured search through ``--ray-address``, with the second node's
raylet killed mid-run; both finish complete and equal to a local run."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from _cluster import LocalRayCluster

from nas.cli import main
from predictors import CollectConfig, collect


@pytest.fixture
def cluster(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the cluster's token authentication, as users run it
    made = LocalRayCluster(cpus=1)
    try:
        yield made
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        made.stop()


class _Killer(threading.Thread):
    """Kills the node once ``ready()`` holds (polled), unless the run ended first."""

    def __init__(self, cluster: LocalRayCluster, node: int, ready) -> None:
        super().__init__(daemon=True)
        self.cluster, self.node, self.ready = cluster, node, ready
        self.killed_at: float | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.is_set():
            if self.ready():
                self.cluster.kill_node(self.node)
                self.killed_at = time.monotonic()
                return
            time.sleep(0.2)


def _rows(path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def test_collection_on_two_nodes_survives_a_lost_node(cluster, tmp_path):
    node = cluster.add_node(cpus=1)
    common = dict(supernet="pretrained:fmnist_small", num_archs=12, calib_images=64, chunk_size=2)
    out = tmp_path / "ray.csv"
    killer = _Killer(cluster, node, lambda: _rows(out) >= 2)  # after the first task's rows
    killer.start()
    table = collect(CollectConfig(**common, out=str(out), backend="ray", ray_address=cluster.address),
                    progress=False)
    ended = time.monotonic()
    killer.finished.set()
    assert killer.killed_at is not None and killer.killed_at < ended, "the node was not killed mid-run"
    local = collect(CollectConfig(**common, out=str(tmp_path / "local.csv")), progress=False)
    assert len(table) == 12 and table["arch"].tolist() == local["arch"].tolist()
    np.testing.assert_allclose(table["accuracy"], local["accuracy"], atol=1e-9)


def test_measured_search_on_two_nodes_survives_a_lost_node(cluster, tmp_path):
    """A measured Optuna search through --ray-address with its study in SQLite: the second
    node dies mid-run, the search still completes; a restarted driver continues the same
    study; every value equals a measurement made here without Ray."""
    import optuna

    from nas._measured import SupernetAccuracy
    from supernet import ArchConfig

    node = cluster.add_node(cpus=1)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["search", "--measure-accuracy", "pretrained:fmnist_small", "--objectives", "accuracy,macs",
            "--strategy", "optuna-tpe", "--no-loop", "--seed", "3", "--storage", storage,
            "--study-name", "shared", "--backend", "ray", "--ray-address", cluster.address]
    t0 = time.monotonic()
    killer = _Killer(cluster, node, lambda: time.monotonic() - t0 > 10)  # trials are running by then
    killer.start()
    assert main([*argv, "--budget", "4", "--out", str(tmp_path / "first")]) == 0
    ended = time.monotonic()
    killer.finished.set()
    assert killer.killed_at is not None and killer.killed_at < ended, "the node was not killed mid-run"
    first = pd.read_csv(tmp_path / "first" / "evaluated.csv")
    assert len(first) == 4 and first["accuracy"].notna().all()

    assert main([*argv, "--budget", "6", "--out", str(tmp_path / "again")]) == 0  # a restarted driver
    again = pd.read_csv(tmp_path / "again" / "evaluated.csv")
    assert len(again) == 6 and again["arch"].tolist()[:4] == first["arch"].tolist()
    assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 6
    here = SupernetAccuracy("pretrained:fmnist_small")
    np.testing.assert_allclose(again["accuracy"], [here(ArchConfig.from_json(a)) for a in again["arch"]],
                               atol=1e-9)
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["backend"] == "ray"
