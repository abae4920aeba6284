"""The progressive-shrinking trainer, to be read top to bottom: `train` walks the phases of
the schedule, one epoch at a time, and writes a checkpoint and a metrics line after each."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from supernet._checkpoint import load_checkpoint, save_checkpoint
from supernet._evaluate import evaluate_arch
from supernet.core import (
    ArtifactMismatchError,
    DataError,
    NASError,
    atomic_write_json,
    atomic_write_text,
    check_writable,
    differences,
    json_text,
)
from supernet.core import progress as show_progress
from supernet.data import DataSplits, build_data, resize
from supernet.nn import Supernet, memory_format
from supernet.space import get_space
from supernet.train._config import OptimConfig, TrainConfig
from supernet.train._curves import plot_curves, read_metrics
from supernet.train._distributed import (
    DistEnv,
    average_gradients,
    barrier,
    broadcast_state,
    device_label,
    init_distributed,
    same_on_all_ranks,
)
from supernet.train._schedule import (
    check_phases,
    make_optimizer,
    phase_choices,
    soft_cross_entropy,
    step_archs,
)
from supernet.train._sinks import open_sinks
from supernet.train._skipped import epoch_skipped, run_skipped

__all__ = ["train", "train_step", "to_device", "CHECKPOINT_NAME", "METRICS_NAME"]

log = logging.getLogger(__name__)
CHECKPOINT_NAME, METRICS_NAME, SUMMARY_NAME = "supernet.pt", "metrics.jsonl", "summary.json"
CURVES_NAME = "curves.png"
RUN_FILES = (CHECKPOINT_NAME, METRICS_NAME, SUMMARY_NAME, CURVES_NAME)


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, force: bool = False,
          progress: bool = False, model: Supernet | None = None,
          log_to: Sequence[str] = ()) -> dict[str, Any]:
    """Train a supernet as ``config`` says, in ``out_dir``; returns the final summary.
    ``model``: train this `Supernet` of the config's space in place (default: a fresh one).
    ``log_to``: also write the per-epoch metrics for ``tensorboard`` and/or ``mlflow``.

    Run under ``torchrun --nproc_per_node N`` for data-parallel training: every rank samples
    the same subnets, takes its own slice of each batch, and gradients are averaged."""
    if resume and force:
        raise NASError("resume and force exclude each other: resume continues the run in out_dir, "
                       "force starts it over")
    env = init_distributed()
    if config.train.threads or env.world > 1:
        torch.set_num_threads(config.train.threads or max(1, (os.cpu_count() or 1) // env.world))
    out = Path(out_dir)
    check_writable(out / CHECKPOINT_NAME)  # before any epoch, not after the first one
    ckpt_path = out / CHECKPOINT_NAME
    space = get_space(config.space)
    check_phases(space, config.phases)
    opt = config.train
    if opt.batch_size % env.world:
        raise NASError(f"train.batch_size {opt.batch_size} is not divisible by {env.world} processes")
    data = build_data(config.data, opt.batch_size, seed=config.seed, rank=env.rank, world=env.world)
    check_data(data, space)
    if model is not None and model.space != space:
        raise ArtifactMismatchError(f"model: a supernet of space {model.space.name!r}, the config "
                                    f"asks for {space.name!r}")
    steps_per_epoch = len(data.train)
    if opt.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, opt.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise DataError(f"{data.train.num_images} training images make no batch of {opt.batch_size}")
    torch.manual_seed(config.seed)  # weight init and dropout; a resume restores the RNG state
    model = (model or Supernet(space)).to(env.device)
    if opt.channels_last:
        model = model.to(memory_format=memory_format(env.device))
    teacher = None
    state: dict[str, Any] = {"phase": 0, "epoch": 0, "step": 0, "optimizer": None, "scheduler": None}

    # ------------------------------------------------------------- run directory, resume
    existing = check_run_dir(out, ckpt_path, RUN_FILES, resume=resume, force=force, env=env, what="a run")
    if ckpt_path.exists() and resume:
        state, teacher = _resume(ckpt_path, config, model, env)
    else:
        start_run_dir(out, existing, resume=resume, env=env)
    barrier(env)
    broadcast_state(model, env)
    started = time.time()
    sinks = open_sinks(log_to, out, config.to_dict()) if env.is_main else []
    try:
        _schedule(model, teacher, config, state, data, steps_per_epoch, out, env, progress, sinks)
    finally:
        for sink in sinks:
            sink.close()
    return _summary(out, config, time.time() - started, env)


def _schedule(model, teacher, config: TrainConfig, state: dict, data: DataSplits, steps_per_epoch: int,
              out: Path, env: DistEnv, progress: bool, sinks: list) -> None:
    """Every remaining phase and epoch: train, evaluate, save (metrics line, checkpoint)."""
    space, opt, ckpt_path = model.space, config.train, out / CHECKPOINT_NAME
    where = device_label(env.device) + (f", {env.world} processes" if env.world > 1 else "")  # metrics

    # -------------------------------------------------------------------- the schedule
    for p in range(state["phase"], len(config.phases)):
        phase = config.phases[p]
        first_epoch = state["epoch"] if p == state["phase"] else 0
        if first_epoch == 0 and phase.sort_channels:
            model.sort_channels()
            log.info("phase %s: expand channels re-sorted by importance", phase.name)
        if p > 0 and teacher is None and opt.distill == "teacher" and any(q.kd for q in config.phases[p:]):
            teacher = _make_teacher(model, space, env, opt.channels_last)  # the net the first phase left
        optimizer, scheduler = make_optimizer(model, opt, phase, steps_per_epoch)
        if first_epoch > 0 and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        log.info("phase %d/%d %r: %d epochs, lr %g, %d subnet(s) per step, choices %s",
                 p + 1, len(config.phases), phase.name, phase.epochs, phase.lr,
                 phase.subnets_per_step, {k: list(v) for k, v in phase_choices(space, phase).items()})
        for epoch in range(first_epoch, phase.epochs):
            tic = time.time()
            loss = _train_epoch(model, teacher, config, p, epoch, data, optimizer, scheduler,
                                steps_per_epoch, env, progress)
            state["step"] += steps_per_epoch
            skipped = epoch_skipped(data.train, env, f"{phase.name} epoch {epoch + 1}/{phase.epochs}")
            broadcast_state(model, env)  # one set of BN statistics in the checkpoint
            last = epoch + 1 == phase.epochs
            position = (p + 1, 0) if last else (p, epoch + 1)
            if env.is_main:
                metrics = {"phase": phase.name, "phase_index": p, "epoch": epoch + 1,
                           "global_epoch": sum(q.epochs for q in config.phases[:p]) + epoch + 1,
                           "step": state["step"], "lr": optimizer.param_groups[0]["lr"], "loss": loss,
                           **_evaluate_epoch(model, space, data, config.seed, env),
                           "seconds": round(time.time() - tic, 2), "device": where, **skipped}
                append_metrics(out / METRICS_NAME, metrics)  # a resume drops lines past its checkpoint
                for sink in sinks:
                    sink.log(metrics)
                _save(ckpt_path, model, space, config, data, position, state["step"], teacher,
                      None if last else optimizer, None if last else scheduler, metrics)
                log.info("%s epoch %d/%d: loss %.4f, val acc smallest %.2f largest %.2f random %.2f "
                         "(%.0f s)", phase.name, epoch + 1, phase.epochs, loss, metrics["acc_smallest"],
                         metrics["acc_largest"], metrics["acc_random"], metrics["seconds"])
            barrier(env)
        state["optimizer"] = state["scheduler"] = None


def _train_epoch(model, teacher, config: TrainConfig, p: int, epoch: int, data: DataSplits,
                 optimizer, scheduler, steps: int, env: DistEnv, progress: bool) -> float:
    """One epoch of phase ``p``. The subnet sampler is seeded by (seed, phase, epoch), so
    every rank draws the same subnets and a resumed epoch replays the same ones."""
    phase, opt, space = config.phases[p], config.train, model.space
    rng = np.random.default_rng([config.seed, p, epoch])
    choices = phase_choices(space, phase)
    inplace = opt.distill == "inplace" and phase.kd
    model.train()
    total, bar = 0.0, show_progress(steps, f"{phase.name} {epoch + 1}/{phase.epochs}", unit="step",
                                    leave=False, disable=not (progress and env.is_main), every_pct=25)
    batches = data.train.epoch(config.seed * 100_003 + p * 1009 + epoch)
    done = 0
    for _, (x, y) in zip(range(steps), batches):
        resolution = int(rng.choice(choices["resolutions"]))
        shrink = min(1.0, (epoch + done / steps) / phase.ramp_epochs) if phase.ramp_epochs else 1.0
        archs = step_archs(space, phase, rng, resolution, shrink_prob=shrink, with_largest=inplace)
        x = to_device(resize(x, resolution), env.device, opt.channels_last)
        optimizer.zero_grad(set_to_none=True)
        step_loss = train_step(model, teacher if phase.kd else None, archs, x, y.to(env.device), opt,
                               inplace=inplace)
        stop_if_diverged(average_gradients(model, env, step_loss),
                         f"{phase.name} epoch {epoch + 1}, step {done + 1}", optimizer)
        optimizer.step()
        scheduler.step()
        total += step_loss
        done += 1
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", res=resolution)
    bar.close()
    return round(total / max(done, 1), 5)


def stop_if_diverged(loss: float, where: str, optimizer) -> None:
    """Raise `NASError` when the step's ``loss`` (the mean over the ranks that
    `average_gradients` returns, so every rank stops alike) is NaN or infinite: nothing of the
    step is applied, and the checkpoint on disk keeps the last finished epoch, where a rerun
    with a lower learning rate can start from."""
    if math.isfinite(loss):
        return
    lr = optimizer.param_groups[0]["lr"]
    raise NASError(f"{where}: the loss is {loss} (not a finite number); training stopped before this step "
                   f"changed any weight, and the checkpoint keeps the last finished epoch. Likely cause: a "
                   f"learning rate too high for this model and batch size (now {lr:.3g}); lower it (a "
                   "phase's lr in the config, --lr for nas finetune) and start again with --force")


def check_run_dir(out: Path, ckpt_path: Path, names: Sequence[str], *, resume: bool, force: bool,
                  env: DistEnv, what: str) -> list[str]:
    """The files of an earlier run among ``names`` in ``out``, after checking that every
    process sees the same directory and that an earlier run is resumed or forced over."""
    if not same_on_all_ranks(ckpt_path.exists(), env):  # else they would go separate ways and hang
        raise NASError(f"the processes disagree on whether {ckpt_path} exists: the run directory must "
                       "be on a filesystem that every process sees")
    existing = [name for name in names if (out / name).exists()]
    if existing and not (force or resume):
        raise NASError(f"{out} already holds {what} ({', '.join(existing)}); pass --resume to continue "
                       "it or --force to start over (its files will be replaced)")
    return existing


def start_run_dir(out: Path, existing: Sequence[str], *, resume: bool, env: DistEnv) -> None:
    """A fresh run in ``out``: the ``existing`` files of an earlier one removed (--force, or
    --resume of a run killed before its first checkpoint)."""
    if not env.is_main:
        return
    for name in existing:
        (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        log.warning("--resume: no checkpoint in %s yet, starting from the beginning", out)


def append_metrics(path: Path, metrics: dict) -> None:
    """One metrics line appended and flushed to disk before the checkpoint that follows it."""
    with open(path, "a") as fh:
        fh.write(json_text(metrics, indent=None) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch on ``device`` in the memory format the model runs in (``channels_last``:
    the device's faster layout, `memory_format`)."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=memory_format(device)) if channels_last else x


def train_step(model: Supernet, teacher, archs, x: torch.Tensor, y: torch.Tensor, opt: OptimConfig, *,
               inplace: bool = False) -> float:
    """Forward and backward of every subnet in ``archs`` on one batch, gradients accumulated
    (each loss divided by ``len(archs)``); returns the mean loss. An arch of None runs
    ``model`` as it is (a static subnet being fine-tuned). Each loss is the label
    loss plus ``kd_weight`` x the soft cross-entropy against the frozen ``teacher`` or, with
    ``inplace``, against the first arch's (the largest's) own outputs."""
    amp = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=opt.amp == "bf16")
    target = None
    if teacher is not None and not inplace:
        with torch.no_grad(), amp:
            target = teacher(x).float()
    step_loss = 0.0
    for i, arch in enumerate(archs):
        with amp:
            logits = (model(x) if arch is None else model(x, arch)).float()
        loss = F.cross_entropy(logits, y, label_smoothing=opt.label_smoothing)
        if target is not None and opt.kd_weight > 0:
            loss = loss + opt.kd_weight * soft_cross_entropy(logits, target, opt.kd_temperature)
        if inplace and i == 0:
            target = logits.detach()
        (loss / len(archs)).backward()
        step_loss += loss.item() / len(archs)
    return step_loss


def _evaluate_epoch(model: Supernet, space, data: DataSplits, seed: int, env: DistEnv) -> dict:
    """Validation accuracy of the smallest, the largest and one fixed random subnet."""
    random_arch = space.sample(np.random.default_rng([seed, 999]))
    return {f"acc_{name}": round(evaluate_arch(model, arch, data.calib, data.val, env.device), 3)
            for name, arch in (("smallest", space.smallest()), ("largest", space.largest()),
                               ("random", random_arch))}


def _make_teacher(model: Supernet, space, env: DistEnv, channels_last: bool):
    """A frozen copy of the full network as it is now (after the full-net phase)."""
    teacher = model.extract(space.largest()).eval()
    for q in teacher.parameters():
        q.requires_grad_(False)
    teacher = teacher.to(env.device)
    return teacher.to(memory_format=memory_format(env.device)) if channels_last else teacher


def _save(path, model, space, config, data, position, step, teacher, optimizer, scheduler, metrics):
    save_checkpoint(path, {
        "model": model.state_dict(), "space": space.to_dict(), "config": config.to_dict(),
        "phase": position[0], "epoch": position[1], "step": step,
        "phase_name": config.phases[position[0]].name if position[0] < len(config.phases) else "done",
        "finished": position[0] >= len(config.phases),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "teacher": teacher.state_dict() if teacher is not None else None,
        "rng": {"torch": torch.get_rng_state()},
        "normalization": {"mean": data.mean, "std": data.std}, "metrics": metrics,
    })


def _resume(path: Path, config: TrainConfig, model: Supernet, env: DistEnv):
    payload = load_checkpoint(path)
    def comparable(cfg: dict) -> dict:  # the data may have moved; threads and layout change no result
        with contextlib.suppress(NASError, TypeError):  # an older config lacks newer keys: fill
            cfg = TrainConfig.from_dict(cfg).to_dict()   # in their defaults before comparing
        return {**cfg, "data": {**cfg.get("data", {}), "path": None},
                "train": {**cfg.get("train", {}), "threads": None, "channels_last": None}}

    diff = differences(comparable(payload.get("config") or {}), comparable(config.to_dict()))
    if diff:
        raise ArtifactMismatchError(f"{path}: the run was made with another config (differs in "
                                    f"{', '.join(diff[:8])}); resume with the same config, or start "
                                    "over with --force")
    if payload["space"] != model.space.to_dict():
        raise ArtifactMismatchError(f"{path}: checkpoint of another search space")
    model.load_state_dict(payload["model"])
    teacher = None
    if payload.get("teacher") is not None:
        teacher = _make_teacher(model, model.space, env, config.train.channels_last)
        teacher.load_state_dict(payload["teacher"])
    torch.set_rng_state(payload["rng"]["torch"])
    if env.is_main:
        log.info("resuming %s at phase %d, epoch %d (step %d)", path, payload["phase"], payload["epoch"],
                 payload["step"])
        truncate_metrics(path.parent / METRICS_NAME, payload["metrics"]["global_epoch"])
    keys = ("phase", "epoch", "step", "optimizer", "scheduler")
    return {k: payload[k] for k in keys}, teacher


def truncate_metrics(path: Path, done_epochs: int) -> None:
    """Drop the lines of epochs after the checkpoint (a run killed between the two writes),
    and any line a crash left unreadable."""
    if not path.exists():
        return
    kept = []
    for ln in path.read_text().splitlines():
        try:
            if json.loads(ln)["global_epoch"] <= done_epochs:
                kept.append(ln)
        except (ValueError, KeyError, TypeError):
            if ln.strip():
                log.warning("%s: dropping an unreadable line %r", path, ln[:80])
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))


def check_data(data: DataSplits, space) -> None:
    c = data.train.channels
    if c != space.in_channels:
        raise DataError(f"the data has {c} channel(s) but search space {space.name!r} expects "
                        f"{space.in_channels}; use a space with in_channels: {c}")
    if int(data.train.labels.min()) < 0:
        raise DataError(f"negative labels ({int(data.train.labels.min())}) in the training data; "
                        f"expected class indices 0..{space.num_classes - 1}")
    n = int(data.train.labels.max()) + 1
    if n > space.num_classes:
        raise DataError(f"labels go up to {n - 1} but space {space.name!r} has {space.num_classes} classes")


def _summary(out: Path, config: TrainConfig, seconds: float, env: DistEnv) -> dict[str, Any]:
    """Final metrics of the run (last epoch's line) and the unreadable files its epochs
    skipped (`run_skipped`) written to ``summary.json``, and the validation curves plotted
    to ``curves.png``."""
    if not env.is_main:
        return {}
    rows = read_metrics(out / METRICS_NAME) if (out / METRICS_NAME).exists() else []
    last = rows[-1] if rows else {}
    summary = {"checkpoint": str(out / CHECKPOINT_NAME), "epochs": config.total_epochs,
               "phases": [p.name for p in config.phases], "final": last,
               "wall_seconds_this_session": round(seconds, 1), **run_skipped(rows)}
    if rows:
        plot_curves({out.name or "run": out / METRICS_NAME}, out / CURVES_NAME)
        summary["curves"] = str(out / CURVES_NAME)
    atomic_write_json(out / SUMMARY_NAME, summary)
    return summary
