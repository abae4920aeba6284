"""Fine-tuning one subnet, read top to bottom: `finetune` extracts the chosen subnet with its
inherited weights (BN recalibrated), measures it, then trains it as a static network for a
few epochs at a small learning rate (cosine to zero), distilling from a teacher (by default
the supernet's largest subnet at the same resolution), with the trainer's augmentation,
fast path, data-parallel processes, per-epoch checkpoint and bit-identical resume."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from supernet._checkpoint import (
    load_checkpoint,
    load_supernet,
    save_checkpoint,
    supernet_from_payload,
)
from supernet._evaluate import accuracy, calibrated_subnet
from supernet._peek import file_hash
from supernet.core import (
    ArtifactMismatchError,
    NASError,
    atomic_write_json,
    build_config,
    check,
    check_writable,
    differences,
    is_int,
    is_num,
    known_keys,
)
from supernet.core import progress as show_progress
from supernet.data import DataConfig, build_data, resize
from supernet.nn import Subnet, memory_format
from supernet.space import ArchConfig, SearchSpace
from supernet.train._config import MAX_LR, OptimConfig, PhaseConfig
from supernet.train._curves import plot_curves, read_metrics
from supernet.train._distributed import (
    average_gradients,
    barrier,
    broadcast_state,
    device_label,
    init_distributed,
)
from supernet.train._schedule import make_optimizer
from supernet.train._skipped import epoch_skipped, run_skipped
from supernet.train._trainer import (
    append_metrics,
    check_data,
    check_run_dir,
    start_run_dir,
    stop_if_diverged,
    to_device,
    train_step,
    truncate_metrics,
)

__all__ = ["FINETUNED_NAME", "FinetuneConfig", "finetune", "load_finetuned"]

log = logging.getLogger(__name__)
FINETUNED_NAME, KIND = "finetuned.pt", "finetuned-subnet"
RUN_FILES = (FINETUNED_NAME, "metrics.jsonl", "summary.json", "curves.png")
TEACHERS = ("largest", "none")


@dataclass(frozen=True)
class FinetuneConfig:
    """What `finetune` does. ``supernet``: a checkpoint or ``pretrained:NAME``; ``arch``: the
    subnet (an `ArchConfig` or its dict). ``teacher``: ``largest`` (the supernet's largest
    subnet at the arch's resolution, BN recalibrated), ``none`` (labels only), or a
    checkpoint: a supernet of the same space (its largest subnet) or a fine-tuned subnet.
    ``data``: None trains on the supernet's own data (its checkpoint's data config).
    ``train``: batch size, momentum, weight decay, label smoothing, distillation weight and
    temperature, threads, bf16, as for `nas train`."""

    supernet: str
    arch: ArchConfig
    epochs: int = 5
    lr: float = 0.02
    warmup_epochs: float = 0.0
    teacher: str = "largest"
    seed: int = 0
    data: DataConfig | None = None
    train: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if isinstance(self.arch, dict):
            object.__setattr__(self, "arch", ArchConfig.from_dict(self.arch))
        check(isinstance(self.arch, ArchConfig), "arch", self.arch, "an ArchConfig or its JSON object")
        check(isinstance(self.supernet, (str, Path)), "supernet", self.supernet,
              "a checkpoint path or pretrained:NAME")
        object.__setattr__(self, "supernet", str(self.supernet))
        check(is_int(self.epochs) and self.epochs > 0, "epochs", self.epochs, "a positive integer")
        check(is_num(self.lr) and 0 < self.lr <= MAX_LR, "lr", self.lr, f"a positive number up to {MAX_LR:g}")
        check(is_num(self.warmup_epochs) and 0 <= self.warmup_epochs < self.epochs, "warmup_epochs",
              self.warmup_epochs, f"a number in [0, epochs={self.epochs})")
        check(isinstance(self.teacher, str) and self.teacher != "", "teacher", self.teacher,
              f"one of {list(TEACHERS)} or a checkpoint path")
        check(is_int(self.seed) and self.seed >= 0, "seed", self.seed, "an integer >= 0")
        check(self.data is None or isinstance(self.data, DataConfig), "data", self.data,
              "a DataConfig or None")
        check(isinstance(self.train, OptimConfig), "train", self.train, "an OptimConfig")

    def to_dict(self) -> dict[str, Any]:
        return {"supernet": self.supernet, "arch": self.arch.to_dict(), "epochs": self.epochs, "lr": self.lr,
                "warmup_epochs": self.warmup_epochs, "teacher": self.teacher, "seed": self.seed,
                "data": None if self.data is None else dataclasses.asdict(self.data),
                "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, data: Any) -> FinetuneConfig:
        check(isinstance(data, dict), "finetune config", type(data).__name__, "a mapping")
        known_keys("finetune config", data, cls)
        kw = dict(data)
        if kw.get("data") is not None:
            kw["data"] = build_config(DataConfig, "data", kw["data"])
        if "train" in kw:
            kw["train"] = build_config(OptimConfig, "train", kw["train"])
        return cls(**kw)


def finetune(config: FinetuneConfig, out_dir: str | Path, *, resume: bool = False, force: bool = False,
             progress: bool = False) -> dict[str, Any]:
    """Fine-tune ``config.arch`` in ``out_dir`` (``finetuned.pt`` after every epoch,
    ``metrics.jsonl``, ``summary.json``, ``curves.png``); returns the summary. Run under
    ``torchrun --nproc_per_node N`` for data-parallel training, as `train`."""
    if resume and force:
        raise NASError("resume and force exclude each other: resume continues the run in out_dir, "
                       "force starts it over")
    env = init_distributed()
    opt = config.train
    if opt.threads or env.world > 1:
        torch.set_num_threads(opt.threads or max(1, (os.cpu_count() or 1) // env.world))
    out = Path(out_dir)
    ckpt_path = out / FINETUNED_NAME
    check_writable(ckpt_path)
    if opt.batch_size % env.world:
        raise NASError(f"train.batch_size {opt.batch_size} is not divisible by {env.world} processes")

    # ------------------------------------------- everything is checked before a file is written
    supernet, payload = load_supernet(config.supernet)
    space = supernet.space
    arch = space.validate(config.arch)
    data_cfg = config.data or DataConfig(**(payload.get("config") or {}).get("data", {}))
    data = build_data(data_cfg, opt.batch_size, seed=config.seed, rank=env.rank, world=env.world)
    check_data(data, space)
    teacher_arch = space.largest(arch.resolution)
    teacher_payload = None if config.teacher in TEACHERS else load_checkpoint(config.teacher)
    if teacher_payload is not None and teacher_payload["space"] != space.to_dict():
        raise ArtifactMismatchError(f"teacher {config.teacher}: a network of space "
                                    f"{teacher_payload['space'].get('name')!r}, the subnet is of "
                                    f"{space.name!r}; give a teacher of the same space")
    steps = len(data.train) if not opt.max_steps_per_epoch else min(len(data.train), opt.max_steps_per_epoch)
    if steps == 0:
        raise NASError(f"{data.train.num_images} training images make no batch of {opt.batch_size}")
    existing = check_run_dir(out, ckpt_path, RUN_FILES, resume=resume, force=force, env=env,
                             what="a fine-tuning run")
    previous = load_checkpoint(ckpt_path) if ckpt_path.exists() and resume else None
    if previous is not None:
        _check_resumable(ckpt_path, previous, config)

    # --------------------------------------------------- the student, its teacher, the inherited figures
    torch.manual_seed(config.seed)
    device = env.device
    student = calibrated_subnet(supernet, arch, data.calib, device)
    inherited = previous["inherited"] if previous else None
    if inherited is None and env.is_main:  # only the main process reports it
        inherited = {"val_acc": accuracy(student, data.val, arch.resolution, device),
                     "test_acc": accuracy(student, data.test, arch.resolution, device)}
    teacher = _teacher(config, supernet, teacher_arch, teacher_payload, data, device)
    del supernet
    if not opt.channels_last:
        student = student.to(memory_format=torch.contiguous_format)
    phase = PhaseConfig(name="finetune", epochs=config.epochs, lr=config.lr, kd=teacher is not None,
                        warmup_epochs=config.warmup_epochs)
    optimizer, scheduler = make_optimizer(student, opt, phase, steps)
    first_epoch = 0
    if previous is not None:
        student.load_state_dict(previous["model"])
        if previous["optimizer"] is not None:
            optimizer.load_state_dict(previous["optimizer"])
            scheduler.load_state_dict(previous["scheduler"])
        torch.set_rng_state(previous["rng"]["torch"])
        first_epoch = previous["epoch"]
        if env.is_main:
            log.info("resuming %s after epoch %d of %d", ckpt_path, first_epoch, config.epochs)
            truncate_metrics(out / "metrics.jsonl", first_epoch)
    else:
        start_run_dir(out, existing, resume=resume, env=env)
        if env.is_main:  # the curve starts at the inherited net
            start = {"phase": "inherited", "phase_index": 0, "epoch": 0, "global_epoch": 0,
                     "acc_finetuned": round(inherited["val_acc"], 3)}
            append_metrics(out / "metrics.jsonl", start)
    barrier(env)
    broadcast_state(student, env)
    if env.is_main:
        log.info("fine-tuning %s for %d epochs (lr %g, teacher %s): inherited val %.2f %%, test %.2f %%",
                 arch, config.epochs, config.lr, config.teacher, inherited["val_acc"], inherited["test_acc"])

    # --------------------------------------------------------------------------- the epochs
    started, where = time.time(), device_label(device) + (f", {env.world} processes" if env.world > 1 else "")
    for epoch in range(first_epoch, config.epochs):
        tic = time.time()
        loss = _epoch(student, teacher, arch, config, epoch, data, optimizer, scheduler, steps, env, progress)
        skipped = epoch_skipped(data.train, env, f"fine-tune epoch {epoch + 1}/{config.epochs}")
        broadcast_state(student, env)  # one set of BN statistics in the checkpoint
        last = epoch + 1 == config.epochs
        if env.is_main:
            metrics = {"phase": "finetune", "phase_index": 1, "epoch": epoch + 1, "global_epoch": epoch + 1,
                       "step": (epoch + 1) * steps, "lr": optimizer.param_groups[0]["lr"], "loss": loss,
                       "acc_finetuned": round(accuracy(student, data.val, arch.resolution, device), 3),
                       "seconds": round(time.time() - tic, 2), "device": where, **skipped}
            append_metrics(out / "metrics.jsonl", metrics)
            final = {"val_acc": metrics["acc_finetuned"],
                     "test_acc": accuracy(student, data.test, arch.resolution, device)} if last else None
            save_checkpoint(ckpt_path, {
                "kind": KIND, "model": student.state_dict(), "space": space.to_dict(), "arch": arch.to_dict(),
                "config": config.to_dict(), "data": dataclasses.asdict(data_cfg),
                "supernet": _where(config.supernet), "supernet_hash": file_hash(config.supernet),
                "epoch": epoch + 1, "finished": last, "inherited": inherited, "finetuned": final,
                "optimizer": None if last else optimizer.state_dict(),
                "scheduler": None if last else scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state()},
                "normalization": {"mean": data.mean, "std": data.std},
                "metrics": metrics})
            log.info("fine-tune epoch %d/%d: loss %.4f, val acc %.2f (%.0f s)", epoch + 1, config.epochs,
                     loss, metrics["acc_finetuned"], metrics["seconds"])
        barrier(env)
    return _summary(out, config, arch, inherited, time.time() - started) if env.is_main else {}


def _where(ref: str) -> str:
    """A supernet reference that stays valid from another working directory."""
    return ref if ref.startswith("pretrained:") else str(Path(ref).resolve())


def _check_resumable(path: Path, previous: dict, config: FinetuneConfig) -> None:
    if previous.get("kind") != KIND:
        raise ArtifactMismatchError(f"{path}: not a fine-tuning checkpoint; give another --out")
    if previous.get("supernet_hash") != file_hash(config.supernet):
        raise ArtifactMismatchError(f"{path}: fine-tuned from another supernet ({previous.get('supernet')}) "
                                    f"than {config.supernet}; resume with that one, or start over with "
                                    "--force")

    def comparable(cfg: dict) -> dict:  # threads, memory layout and where files are change no result
        train = {**cfg.get("train", {}), "threads": None, "channels_last": None}
        data = cfg.get("data") and {**cfg["data"], "path": None}
        return {**cfg, "train": train, "data": data, "supernet": None}

    diff = differences(comparable(previous.get("config") or {}), comparable(config.to_dict()))
    if diff:
        raise ArtifactMismatchError(f"{path}: the run was made with another config (differs in "
                                    f"{', '.join(diff[:8])}); resume with the same settings, or start "
                                    "over with --force")


def _teacher(config: FinetuneConfig, supernet, teacher_arch: ArchConfig, payload: dict | None, data,
             device) -> nn.Module | None:
    """The frozen teacher: none, the largest subnet of the supernet (or of the supernet in
    ``payload``) with BN recalibrated, or a fine-tuned subnet from ``payload``."""
    if config.teacher == "none":
        return None
    if payload is not None and payload.get("kind") == KIND:
        teacher = load_finetuned_payload(payload, config.teacher)
        teacher = teacher.to(device, memory_format=memory_format(device))
    else:
        source = supernet if payload is None else supernet_from_payload(payload, config.teacher)
        teacher = calibrated_subnet(source, teacher_arch, data.calib, device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def _epoch(student, teacher, arch: ArchConfig, config: FinetuneConfig, epoch: int, data, optimizer,
           scheduler, steps: int, env, progress: bool) -> float:
    """One epoch; the batches are drawn from (seed, epoch) so that a resumed epoch replays them."""
    student.train()
    bar = show_progress(steps, f"fine-tune {epoch + 1}/{config.epochs}", unit="step", leave=False,
                        disable=not (progress and env.is_main), every_pct=25)
    total = done = 0
    for _, (x, y) in zip(range(steps), data.train.epoch(config.seed * 100_003 + 7919 + epoch)):
        x = to_device(resize(x, arch.resolution), env.device, config.train.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = train_step(student, teacher, [None], x, y.to(env.device), config.train)
        stop_if_diverged(average_gradients(student, env, loss),
                         f"fine-tune epoch {epoch + 1}, step {done + 1}", optimizer)
        optimizer.step()
        scheduler.step()
        total, done = total + loss, done + 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")
    bar.close()
    return round(total / max(done, 1), 5)


def _summary(out: Path, config: FinetuneConfig, arch: ArchConfig, inherited: dict, seconds: float) -> dict:
    payload = load_checkpoint(out / FINETUNED_NAME)
    final = payload["finetuned"] or {}
    summary = {"checkpoint": str(out / FINETUNED_NAME), "arch": arch.to_dict(), "arch_str": str(arch),
               "epochs": config.epochs, "teacher": config.teacher, "inherited": inherited, "finetuned": final,
               "gain_test_pp": round(final["test_acc"] - inherited["test_acc"], 3) if final else None,
               "wall_seconds_this_session": round(seconds, 1),
               **run_skipped(read_metrics(out / "metrics.jsonl"))}
    plot_curves({out.name or "finetune": out / "metrics.jsonl"}, out / "curves.png",
                title=f"fine-tuning {arch} (inherited val {inherited['val_acc']:.2f} %)")
    summary["curves"] = str(out / "curves.png")
    atomic_write_json(out / "summary.json", summary)
    return summary


def load_finetuned_payload(payload: dict, where: str) -> Subnet:
    """The static subnet of a loaded fine-tuning checkpoint, in eval mode."""
    if payload.get("kind") != KIND:
        raise ArtifactMismatchError(f"{where}: not a fine-tuned subnet (written by nas finetune)")
    space = SearchSpace.from_dict(payload["space"])
    arch = space.validate(ArchConfig.from_dict(payload["arch"]))
    net = Subnet.build(space.layout(arch))
    try:
        net.load_state_dict(payload["model"])
    except RuntimeError as err:
        raise ArtifactMismatchError(f"{where}: its weights do not fit its arch {arch} "
                                    f"({str(err).splitlines()[0][:200]})") from None
    return net.eval()


def load_finetuned(path: str | Path) -> tuple[Subnet, dict[str, Any]]:
    """A fine-tuned subnet (``finetuned.pt`` of `finetune`) in eval mode, and its checkpoint."""
    payload = load_checkpoint(path)
    return load_finetuned_payload(payload, str(path)), payload
