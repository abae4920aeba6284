"""End to end on real Fashion-MNIST images with a tiny space: train, latency table, predictor,
searches under three budgets, ONNX export, report; then the same run reused, and bad input."""

import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from nas.cli import main
from nas.pipeline import (
    DEMO_CONFIG,
    DEMO_TRAIN_CONFIG,
    ExperimentConfig,
    FinetuneStage,
    load_experiment,
    plan_experiment,
    run_experiment,
)
from supernet import ArtifactMismatchError, ConfigError, NASError, load_checkpoint, save_checkpoint
from tests.conftest import tiny_space


def tiny_experiment(tmp_path, **search) -> ExperimentConfig:
    (tmp_path / "space.json").write_text(json.dumps(tiny_space(num_classes=10).to_dict()))
    config = {
        "name": "tiny",
        "train": {
            "space": str(tmp_path / "space.json"), "seed": 0,
            "data": {"dataset": "fashion_mnist", "val_size": 600, "train_subset": 512,
                     "calib_images": 128, "eval_images": 200},
            "train": {"batch_size": 64, "max_steps_per_epoch": 4, "threads": 1},
            "phases": [{"name": "full", "epochs": 1, "lr": 0.1, "kd": False, "kernels": [5],
                        "expands": [3], "depths": [2]},
                       {"name": "shrink", "epochs": 1, "lr": 0.03, "subnets_per_step": 2}],
        },
        "latency": {"rounds": 5, "calibration_archs": 0},
        "predictor": {"num_archs": 24, "models": ["ridge"]},
        "search": {"budget": 60, **search},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_experiment(path)


def from_trained(tmp_path, *, supernet: str, predictor: str) -> ExperimentConfig:
    """The tiny experiment without training or fitting: a trained supernet and predictor
    (and the latency table the first run built)."""
    config = {"name": "tiny-trained", "supernet": supernet, "predictor": {"path": predictor},
              "latency": {"table": str(tmp_path / "run" / "latency" / "table.csv")}, "search": {"budget": 60}}
    path = tmp_path / "experiment_trained.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_experiment(path)


def test_tiny_experiment_end_to_end_and_rerun(tmp_path):
    out = tmp_path / "run"
    plan = plan_experiment(tiny_experiment(tmp_path), out)  # --dry-run: every stage to do, nothing done
    stages = ["train", "latency", "predictor", "front", *(f"budget {i}" for i in range(3))]
    assert [r["stage"] for r in plan] == stages
    assert not any(r["reused"] for r in plan) and all(r["seconds"] > 0 for r in plan) and not out.exists()
    summary = run_experiment(tiny_experiment(tmp_path), out)
    assert len(summary["budgets"]) == 3
    budgets = [row["latency_budget_ms"] for row in summary["budgets"]]
    assert budgets == sorted(budgets)
    for row in summary["budgets"]:
        assert row["parity_max_abs_diff"] <= 1e-4
        assert row["predicted_latency_ms"] <= row["latency_budget_ms"]
        assert 0.0 <= row["test_acc"] <= 100.0
        card = json.loads(Path(row["onnx_path"]).with_suffix(".json").read_text())
        assert card["provenance"]["supernet_hash"] and card["arch_str"] == row["arch"]
    for i, row in enumerate(summary["budgets"]):  # front timed on this machine, then exported
        verified = json.loads((out / "search" / f"budget_{i}" / "verified.json").read_text())
        timed = [c["measured_ms"] for c in verified["candidates"]]
        within = [t <= budgets[i] for t in timed]
        assert within == sorted(within, reverse=True)  # those measured within budget come first
        assert timed[sum(within):] == sorted(timed[sum(within):])  # then the others, fastest first
        tried = row["export_attempts"]
        names = [c["arch_str"] for c in verified["candidates"][:tried]]
        assert row["meets_budget"] == (row["measured_latency_ms"] <= budgets[i])
        card = json.loads(Path(row["onnx_path"]).with_suffix(".json").read_text())
        if not card["export_fallback"]:  # the first one whose export timing met the budget
            assert row["meets_budget"] and row["arch"] == names[-1]
        else:  # three tried, none met it: the fastest of them is kept (timed again, it may meet it now)
            assert tried == min(3, len(timed)) and row["arch"] in names
    for name in ("report.md", "pareto.png", "front.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    ckpt_time = (out / "supernet" / "supernet.pt").stat().st_mtime
    model_times = [Path(r["onnx_path"]).stat().st_mtime_ns for r in summary["budgets"]]
    again = run_experiment(tiny_experiment(tmp_path), out)
    assert (out / "supernet" / "supernet.pt").stat().st_mtime == ckpt_time  # training reused
    assert [r["arch"] for r in again["budgets"]] == [r["arch"] for r in summary["budgets"]]
    assert [Path(r["onnx_path"]).stat().st_mtime_ns for r in again["budgets"]] == model_times  # reused
    assert all(r["reused"] and r["seconds"] == 0 for r in plan_experiment(tiny_experiment(tmp_path), out))
    assert all(s["reused"] for s in again["stages"].values()) and not any(
        s["reused"] for s in summary["stages"].values())
    assert again["stage_seconds"] == summary["stage_seconds"]  # as measured when they ran
    assert again["total_seconds"] >= summary["total_seconds"] > 0
    report = (out / "report.md").read_text()
    assert f"train {summary['stage_seconds']['train']} (reused)" in report and "train 0.0" not in report

    # fine-tuning added to the finished run: the chosen subnets fine-tuned and exported again
    tuned = run_experiment(replace(tiny_experiment(tmp_path), finetune=FinetuneStage(epochs=1)), out)
    for before, row in zip(summary["budgets"], tuned["budgets"]):
        assert row["arch"] == before["arch"] and row["finetune_epochs"] == 1
        assert row["inherited_test_acc"] == pytest.approx(before["test_acc"], abs=0.5)
        card = json.loads(Path(row["onnx_path"]).with_suffix(".json").read_text())
        assert card["finetuned"]["epochs"] == 1 and card["parity_max_abs_diff"] <= 1e-4
        assert card["test_acc"] == pytest.approx(card["finetuned"]["finetuned"]["test_acc"])
    assert "Fine-tuned from their inherited weights" in (out / "report.md").read_text()
    for epochs, done in ((1, True), (2, False)):
        plan = plan_experiment(replace(tiny_experiment(tmp_path), finetune=FinetuneStage(epochs=epochs)), out)
        assert [r["reused"] for r in plan if r["stage"].startswith("finetune")] == [done] * 3

    # from a trained supernet and a fitted predictor: neither stage runs again
    given = {"supernet": str(out / "supernet" / "supernet.pt"),
             "predictor": str(out / "predictor" / "models")}
    reused = run_experiment(from_trained(tmp_path, **given), tmp_path / "run_given")
    assert not (tmp_path / "run_given" / "supernet").exists()
    assert not (tmp_path / "run_given" / "predictor").exists()
    assert reused["supernet"] == given["supernet"] and reused["predictor"] == given["predictor"]
    assert len(reused["budgets"]) == 3 and all(r["parity_max_abs_diff"] <= 1e-4 for r in reused["budgets"])
    assert reused["latency_table"] == str(out / "latency" / "table.csv")  # given, not rebuilt
    other = tmp_path / "other.pt"  # another checkpoint: the predictor was not fitted on it
    save_checkpoint(other, {**load_checkpoint(given["supernet"]), "note": "another run"})
    with pytest.raises(ArtifactMismatchError, match="fitted on accuracies of supernet"):
        run_experiment(from_trained(tmp_path, supernet=str(other), predictor=given["predictor"]),
                       tmp_path / "run_other")

    # a budget under the fastest subnet is refused with the figure that would work
    with pytest.raises(NASError, match="cannot be met on this device: the fastest subnet"):
        run_experiment(tiny_experiment(tmp_path, latency_budgets_ms=[1e-4]), tmp_path / "run2")
    # another config in the same folder is refused; nothing is overwritten
    with pytest.raises(NASError, match="different experiment config"):
        run_experiment(tiny_experiment(tmp_path, budget=61), out)
    # export refuses to overwrite and checks its arguments
    model = summary["budgets"][0]["onnx_path"]
    arch = json.dumps(json.loads(Path(model).with_suffix(".json").read_text())["arch"])
    rc = main(["export", "--supernet", str(out / "supernet" / "supernet.pt"), "--arch", arch, "--out", model])
    assert rc == 2
    rc = main(["export", "--supernet", str(out / "supernet" / "supernet.pt"), "--front",
               str(out / "front.csv"), "--rank", "999", "--out", str(tmp_path / "x.onnx")])
    assert rc == 2


def test_the_demo_dry_run_runs_nothing(tmp_path, capsys):
    assert main(["demo", "--dry-run", "--finetune", "2", "--out", str(tmp_path / "d"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    stages = {r["stage"]: r for r in record["stages"]}
    assert stages["train"]["reused"] and stages["predictor"]["reused"]  # the pretrained ones
    assert stages["latency"]["seconds"] > 0 and len([s for s in stages if s.startswith("budget")]) == 3
    assert stages["finetune 0"]["seconds"] > 0 and not (tmp_path / "d").exists()
    assert main(["demo", "--dry-run", "--out", str(tmp_path / "d")]) == 0
    assert "dry run: nothing was run" in capsys.readouterr().out


def test_a_run_logged_to_a_file_reads_well(tmp_path):
    """As CI sees it: stdout and stderr to a file, no terminal. Plain progress lines (no
    carriage returns), fewer than 100 of them, no traceback, and the closing summary."""
    tiny_experiment(tmp_path)
    log = tmp_path / "run.log"
    with open(log, "w") as fh:
        argv = ["run", "--config", str(tmp_path / "experiment.yaml"), "--out", str(tmp_path / "run")]
        done = subprocess.run([sys.executable, "-m", "nas.cli", *argv], stdout=fh, stderr=subprocess.STDOUT,
                              cwd=Path(__file__).resolve().parents[2], timeout=1200)
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert "\r" not in text and "Traceback" not in text and "\x1b[" not in text
    updates = [line for line in text.splitlines() if re.search(r"\d+/\d+ .*\(\d+ %\)", line)]
    assert 0 < len(updates) < 100, len(updates)
    assert "tiny done in" in text and "budget (ms)" in text and str(tmp_path / "run" / "report.md") in text


def test_export_within_budget_tries_the_next_candidate(tmp_path):
    from nas.pipeline._run import _export_within_budget

    space = tiny_space(num_classes=10)
    a, b, c, d = (space.sample(i) for i in range(4))
    measured = {a: 1.2, b: 0.95, c: 0.9, d: 0.5}
    tried = []

    def export(arch):
        tried.append(arch)
        return {"arch": arch.to_dict(), "measured_latency_ms": measured[arch]}

    card = _export_within_budget(export, [a, b, c, d], 0.92, tmp_path / "m.onnx")
    assert tried == [a, b, c] and card["arch"] == c.to_dict() and card["export_attempts"] == 3
    assert not card["export_fallback"]
    assert json.loads((tmp_path / "m.json").read_text())["latency_budget_ms"] == 0.92
    assert _export_within_budget(export, [a, b, c, d], 0.92, tmp_path / "m.onnx") == card  # reused
    assert len(tried) == 3
    tried.clear()  # none of three meets 0.1 ms: the fastest tried (c) is kept
    card = _export_within_budget(export, [a, c, b, d], 0.1, tmp_path / "n.onnx")
    assert tried == [a, c, b, c] and card["arch"] == c.to_dict() and card["export_attempts"] == 3
    assert card["export_fallback"]
    tried.clear()  # timed again, the fastest of three now meets the budget: still a fallback
    timings = iter([0.3, 0.25, 0.28, 0.2])
    card = _export_within_budget(lambda arch: {**export(arch), "measured_latency_ms": next(timings)},
                                 [a, b, c, d], 0.22, tmp_path / "p.onnx")
    assert tried == [a, b, c, b] and card["arch"] == b.to_dict() and card["export_fallback"]
    assert card["measured_latency_ms"] <= 0.22
    with pytest.raises(NASError, match="no feasible subnet"):
        _export_within_budget(export, [], 1.0, tmp_path / "o.onnx")


def test_stage_clock_keeps_measured_times_across_reruns_and_a_kill(tmp_path, caplog):
    from nas.pipeline._stages import RECORD, StageClock

    def work(path, seconds):  # a stage: writes its output unless it is there already
        if not path.exists():
            time.sleep(seconds)
            path.write_text("done")
        return path.name

    first = StageClock(tmp_path)
    assert first.run("a", tmp_path / "a", work, tmp_path / "a", 0.2) == "a"
    first.run("b", tmp_path / "b", work, tmp_path / "b", 0.1)
    first.run("given", None, work, tmp_path / "a", 0)  # checks a given artifact: always runs
    ran = first.finish()
    measured = json.loads((tmp_path / RECORD).read_text())["stages"]["a"]["seconds"]
    assert ran["stage_seconds"]["a"] >= 0.2 and ran["total_seconds"] >= 0.3
    assert not any(s["reused"] for s in ran["stages"].values())
    (tmp_path / "b").unlink()  # b to do again
    killed = StageClock(tmp_path)
    killed.run("a", tmp_path / "a", work, tmp_path / "a", 0.2)
    killed.run("b", tmp_path / "b", work, tmp_path / "b", 0.3)  # then killed: no finish
    again = StageClock(tmp_path).finish()
    assert again["total_seconds"] >= ran["total_seconds"] + 0.3  # the killed run's finished stages count
    record = json.loads((tmp_path / RECORD).read_text())
    assert record["runs"] == 3 and record["stages"]["a"] == {"seconds": measured, "reused": True}
    assert record["stages"]["b"]["seconds"] >= 0.4 and not record["stages"]["b"]["reused"]
    (tmp_path / RECORD).write_text('{"runs": 1, "elapsed_seconds": -5, "stages": {}}')
    with caplog.at_level("WARNING"):
        assert StageClock(tmp_path).finish()["total_seconds"] < 1  # a damaged record is not trusted
    assert "damaged" in caplog.text


@pytest.mark.parametrize(
    "patch, fragment",
    [
        ({"serch": {}}, "experiment: got \\['serch'\\]"),
        ({"search": {"budget": 0}}, "search.budget: got 0"),
        ({"search": {"latency_budgets_ms": [-1]}}, "search.latency_budgets_ms: got \\(-1,\\)|got \\[-1\\]"),
        ({"latency": {"threads": "two"}}, "latency.threads: got 'two'"),
        ({"predictor": {"colour": 1}}, "predictor: got \\['colour'\\]"),
    ],
)
def test_experiment_config_errors_name_key_and_value(patch, fragment):
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(patch)
    with pytest.raises(ConfigError, match=fragment):
        ExperimentConfig.from_dict(data)


def test_demo_configs_are_valid_and_complete():
    config = load_experiment()  # the pretrained supernet and predictor
    assert config.supernet == "pretrained:fmnist_small" and config.train is None
    assert config.predictor.path == "pretrained:fmnist_small" and config.search.latency_budgets_ms is None
    trained = load_experiment(DEMO_TRAIN_CONFIG)  # `nas demo --train`: the default recipe in small
    assert trained.supernet is None and trained.train.space == "fmnist_small"
    assert [p.sandwich for p in trained.train.phases] == [True] and trained.train.train.distill == "inplace"


def test_experiment_needs_training_or_a_trained_supernet():
    with pytest.raises(ConfigError, match="unless `supernet` names a trained one"):
        ExperimentConfig.from_dict({"name": "x"})
    with pytest.raises(ConfigError, match="supernet: got 3"):
        ExperimentConfig.from_dict({"supernet": 3})
    with pytest.raises(ConfigError, match="predictor.path: got ''"):
        ExperimentConfig.from_dict({"supernet": "a.pt", "predictor": {"path": ""}})
