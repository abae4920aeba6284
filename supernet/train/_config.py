"""Training configuration: plain dataclasses, validated when built, saved in checkpoints.

The progressive-shrinking schedule is data: a list of `PhaseConfig`, each saying which
choices are elastic, for how many epochs, at which learning rate, with how many subnets
per step. A YAML file has three sections (``data``, ``train``, ``phases``) plus ``space``
and ``seed``; every key is optional except ``phases``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from supernet.core import build_config, check, is_int, is_num, known_keys, read_yaml, set_keys
from supernet.data import DataConfig

__all__ = ["PhaseConfig", "OptimConfig", "TrainConfig", "load_train_config"]

DISTILL = ("teacher", "inplace", "none")
AMP = ("off", "bf16")


MAX_LR = 1e3  # far above any learning rate that trains; above it the optimizer overflows, not the loss

def _choices(where: str, value: Any, number: bool = False) -> tuple | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        (is_num(v) if number else is_int(v)) for v in value)
    check(ok, where, value, "null (all choices of the space) or a non-empty list of numbers")
    return tuple(value)


@dataclass(frozen=True)
class PhaseConfig:
    """One stage of the schedule. ``choices`` (a choice name of the space's family -> the
    values sampled in this phase), ``depths`` and ``resolutions`` are the choices sampled in
    this phase (None: all of the space's); ``kernels`` and ``expands`` are the ``mbconv``
    family's shorthands for ``choices: {kernel_sizes: ..., expand_ratios: ...}``.
    ``sandwich``: each step trains the phase's largest and smallest subnets plus
    ``subnets_per_step - 2`` random ones.
    ``ramp_epochs`` delays shrinking (DepS-style): during the first ramp epochs a subnet is
    drawn from the phase's choices with a probability rising linearly from 0 to 1, else the
    largest. ``sort_channels`` re-sorts expand channels by importance before the phase.
    ``kd``: distil (``train.distill``) in this phase; the frozen teacher is the network as
    the first phase leaves it, so the first phase always learns from labels alone."""

    name: str
    epochs: int
    lr: float
    subnets_per_step: int = 1
    kernels: tuple[int, ...] | None = None
    expands: tuple[float, ...] | None = None
    choices: dict[str, tuple] | None = None
    depths: tuple[int, ...] | None = None
    resolutions: tuple[int, ...] | None = None
    kd: bool = True
    sandwich: bool = False
    ramp_epochs: int = 0
    sort_channels: bool = False
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        w = f"phases[{self.name!r}]"
        check(isinstance(self.name, str) and self.name != "", "phases[].name", self.name,
               "a non-empty string")
        check(is_int(self.epochs) and self.epochs > 0, f"{w}.epochs", self.epochs, "a positive integer")
        check(is_num(self.lr) and 0 < self.lr <= MAX_LR, f"{w}.lr", self.lr,
              f"a positive number up to {MAX_LR:g}")
        check(is_int(self.subnets_per_step) and self.subnets_per_step > 0, f"{w}.subnets_per_step",
               self.subnets_per_step, "a positive integer")
        for name in ("kernels", "expands", "depths", "resolutions"):
            object.__setattr__(self, name, _choices(f"{w}.{name}", getattr(self, name), name == "expands"))
        check(self.choices is None or (isinstance(self.choices, dict) and all(
            isinstance(k, str) for k in self.choices)), f"{w}.choices", self.choices,
            "null or a mapping of choice names to lists of values")
        if self.choices is not None:
            object.__setattr__(self, "choices", {k: _choices(f"{w}.choices.{k}", v, True)
                                                 for k, v in self.choices.items()})
        for name in ("kd", "sandwich", "sort_channels"):
            check(isinstance(getattr(self, name), bool), f"{w}.{name}", getattr(self, name), "true or false")
        check(not self.sandwich or self.subnets_per_step >= 2, f"{w}.subnets_per_step",
               self.subnets_per_step, "at least 2 with sandwich: true (largest + smallest)")
        check(is_int(self.ramp_epochs) and 0 <= self.ramp_epochs <= self.epochs, f"{w}.ramp_epochs",
               self.ramp_epochs, f"an integer between 0 and epochs ({self.epochs})")
        check(is_num(self.warmup_epochs) and 0 <= self.warmup_epochs < self.epochs,
               f"{w}.warmup_epochs", self.warmup_epochs, f"a number in [0, epochs={self.epochs})")


@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = 128
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-5
    label_smoothing: float = 0.1
    distill: str = "teacher"       # teacher: frozen copy of the full net; inplace: the largest
    kd_weight: float = 1.0         # loss = label loss + kd_weight * soft cross-entropy
    kd_temperature: float = 1.0
    max_steps_per_epoch: int | None = None
    threads: int | None = None     # torch.set_num_threads; None leaves torch's default
    channels_last: bool = True     # NHWC activations: same values, 1.2-2x faster steps on CPU
    amp: str = "off"               # bf16: autocast forward passes (changes numerics slightly)

    def __post_init__(self) -> None:
        check(is_int(self.batch_size) and self.batch_size > 0, "train.batch_size", self.batch_size,
               "a positive integer")
        for name, lo, hi in (("momentum", 0, 1), ("label_smoothing", 0, 1)):
            v = getattr(self, name)
            check(is_num(v) and lo <= v < hi, f"train.{name}", v, f"a number in [{lo}, {hi})")
        for name in ("weight_decay", "kd_weight"):
            v = getattr(self, name)
            check(is_num(v) and v >= 0, f"train.{name}", v, "a number >= 0")
        check(is_num(self.kd_temperature) and self.kd_temperature > 0, "train.kd_temperature",
               self.kd_temperature, "a positive number")
        for name in ("nesterov", "channels_last"):
            check(isinstance(getattr(self, name), bool), f"train.{name}", getattr(self, name),
                   "true or false")
        check(self.amp in AMP, "train.amp", self.amp, f"one of {list(AMP)}")
        check(self.distill in DISTILL, "train.distill", self.distill, f"one of {list(DISTILL)}")
        for name in ("max_steps_per_epoch", "threads"):
            v = getattr(self, name)
            check(v is None or (is_int(v) and v > 0), f"train.{name}", v, "null or a positive integer")


@dataclass(frozen=True)
class TrainConfig:
    phases: tuple[PhaseConfig, ...]
    space: str = "fmnist_small"     # a preset name or a .json/.yaml space file
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        check(isinstance(self.phases, (list, tuple)) and len(self.phases) > 0, "phases", self.phases,
               "a non-empty list of phases")
        check(all(isinstance(p, PhaseConfig) for p in self.phases), "phases", self.phases,
               "PhaseConfig entries")
        object.__setattr__(self, "phases", tuple(self.phases))
        names = [p.name for p in self.phases]
        check(len(set(names)) == len(names), "phases[].name", names, "unique phase names")
        check(isinstance(self.space, str), "space", self.space, "a preset name or a space file path")
        check(is_int(self.seed) and self.seed >= 0, "seed", self.seed, "an integer >= 0")

    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts/lists only (a checkpoint loads it with ``weights_only=True``)."""
        def plain(v):
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        check(isinstance(data, dict), "config", type(data).__name__, "a mapping")
        known_keys("config", data, cls)
        kw = dict(data)
        if "data" in kw:
            kw["data"] = build_config(DataConfig, "data", kw["data"])
        if "train" in kw:
            kw["train"] = build_config(OptimConfig, "train", kw["train"])
        phases = kw.get("phases")
        check(isinstance(phases, list) and phases, "phases", phases, "a non-empty list of phases")
        kw["phases"] = tuple(build_config(PhaseConfig, f"phases[{i}]", p) for i, p in enumerate(phases))
        return cls(**kw)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config (``yaml.safe_load``), set ``overrides`` (dotted keys: `set_keys`)
    and validate it."""
    data = read_yaml(path)
    if overrides:
        data = set_keys(data, overrides, str(path))
    return TrainConfig.from_dict(data)
