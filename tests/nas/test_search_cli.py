"""`nas search` end to end: outputs, the no-overwrite rule, constraints, Optuna resume."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest

from nas.cli import main
from supernet import NASError, arch_cost, get_space


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory):
    """A real fitted predictor of the predictors package (ridge), saved and loaded by path.
    Its targets are computed from each arch's cost, so bigger archs score higher."""
    from predictors import create_predictor

    space = get_space("fmnist_small")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(200)]
    y = [60 + 2 * np.log(c.macs) + 2 * np.log(c.params) for c in (arch_cost(space, a) for a in archs)]
    folder = tmp_path_factory.mktemp("predictor")
    create_predictor("ridge", space=space).fit(archs, np.array(y)).save(folder)
    return str(folder)


def test_pareto_front_outputs_and_no_overwrite(tmp_path, predictor_dir, capsys):
    out = tmp_path / "front"
    argv = ["search", "--predictor", predictor_dir, "--objectives", "accuracy,macs",
            "--budget", "200", "--out", str(out)]
    assert main(argv) == 0
    for name in ("front.csv", "front.json", "evaluated.csv", "front.png", "summary.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated"] >= 200 and summary["hypervolume"] > 0
    assert set(summary["reference_point"]) == {"accuracy", "macs"}
    front = pd.read_csv(out / "front.csv")
    assert len(front) == summary["front_size"] == len(json.loads((out / "front.json").read_text()))
    assert front["macs"].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing
    assert main(argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0


def test_single_objective_under_a_constraint(tmp_path, predictor_dir):
    out = tmp_path / "best"
    assert main(["search", "--predictor", predictor_dir, "--objectives", "accuracy",
                 "--macs-max", "5e6", "--budget", "300", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    evaluated = pd.read_csv(out / "evaluated.csv")
    assert (evaluated["macs"] <= 5e6).all()  # constraint column written for the plot
    best = evaluated.loc[evaluated["accuracy"].idxmax()]
    assert summary["best"]["accuracy"] == pytest.approx(best["accuracy"])
    assert (out / "front.png").exists()


def test_optuna_study_resumes_from_the_command_line(tmp_path):
    out = tmp_path / "opt"
    base = ["search", "--objectives", "params,macs", "--strategy", "optuna-tpe",
            "--study-name", "s1", "--storage", f"sqlite:///{out / 'optuna.db'}", "--out", str(out)]
    assert main([*base, "--budget", "15"]) == 0
    assert main([*base, "--budget", "25", "--force"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated"] == 25
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{out / 'optuna.db'}")
    assert len(study.get_trials(states=[optuna.trial.TrialState.COMPLETE])) >= 25


def test_missing_accuracy_source_is_explained(tmp_path, capsys):
    assert main(["search", "--out", str(tmp_path / "x")]) == 2
    assert "--predictor" in capsys.readouterr().err


def test_best_under_a_device_latency_budget(tmp_path, predictor_dir):
    from latency_tables import LatencyTable, list_tables
    from supernet import ArtifactMismatchError

    try:
        LatencyTable.load(list_tables()[0])
    except (IndexError, ArtifactMismatchError) as err:  # none shipped, or one being rebuilt
        pytest.skip(f"no complete shipped latency table: {err}")
    out = tmp_path / "device"
    assert main(["search", "--table", list_tables()[0], "--latency-max", "0.6",
                 "--predictor", predictor_dir, "--budget", "200", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [o["name"] for o in summary["objectives"]] == ["accuracy"]
    evaluated = pd.read_csv(out / "evaluated.csv")
    assert (evaluated["latency"] <= 0.6).all() and (out / "front.png").exists()
    # the default 5 % margin: feasible subnets are predicted at most 0.57 ms, not 0.6
    assert (evaluated.loc[evaluated["feasible"], "latency"] <= 0.57 + 1e-9).all()
    assert summary["latency_budget_ms"] == 0.6
    assert main(["search", "--table", list_tables()[0], "--latency-max", "0.6", "--margin", "0",
                 "--predictor", predictor_dir, "--budget", "200", "--out", str(tmp_path / "m0")]) == 0
    bound = json.loads((tmp_path / "m0" / "summary.json").read_text())["constraints"][0]["upper"]
    assert bound == pytest.approx(0.6) and summary["constraints"][0]["upper"] == pytest.approx(0.57)


def test_python_api_mirrors_the_cli(tmp_path, predictor_dir, capsys):
    """The same search from the command line and from Python; the command line shows its
    progress, the library call prints none unless asked."""
    from nas import SearchConfig, run_search

    argv = ["search", "--predictor", predictor_dir, "--table", "xeon-2c_t1", "--latency-max", "0.6",
            "--budget", "150", "--seed", "3"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "cli")]) == 0
    assert "search: 150/150 arch" in capsys.readouterr().err
    summary = run_search(SearchConfig(predictor=predictor_dir, table="xeon-2c_t1", latency_max=0.6,
                                      budget=150, seed=3, out=str(tmp_path / "api")))
    assert "search:" not in capsys.readouterr().err
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary["best"]["arch"] == cli["best"]["arch"] and summary["evaluated"] == cli["evaluated"] == 150
    evaluated = pd.read_csv(tmp_path / "api" / "evaluated.csv")
    assert (evaluated.loc[evaluated["feasible"], "latency"] <= 0.6).all()


def test_the_front_timed_whole_as_the_table_was_built(tmp_path, predictor_dir, capsys):
    """--time-front: the table's prediction checked end to end before anything is exported."""
    out = tmp_path / "timed"
    assert main(["search", "--table", "xeon-amx-2c_t1", "--predictor", predictor_dir, "--latency-max", "0.5",
                 "--budget", "100", "--time-front", "3", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    timed, summary = pd.read_csv(out / "timed.csv"), json.loads((out / "summary.json").read_text())
    assert 1 <= len(timed) == summary["timed"]["count"] <= 3 and (timed["measured_ms"] > 0).all()
    np.testing.assert_allclose(timed["error_pct"], (timed["predicted_ms"] / timed["measured_ms"] - 1) * 100)
    assert (timed["predicted_ms"] <= 0.5).all()  # feasible by the table
    within = list(timed["measured_ms"] <= 0.5)
    assert within == sorted(within, reverse=True) and summary["timed"]["within_budget"] == sum(within)
    best = summary["timed"]["best_measured"]
    assert (best is None) == (not any(within)) and "timed whole" in text and "timed.csv" in text
    if best is not None:  # the most accurate of those measured within the budget
        assert best["arch_str"] == timed["arch"].iloc[0]
        assert best["accuracy"] == pytest.approx(timed["accuracy"][within].max())
        assert best["arch_str"] in text


@pytest.mark.parametrize("field, value, fragment", [
    ("budget", 0, "SearchConfig.budget \\(--budget\\): got 0, expected a positive integer"),
    ("strategy", "annealing", "SearchConfig.strategy \\(--strategy\\): got 'annealing'"),
    ("objectives", ("accuracy", "flops"),
     "SearchConfig.objectives \\(--objectives\\): got \\('accuracy', 'flops'\\)"),
    ("latency_max", -1.0, "SearchConfig.latency_max \\(--latency-max\\): got -1.0"),
    ("backend", "slurm", "SearchConfig.backend \\(--backend\\): got 'slurm'"),
    ("time_front", 3, "SearchConfig.time_front \\(--time-front\\): got 3, expected 0 unless the search has"),
])
def test_search_config_errors_name_field_and_value(field, value, fragment):
    from nas import SearchConfig
    from supernet import ConfigError

    with pytest.raises(ConfigError, match=fragment):
        SearchConfig(**{field: value})


def test_a_rank_past_the_front_says_what_the_front_holds(tmp_path):
    from nas.export import arch_from_front

    single, front = tmp_path / "single", tmp_path / "front"
    assert main(["search", "--objectives", "params", "--macs-max", "5e6", "--budget", "30", "--quiet",
                 "--out", str(single)]) == 0
    assert main(["search", "--objectives", "params,macs", "--budget", "30", "--quiet",
                 "--out", str(front)]) == 0
    assert arch_from_front(single / "front.csv", 0) is not None
    with pytest.raises(NASError, match="holds one subnet, the best of a single-objective search: rank 0"):
        arch_from_front(single / "front.csv", 5)
    rows = len(pd.read_csv(front / "front.csv"))
    with pytest.raises(NASError, match=f"holds {rows} subnets: ranks 0..{rows - 1}"):
        arch_from_front(front / "front.csv", rows)
