"""Training configuration: plain dataclasses, validated when built, saved in checkpoints.

The progressive-shrinking schedule is data: a list of `PhaseConfig`, each saying which
choices are elastic, for how many epochs, at which learning rate, with how many subnets
per step. A YAML file has three sections (``data``, ``train``, ``phases``) plus ``space``
and ``seed``; every key is optional except ``phases``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from supernet._errors import NASError
from supernet._validate import short

__all__ = ["ConfigError", "DataConfig", "PhaseConfig", "OptimConfig", "TrainConfig", "load_train_config"]

DATASETS = ("fashion_mnist", "cifar10", "imagefolder", "npz")
DISTILL = ("teacher", "inplace", "none")
AMP = ("off", "bf16")


class ConfigError(NASError, ValueError):
    """A training configuration has a bad key or value."""


def _check(ok: bool, where: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: got {short(value)}, expected {expected}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _choices(where: str, value: Any, number: bool = False) -> tuple | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        (_is_num(v) if number else _is_int(v)) for v in value)
    _check(ok, where, value, "null (all choices of the space) or a non-empty list of numbers")
    return tuple(value)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fashion_mnist"
    path: str | None = None          # None: the dataset's default location
    val_size: int = 5000             # held out of the training set, fixed seed
    train_subset: int | None = None  # use only this many training images (quick runs, tests)
    crop_padding: int = 2            # random crop with this zero padding; 0 disables
    flip: bool = True                # random horizontal flip
    calib_images: int = 2000         # BN recalibration images before every evaluation
    eval_images: int | None = None   # validation images per epoch-end evaluation (None: all)
    image_size: int | None = None    # imagefolder: resize every image to this square size
    stream: bool = False             # imagefolder: stream from disk (any size) instead of loading it
    workers: int = 2                 # stream: decoding worker processes (0: in the main process)
    min_crop_scale: float = 0.08     # stream: random-resized crop keeps this..1 of the area
    center_crop: float = 0.875       # stream: evaluation crops the centre of a resize to size / this
    mean: list[float] | None = None  # per channel; None: from the training images (in memory),
    std: list[float] | None = None   # ImageNet's (streamed)

    def __post_init__(self) -> None:
        _check(self.dataset in DATASETS, "data.dataset", self.dataset, f"one of {list(DATASETS)}")
        _check(self.path is None or isinstance(self.path, str), "data.path", self.path, "a path or null")
        _check(_is_int(self.val_size) and self.val_size > 0, "data.val_size", self.val_size,
               "a positive integer")
        for name in ("train_subset", "eval_images", "image_size"):
            v = getattr(self, name)
            _check(v is None or (_is_int(v) and v > 0), f"data.{name}", v, "null or a positive integer")
        _check(_is_int(self.crop_padding) and self.crop_padding >= 0, "data.crop_padding",
               self.crop_padding, "an integer >= 0")
        _check(isinstance(self.flip, bool), "data.flip", self.flip, "true or false")
        _check(_is_int(self.calib_images) and self.calib_images > 0, "data.calib_images",
               self.calib_images, "a positive integer")
        _check(isinstance(self.stream, bool), "data.stream", self.stream, "true or false")
        _check(_is_int(self.workers) and self.workers >= 0, "data.workers", self.workers, "an integer >= 0")
        for name in ("min_crop_scale", "center_crop"):
            v = getattr(self, name)
            _check(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1, f"data.{name}",
                   v, "a number in (0, 1]")
        if self.stream:
            _check(self.dataset == "imagefolder", "data.dataset", self.dataset,
                   "imagefolder when data.stream is true (only image folders are streamed)")
            _check(self.path is not None, "data.path", self.path, "the image folder to stream from")
            _check(self.image_size is not None, "data.image_size", self.image_size,
                   "the square size streamed images are cropped to (e.g. 224)")
        _check((self.mean is None) == (self.std is None), "data.mean/std", (self.mean, self.std),
               "both set or both null")
        for name in ("mean", "std"):
            v = getattr(self, name)
            ok = v is None or (isinstance(v, list) and v and all(
                isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e) for e in v))
            _check(ok, f"data.{name}", v, "null or a list of numbers, one per channel")
        _check(self.std is None or (all(e > 0 for e in self.std) and len(self.std) == len(self.mean)),
               "data.std", self.std, "positive numbers, as many as data.mean")


@dataclass(frozen=True)
class PhaseConfig:
    """One stage of the schedule. ``kernels``/``expands``/``depths``/``resolutions`` are the
    choices sampled in this phase (None: all of the space's). ``sandwich``: each step trains
    the phase's largest and smallest subnets plus ``subnets_per_step - 2`` random ones.
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
    depths: tuple[int, ...] | None = None
    resolutions: tuple[int, ...] | None = None
    kd: bool = True
    sandwich: bool = False
    ramp_epochs: int = 0
    sort_channels: bool = False
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        w = f"phases[{self.name!r}]"
        _check(isinstance(self.name, str) and self.name != "", "phases[].name", self.name,
               "a non-empty string")
        _check(_is_int(self.epochs) and self.epochs > 0, f"{w}.epochs", self.epochs, "a positive integer")
        _check(_is_num(self.lr) and self.lr > 0, f"{w}.lr", self.lr, "a positive number")
        _check(_is_int(self.subnets_per_step) and self.subnets_per_step > 0, f"{w}.subnets_per_step",
               self.subnets_per_step, "a positive integer")
        for name in ("kernels", "expands", "depths", "resolutions"):
            object.__setattr__(self, name, _choices(f"{w}.{name}", getattr(self, name), name == "expands"))
        for name in ("kd", "sandwich", "sort_channels"):
            _check(isinstance(getattr(self, name), bool), f"{w}.{name}", getattr(self, name), "true or false")
        _check(not self.sandwich or self.subnets_per_step >= 2, f"{w}.subnets_per_step",
               self.subnets_per_step, "at least 2 with sandwich: true (largest + smallest)")
        _check(_is_int(self.ramp_epochs) and 0 <= self.ramp_epochs <= self.epochs, f"{w}.ramp_epochs",
               self.ramp_epochs, f"an integer between 0 and epochs ({self.epochs})")
        _check(_is_num(self.warmup_epochs) and 0 <= self.warmup_epochs < self.epochs,
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
        _check(_is_int(self.batch_size) and self.batch_size > 0, "train.batch_size", self.batch_size,
               "a positive integer")
        for name, lo, hi in (("momentum", 0, 1), ("label_smoothing", 0, 1)):
            v = getattr(self, name)
            _check(_is_num(v) and lo <= v < hi, f"train.{name}", v, f"a number in [{lo}, {hi})")
        for name in ("weight_decay", "kd_weight"):
            v = getattr(self, name)
            _check(_is_num(v) and v >= 0, f"train.{name}", v, "a number >= 0")
        _check(_is_num(self.kd_temperature) and self.kd_temperature > 0, "train.kd_temperature",
               self.kd_temperature, "a positive number")
        for name in ("nesterov", "channels_last"):
            _check(isinstance(getattr(self, name), bool), f"train.{name}", getattr(self, name),
                   "true or false")
        _check(self.amp in AMP, "train.amp", self.amp, f"one of {list(AMP)}")
        _check(self.distill in DISTILL, "train.distill", self.distill, f"one of {list(DISTILL)}")
        for name in ("max_steps_per_epoch", "threads"):
            v = getattr(self, name)
            _check(v is None or (_is_int(v) and v > 0), f"train.{name}", v, "null or a positive integer")


@dataclass(frozen=True)
class TrainConfig:
    phases: tuple[PhaseConfig, ...]
    space: str = "fmnist_small"     # a preset name or a .json/.yaml space file
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        _check(isinstance(self.phases, (list, tuple)) and len(self.phases) > 0, "phases", self.phases,
               "a non-empty list of phases")
        _check(all(isinstance(p, PhaseConfig) for p in self.phases), "phases", self.phases,
               "PhaseConfig entries")
        object.__setattr__(self, "phases", tuple(self.phases))
        names = [p.name for p in self.phases]
        _check(len(set(names)) == len(names), "phases[].name", names, "unique phase names")
        _check(isinstance(self.space, str), "space", self.space, "a preset name or a space file path")
        _check(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "an integer >= 0")

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
        _check(isinstance(data, dict), "config", type(data).__name__, "a mapping")
        _known("config", data, cls)
        kw = dict(data)
        if "data" in kw:
            kw["data"] = _build(DataConfig, "data", kw["data"])
        if "train" in kw:
            kw["train"] = _build(OptimConfig, "train", kw["train"])
        phases = kw.get("phases")
        _check(isinstance(phases, list) and phases, "phases", phases, "a non-empty list of phases")
        kw["phases"] = tuple(_build(PhaseConfig, f"phases[{i}]", p) for i, p in enumerate(phases))
        return cls(**kw)


def _known(where: str, data: dict, cls: type) -> None:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(names)}")


def _build(cls: type, where: str, data: Any):
    _check(isinstance(data, dict), where, data, "a mapping of keys")
    _known(where, data, cls)
    try:
        return cls(**data)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{where}: {err}") from None


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML file parsed with ``yaml.safe_load``; `ConfigError` if missing or invalid."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist; see experiments/*.yaml")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a {what} is at most "
                          f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid YAML ({short(str(err), 300)})") from None
    _bounded(data, path)
    return data


MAX_CONFIG_BYTES, MAX_CONFIG_NODES = 1 << 20, 100_000


def _bounded(data: Any, path: Path) -> None:
    """Refuse a document that expands to more than `MAX_CONFIG_NODES` values: YAML aliases
    can make a few lines stand for billions (a "billion laughs" bomb)."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_NODES:
            raise ConfigError(f"{path}: expands to more than {MAX_CONFIG_NODES:,} values (nested YAML "
                              "aliases?); a config is far smaller")
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config (``yaml.safe_load``) and validate it."""
    data = read_yaml(path)
    if isinstance(data, dict) and overrides:
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if data.get(section) is None:
                data[section] = {}
            if not isinstance(data[section], dict):
                raise ConfigError(f"{path}: {section!r} is {type(data[section]).__name__}, expected a "
                                  f"mapping (to set {key})")
            data[section][name] = value
    return TrainConfig.from_dict(data)
