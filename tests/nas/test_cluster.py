"""Scale-out on a real two-node Ray cluster started on this machine with ``ray start``:
accuracy collection and a measured search through ``--ray-address``, with the second node's
raylet killed mid-run; both finish complete and equal to a local run. The drivers run as
the commands a user types, in processes of their own (Ray keeps a process's first
cluster token and connection state; the test process never joins the cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictors import CollectConfig, collect
from tests._cluster import LocalRayCluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster():
    made = LocalRayCluster(cpus=1)
    try:
        yield made
    finally:
        made.stop()


def _nas(cluster: LocalRayCluster, *args: str) -> subprocess.CompletedProcess:
    """``nas ARGS`` as a user runs it, with the cluster's token in its environment."""
    done = subprocess.run([sys.executable, "-m", "nas.cli", *args], cwd=ROOT, env=cluster.env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


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
    out = tmp_path / "ray.csv"
    killer = _Killer(cluster, node, lambda: _rows(out) >= 1)  # after the first task's rows
    killer.start()
    common = ["--supernet", "pretrained:fmnist_small", "--num-archs", "24", "--calib-images", "64"]
    _nas(cluster, "collect", *common, "--out", str(out), "--backend", "ray", "--ray-address", cluster.address,
         "--no-progress")
    ended = time.monotonic()
    killer.finished.set()
    assert killer.killed_at is not None and killer.killed_at < ended, "the node was not killed mid-run"
    table = pd.read_csv(out)
    local = collect(CollectConfig(supernet="pretrained:fmnist_small", num_archs=24, calib_images=64,
                                  out=str(tmp_path / "local.csv")), progress=False)
    assert len(table) == 24 and table["arch"].tolist() == local["arch"].tolist()
    np.testing.assert_allclose(table["accuracy"], local["accuracy"], atol=1e-9)


def test_measured_search_on_two_nodes_survives_a_lost_node(cluster, tmp_path):
    """A measured Optuna search through --ray-address with its study in SQLite: the second
    node dies mid-run, the search still completes; a restarted driver continues the same
    study; every value equals a measurement made here without Ray."""
    import optuna

    from nas import SupernetAccuracy
    from supernet import ArchConfig

    node = cluster.add_node(cpus=1)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["search", "--measure-accuracy", "pretrained:fmnist_small", "--objectives", "accuracy,macs",
            "--strategy", "optuna-tpe", "--no-loop", "--seed", "3", "--storage", storage,
            "--study-name", "shared", "--backend", "ray", "--ray-address", cluster.address]
    t0 = time.monotonic()
    killer = _Killer(cluster, node, lambda: time.monotonic() - t0 > 10)  # trials are running by then
    killer.start()
    _nas(cluster, *argv, "--budget", "4", "--out", str(tmp_path / "first"))
    ended = time.monotonic()
    killer.finished.set()
    assert killer.killed_at is not None and killer.killed_at < ended, "the node was not killed mid-run"
    first = pd.read_csv(tmp_path / "first" / "evaluated.csv")
    assert len(first) == 4 and first["accuracy"].notna().all()

    _nas(cluster, *argv, "--budget", "6", "--out", str(tmp_path / "again"))  # a restarted driver
    again = pd.read_csv(tmp_path / "again" / "evaluated.csv")
    assert len(again) == 6 and again["arch"].tolist()[:4] == first["arch"].tolist()
    assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 6
    here = SupernetAccuracy("pretrained:fmnist_small")
    np.testing.assert_allclose(again["accuracy"], [here(ArchConfig.from_json(a)) for a in again["arch"]],
                               atol=1e-9)
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["backend"] == "ray"
