"""The recipe comparison behind ``bench_train.py fashion-mnist``: train several supernet
recipes and the same five archs alone, in parallel processes where asked, then measure
test accuracies, choose the default recipe on validation accuracy, plot, and optionally
collect the default supernet's accuracy table for the predictor.

Every training job is resumable (recipes resume from their checkpoints; an arch trained
alone is cached in its own JSON file once finished), so rerunning continues the work.
``--time-budget`` first times every job side by side for a few seconds and, if the full
budget would not fit, shortens every epoch of every job by one common fraction (the
JSON's ``steps_fraction``), so the recipes still get equal budgets."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from supernet import (
    PhaseConfig,
    Subnet,
    Supernet,
    TrainConfig,
    accuracy,
    arch_cost,
    build_data,
    evaluate_arch,
    get_space,
    load_supernet,
    read_metrics,
    recalibrate_bn,
    resize,
    save_checkpoint,
    train,
)
from supernet.core import atomic_write_json
from supernet.nn import memory_format
from supernet.train import make_optimizer, step_archs, to_device, train_step

log = logging.getLogger("bench_train")
ARCH_KEYS = ("smallest", "mac_q25", "mac_q50", "mac_q75", "largest")


# ------------------------------------------------------------------------------ the archs
def spread_archs(space, seed: int = 0) -> dict[str, object]:
    """Smallest, largest, and the archs at the 25/50/75 % MAC quantiles of 200 random ones."""
    rng = np.random.default_rng(seed)
    archs = sorted((space.sample(rng) for _ in range(200)), key=lambda a: arch_cost(space, a).macs)
    picks = {"smallest": space.smallest()}
    for q in (25, 50, 75):
        picks[f"mac_q{q}"] = archs[len(archs) * q // 100]
    picks["largest"] = space.largest()
    return picks


def with_fraction(cfg: TrainConfig, fraction: float, steps_per_epoch: int) -> TrainConfig:
    """``cfg`` with every epoch cut to ``fraction`` of its steps (1.0: unchanged)."""
    if fraction >= 1.0:
        return cfg
    steps = max(1, math.ceil(fraction * steps_per_epoch))
    steps = min(steps, cfg.train.max_steps_per_epoch or steps)  # never above the config's own cap
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_steps_per_epoch=steps))


def subnet_passes(cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Forward-backward subnet passes of a whole run (a frozen teacher's forward counts a
    third): the budget unit the recipes are made equal in."""
    total = 0.0
    for phase in cfg.phases:
        per_step = phase.subnets_per_step
        if cfg.train.distill == "inplace" and phase.kd and not phase.sandwich:
            per_step += 1  # the largest runs first as the in-place teacher
        if cfg.train.distill == "teacher" and phase.kd and phase is not cfg.phases[0]:
            per_step += 1 / 3
        total += phase.epochs * steps_per_epoch * per_step
    return total


# ---------------------------------------------------------------------------- the jobs
@dataclasses.dataclass(frozen=True)
class Job:
    """One training: a recipe (``arch`` None) or one arch alone from scratch."""

    name: str
    config: dict             # TrainConfig.to_dict(), as given (before any fraction)
    out: str                 # run directory (recipe) or result JSON (alone)
    arch: str | None = None  # ArchConfig JSON
    epochs: int = 0          # alone only
    steps_per_epoch: int = 1  # of the full training split
    fraction: float = 1.0
    device: str = "cpu"
    threads: int = 1
    seed: int = 1            # alone only: the initialisation and data order


