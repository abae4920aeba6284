"""Real (tiny) training runs: loss goes down, the schedule runs, the run dir is protected."""

from __future__ import annotations

import json

import pytest
import torch

from supernet import NASError, load_supernet, load_train_config, train
from supernet.train import device_label, step_archs
from tests._train_helpers import PS_PHASES, write_config


def test_training_lowers_loss_and_learns(tmp_path):
    phases = [{"name": "full", "epochs": 3, "lr": 0.1, "kd": False, "kernels": [5], "expands": [3],
               "depths": [2]}]
    cfg = load_train_config(write_config(tmp_path, phases, n_train=600))
    summary = train(cfg, tmp_path / "run", progress=False)
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    used = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")  # the trainer's pick
    assert {m["device"] for m in lines} == {device_label(used)}  # where each epoch ran
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert lines[-1]["acc_largest"] > 60.0  # 4 classes: chance is 25 %
    assert summary["final"]["global_epoch"] == 3


def test_progressive_shrinking_schedule_and_checkpoint(tmp_path):
    cfg = load_train_config(write_config(tmp_path, PS_PHASES, train={"max_steps_per_epoch": 3}))
    train(cfg, tmp_path / "run", progress=False)
    model, payload = load_supernet(tmp_path / "run" / "supernet.pt")
    assert payload["finished"] and payload["phase"] == 3 and payload["config"] == cfg.to_dict()
    assert payload["teacher"] is not None  # frozen full net from the second phase on
    assert set(payload["normalization"]) == {"mean", "std"}
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["phase"] for ln in lines] == ["full", "full", "kernel", "expand"]
    x = torch.randn(2, 1, 12, 12)
    assert model(x, model.space.smallest()).shape == (2, 4)
    with pytest.raises(NASError, match="--resume"):
        train(cfg, tmp_path / "run", progress=False)
    train(cfg, tmp_path / "run", resume=True, progress=False)  # finished: nothing left to do


@pytest.mark.parametrize("distill, sandwich", [("inplace", True), ("none", False)])
def test_sandwich_inplace_and_delayed_shrinking(tmp_path, distill, sandwich):
    phases = [{"name": "all", "epochs": 2, "lr": 0.05, "subnets_per_step": 3, "sandwich": sandwich,
               "ramp_epochs": 1}]
    cfg = load_train_config(write_config(tmp_path, phases, train={"max_steps_per_epoch": 2,
                                                                   "distill": distill}))
    train(cfg, tmp_path / "run", progress=False)
    _, payload = load_supernet(tmp_path / "run" / "supernet.pt")
    assert payload["finished"] and payload["teacher"] is None


def test_step_archs_follow_the_phase(tmp_path):
    import numpy as np

    cfg = load_train_config(write_config(tmp_path, PS_PHASES))
    from supernet import get_space

    space = get_space(cfg.space)
    rng = np.random.default_rng(0)
    kernel_phase = cfg.phases[1]
    for _ in range(20):
        for arch in step_archs(space, kernel_phase, rng, 16):
            assert arch.resolution == 16 and set(arch.depths) == {2}
            assert {e for s in arch.expand_ratios for e in s} == {3}
    sandwich = cfg.phases[2].__class__(name="s", epochs=1, lr=0.1, subnets_per_step=3, sandwich=True)
    archs = step_archs(space, sandwich, rng, 12)
    assert archs[0] == space.largest(12) and archs[1] == space.smallest(12) and len(archs) == 3
    assert step_archs(space, cfg.phases[0], rng, 12, shrink_prob=0.0) == [space.largest(12)]


