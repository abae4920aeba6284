"""A run killed with SIGKILL in the middle of an epoch resumes from its last checkpoint and
completes, through the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from supernet import load_supernet
from tests._train_helpers import write_config

ROOT = Path(__file__).resolve().parents[2]


def nas_train(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas.cli", "train", "--no-progress", *args]


def test_sigkill_mid_epoch_then_resume(tmp_path):
    phases = [{"name": "full", "epochs": 1, "lr": 0.1, "kd": False, "kernels": [5], "expands": [3],
               "depths": [2]},
              {"name": "elastic", "epochs": 2, "lr": 0.05, "subnets_per_step": 2}]
    # 1,200 images of batch 16: an epoch takes seconds, long enough to be killed inside one.
    config = write_config(tmp_path, phases, train={"batch_size": 16}, data={"calib_images": 32},
                          n_train=1200)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(nas_train("--config", str(config), "--out", str(run)), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    time.sleep(0.5)  # inside the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, payload = load_supernet(run / "supernet.pt")
    assert not payload["finished"]
    killed_at = payload["metrics"]["global_epoch"]
    assert 1 <= killed_at < 3

    done = subprocess.run(nas_train("--config", str(config), "--out", str(run), "--resume"), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    _, payload = load_supernet(run / "supernet.pt")
    assert payload["finished"] and payload["metrics"]["global_epoch"] == 3
    lines = [json.loads(ln) for ln in metrics.read_text().splitlines()]
    assert [m["global_epoch"] for m in lines] == [1, 2, 3]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["phase"] == "elastic"
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