def run_job(job: Job, probe_seconds: float = 0.0) -> dict:
    """Run ``job`` (in a worker process); with ``probe_seconds`` only time its steps on
    synthetic batches for that long and return the seconds per subnet pass."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {job.name}: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    if job.device == "cpu":  # the trainer takes a visible GPU; a CPU job must not see one
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    torch.set_num_threads(job.threads)
    cfg = TrainConfig.from_dict(job.config)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=job.threads))
    if probe_seconds:
        return {"name": job.name, "seconds_per_pass": _probe(job, cfg, probe_seconds)}
    if job.arch is None:
        out = Path(job.out)
        tic = time.time()
        train(with_fraction(cfg, job.fraction, job.steps_per_epoch), out, resume=True, progress=False)
        return {"name": job.name, "seconds": time.time() - tic}
    return train_alone_cached(job, cfg)


def _probe(job: Job, cfg: TrainConfig, seconds: float) -> float:
    from supernet import ArchConfig

    space, opt = get_space(cfg.space), cfg.train
    torch.manual_seed(0)
    device = torch.device(job.device)
    if job.arch is not None:
        arch = ArchConfig.from_json(job.arch)
        model = Subnet.build(space.layout(arch), space.dropout).to(device)
    else:
        model = Supernet(space).to(device)
    model = model.to(memory_format=memory_format(device)).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    rng = np.random.default_rng(0)
    phase = max(cfg.phases, key=lambda p: p.subnets_per_step)
    passes, start, n = 0, None, 0
    while start is None or time.perf_counter() - start < seconds:
        res = int(rng.choice(space.resolutions))
        x = to_device(torch.randn(opt.batch_size, space.in_channels, res, res), device, True)
        y = torch.randint(0, space.num_classes, (opt.batch_size,), device=device)
        optimizer.zero_grad(set_to_none=True)
        if job.arch is not None:
            x = to_device(resize(x, arch.resolution), device, True)
            F.cross_entropy(model(x), y).backward()
            k = 1
        else:
            archs = step_archs(space, phase, rng, res, with_largest=opt.distill == "inplace")
            train_step(model, None, archs, x, y, opt, inplace=opt.distill == "inplace")
            k = len(archs)
        optimizer.step()
        n += 1
        if n == 3:  # warm-up done: start the clock
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, passes = time.perf_counter(), 0
        else:
            passes += k
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / max(passes, 1)


def train_alone_cached(job: Job, cfg: TrainConfig) -> dict:
    """Train ``job.arch`` alone unless its result file exists; returns the result."""
    from supernet import ArchConfig

    out = Path(job.out)
    if out.is_file():
        return json.loads(out.read_text())
    space = get_space(cfg.space)
    arch = ArchConfig.from_json(job.arch)
    cfg = with_fraction(cfg, job.fraction, job.steps_per_epoch)
    data = build_data(cfg.data, cfg.train.batch_size, seed=cfg.seed)
    tic = time.time()
    ckpt = out.with_suffix(".ckpt")
    net = train_alone(space, arch, data, job.epochs, cfg, seed=job.seed, device=torch.device(job.device),
                      ckpt=ckpt)
    result = {"arch": job.arch, "epochs": job.epochs, "fraction": job.fraction,
              "acc": round(accuracy(net, data.test, arch.resolution, job.device), 3),
              "val_acc": round(accuracy(net, data.val, arch.resolution, job.device), 3),
              "minutes": round((time.time() - tic) / 60, 2), "device": job.device, "seed": job.seed}
    atomic_write_json(out, result)
    ckpt.unlink(missing_ok=True)
    return result


def train_alone(space, arch, data, epochs: int, cfg: TrainConfig, seed: int,
                device: torch.device | None = None, ckpt: Path | None = None) -> Subnet:
    """The arch as a static network from scratch: same data, batch, optimizer, label
    smoothing and learning rate as the recipe's first phase, one cosine schedule. With
    ``ckpt`` every finished epoch is saved there and a killed run resumes from it."""
    torch.manual_seed(seed)
    device = device or torch.device("cpu")
    net = Subnet.build(space.layout(arch), space.dropout).to(device)
    net = net.to(memory_format=memory_format(device))
    phase = PhaseConfig(name="alone", epochs=epochs, lr=cfg.phases[0].lr,
                        warmup_epochs=cfg.phases[0].warmup_epochs)
    steps = min(len(data.train), cfg.train.max_steps_per_epoch or len(data.train))
    optimizer, scheduler = make_optimizer(net, cfg.train, phase, steps)
    first = 0
    if ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        first = state["epoch"]
        log.info("alone %s: resumed after epoch %d/%d", arch, first, epochs)
    for epoch in range(first, epochs):
        net.train()
        for _, (x, y) in zip(range(steps), data.train.epoch(seed * 1000 + epoch)):
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(to_device(resize(x, arch.resolution), device, True)), y.to(device),
                                   label_smoothing=cfg.train.label_smoothing)
            loss.backward()
            optimizer.step()
            scheduler.step()
        log.info("alone %s: epoch %d/%d, last loss %.3f", arch, epoch + 1, epochs, loss.item())
        if ckpt is not None:
            save_checkpoint(ckpt, {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                                   "epoch": epoch + 1})
    return recalibrate_bn(net, (to_device(resize(x, arch.resolution), device, True)
                                for x, _ in data.calib.epoch(0)))


def run_jobs(jobs: list[Job], workers: int, probe_seconds: float = 0.0) -> list[dict]:
    """Every job in its own process (``workers`` at a time), or inline with one worker."""
    if workers <= 1:
        return [run_job(j, probe_seconds) for j in jobs]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(run_job, jobs, [probe_seconds] * len(jobs)))


# ------------------------------------------------------------------------- the benchmark
def alone_key(cfg: TrainConfig, arch_json: str, epochs: int, fraction: float, seed: int = 1) -> str:
    """What an arch trained alone depends on: a changed setup is trained again."""
    c = cfg.to_dict()
    data = {**c["data"], "path": None}
    if not data["stream"]:  # the streaming pipeline's own settings do not touch in-memory data
        data = {k: v for k, v in data.items()
                if k not in ("stream", "workers", "center_crop", "min_crop_scale")}
    data = {k: v for k, v in data.items() if not (k in ("mean", "std") and v is None)}  # the default
    parts = {"space": c["space"], "seed": c["seed"], "data": data,
             "train": {**c["train"], "threads": None, "channels_last": None},
             "lr": c["phases"][0]["lr"], "warmup": c["phases"][0]["warmup_epochs"],
             "arch": arch_json, "epochs": epochs, "fraction": fraction,
             **({"alone_seed": seed} if seed != 1 else {})}  # seed 1's keys predate the seed
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def compare(recipes: dict[str, TrainConfig], *, runs: Path, alone_epochs: int, default: str,
            workers: int = 1, device: str = "cpu", fraction: float | None = None,
            time_budget: float | None = None, probe_seconds: float = 20.0) -> dict:
    """Train every recipe and the five archs alone (equal budgets), evaluate, choose the
    default recipe (``default``: a recipe name, or ``auto``: the best mean validation
    accuracy over the five archs) and return the benchmark's record."""
    first = next(iter(recipes.values()))
    space = get_space(first.space)
    for name, cfg in recipes.items():
        if (cfg.space, cfg.data, cfg.train.batch_size) != (first.space, first.data, first.train.batch_size):
            raise ValueError(f"recipe {name!r}: space, data and batch size must equal the other recipes'")
    archs = spread_archs(space)
    data = build_data(first.data, first.train.batch_size, seed=first.seed)
    steps = len(data.train)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers)) if workers > 1 else (first.train.threads or 2)

    def jobs_at(f: float) -> list[Job]:
        tag = "" if f >= 1.0 else f"_f{f:.3f}"
        common = {"steps_per_epoch": steps, "fraction": f, "device": device, "threads": threads}
        runs_of = {name: Job(name, cfg.to_dict(), str(runs / f"bench_{name}{tag}"), **common)
                   for name, cfg in recipes.items()}
        alone_cfg = recipes.get(default, first)
        alone = [Job(f"alone_{k}", alone_cfg.to_dict(),
                     str(runs / "bench_alone" / f"{alone_key(alone_cfg, a.to_json(), alone_epochs, f)}.json"),
                     arch=a.to_json(), epochs=alone_epochs, **common) for k, a in archs.items()]
        if default not in runs_of:
            return [*runs_of.values(), *alone]
        # a named default first, then its comparison with the archs alone, then the others
        return [runs_of[default], *alone, *(j for n, j in runs_of.items() if n != default)]

    probe = None
    chosen = runs / "bench_fraction.json"  # a rerun continues at the fraction chosen first
    names = sorted(recipes)
    if fraction is None and time_budget and chosen.is_file():
        saved = json.loads(chosen.read_text())
        if saved.get("recipes") == names:
            fraction, probe = saved["fraction"], saved.get("probe")
            log.info("steps fraction %.3f, as chosen by the first run (%s)", fraction, chosen)
    if fraction is None and time_budget:
        jobs = jobs_at(1.0)
        timed = {r["name"]: r["seconds_per_pass"] for r in run_jobs(jobs, workers, probe_seconds)}
        need = {j.name: timed[j.name] * (subnet_passes(TrainConfig.from_dict(j.config), steps)
                                         if j.arch is None else j.epochs * steps) for j in jobs}
        fraction = min(1.0, 0.85 * time_budget / max(need.values()))  # 15 %: evaluation, start-up
        probe = {"seconds_per_pass": timed, "full_budget_seconds": {k: round(v, 1) for k, v in need.items()}}
        log.info("probe: full budget needs up to %.0f s per job side by side; steps fraction %.3f",
                 max(need.values()), fraction)
        atomic_write_json(chosen, {"recipes": names, "fraction": fraction, "probe": probe})
    fraction = min(1.0, fraction or 1.0)
    jobs = jobs_at(fraction)
    tic = time.time()
    results = run_jobs(jobs, workers)
    train_minutes = (time.time() - tic) / 60
    alone = {j.name.removeprefix("alone_"): r for j, r in zip(jobs, results) if j.arch is not None}

    table = {}
    for job in (j for j in jobs if j.arch is None):
        model, _ = load_supernet(Path(job.out) / "supernet.pt")
        model = model.to(device)
        acc = {k: round(evaluate_arch(model, a, data.calib, data.test, device), 3) for k, a in archs.items()}
        val = {k: round(evaluate_arch(model, a, data.calib, data.val, device), 3) for k, a in archs.items()}
        rows = read_metrics(Path(job.out) / "metrics.jsonl")
        cfg = recipes[job.name]
        table[job.name] = {
            "config": cfg.to_dict(), "acc": acc, "val_acc": val,
            "acc_mean": round(statistics.fmean(acc.values()), 3),
            "val_acc_mean": round(statistics.fmean(val.values()), 3),
            "minus_alone": {k: round(acc[k] - alone[k]["acc"], 3) for k in archs},
            "epochs": cfg.total_epochs, "subnet_epochs": round(subnet_passes(cfg, 1), 2),
            "wall_minutes": round(sum(r["seconds"] for r in rows) / 60, 1),
            "trained_on": trained_on(rows),
            "checkpoint": str(Path(job.out) / "supernet.pt"), "device": device}
    chosen = default if default in table else max(table, key=lambda n: table[n]["val_acc_mean"])
    best = table[chosen]
    gaps = list(best["minus_alone"].values())
    others = [n for n in table if n != chosen]
    return {
        "recipes": table, "default_recipe": chosen,
        "default_rule": "given" if default in table else "best mean validation accuracy of the 5 archs",
        "alone": {k: alone[k]["acc"] for k in archs}, "alone_val": {k: alone[k]["val_acc"] for k in archs},
        "alone_epochs": alone_epochs, "alone_minutes": {k: alone[k]["minutes"] for k in archs},
        "archs": {k: {"arch": a.to_dict(), "str": str(a), "macs": arch_cost(space, a).macs}
                  for k, a in archs.items()},
        "steps_fraction": round(fraction, 4), "probe": probe, "device": device,
        "parallel_jobs": workers, "train_wall_minutes_this_invocation": round(train_minutes, 1),
        "test_images": data.test.num_images,
        "targets": {
            "largest_ge_93": best["acc"]["largest"] >= 93.0,
            "smallest_ge_90": best["acc"]["smallest"] >= 90.0,
            "minus_alone_mean_ge_-0.5": statistics.fmean(gaps) >= -0.5,
            "minus_alone_worst_ge_-1.0": min(gaps) >= -1.0,
            "ge_every_other_recipe_on_every_arch": all(
                best["acc"][k] >= table[o]["acc"][k] for o in others for k in archs),
        },
        "minus_alone_mean": round(statistics.fmean(gaps), 3), "minus_alone_worst": round(min(gaps), 3),
    }


