"""The Ray backend on a local Ray: measurements run as Ray Tune trials and a trial that
fails is retried instead of failing the search, without Tune's console output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from nas import Measurement, Objective, RandomSearch, RayBackend, SearchProblem
from supernet import Subnet, get_space


def _flaky_measure(space, attempts_dir: str, flaky_arch: str):
    def measure(arch):
        marker = Path(attempts_dir) / hashlib.sha1(arch.to_json().encode()).hexdigest()
        attempts = len(marker.read_text()) if marker.exists() else 0
        marker.write_text("x" * (attempts + 1))
        if arch.to_json() == flaky_arch and attempts == 0:
            raise RuntimeError("simulated worker failure on the first attempt")
        return float(sum(p.numel() for p in Subnet.build(space.layout(arch)).parameters()))

    return measure


def test_ray_backend_retries_a_failing_trial(tmp_path, capfd):
    space = get_space("fmnist_small")
    # RandomSearch with seed 0 first draws the same arch as this: make that one flaky
    probe = space.sample(np.random.default_rng(0))
    fn = _flaky_measure(space, str(tmp_path), probe.to_json())
    backend = RayBackend(num_cpus=2, max_failures=2)
    try:
        measured = Measurement(fn, metric="params", backend=backend)
        problem = SearchProblem(space, [Objective("params", measured)])
        result = RandomSearch(batch_size=3).run(problem, budget=3, seed=0)
    finally:
        backend.shutdown()
    assert result.archs[0] == probe
    assert np.isfinite(result.values).all()
    local = [float(sum(p.numel() for p in Subnet.build(space.layout(a)).parameters())) for a in result.archs]
    assert result.values[:, 0].tolist() == local
    attempts = sorted(len(p.read_text()) for p in tmp_path.iterdir())
    assert attempts == [1, 1, 2]  # the flaky trial ran twice, the others once
    printed = "".join(capfd.readouterr())  # no Tune boxed tables, folder hints or tracebacks
    assert "Configuration for experiment" not in printed and "tensorboard" not in printed
    assert "simulated worker failure" not in printed
