"""`nas finetune`: a subnet trained on from its inherited weights gets better, a run killed
mid-epoch resumes to bit-identical weights, the fine-tuned weights export with parity, and
bad input ends with one clear line and leaves every file as it was."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import supernet
from nas.cli import main
from supernet import SearchSpace, Supernet, load_finetuned
from tests.predictors.test_predictors_collect import TINY

ROOT = Path(__file__).resolve().parents[2]


def tiny_supernet(folder: Path, *, images: int = 400, seed: int = 0, space: dict = TINY) -> Path:
    """A tiny untrained supernet whose checkpoint names a slice of Fashion-MNIST as its data."""
    tx, ty, vx, vy = supernet.load_fashion_mnist(supernet.DEFAULT_DATA_DIR)
    npz = folder / f"fmnist_{images}.npz"
    if not npz.exists():
        np.savez(npz, x_train=tx[:images], y_train=ty[:images], x_test=vx[:100], y_test=vy[:100])
    torch.manual_seed(seed)
    space = SearchSpace(**space)
    path = folder / f"supernet_{images}_{seed}_{space.name}.pt"
    supernet.save_checkpoint(path, {
        "model": Supernet(space).state_dict(), "space": space.to_dict(),
        "config": {"seed": 0, "data": {"dataset": "npz", "path": str(npz), "val_size": 100,
                                       "calib_images": 64}}})
    return path


def arch_json(path: Path) -> str:
    space = SearchSpace(**TINY)
    return json.dumps(space.sample(3).to_dict())


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_finetuning_beats_the_inherited_weights_and_exports_with_parity(tmp_path, capsys):
    ckpt = tiny_supernet(tmp_path)
    run = tmp_path / "ft"
    assert main(["finetune", "--supernet", str(ckpt), "--arch", arch_json(ckpt), "--out", str(run),
                 "--epochs", "3", "--lr", "0.05", "--batch-size", "16", "--teacher", "none", "--quiet",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    before, after = summary["inherited"], summary["finetuned"]
    assert after["val_acc"] > before["val_acc"] and after["test_acc"] > before["test_acc"]
    assert [json.loads(ln)["global_epoch"] for ln in (run / "metrics.jsonl").read_text().splitlines()] == [
        0, 1, 2, 3]
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    net, payload = load_finetuned(run / "finetuned.pt")
    assert payload["finished"] and payload["finetuned"] == after

    onnx = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(run / "finetuned.pt"), "--out", str(onnx), "--timing-rounds", "5",
                 "--json"]) == 0
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["parity_max_abs_diff"] < 1e-4
    assert card["finetuned"]["inherited"] == before and card["finetuned"]["epochs"] == 3
    assert card["test_acc"] == pytest.approx(after["test_acc"])  # the fine-tuned weights, not inherited
    assert card["onnx_test_acc"] == pytest.approx(after["test_acc"], abs=1.01)  # ORT on raw uint8 images


def finetune_cmd(ckpt: Path, arch: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nas.cli", "finetune", "--supernet", str(ckpt), "--arch", arch, "--out",
            str(out), "--epochs", "3", "--batch-size", "16", "--threads", "1", "--quiet", *extra]


def test_sigkill_mid_epoch_then_resume_gives_bit_identical_weights(tmp_path):
    ckpt = tiny_supernet(tmp_path, images=2400)  # 144 steps of 16 per epoch: seconds, time to be killed
    arch = arch_json(ckpt)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref = subprocess.run(finetune_cmd(ckpt, arch, tmp_path / "ref"), cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen(finetune_cmd(ckpt, arch, run), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    metrics, deadline = run / "metrics.jsonl", time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:  # the inherited line + epoch 1
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    time.sleep(1.0)  # inside epoch 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, payload = load_finetuned(run / "finetuned.pt")
    assert not payload["finished"] and payload["epoch"] in (1, 2)

    done = subprocess.run(finetune_cmd(ckpt, arch, run, "--resume"), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    _, resumed = load_finetuned(run / "finetuned.pt")
    _, straight = load_finetuned(tmp_path / "ref" / "finetuned.pt")
    assert resumed["finished"] and resumed["finetuned"] == straight["finetuned"]
    assert resumed["model"].keys() == straight["model"].keys()
    assert all(torch.equal(resumed["model"][k], straight["model"][k]) for k in straight["model"])
    assert [json.loads(ln)["global_epoch"] for ln in metrics.read_text().splitlines()] == [0, 1, 2, 3]


def test_bad_input_is_one_clear_line_and_changes_no_file(tmp_path, capsys):
    ckpt = tiny_supernet(tmp_path)
    other_weights = tiny_supernet(tmp_path, seed=1)  # same space, another supernet
    other_space = tiny_supernet(tmp_path, space={**TINY, "name": "tiny_other", "stage_widths": (8, 24)})
    arch = arch_json(ckpt)
    run = tmp_path / "ft"
    assert main(["finetune", "--supernet", str(ckpt), "--arch", arch, "--out", str(run), "--epochs", "1",
                 "--batch-size", "16", "--quiet"]) == 0
    outside = json.dumps({**json.loads(arch), "resolution": 99})
    cases = {
        "resolution": ["--arch", outside, "--out", str(tmp_path / "new")],
        "space": ["--arch", arch, "--teacher", str(other_space), "--out", str(tmp_path / "new")],
        "another supernet": ["--arch", arch, "--out", str(run), "--resume", "--supernet", str(other_weights),
                             "--epochs", "1", "--batch-size", "16"],
        "epochs: got 0": ["--arch", arch, "--epochs", "0", "--out", str(tmp_path / "new")],
    }
    before = snapshot(tmp_path)
    for expected, args in cases.items():
        argv = ["finetune", "--supernet", str(ckpt), "--quiet", *args]
        if "--supernet" in args[1:]:
            argv = ["finetune", "--quiet", *args]
        assert main(argv) == 2, expected
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
        assert snapshot(tmp_path) == before, expected
        assert not (tmp_path / "new").exists()
    with pytest.raises(supernet.ArtifactMismatchError, match="fine-tuned subnet"):
        supernet.load_supernet(run / "finetuned.pt")  # a fine-tuned subnet is not a supernet
    assert main(["export", "--weights", str(run / "finetuned.pt"), "--supernet", str(other_weights),
                 "--out", str(tmp_path / "m.onnx")]) == 2
    assert "another supernet" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_two_processes_under_torchrun_finetune_to_one_model(tmp_path):
    """Data-parallel fine-tuning (gloo): each rank takes half of every batch, the averaged
    gradients keep one model, rank 0 writes it."""
    ckpt = tiny_supernet(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
           "nas.cli", "finetune", "--supernet", str(ckpt), "--arch", arch_json(ckpt), "--out",
           str(tmp_path / "ddp"), "--epochs", "2", "--batch-size", "16", "--quiet"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    _, payload = load_finetuned(tmp_path / "ddp" / "finetuned.pt")
    assert payload["finished"] and payload["metrics"]["device"].endswith("2 processes")
    assert payload["metrics"]["step"] == 2 * (300 // 16)  # 300 training images (100 held out), 16 a batch
