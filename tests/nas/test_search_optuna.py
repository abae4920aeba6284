"""Optuna strategies resume a study after a crash: the killed run's trials are counted."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from latency_tables import EfficiencyTable
from nas import Constraint, Objective, OptunaNSGA2, OptunaTPE, SearchProblem
from supernet import ArchConfig, ArtifactMismatchError, get_space

CRASHING_RUN = textwrap.dedent("""
    import os, sys
    from latency_tables import EfficiencyTable
    from nas import Objective, OptunaNSGA2, SearchProblem
    from supernet import get_space

    space = get_space("fmnist_small")

    class CrashingParams(EfficiencyTable):
        calls = 0
        def predict(self, archs):
            CrashingParams.calls += 1
            if CrashingParams.calls == 4:  # dies in the middle of its 4th batch
                os._exit(3)
            return super().predict(archs)

    problem = SearchProblem(space, [Objective("params", CrashingParams(space, "params")),
                                    Objective("macs", EfficiencyTable(space, "macs"))])
    OptunaNSGA2(population_size=10, storage=sys.argv[1], study_name="crash").run(
        problem, budget=100, seed=0)
""")


def _problem(space):
    return SearchProblem(space, [Objective("params", EfficiencyTable(space, "params")),
                                 Objective("macs", EfficiencyTable(space, "macs"))])


def test_resume_after_a_killed_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    crashed = subprocess.run([sys.executable, "-c", CRASHING_RUN, url], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert crashed.returncode == 3, crashed.stderr
    before = optuna.load_study(study_name="crash", storage=url).get_trials()
    done = [t for t in before if t.state == optuna.trial.TrialState.COMPLETE]
    running = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(done) == 30 and len(running) == 10  # 3 batches told, the 4th left running

    space = get_space("fmnist_small")
    result = OptunaNSGA2(population_size=10, storage=url, study_name="crash").run(
        _problem(space), budget=50, seed=0)  # the same command again
    previous = list(dict.fromkeys(ArchConfig.from_json(t.user_attrs["arch"]) for t in done))
    assert result.archs[:len(previous)] == previous  # the killed run's trials count
    assert len(result.archs) == 50
    after = optuna.load_study(study_name="crash", storage=url).get_trials()
    states = {t.number: t.state for t in after}
    assert all(states[t.number] == optuna.trial.TrialState.FAIL for t in running)
    assert sum(s == optuna.trial.TrialState.COMPLETE for s in states.values()) >= 50


def test_resume_refuses_other_inputs_and_force_starts_over(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = get_space("fmnist_small")
    OptunaTPE(storage=url, study_name="s").run(_problem(space), budget=5, seed=0)
    swapped = SearchProblem(space, [Objective("macs", EfficiencyTable(space, "macs")),
                                    Objective("params", EfficiencyTable(space, "params"))])
    bytes16 = SearchProblem(space, [Objective("params", EfficiencyTable(space, "params")),
                                    Objective("macs", EfficiencyTable(space, "macs", bytes_per_element=2))])
    bounded = SearchProblem(space, _problem(space).objectives,
                            [Constraint("macs", EfficiencyTable(space, "macs"), upper=5e6)])
    for other, seed, where in ((swapped, 0, "objectives"), (bytes16, 0, r"objectives\[1\].source"),
                               (bounded, 0, "constraints"), (_problem(space), 1, "seed")):
        with pytest.raises(ArtifactMismatchError, match=f"made with other inputs \\(differs in .*{where}"):
            OptunaTPE(storage=url, study_name="s").run(other, budget=10, seed=seed)
    # the same inputs resume; --force (fresh) drops the old trials instead of mixing them in
    assert len(OptunaTPE(storage=url, study_name="s").run(_problem(space), budget=8, seed=0).archs) == 8
    fresh = OptunaTPE(storage=url, study_name="s", fresh=True).run(swapped, budget=3, seed=1)
    assert len(fresh.archs) == 3
    assert len(optuna.load_study(study_name="s", storage=url).get_trials()) == 3
