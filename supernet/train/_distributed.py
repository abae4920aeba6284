"""Data-parallel training across processes started by ``torchrun`` (gloo on CPU, nccl on
GPU). Gradients are averaged by hand after backward: the parameters a step uses change
with the sampled subnets, which DDP's reducer does not expect."""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistEnv", "init_distributed", "average_gradients", "broadcast_state", "barrier",
           "same_on_all_ranks", "gather_objects", "shutdown_distributed", "cpu_model",
           "device_label"]

# Rank 0 alone evaluates and writes the checkpoint after each epoch while the others wait at
# a barrier: allow that far longer than the collectives' default timeout.
COLLECTIVE_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistEnv:
    """Join the process group described by torchrun's environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR``...); a plain single process when there is none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=COLLECTIVE_TIMEOUT)
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistEnv(rank, dist.get_world_size() if dist.is_initialized() else 1, device)


def average_gradients(model: nn.Module, env: DistEnv, loss: float = 0.0) -> float:
    """All-reduce the mean gradient of every parameter in one flat buffer, with the step's
    ``loss`` riding along; returns the mean loss over the ranks (NaN or infinite when any
    rank's was, so every rank sees a diverged step alike). A parameter with no gradient
    (outside the sampled subnets: the same on every rank) is reduced as zeros and keeps
    ``grad=None``, so the optimizer skips it as it would in one process."""
    if env.world == 1:
        return loss
    params = [p for p in model.parameters() if p.requires_grad]
    used = [p.grad is not None for p in params]
    flat = torch.cat([(p.grad if u else torch.zeros_like(p)).reshape(-1) for p, u in zip(params, used)]
                     + [torch.tensor([loss], dtype=params[0].dtype, device=params[0].device)])
    dist.all_reduce(flat)
    flat /= env.world
    offset = 0
    for p, u in zip(params, used):
        n = p.numel()
        if u:
            p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n
    return float(flat[-1])


def broadcast_state(module: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's parameters and buffers (BN statistics) to every rank."""
    if env.world == 1:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


def same_on_all_ranks(flag: bool, env: DistEnv) -> bool:
    """Whether every rank holds the same ``flag`` (all ranks get the same answer)."""
    if env.world == 1:
        return True
    t = torch.tensor([float(flag), -float(flag)], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)  # [max, -min]
    return bool(t[0] == -t[1])


def gather_objects(obj, env: DistEnv) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if env.world == 1:
        return [obj]
    gathered = [None] * env.world
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(env: DistEnv) -> None:
    if env.world > 1:
        dist.barrier()


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's processor string)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown-cpu"


def device_label(device: torch.device) -> str:
    """Where a process computes, in words, for the records: the GPU's name, or the CPU
    model and its cores."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"{cpu_model()}, {os.cpu_count()} CPU cores"