def trained_on(rows: list[dict]) -> dict[str, dict]:
    """A run's epochs and their minutes per machine that trained them (its metrics lines'
    ``device``): a resumed run may have moved, say from a GPU to a CPU."""
    epochs, seconds = Counter(), Counter()
    for row in rows:
        where = row.get("device", "not recorded")
        epochs[where] += 1
        seconds[where] += row["seconds"]
    return {where: {"epochs": n, "minutes": round(seconds[where] / 60, 1)} for where, n in epochs.items()}


def plot_recipes(result: dict, out: Path) -> Path:
    """MACs against test accuracy of the five archs: one line per recipe, one for alone."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from supernet.core import atomic_path

    macs = [result["archs"][k]["macs"] / 1e6 for k in ARCH_KEYS]
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=110)
    for name, rec in result["recipes"].items():
        star = " (default)" if name == result["default_recipe"] else ""
        ax.plot(macs, [rec["acc"][k] for k in ARCH_KEYS], marker="o", lw=2 if star else 1.2,
                label=f"{name}{star}")
    fraction = result.get("steps_fraction", 1.0)
    budget = "" if fraction >= 1.0 else f", each epoch cut to {fraction:.1%} of its steps"
    ax.plot(macs, [result["alone"][k] for k in ARCH_KEYS], "k--", marker="s",
            label=f"trained alone ({result['alone_epochs']} epochs{budget})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.1f"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(macs)
    ax.set_xlabel("MMACs (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Fashion-MNIST: inherited subnets by recipe vs trained alone"
                 + ("" if fraction >= 1.0 else f"\n(short runs: {fraction:.1%} of the full budget)"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", framealpha=0.9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out
