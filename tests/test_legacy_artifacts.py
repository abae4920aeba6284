"""Artifacts written before block families (tests/fixtures/legacy, made by its make.py at
commit f628774) still load with the current code and give the numbers they gave then:
spaces and their hashes, arch JSON, encodings, costs, layouts, shipped latency tables and
predictors, checkpoints (shipped and a user's), search outputs and a model card."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from latency_tables import LatencyTable
from predictors import load_predictor
from supernet import ArchConfig, SearchSpace, arch_cost, get_space, load_supernet

HERE = Path(__file__).parent / "fixtures" / "legacy"
EXPECTED = json.loads((HERE / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["spaces"]))
def test_presets_keep_their_hash_encoding_cost_and_layout(name):
    want = EXPECTED["spaces"][name]
    space = get_space(name)
    assert space.hash == want["hash"]
    assert space.to_dict() == want["dict"]
    assert SearchSpace.from_dict(want["dict"]).hash == want["hash"]
    assert space.num_subnets == want["num_subnets"]
    archs = [ArchConfig.from_dict(a) for a in want["archs"]]
    assert [a.to_dict() for a in archs] == want["archs"]
    assert [str(a) for a in archs] == want["str"]
    fp32 = [a.with_precision("fp32") for a in archs]
    np.testing.assert_array_equal(space.encode(fp32), np.array(want["encoding_fp32"], np.float32))
    np.testing.assert_array_equal(space.with_precision("mixed").encode(archs),
                                  np.array(want["encoding_mixed"], np.float32))
    assert [vars(arch_cost(space, a)) for a in archs] == want["cost"]
    assert [[s.to_dict() for s in space.layout(a)] for a in archs] == want["layout"]


@pytest.mark.parametrize("name", sorted(EXPECTED["tables"]))
def test_shipped_tables_predict_what_they_did(name):
    want = EXPECTED["tables"][name]
    table = LatencyTable.load(name)
    got = table.predict([ArchConfig.from_json(a) for a in want["archs"]])
    np.testing.assert_allclose(got, want["ms"], rtol=1e-12)


def test_shipped_predictor_predicts_what_it_did():
    want = EXPECTED["predictors"]["pretrained:fmnist_small"]
    predictor = load_predictor("pretrained:fmnist_small")
    got = predictor.predict([ArchConfig.from_json(a) for a in want["archs"]])
    np.testing.assert_allclose(got, want["accuracy"], rtol=1e-6)


def _logits(model, archs, seed):
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for arch in archs:
            x = torch.randn(2, model.space.in_channels, arch.resolution, arch.resolution, generator=gen)
            out.append(model(x, arch).double().numpy())
    return out


@pytest.mark.parametrize("which, path, seed", [("pretrained_supernet", "pretrained:fmnist_small", 4),
                                                ("tiny_supernet", str(HERE / "tiny.pt"), 6)])
def test_checkpoints_load_and_compute_what_they_did(which, path, seed):
    want = EXPECTED[which]
    model, _ = load_supernet(path)
    archs = [ArchConfig.from_json(a) for a in want["archs"]]
    for got, ref in zip(_logits(model, archs, seed), want["logits"]):
        np.testing.assert_allclose(got, np.array(ref), rtol=1e-5, atol=1e-5)


def test_user_space_file_loads_with_its_hash():
    space = get_space(HERE / "tiny_space.json")
    model, payload = load_supernet(HERE / "tiny.pt")
    assert space.hash == model.space.hash == SearchSpace.from_dict(payload["space"]).hash


def test_search_front_reads_back_and_its_numbers_hold():
    front = pd.read_csv(HERE / "search" / "front.csv")
    summary = json.loads((HERE / "search" / "summary.json").read_text())
    archs = [ArchConfig.from_json(a) for a in front["arch"]]
    space = get_space(summary["space"])
    assert space.hash == summary["space_hash"]
    assert all(space.validate(a) for a in archs)
    predictor = load_predictor("pretrained:fmnist_small")
    np.testing.assert_allclose(predictor.predict(archs), front["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(LatencyTable.load(summary["device"]).predict(archs), front["latency"],
                               rtol=1e-9)


def test_model_card_reads_back():
    card = json.loads((HERE / "model.json").read_text())
    arch = ArchConfig.from_dict(card["arch"])
    assert arch == ArchConfig.from_json(EXPECTED["export"]["arch"])
    assert str(arch) == card["arch_str"]
    assert sorted(card) == EXPECTED["export"]["card_keys"]
    get_space("fmnist_small").validate(arch)
    done = subprocess.run([sys.executable, "-m", "nas.cli", "show", str(HERE / "model.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert card["arch_str"] in done.stdout
