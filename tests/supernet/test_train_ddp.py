"""Two CPU processes under torchrun (gloo): every rank samples the same subnets and the
averaged gradients keep the ranks' parameters identical; a run directory that only some
ranks see is refused by all of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests._train_helpers import quadrant_images, write_config

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import sys, torch
from supernet import NASError, Supernet, get_space, init_distributed, load_train_config, train
from supernet.train import shutdown_distributed

config, out = load_train_config(sys.argv[1]), sys.argv[2]
env = init_distributed()
model = Supernet(get_space(config.space))
initial = {k: v.detach().clone() for k, v in model.named_parameters()}
train(config, out, model=model, progress=False)
params = {k: v.detach().clone() for k, v in model.named_parameters()}
# a run directory only rank 0 sees: every rank refuses (none goes on alone and hangs)
where = out if env.rank == 0 else f"{out}/not_shared"
try:
    train(config, where, resume=True, progress=False)
    refused = ""
except NASError as err:
    refused = str(err)
torch.save({"world": env.world, "initial": initial, "params": params, "refused": refused},
           f"{out}/params_rank{env.rank}.pt")
shutdown_distributed()
"""


def _image_folder(root: Path) -> Path:
    """The tiny data set as PNG files in class folders, plus one broken file."""
    from PIL import Image

    for split, n, seed in (("train", 160, 0), ("val", 20, 1)):
        x, y = quadrant_images(n, seed=seed)
        for i in range(n):
            folder = root / split / f"q{y[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(folder / f"{i:04d}.png")
    (root / "train" / "q1" / "0000_broken.png").write_bytes(b"not a png")
    return root


@pytest.mark.parametrize("data", ["npz", "streamed folder"])
def test_two_processes_keep_identical_parameters(tmp_path, data):
    phases = [{"name": "full", "epochs": 1, "lr": 0.1, "kd": False, "kernels": [5], "expands": [3],
               "depths": [2]},
              {"name": "elastic", "epochs": 1, "lr": 0.05, "subnets_per_step": 3, "sandwich": True}]
    folder = {"dataset": "imagefolder", "path": str(_image_folder(tmp_path / "images")), "stream": True,
              "image_size": 16, "workers": 1, "min_crop_scale": 0.5}
    config = write_config(tmp_path, phases, train={"batch_size": 32, "max_steps_per_epoch": 3},
                          data=folder if data != "npz" else None)
    (tmp_path / "worker.py").write_text(WORKER)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(tmp_path / "worker.py"), str(config), str(run)]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ranks = [torch.load(run / f"params_rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert all("every process sees" in r["refused"] for r in ranks)
    p0, p1 = ranks[0]["params"], ranks[1]["params"]
    assert p0.keys() == p1.keys() and len(p0) > 10
    for name in p0:
        assert torch.equal(p0[name], p1[name]), name
    changed = [k for k in p0 if not torch.equal(ranks[0]["initial"][k], p0[k])]
    assert len(changed) > len(p0) // 2, "training did not move the parameters"


ELASTIC_WORKER = """
import json, os, signal, sys, threading, time, torch
from pathlib import Path
from supernet import Supernet, get_space, init_distributed, load_train_config, train
from supernet.train import shutdown_distributed

config, out = load_train_config(sys.argv[1]), Path(sys.argv[2])
env = init_distributed()
attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
(out / f"rank{env.rank}_attempt{attempt}.pid").parent.mkdir(parents=True, exist_ok=True)
(out / f"rank{env.rank}_attempt{attempt}.pid").write_text(str(os.getpid()))
torch.manual_seed(0)  # the same start in both runs (rank 0's weights are broadcast)
model = Supernet(get_space(config.space))
train(config, out, model=model, resume=True, progress=False)
torch.save({k: v.detach().clone() for k, v in model.named_parameters()}, out / f"params_rank{env.rank}.pt")
shutdown_distributed()
"""


def test_two_nodes_under_torchrun_resume_after_a_killed_worker(tmp_path):
    """`torchrun --nnodes 2` launched twice (c10d rendezvous) trains to the same weights as
    one two-process run, even when one worker is SIGKILLed mid-epoch: the job stops, the
    same two commands started again resume from the last epoch's checkpoint and finish."""
    import json
    import signal
    import socket
    import time

    phases = [{"name": "elastic", "epochs": 3, "lr": 0.05, "subnets_per_step": 2, "sandwich": True}]
    config = write_config(tmp_path, phases, train={"batch_size": 16, "max_steps_per_epoch": 12})
    (tmp_path / "worker.py").write_text(ELASTIC_WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run"]
    script = [str(tmp_path / "worker.py"), str(config)]
    alone = subprocess.run([*launch, "--standalone", "--nproc_per_node", "2", *script, str(tmp_path / "one")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr[-3000:]

    def start_nodes(run_id: str) -> list[subprocess.Popen]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        node = [*launch, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", run_id, *script, str(run)]
        return [subprocess.Popen(node, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for _ in range(2)]

    run = tmp_path / "two"
    nodes = start_nodes("first")
    try:
        metrics, deadline = run / "metrics.jsonl", time.monotonic() + 240
        while not (metrics.exists() and metrics.read_text().strip()):  # epoch 1 checkpointed
            assert time.monotonic() < deadline and all(p.poll() is None for p in nodes), "no first epoch"
            time.sleep(0.05)
        os.kill(int((run / "rank1_attempt0.pid").read_text()), signal.SIGKILL)  # mid-epoch 2
        for p in nodes:
            p.communicate(timeout=180)
        assert any(p.returncode != 0 for p in nodes), "the job went on without a worker"
        nodes = start_nodes("again")  # what a scheduler or the user does next
        logs = [p.communicate(timeout=300)[0] for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    assert all(p.returncode == 0 for p in nodes), "\n".join(log[-2000:] for log in logs)
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == [1, 2, 3]  # epoch 1 was not trained again, none was lost
    want = torch.load(tmp_path / "one" / "params_rank0.pt", weights_only=True)
    for rank in range(2):
        got = torch.load(run / f"params_rank{rank}.pt", weights_only=True)
        assert got.keys() == want.keys()
        for name in want:
            assert torch.equal(got[name], want[name]), (rank, name)
