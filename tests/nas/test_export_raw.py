"""A model a deployment engineer can use with onnxruntime alone: by default `nas export`
writes a graph that takes Fashion-MNIST's images as the dataset stores them (uint8, 28x28,
NCHW) and casts, normalises and resizes them itself; docs/deploy.md's client
(`experiments/onnx_client.py`), run where neither torch nor this project exists, gets the
card's test accuracy. `--bare` keeps the network's own input."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from nas.cli import main
from supernet import get_space

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "experiments" / "onnx_client.py"


def _export(tmp_path: Path, name: str, arch, *extra: str) -> tuple[Path, dict]:
    out = tmp_path / f"{name}.onnx"
    assert main(["export", "--supernet", "pretrained:fmnist_small", "--arch", arch.to_json(),
                 "--out", str(out), *extra]) == 0
    return out, json.loads(out.with_suffix(".json").read_text())


def test_a_client_with_onnxruntime_alone_reproduces_the_card(bare_python, tmp_path):
    arch = get_space("fmnist_small").sample(np.random.default_rng(2), resolutions=[20])  # 28 px -> 20 px
    model, card = _export(tmp_path, "raw", arch)
    contract = card["input"]
    assert contract["raw"] and contract["dtype"] == "uint8" and contract["shape"] == [None, 1, 28, 28]
    assert "20 px" in contract["note"] and card["parity_max_abs_diff"] < 1e-4
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    assert card["onnx_test_acc"] == pytest.approx(card["test_acc"], abs=0.05)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    for module in ("torch", "supernet"):
        probe = subprocess.run([str(bare_python), "-I", "-c", f"import {module}"], env=env,
                               capture_output=True)
        assert probe.returncode != 0, f"{module} is importable in the bare environment"
    done = subprocess.run([str(bare_python), "-I", str(CLIENT), str(model)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = float(re.search(r"test accuracy ([\d.]+) %", done.stdout).group(1))
    assert got == pytest.approx(card["test_acc"], abs=0.05)
    assert main(["show", str(model)]) == 0  # the card, as a person reads it


def test_bare_keeps_the_networks_own_input(tmp_path):
    arch = get_space("fmnist_small").smallest()
    model, card = _export(tmp_path, "bare", arch, "--bare")
    contract = card["input"]
    assert not contract["raw"] and contract["shape"] == [None, 1, arch.resolution, arch.resolution]
    assert contract["bare_because"] == "--bare" and "onnx_test_acc" not in card
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
