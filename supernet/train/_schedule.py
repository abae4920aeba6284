"""What one progressive-shrinking phase means in practice: which subnets a step trains,
the losses, and the optimizer with its warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from supernet.core import ConfigError
from supernet.space import ArchConfig, SearchSpace
from supernet.train._config import OptimConfig, PhaseConfig

__all__ = ["check_phases", "phase_choices", "phase_extreme", "step_archs", "soft_cross_entropy",
           "make_optimizer"]


def phase_choices(space: SearchSpace, phase: PhaseConfig) -> dict[str, tuple]:
    """The choices a phase samples from: each choice name of the space, ``depths`` and
    ``resolutions`` -> values (the space's own where the phase says null)."""
    return {**space.block_choices, "depths": space.all_depths, "resolutions": space.resolutions,
            **_asked(space, phase)}


def _asked(space: SearchSpace, phase: PhaseConfig) -> dict[str, tuple]:
    """What the phase itself restricts, by the space's choice names."""
    return {space.choice_aliases.get(k, k): v for k, v in _spelled(phase).items()}


def _spelled(phase: PhaseConfig) -> dict[str, tuple]:
    """What the phase restricts, under the names it gives them (``kernels`` or
    ``kernel_sizes``, ...)."""
    out = {k: v for k, v in (("kernels", phase.kernels), ("expands", phase.expands)) if v is not None}
    out.update(phase.choices or {})
    out.update({k: v for k, v in (("depths", phase.depths), ("resolutions", phase.resolutions))
                if v is not None})
    return out


def check_phases(space: SearchSpace, phases) -> None:
    """Refuse, before any training, a phase that asks for choices the space does not have
    (it would otherwise fail at that phase's first step, maybe hours into the run)."""
    for i, phase in enumerate(phases):
        for field, values in _spelled(phase).items():
            key = space.choice_aliases.get(field, field)
            allowed = {"depths": space.all_depths, "resolutions": space.resolutions}.get(key)
            if allowed is None:
                allowed = space.block_choices.get(key)
            if allowed is None and key in space.net_choices:
                allowed = sorted({v for values in space.net_choices[key] for v in values})
            if allowed is None:
                raise ConfigError(f"phases[{i}] {phase.name!r}: {space.family} space {space.name!r} has no "
                                  f"choice {field!r}; its choices are "
                                  f"{[*space.block_choices, *space.net_choices]}")
            bad = sorted(set(values) - set(allowed))
            if bad:
                raise ConfigError(f"phases[{i}] {phase.name!r}: {field} {bad} are not in search space "
                                  f"{space.name!r}, which has {list(allowed)}")


def phase_extreme(space: SearchSpace, phase: PhaseConfig, resolution: int, largest: bool) -> ArchConfig:
    """The largest (or smallest) subnet among a phase's choices, at ``resolution``."""
    c = phase_choices(space, phase)
    return space.largest(resolution, c) if largest else space.smallest(resolution, c)


def step_archs(space: SearchSpace, phase: PhaseConfig, rng: np.random.Generator, resolution: int,
               *, shrink_prob: float = 1.0, with_largest: bool = False) -> list[ArchConfig]:
    """The subnets one training step runs, all at the batch's ``resolution``.

    Sandwich rule: the phase's largest, its smallest, then random ones. Otherwise
    ``subnets_per_step`` random ones, each replaced by the largest with probability
    ``1 - shrink_prob`` (delayed shrinking; a sandwich keeps its smallest throughout);
    ``with_largest`` puts the largest first
    (in-place distillation needs its output as the soft target)."""
    c = {**phase_choices(space, phase), "resolutions": [resolution]}
    largest = phase_extreme(space, phase, resolution, largest=True)

    def draw() -> ArchConfig:
        if rng.random() >= shrink_prob:
            return largest
        return space.sample(rng, restrict=c)

    if phase.sandwich:
        smallest = phase_extreme(space, phase, resolution, largest=False)
        return [largest, smallest] + [draw() for _ in range(phase.subnets_per_step - 2)]
    archs = [draw() for _ in range(phase.subnets_per_step)]
    return [largest] + archs if with_largest and archs[0] != largest else archs


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float = 1.0):
    """Knowledge-distillation loss: cross-entropy against the teacher's softened outputs."""
    t = temperature
    target = F.softmax(target_logits.detach() / t, dim=1)
    return -(target * F.log_softmax(logits / t, dim=1)).sum(1).mean() * (t * t)


def make_optimizer(model: nn.Module, opt: OptimConfig, phase: PhaseConfig, steps_per_epoch: int):
    """SGD (Nesterov by default; no weight decay on BN, biases and kernel transforms) and a
    per-step schedule: linear warmup, then cosine from the phase's LR to 0."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.dim() <= 1 or "transforms" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": opt.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=phase.lr, momentum=opt.momentum,
                                nesterov=opt.nesterov and opt.momentum > 0)
    total = max(1, phase.epochs * steps_per_epoch)
    warmup = int(phase.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
