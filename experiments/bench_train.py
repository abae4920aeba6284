"""Supernet-training benchmarks, written as JSON under experiments/results/.

  python experiments/bench_train.py throughput    # ~minutes: images/s, eager fp32 vs the default path
  python experiments/bench_train.py overhead      # ~minutes: elastic vs static step time
  python experiments/bench_train.py fashion-mnist # hours: recipes compared, archs trained alone

``throughput``: training images/s of the largest arch, the smallest arch and one step of
the default recipe (its phase's sampled subnets), eager fp32 with contiguous tensors and
oneDNN's own depthwise backward against the default path (channels-last, the faster
depthwise backward), the two interleaved step by step on the same batches and subnets.

``overhead``: one training step (forward + backward + SGD step) of the supernet running its
largest (and smallest) arch, against the extracted static network of the same arch, same
batch, the two interleaved in one process; median of ``--steps`` steps each.

``fashion-mnist``: trains every recipe (``--recipe``; by default the sandwich rule with
in-place distillation, uniform sampling and progressive shrinking, experiments/fmnist_*.yaml,
equal budgets in subnet passes) and the same five archs alone, reports their test
accuracies, chooses the default recipe on validation accuracy and plots MACs against
accuracy (experiments/_recipes.py). Resumable: rerunning continues the runs under
``--runs`` and reuses finished ones. ``--jobs N`` runs the trainings side by side (on a GPU
they share it); ``--time-budget S`` shortens every epoch by one common fraction to fit.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
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
    Supernet,
    get_space,
    load_train_config,
)
from supernet.core import atomic_write_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
log = logging.getLogger("bench_train")


def machine() -> str:
    from supernet.train import device_label

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{device_label(torch.device('cpu'))}{gpu}, torch {torch.__version__}"


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ------------------------------------------------------------------------------ throughput
def step_fn(model, x, y, arch=None):
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(x, arch) if arch is not None else model(x)
        F.cross_entropy(out, y).backward()
        opt.step()
    return step


def interleaved(runners: dict, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per call of each runner, called in turn (alternating order) ``steps``
    times after ``warmup`` calls each."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    times = {k: [] for k in runners}
    order = list(runners)
    for i in range(steps):
        for k in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            runners[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _profile(run, steps: int) -> dict:
    """Share (%) of self CPU time of the ops that take most of ``steps`` calls of ``run``."""
    from torch.profiler import profile

    run()
    with profile() as prof:
        for _ in range(steps):
            run()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
    return {e.key: round(100.0 * e.self_cpu_time_total / total, 1) for e in top}


def _bandwidth() -> dict:
    """GB/s of ``torch.mul`` into a buffer (read + write), median of 30, at two sizes: what
    the cores stream from their caches (10 MB) and from memory (200 MB)."""
    out = {}
    for mb in (10, 200):  # one size at a time: interleaved, the large one would evict the small
        x, y = torch.randn(mb * 2**20 // 4), torch.empty(mb * 2**20 // 4)
        seconds = interleaved({mb: lambda x=x, y=y: torch.mul(x, 2.0, out=y)}, steps=30, warmup=2)[mb]
        out[f"{mb}_mb"] = round(2 * mb / 1024 / seconds, 1)
    return out


def throughput(args) -> dict:
    """Images/s of training steps: eager fp32 contiguous vs the default path, interleaved."""
    from supernet.nn import fast_kernels
    from supernet.train import step_archs, train_step

    torch.set_num_threads(args.threads)
    cfg = load_train_config(args.config)
    space, phase, opt = get_space(cfg.space), cfg.phases[-1], cfg.train
    torch.manual_seed(0)
    models = {False: Supernet(space).train()}  # eager fp32 contiguous, and the default path
    models[True] = copy.deepcopy(models[False]).to(memory_format=torch.channels_last)
    rng = np.random.default_rng(0)
    steps = [step_archs(space, phase, rng, int(rng.choice(space.resolutions)),
                        with_largest=opt.distill == "inplace") for _ in range(args.steps + args.warmup)]
    batch = {r: (torch.randn(args.batch_size, space.in_channels, r, r),
                 torch.randint(0, space.num_classes, (args.batch_size,))) for r in space.resolutions}
    eager_opt = dataclasses.replace(opt, amp="off")

    def runner(fixed_arch, default: bool, fused_bn: bool = True):
        state = {"i": 0}
        fmt = torch.channels_last if default else torch.contiguous_format
        model = models[default] if fused_bn else copy.deepcopy(models[default])
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

        def run():
            archs = [fixed_arch] if fixed_arch is not None else steps[state["i"] % len(steps)]
            state["i"] += 1
            x, y = batch[archs[0].resolution]
            optimizer.zero_grad(set_to_none=True)
            with fast_kernels(default, batch_norm=default and fused_bn):
                train_step(model, None, archs, x.contiguous(memory_format=fmt), y,
                           opt if default else eager_opt, inplace=opt.distill == "inplace")
            optimizer.step()
        return run

    result = {"space": space.name, "config": _shown(args.config), "batch_size": args.batch_size,
              "threads": args.threads, "steps": args.steps, "machine": machine(),
              "load_average_before": load_average(),
              "recipe_step": f"phase {phase.name!r}: {len(steps[0])} subnets per step"
                             f"{' (sandwich)' if phase.sandwich else ''}, distill {opt.distill}, "
                             "resolution sampled per step",
              "eager_fp32": "contiguous NCHW tensors, oneDNN's depthwise backward, PyTorch's batch "
                            "norm and activations, fp32",
              "default": "channels-last tensors, the faster depthwise backward (supernet/_conv.py), "
                         f"batch norm fused with its activation (supernet/_fused.py), amp {opt.amp}"}
    for name, arch in (("largest", space.largest(args.resolution)),
                       ("smallest", space.smallest(args.resolution)), ("recipe_step", None)):
        runners = {"eager_fp32": runner(arch, False), "default": runner(arch, True)}
        if arch is None:  # the ablation: the default path with PyTorch's batch norm and activations
            runners["default_unfused_bn"] = runner(arch, True, fused_bn=False)
        med = interleaved(runners, args.steps, args.warmup)
        result[name] = {k: {"step_s": round(v, 4), "images_per_s": round(args.batch_size / v, 1)}
                        for k, v in med.items()}
        result[name]["speedup"] = round(med["eager_fp32"] / med["default"], 3)
        log.info("%s: eager fp32 %.3f s, default %.3f s per step (%.2fx)", name, med["eager_fp32"],
                 med["default"], result[name]["speedup"])
    result["recipe_step"]["fused_bn_speedup"] = round(med["default_unfused_bn"] / med["default"], 3)
    result["speedup_default_vs_eager_fp32"] = result["recipe_step"]["speedup"]
    result["profile_default_recipe_step"] = _profile(runner(None, True), steps=5)
    result["memory_bandwidth_gb_s"] = _bandwidth()
    result["load_average_after"] = load_average()
    result["note"] = _load_note(result["load_average_before"][0])
    return result


def gpu(args) -> dict:
    """Images/s of ``ofa_mbv3`` training steps on CUDA at 224 px: eager fp32 (NCHW, no
    autocast) vs the default GPU path (bf16 autocast; NCHW, see `memory_format`)."""
    from supernet.nn import memory_format
    from supernet.train import train_step

    if not torch.cuda.is_available():
        raise SystemExit("bench_train.py gpu: no CUDA device here; nothing measured, nothing written")
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    space = get_space(args.space)
    cfg = load_train_config(args.config)
    fast, eager = dataclasses.replace(cfg.train, amp="bf16"), dataclasses.replace(cfg.train, amp="off")
    torch.manual_seed(0)
    model = Supernet(space).to(device).train()
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, device=device)
    y = torch.randint(0, space.num_classes, (args.batch_size,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def runner(arch, opt):
        xs = x.contiguous(memory_format=memory_format(device)) if opt is fast else x

        def run():
            optimizer.zero_grad(set_to_none=True)
            train_step(model, None, [arch], xs, y, opt)
            optimizer.step()
            torch.cuda.synchronize()
        return run

    result = {"space": space.name, "batch_size": args.batch_size, "resolution": args.resolution,
              "steps": args.steps, "device": torch.cuda.get_device_name(0), "machine": machine(),
              "torch": torch.__version__}
    for name in ("largest", "smallest"):
        arch = getattr(space, name)(args.resolution)
        med = interleaved({"eager_fp32": runner(arch, eager), "default": runner(arch, fast)}, args.steps,
                          args.warmup)
        result[name] = {k: {"step_s": round(v, 4), "images_per_s": round(args.batch_size / v, 1)}
                        for k, v in med.items()}
        result[name]["speedup"] = round(med["eager_fp32"] / med["default"], 3)
    return result


# ---------------------------------------------------------------------------------- overhead
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
        static = supernet.extract(arch).train().to(memory_format=torch.channels_last)
        supernet.to(memory_format=torch.channels_last)  # both on the default path
        x = torch.randn(args.batch_size, space.in_channels, arch.resolution, arch.resolution)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, space.num_classes, (args.batch_size,))
        med = interleaved({"supernet": step_fn(supernet, x, y, arch), "static": step_fn(static, x, y)},
                          args.steps, args.warmup)
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
def fashion_mnist(args) -> dict:
    """Every recipe of ``--recipe`` and the five archs alone, compared (experiments/_recipes.py)."""
    from _recipes import compare, plot_recipes

    started = time.time()
    overrides = {"data.path": args.data_dir} if args.data_dir else None
    recipes = {}
    for spec in args.recipe:
        name, _, path = spec.partition("=")
        recipes[name] = load_train_config(path or HERE / f"fmnist_{name}.yaml", overrides)
    alone_epochs = args.alone_epochs or next(iter(recipes.values())).total_epochs
    result = compare(recipes, runs=Path(args.runs), alone_epochs=alone_epochs, default=args.default,
                     workers=args.jobs, device=args.device, fraction=args.steps_fraction,
                     time_budget=args.time_budget, probe_seconds=args.probe_seconds)
    result["plot"] = plot_recipes(result, Path(args.out).with_suffix(".png")).name  # beside the JSON
    result.update({"machine": machine(), "configs": {n: _shown(str(args.recipe_paths.get(n, "")))
                                                     for n in recipes},
                   "wall_note": "wall_minutes: each recipe's logged epoch seconds (training and "
                                "per-epoch evaluation); with parallel_jobs > 1 the jobs shared the "
                                "machine, so each ran slower than it would alone. This invocation: "
                                f"{(time.time() - started) / 60:.1f} min",
                   "git_commit": _git_commit()})
    if args.collect:
        atomic_write_json(args.out, result)  # the comparison is safe before the long collection
        result["collection"] = _collect_default(args, result)
    return result


def _collect_default(args, result: dict) -> dict:
    """The default recipe's accuracy table for the predictor (``nas collect`` as a library)."""
    from predictors import CollectConfig, collect

    ckpt = result["recipes"][result["default_recipe"]]["checkpoint"]
    out = Path(args.runs) / f"predictor_{result['default_recipe']}" / "accuracy.csv"
    tic = time.time()
    table = collect(CollectConfig(supernet=ckpt, out=str(out), num_archs=args.collect,
                                  workers=args.collect_workers, device=args.device,
                                  data_dir=args.data_dir, eval_batch=1000 if args.device != "cpu" else 250),
                    progress=False)
    return {"table": str(out), "rows": len(table), "minutes": round((time.time() - tic) / 60, 1),
            "device": args.device, "workers": args.collect_workers}


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
    t = sub.add_parser("throughput", help="images/s, eager fp32 vs default -> results/throughput.json")
    t.add_argument("--config", default=str(HERE / "fmnist_sandwich.yaml"),
                   help="the recipe whose step is timed (its last phase)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--resolution", type=int, default=28, help="of the largest and smallest archs")
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--out", default=str(RESULTS / "throughput.json"))
    g = sub.add_parser("gpu", help="ofa_mbv3 images/s on CUDA, eager fp32 vs default -> results/gpu.json")
    g.add_argument("--space", default="ofa_mbv3")
    g.add_argument("--config", default=str(HERE / "fmnist_sandwich.yaml"), help="its train options")
    g.add_argument("--batch-size", type=int, default=128)
    g.add_argument("--resolution", type=int, default=224)
    g.add_argument("--steps", type=int, default=20)
    g.add_argument("--warmup", type=int, default=5)
    g.add_argument("--out", default=str(RESULTS / "gpu.json"))
    f = sub.add_parser("fashion-mnist", help="recipes vs archs alone -> results/train_fashion_mnist.json")
    f.add_argument("--recipe", action="append", default=None, metavar="NAME[=CONFIG]",
                   help="a recipe to compare (default: sandwich, uniform, ps; CONFIG defaults to "
                        "experiments/fmnist_NAME.yaml); repeat the option for each")
    f.add_argument("--default", default="auto",
                   help="the default recipe's name, or auto: the best mean validation accuracy")
    f.add_argument("--alone-epochs", type=int, default=None,
                   help="epochs of each arch trained alone (default: the first recipe's epochs)")
    f.add_argument("--runs", default="runs", help="folder of the runs (keep it outside the checkout)")
    f.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the Debian one)")
    f.add_argument("--jobs", type=int, default=1, help="trainings run side by side (processes)")
    f.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    f.add_argument("--steps-fraction", type=float, default=None,
                   help="cut every epoch of every job to this fraction of its steps (short runs)")
    f.add_argument("--time-budget", type=float, default=None,
                   help="seconds the training may take: time the jobs, then cut epochs to fit")
    f.add_argument("--probe-seconds", type=float, default=20.0,
                   help="with --time-budget: seconds each job is timed before the runs")
    f.add_argument("--collect", type=int, default=0,
                   help="then collect this many archs' accuracies from the default supernet")
    f.add_argument("--collect-workers", type=int, default=1)
    f.add_argument("--out", default=str(RESULTS / "train_fashion_mnist.json"))
    args = parser.parse_args(argv)
    if args.bench == "fashion-mnist":
        args.recipe = args.recipe or ["sandwich", "uniform", "ps"]
        args.recipe_paths = {n: p or HERE / f"fmnist_{n}.yaml"
                             for n, _, p in (r.partition("=") for r in args.recipe)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    benches = {"overhead": overhead, "throughput": throughput, "gpu": gpu, "fashion-mnist": fashion_mnist}
    result = benches[args.bench](args)
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
