"""Scale-out figures on this machine: accuracy collection as Ray tasks with 1 and 2
workers, and data-parallel training steps with 1 and 2 processes under torchrun.

    python experiments/bench_scale.py                  # ~4 min on 2 idle cores
    python experiments/bench_scale.py --archs 8        # a quick look

Collection (the pretrained ``fmnist_small`` supernet, ``--calib-images`` per arch, chunks
of 2 archs per task): the seconds to put the checkpoint and evaluation data in the object
store, the first task's overhead (its wall time minus the measuring time its rows record:
worker start, fetching the shared objects, building the supernet), and archs/s from the
first submission to the last result, for a local Ray of 1 and of 2 CPUs; the in-process
collection with one worker beside them. Training: median seconds per sandwich step
(4 subnets) of ``fmnist_small`` at a global batch of ``--batch-size``, split over 1 or 2
processes of 1 thread each. Results: ``experiments/results/scale.json``."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

STEP_WORKER = """
import json, os, statistics, sys, time, numpy as np, torch
import torch.nn.functional as F
from supernet import Supernet, get_space, init_distributed
from supernet.nn import memory_format
from supernet.train import average_gradients, shutdown_distributed
from supernet.train import step_archs
from supernet.train import PhaseConfig, TrainConfig
from supernet.train import to_device, train_step

torch.set_num_threads(1)
env = init_distributed()
batch, steps, out = int(sys.argv[1]) // env.world, int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
space = get_space("fmnist_small")
model = Supernet(space).to(memory_format=memory_format(torch.device("cpu"))).train()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
cfg = TrainConfig.from_dict({"space": "fmnist_small", "phases": [{"name": "s", "epochs": 1, "lr": 0.1,
                             "subnets_per_step": 4, "sandwich": True}]})
rng, times = np.random.default_rng(env.rank), []
for i in range(steps + 3):
    res = int(np.random.default_rng(i).choice(space.resolutions))
    x = to_device(torch.randn(batch, space.in_channels, res, res), torch.device("cpu"), True)
    y = torch.randint(0, space.num_classes, (batch,))
    start = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    archs = step_archs(space, cfg.phases[0], np.random.default_rng(i), res, with_largest=False)
    train_step(model, None, archs, x, y, cfg.train, inplace=False)
    average_gradients(model, env)
    opt.step()
    if i >= 3:
        times.append(time.perf_counter() - start)
if env.rank == 0:
    json.dump({"median_s": statistics.median(times), "steps": steps}, open(out, "w"))
shutdown_distributed()
"""


def collection(archs: int, calib_images: int, cpus: int) -> dict:
    """One collection on a fresh local Ray of ``cpus`` CPUs, timed from the outside."""
    import ray

    from predictors import plan_archs
    from predictors.labels._collect import _ray_measure
    from supernet import SearchSpace, load_checkpoint, load_eval_data

    payload = load_checkpoint("pretrained:fmnist_small")
    space = SearchSpace.from_dict(payload["space"])
    plan = [(i, s, a.to_json()) for i, (a, s) in enumerate(plan_archs(space, archs, seed=0))]
    chunks = [plan[i:i + 2] for i in range(0, len(plan), 2)]
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        data = load_eval_data(payload, calib_images=calib_images)
        t0 = time.perf_counter()
        shared = [ray.put(payload), ray.put(data)]
        put_s = time.perf_counter() - t0
        task = ray.remote(num_cpus=1)(_ray_measure)
        start = time.perf_counter()
        pending = {task.remote(shared, "cpu", c): i for i, c in enumerate(chunks)}
        first, rows = None, []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            got = ray.get(done[0])
            pending.pop(done[0])
            if first is None:
                first = time.perf_counter() - start - sum(r["seconds"] for r in got)
            rows += got
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    return {"ray_cpus": cpus, "archs": len(rows), "put_seconds": round(put_s, 3),
            "first_task_overhead_s": round(first, 2), "seconds": round(wall, 2),
            "archs_per_s": round(len(rows) / wall, 3),
            "measure_seconds_per_arch": round(statistics.fmean(r["seconds"] for r in rows), 3)}


def local_collection(archs: int, calib_images: int) -> dict:
    from predictors import CollectConfig, collect

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = collect(CollectConfig(supernet="pretrained:fmnist_small", out=f"{tmp}/a.csv", num_archs=archs,
                                      calib_images=calib_images), progress=False)
        wall = time.perf_counter() - t0
    return {"archs": len(table), "seconds": round(wall, 2), "archs_per_s": round(len(table) / wall, 3)}


def step_time(procs: int, batch: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "w.py", Path(tmp) / "r.json"
        script.write_text(STEP_WORKER)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                        str(procs), str(script), str(batch), str(steps), str(out)],
                       env=env, check=True, capture_output=True, timeout=900)
        return json.loads(out.read_text())["median_s"]


def main() -> None:
    from bench_train import machine

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=24)
    p.add_argument("--calib-images", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", default=str(ROOT / "experiments" / "results" / "scale.json"))
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    ray_runs = [collection(args.archs, args.calib_images, k) for k in (1, 2)]
    local = local_collection(args.archs, args.calib_images)
    steps = {k: step_time(k, args.batch_size, args.steps) for k in (1, 2)}
    result = {
        "command": " ".join(["python", "experiments/bench_scale.py", *sys.argv[1:]]),
        "machine": machine(), "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "collection": {"ray": ray_runs, "local_one_process": local,
                       "ray_2_over_1_archs_per_s": round(ray_runs[1]["archs_per_s"]
                                                         / ray_runs[0]["archs_per_s"], 2),
                       "calib_images": args.calib_images, "archs_per_task": 2},
        "training": {"global_batch": args.batch_size, "subnets_per_step": 4,
                     "step_seconds": {f"{k}_processes": round(v, 4) for k, v in steps.items()},
                     "speedup_2_over_1": round(steps[1] / steps[2], 2)},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
