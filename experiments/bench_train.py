"""Supernet-training benchmarks, written as JSON under experiments/results/.

  python experiments/bench_train.py overhead      # ~minutes: elastic vs static step time
  python experiments/bench_train.py fashion-mnist # hours: PS run, uniform baseline, archs alone

``overhead``: one training step (forward + backward + SGD step) of the supernet running its
largest (and smallest) arch, against the extracted static network of the same arch, same
batch, the two interleaved in one process; median of ``--steps`` steps each.

``fashion-mnist``: trains experiments/fmnist_ps.yaml (progressive shrinking) and
experiments/fmnist_uniform.yaml (uniform sampling from the start, same budget), trains the
same five archs alone, and reports test accuracies. Each part is resumable: rerunning the
command continues the runs under runs/bench_* and reuses finished ones (archs trained alone
are kept in runs/bench_fmnist_alone.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from supernet import (
    PhaseConfig,
    Subnet,
    Supernet,
    arch_cost,
    build_data,
    evaluate_arch,
    get_space,
    load_supernet,
    load_train_config,
    plot_curves,
    read_metrics,
    recalibrate_bn,
    resize,
    train,
)
from supernet._io import atomic_write_json
from supernet._schedule import make_optimizer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
log = logging.getLogger("bench_train")


def machine() -> str:
    from latency_tables._measure import cpu_model

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu_model()}, {os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}"


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ---------------------------------------------------------------------------------- overhead
def step_fn(model, x, y, arch=None):
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(x, arch) if arch is not None else model(x)
        F.cross_entropy(out, y).backward()
        opt.step()
    return step


def overhead(args) -> dict:
    """Top-level keys for the first thread count of ``--threads``; all under ``by_threads``."""
    runs = {t: overhead_at(args, t) for t in args.threads}
    result = dict(runs[args.threads[0]])
    if len(runs) > 1:
        result["by_threads"] = {str(t): r for t, r in runs.items()}
    return result


def overhead_at(args, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    space = get_space(args.space)
    supernet = Supernet(space).train()
    result = {"space": space.name, "batch_size": args.batch_size, "threads": threads,
              "steps": args.steps, "machine": machine(), "load_average_before": load_average()}
    for name, arch in (("largest", space.largest(args.resolution)),
                       ("smallest", space.smallest(args.resolution))):
        static = supernet.extract(arch).train()
        x = torch.randn(args.batch_size, space.in_channels, arch.resolution, arch.resolution)
        y = torch.randint(0, space.num_classes, (args.batch_size,))
        runners = {"supernet": step_fn(supernet, x, y, arch), "static": step_fn(static, x, y)}
        times = {k: [] for k in runners}
        for run in runners.values():
            for _ in range(args.warmup):
                run()
        order = list(runners)
        for i in range(args.steps):
            for k in order if i % 2 == 0 else order[::-1]:  # interleaved, alternating order
                t0 = time.perf_counter()
                runners[k]()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        result[f"overhead_ratio_{name}"] = round(med["supernet"] / med["static"], 4)
        result[f"{name}_arch"] = str(arch)
        result[f"{name}_supernet_step_s"] = round(med["supernet"], 4)
        result[f"{name}_static_step_s"] = round(med["static"], 4)
        log.info("%s, %d thread(s): supernet %.3f s, static %.3f s per step, ratio %.3f", name, threads,
                 med["supernet"], med["static"], result[f"overhead_ratio_{name}"])
    result["load_average_after"] = load_average()
    result["note"] = _load_note(result["load_average_before"][0])
    return result


def _load_note(load_before: float) -> str:
    """Whether other jobs were running when the measurement started (our own threads count
    in the load average afterwards, so only the load before is a sign of others)."""
    busy = load_before > 0.5 * os.cpu_count()
    return ("MACHINE LOADED by other jobs (see load_average_*, cores: "
            f"{os.cpu_count()}): the two networks were interleaved step by step, but with more "
            "runnable threads than cores the ratios carry scheduling noise; rerun on an idle "
            "machine for the reference figure" if busy else "machine otherwise idle")


# ----------------------------------------------------------------------------- fashion-mnist
def spread_archs(space, seed: int = 0) -> dict[str, object]:
    """Smallest, largest, and the archs at the 25/50/75 % MAC quantiles of 200 random ones."""
    rng = np.random.default_rng(seed)
    archs = sorted((space.sample(rng) for _ in range(200)), key=lambda a: arch_cost(space, a).macs)
    picks = {"smallest": space.smallest(), "largest": space.largest()}
    for q in (25, 50, 75):
        picks[f"mac_q{q}"] = archs[len(archs) * q // 100]
    return picks


def train_alone(space, arch, data, epochs: int, cfg, seed: int) -> Subnet:
    """The arch as a static network from scratch: same data, batch, optimizer, schedule shape."""
    torch.manual_seed(seed)
    net = Subnet.build(space.layout(arch), space.dropout)
    phase = PhaseConfig(name="alone", epochs=epochs, lr=cfg.phases[0].lr,
                        warmup_epochs=cfg.phases[0].warmup_epochs)
    steps = min(len(data.train), cfg.train.max_steps_per_epoch or len(data.train))
    optimizer, scheduler = make_optimizer(net, cfg.train, phase, steps)
    for epoch in range(epochs):
        net.train()
        for _, (x, y) in zip(range(steps), data.train.epoch(seed * 1000 + epoch)):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(resize(x, arch.resolution)), y,
                                   label_smoothing=cfg.train.label_smoothing)
            loss.backward()
            optimizer.step()
            scheduler.step()
        log.info("alone %s: epoch %d/%d, last loss %.3f", arch, epoch + 1, epochs, loss.item())
    return recalibrate_bn(net, (resize(x, arch.resolution) for x, _ in data.calib.epoch(0)))


def fashion_mnist(args) -> dict:
    from supernet import accuracy

    started = time.time()
    ps_cfg, uni_cfg = load_train_config(args.config), load_train_config(args.uniform_config)
    torch.set_num_threads(ps_cfg.train.threads or torch.get_num_threads())
    runs = {"ps": (ps_cfg, Path(args.runs) / "bench_fmnist_ps"),
            "uniform": (uni_cfg, Path(args.runs) / "bench_fmnist_uniform")}
    for name, (cfg, out) in runs.items():
        log.info("training %s in %s", name, out)
        train(cfg, out, resume=True, progress=args.progress)
    curves = plot_curves({"progressive shrinking": runs["ps"][1] / "metrics.jsonl",
                          "uniform sampling": runs["uniform"][1] / "metrics.jsonl"},
                         Path(args.out).with_suffix(".png"), title="Fashion-MNIST supernet training")
    space = get_space(ps_cfg.space)
    data = build_data(ps_cfg.data, ps_cfg.train.batch_size, seed=ps_cfg.seed)
    archs = spread_archs(space)
    acc, tic = {}, time.time()
    for name, (_, out) in runs.items():
        model, _ = load_supernet(out / "supernet.pt")
        acc[name] = {k: round(evaluate_arch(model, a, data.calib, data.test), 3) for k, a in archs.items()}
    eval_minutes = (time.time() - tic) / 60
    alone_epochs = args.alone_epochs or ps_cfg.phases[0].epochs
    alone_file = Path(args.runs) / "bench_fmnist_alone.json"  # finished archs survive a restart
    done = json.loads(alone_file.read_text()) if alone_file.is_file() else {}
    alone = {}
    setup = _alone_setup(ps_cfg)
    for k, arch in archs.items():
        key = f"{arch.to_json()} epochs={alone_epochs} setup={setup}"
        if key not in done:
            tic = time.time()
            net = train_alone(space, arch, data, alone_epochs, ps_cfg, seed=1)
            done[key] = {"acc": round(accuracy(net, data.test, arch.resolution), 3),
                         "minutes": round((time.time() - tic) / 60, 1)}
            atomic_write_json(alone_file, done)
        alone[k] = done[key]
    gaps = [acc["ps"][k] - alone[k]["acc"] for k in archs]
    minutes = {"ps": _run_minutes(runs["ps"][1]), "uniform": _run_minutes(runs["uniform"][1]),
               "alone": round(sum(a["minutes"] for a in alone.values()), 1)}
    return {
        "acc_largest": acc["ps"]["largest"], "acc_smallest": acc["ps"]["smallest"],
        "acc_between": {k: acc["ps"][k] for k in archs if k.startswith("mac_")},
        "archs": {k: {"arch": a.to_dict(), "str": str(a), "macs": arch_cost(space, a).macs}
                  for k, a in archs.items()},
        "acc_inherited": acc["ps"], "acc_alone": {k: a["acc"] for k, a in alone.items()},
        "acc_uniform": acc["uniform"],
        "alone_budget": f"{alone_epochs} epochs each, from scratch, same data/batch/optimizer",
        "inherited_minus_alone_mean": round(float(np.mean(gaps)), 3),
        "uniform_acc_smallest": acc["uniform"]["smallest"],
        "uniform_acc_mean": round(float(np.mean(list(acc["uniform"].values()))), 3),
        "ps_acc_mean": round(float(np.mean(list(acc["ps"].values()))), 3),
        "wall_minutes": round(sum(minutes.values()) + eval_minutes, 1),
        "wall_note": "training of the two supernets (their logged per-epoch seconds) + the five "
                     "archs alone + the test evaluation; runs reused from earlier invocations count "
                     "with their logged times. This invocation: "
                     f"{(time.time() - started) / 60:.1f} min",
        **{f"{k}_train_minutes": v for k, v in minutes.items()},
        "epoch_seconds_median": {k: _epoch_seconds(out) for k, (_, out) in runs.items()},
        "machine": machine(), "configs": [_shown(args.config), _shown(args.uniform_config)],
        "curves": curves.name,  # beside this file
        "git_commit": _git_commit(), "test_images": len(data.test.images),
    }


def _alone_setup(cfg) -> str:
    """A digest of what training alone depends on besides the arch and epochs, so that a
    changed config does not reuse accuracies cached under the old one."""
    c = cfg.to_dict()
    parts = {"space": c["space"], "seed": c["seed"], "train": c["train"],
             "data": {**c["data"], "path": None}, "lr": c["phases"][0]["lr"],
             "warmup": c["phases"][0].get("warmup_epochs")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


def _run_minutes(out: Path) -> float:
    """Sum of the per-epoch seconds (training + evaluation) logged by a run."""
    return round(sum(r["seconds"] for r in read_metrics(out / "metrics.jsonl")) / 60, 1)


def _epoch_seconds(out: Path) -> float:
    """Median seconds of a run's epochs: robust to the odd epoch slowed by other work."""
    return round(statistics.median(r["seconds"] for r in read_metrics(out / "metrics.jsonl")), 1)


def _shown(path: str) -> str:
    """``path`` relative to the repository when it lies inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(HERE.parent)) if p.is_relative_to(HERE.parent) else str(p)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=HERE, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="bench", required=True)
    p = sub.add_parser("overhead", help="supernet vs static step time -> results/overhead.json")
    p.add_argument("--space", default="fmnist_small")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--resolution", type=int, default=28)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[2],
                   help="torch thread counts to measure at (the first one gives the top-level keys)")
    p.add_argument("--out", default=str(RESULTS / "overhead.json"))
    f = sub.add_parser("fashion-mnist", help="full PS run + baselines -> results/train_fashion_mnist.json")
    f.add_argument("--config", default=str(HERE / "fmnist_ps.yaml"))
    f.add_argument("--uniform-config", default=str(HERE / "fmnist_uniform.yaml"))
    f.add_argument("--alone-epochs", type=int, default=None,
                   help="epochs for each arch trained alone (default: the full-net phase's epochs)")
    f.add_argument("--runs", default="runs")
    f.add_argument("--progress", action="store_true")
    f.add_argument("--out", default=str(RESULTS / "train_fashion_mnist.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    result = overhead(args) if args.bench == "overhead" else fashion_mnist(args)
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