def test_run_directory_guards(tmp_path):
    """Bad phases fail before anything is touched; a failed --force keeps the old run; a run
    killed before its first checkpoint needs --resume or --force; resume and force exclude
    each other; a changed config is refused naming the key."""
    from supernet import ConfigError

    cfg = load_train_config(write_config(tmp_path, PS_PHASES[:1], train={"max_steps_per_epoch": 2}))
    run = tmp_path / "run"
    bad = cfg.from_dict({**cfg.to_dict(), "phases": [{**PS_PHASES[0], "kernels": [9]}]})
    with pytest.raises(ConfigError, match=r"phases\[0\] 'full': kernels \[9\] are not in search space"):
        train(bad, run, progress=False)
    assert not run.exists()
    train(cfg, run, progress=False)
    before = (run / "supernet.pt").read_bytes()
    with pytest.raises(ConfigError, match="kernels"):
        train(bad, run, force=True, progress=False)
    assert (run / "supernet.pt").read_bytes() == before
    with pytest.raises(NASError, match="exclude each other"):
        train(cfg, run, resume=True, force=True, progress=False)
    changed = cfg.from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "label_smoothing": 0.2}})
    with pytest.raises(NASError, match=r"differs in train\.label_smoothing\)"):
        train(changed, run, resume=True, progress=False)

    (run / "supernet.pt").unlink()  # as if killed between the metrics line and the checkpoint
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text() + '{"global_epoch": 1, "trunc')
    with pytest.raises(NASError, match="metrics.jsonl"):
        train(cfg, run, progress=False)
    train(cfg, run, resume=True, progress=False)  # no checkpoint: starts over, old lines dropped
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["global_epoch"] for ln in lines] == [1, 2]


def test_same_config_same_weights(tmp_path):
    cfg = load_train_config(write_config(tmp_path, PS_PHASES[:1], train={"max_steps_per_epoch": 2}))
    weights = []
    for name in ("a", "b"):
        train(cfg, tmp_path / name, progress=False)
        weights.append(load_supernet(tmp_path / name / "supernet.pt")[0].state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_teacher_is_the_net_the_first_phase_left(tmp_path):
    """Even when the phase after it learns from labels alone, the teacher is frozen at the end
    of the first phase: the same config cut after that phase gives the teacher's weights."""
    phases = [PS_PHASES[0], {**PS_PHASES[1], "kd": False}, {**PS_PHASES[2], "kd": True}]
    cfg = load_train_config(write_config(tmp_path, phases, train={"max_steps_per_epoch": 2}))
    train(cfg, tmp_path / "ps", progress=False)
    train(cfg.from_dict({**cfg.to_dict(), "phases": phases[:1]}), tmp_path / "full", progress=False)
    teacher = load_supernet(tmp_path / "ps" / "supernet.pt")[1]["teacher"]
    model = load_supernet(tmp_path / "full" / "supernet.pt")[0]
    full = model.extract(model.space.largest()).state_dict()  # the teacher is a static copy
    assert set(teacher) == set(full) and all(torch.equal(teacher[k], full[k]) for k in full)


def test_a_diverging_run_stops_at_the_step_and_keeps_the_last_good_epoch(tmp_path):
    """A learning rate that blows the loss up: the run stops with an error naming the phase,
    epoch and step, and the checkpoint and metrics keep the last finished epoch, no NaN."""
    phases = [{"name": "full", "epochs": 1, "lr": 0.1, "kd": False, "kernels": [5], "expands": [3],
               "depths": [2]},
              {"name": "wild", "epochs": 1, "lr": 1e3, "kd": False, "kernels": [5], "expands": [3],
               "depths": [2]}]
    cfg = load_train_config(write_config(tmp_path, phases, train={"max_steps_per_epoch": 6}))
    with pytest.raises(NASError, match=r"wild epoch 1, step \d: the loss is (nan|inf) \(not a finite"):
        train(cfg, tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "NaN" not in lines[0] and json.loads(lines[0])["phase"] == "full"
    _, payload = load_supernet(tmp_path / "run" / "supernet.pt")
    assert payload["metrics"]["global_epoch"] == 1
    assert all(torch.isfinite(v).all() for v in payload["model"].values() if v.is_floating_point())
