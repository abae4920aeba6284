"""The small Fashion-MNIST preset of each new family trains in its quick config and runs the
whole chain: train (a few steps an epoch), latency table at one resolution, collect, fit,
search under a budget, export with ONNX parity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from latency_tables import LatencyTable
from nas.cli import main
from supernet import get_space, load_supernet

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("name, config", [("fmnist_resnet", "fmnist_resnet_quick.yaml"),
                                          ("fmnist_proxyless", "fmnist_proxyless_quick.yaml")])
def test_quick_config_and_chain(tmp_path, capsys, name, config):
    run, work = tmp_path / "run", tmp_path / "work"
    quick = yaml.safe_load((ROOT / "experiments" / config).read_text())  # its schedule, on less data
    quick["data"].update(train_subset=2000, eval_images=200, calib_images=200)
    (tmp_path / config).write_text(yaml.safe_dump(quick))
    assert main(["train", "--config", str(tmp_path / config), "--out", str(run),
                 "--max-steps-per-epoch", "3", "--no-progress"]) == 0
    model, payload = load_supernet(run / "supernet.pt")
    assert model.space == get_space(name) and payload["finished"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(m["loss"] == m["loss"] for m in metrics)  # finite, not NaN
    table = work / "t.csv"
    assert main(["latency", "build", "--space", name, "--resolution", "28", "--out", str(table),
                 "--rounds", "2", "--passes", "1", "--calibration-archs", "2", "--quiet"]) == 0
    assert main(["collect", "--supernet", str(run / "supernet.pt"), "--num-archs", "28",
                 "--calib-images", "64", "--out", str(work / "acc.csv"), "--no-progress"]) == 0
    assert main(["fit-predictor", "--data", str(work / "acc.csv"), "--models", "ridge",
                 "--out", str(work / "fit")]) == 0
    space = get_space(name)
    budget = float(LatencyTable.load(table).predict([space.smallest(28), space.largest(28)]).mean())
    assert main(["search", "--space", name, "--predictor", str(work / "fit"), "--table", str(table),
                 "--latency-max", str(budget), "--budget", "60", "--out", str(work / "search")]) == 0
    front = pd.read_csv(work / "search" / "front.csv")
    assert len(front) >= 1 and (front["latency"] <= budget).all()
    capsys.readouterr()
    assert main(["export", "--supernet", str(run / "supernet.pt"), "--front",
                 str(work / "search" / "front.csv"), "--table", str(table), "--out", str(work / "m.onnx"),
                 "--timing-rounds", "20"]) == 0
    card = json.loads((work / "m.json").read_text())
    assert card["parity_max_abs_diff"] < 1e-3 and card["provenance"]["family"] == space.family
    # twelve steps leave a small subnet near chance, so check the ONNX graph (raw uint8 test images,
    # its own cast and normalisation) classifies as PyTorch does, not that the net learnt
    assert 0 <= card["onnx_test_acc"] <= 100 and abs(card["onnx_test_acc"] - card["test_acc"]) <= 1.0
