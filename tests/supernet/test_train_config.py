"""Training-config validation: every bad key or value is named in the error."""

from __future__ import annotations

import pytest
import yaml

from supernet import ConfigError, PhaseConfig, TrainConfig, load_train_config
from supernet.core import parse_assignments

PHASE = {"name": "full", "epochs": 1, "lr": 0.1}


def config(**changes) -> dict:
    base = {"space": "fmnist_small", "phases": [dict(PHASE)]}
    base.update(changes)
    return base


@pytest.mark.parametrize("data, needle", [
    (config(phases=[]), "phases"),
    (config(phases=[{**PHASE, "epochs": 0}]), "phases['full'].epochs: got 0"),
    (config(phases=[{**PHASE, "lr": -1}]), "phases['full'].lr: got -1"),
    (config(phases=[{**PHASE, "kernels": []}]), "phases['full'].kernels"),
    (config(phases=[{**PHASE, "kernels": "7"}]), "phases['full'].kernels: got '7'"),
    (config(phases=[{**PHASE, "sandwich": True}]), "phases['full'].subnets_per_step"),
    (config(phases=[{**PHASE, "ramp_epochs": 3}]), "phases['full'].ramp_epochs: got 3"),
    (config(phases=[{**PHASE, "colour": 1}]), "phases[0]: unknown key(s) ['colour']"),
    (config(phases=[{"name": "x", "lr": 0.1}]), "epochs"),
    (config(phases=[PHASE, PHASE]), "unique phase names"),
    (config(train={"distill": "teachr"}), "train.distill: got 'teachr'"),
    (config(train={"batch_size": 0}), "train.batch_size: got 0"),
    (config(train={"label_smoothing": 1.5}), "train.label_smoothing: got 1.5"),
    (config(data={"dataset": "mnist"}), "data.dataset: got 'mnist'"),
    (config(data={"val_size": -5}), "data.val_size: got -5"),
    (config(data={"flip": "yes"}), "data.flip: got 'yes'"),
    (config(epochs=3), "config: unknown key(s) ['epochs']"),
    (config(seed="one"), "seed: got 'one'"),
    (config(seed=-1), "seed: got -1, expected an integer >= 0"),
])
def test_bad_config_names_key_and_value(data, needle):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert needle in str(err.value)


def test_round_trip_and_defaults():
    cfg = TrainConfig.from_dict(config(phases=[{**PHASE, "kernels": [3, 7], "expands": [4, 6]}]))
    assert cfg.train.nesterov and cfg.train.label_smoothing == 0.1 and cfg.data.calib_images == 2000
    assert cfg.phases[0].kernels == (3, 7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(cfg.to_dict()["phases"][0]["kernels"], list)


def test_load_yaml_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config()))
    cfg = load_train_config(path, {"data.path": "/somewhere", "train.max_steps_per_epoch": 3})
    assert cfg.data.path == "/somewhere" and cfg.train.max_steps_per_epoch == 3
    assert cfg.phases == (PhaseConfig(**PHASE),)
    with pytest.raises(ConfigError, match="does not exist"):
        load_train_config(tmp_path / "missing.yaml")
    path.write_text(yaml.safe_dump({**config(), "data": None}))  # an empty section takes overrides
    assert load_train_config(path, {"data.path": "/x"}).data.path == "/x"
    path.write_text(yaml.safe_dump({**config(), "data": [1]}))
    with pytest.raises(ConfigError, match="'data' is list, not a section of keys"):
        load_train_config(path, {"data.path": "/x"})
    path.write_text(yaml.safe_dump(config()))  # --set KEY=VALUE: values read as YAML, any depth
    cfg = load_train_config(path, parse_assignments(["train.batch_size=64", "train.amp=off",
                                                     "data.mean=[0.5]", "data.std=[0.25]",
                                                     "train.max_steps_per_epoch=null"]))
    assert cfg.train.batch_size == 64 and cfg.train.amp == "off" and list(cfg.data.mean) == [0.5]
    assert cfg.train.max_steps_per_epoch is None
    for bad, fragment in (("train.batch_size", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"),
                          ("train.lr=[1,", "not valid YAML")):
        with pytest.raises(ConfigError, match=fragment):
            parse_assignments([bad])
    with pytest.raises(ConfigError, match="'train.batch_size' is int, not a section"):
        load_train_config(path, {"train.batch_size": 5, "train.batch_size.x": 1})
    (tmp_path / "bad.yaml").write_text("phases: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("name", ["fmnist_quick", "fmnist_ps", "fmnist_uniform", "fmnist_deps"])
def test_committed_configs_are_valid(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "experiments" / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} not present")
    cfg = load_train_config(path)
    assert cfg.phases[0].name and cfg.total_epochs > 0


def test_numbers_written_with_an_exponent_are_numbers(tmp_path):
    """``lr: 1e-3`` is a number in a config file and in ``--set`` (YAML 1.1 would read it as
    text and the config would refuse it as such)."""
    path = tmp_path / "c.yaml"
    phase = yaml.safe_dump({**config(), "phases": [{**PHASE, "lr": "LR"}]}).replace("LR", "1e-3")
    path.write_text(phase)
    assert load_train_config(path).phases[0].lr == 0.001
    assert parse_assignments(["train.weight_decay=3E-5", "name=1e3x"]) == {"train.weight_decay": 3e-5,
                                                                           "name": "1e3x"}
