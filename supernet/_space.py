"""`SearchSpace`: the choices of an OFA-MobileNetV3-style space and its operators."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from supernet._arch import PRECISIONS, ArchConfig
from supernet._errors import SpaceError
from supernet._validate import short

__all__ = ["SearchSpace", "make_divisible", "as_rng"]

ACTIVATIONS = ("relu", "hswish")


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to a multiple of ``divisor``, never dropping more than 10 %."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a generator, a seed or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check(ok: bool, field: str, value: Any, expected: str) -> None:
    if not ok:
        raise SpaceError(f"SearchSpace.{field}: got {short(value)}, expected {expected}")


@dataclass(frozen=True)
class SearchSpace:
    """Fixed skeleton (stem, one fixed MBConv, elastic stages, head) and elastic choices.

    Each elastic stage has up to ``max(depth_choices)`` MBConv blocks; the first block of a
    stage applies the stage stride. Kernel and expand ratio are chosen per block, depth per
    stage (the first ``d`` blocks run), resolution per network.

    ``precisions`` are the deployment precisions a search draws per part (stem, each stage,
    head; `ArchConfig.precision`): ``("fp32",)`` by default, ``("int8",)`` for all-int8
    models, both for mixed ones (`with_precision`). It is a choice of the deployment, not
    of the trained weights: any subnet may be quantised, so `validate` accepts any policy,
    and the default is left out of `to_dict` (and of the hash artifacts record).
    """

    name: str
    in_channels: int
    num_classes: int
    stem_channels: int
    stem_stride: int
    first_block_channels: int
    stage_widths: tuple[int, ...]
    stage_strides: tuple[int, ...]
    stage_acts: tuple[str, ...]
    stage_se: tuple[bool, ...]
    kernel_choices: tuple[int, ...]
    expand_choices: tuple[int | float, ...]
    depth_choices: tuple[int, ...]
    resolutions: tuple[int, ...]
    final_expand_channels: int
    feature_mix_channels: int
    se_reduction: int = 4
    channel_divisor: int = 8
    dropout: float = 0.1
    precisions: tuple[str, ...] = ("fp32",)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        for name in ("in_channels", "num_classes", "stem_channels", "stem_stride",
                     "first_block_channels", "final_expand_channels", "feature_mix_channels",
                     "se_reduction", "channel_divisor"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, name, value, "a positive integer")
        n = len(self.stage_widths)
        _check(n > 0, "stage_widths", self.stage_widths, "at least one stage")
        for name in ("stage_strides", "stage_acts", "stage_se"):
            value = getattr(self, name)
            _check(len(value) == n, name, value, f"{n} entries, one per stage")
        _check(all(a in ACTIVATIONS for a in self.stage_acts), "stage_acts", self.stage_acts,
               f"values in {ACTIVATIONS}")
        _check(all(s in (1, 2) for s in self.stage_strides), "stage_strides",
               self.stage_strides, "values in (1, 2)")
        for name, ok, what in (
            ("kernel_choices", lambda k: isinstance(k, int) and k > 0 and k % 2, "odd positive ints"),
            ("expand_choices", lambda e: isinstance(e, (int, float)) and e > 0, "positive numbers"),
            ("depth_choices", lambda d: isinstance(d, int) and d > 0, "positive ints"),
            ("resolutions", lambda r: isinstance(r, int) and r >= 8, "ints >= 8"),
        ):
            value = getattr(self, name)
            _check(len(value) > 0 and all(ok(v) for v in value)
                   and list(value) == sorted(set(value)), name, value,
                   f"a non-empty, strictly increasing list of {what}")
        _check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a float in [0, 1)")
        _check(len(self.precisions) > 0 and len(set(self.precisions)) == len(self.precisions)
               and all(p in PRECISIONS for p in self.precisions), "precisions", self.precisions,
               f"distinct values among {list(PRECISIONS)}")

    # ----------------------------------------------------------------- structure
    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    @property
    def max_depth(self) -> int:
        return self.depth_choices[-1]

    def mid_channels(self, in_channels: int, expand: float) -> int:
        """Channels of the depthwise conv of a block with this input and expand ratio."""
        return make_divisible(round(in_channels * expand), self.channel_divisor)

    def se_channels(self, mid_channels: int) -> int:
        return make_divisible(mid_channels // self.se_reduction, self.channel_divisor)

    def stage_in_channels(self, stage: int, index: int) -> int:
        """Input channels of block ``index`` of elastic stage ``stage``."""
        if index > 0:
            return self.stage_widths[stage]
        return self.stage_widths[stage - 1] if stage > 0 else self.first_block_channels

    def layout(self, arch: ArchConfig):
        """The static blocks (``BlockSpec``) that make up ``arch``, in execution order."""
        from supernet._layout import arch_layout

        return arch_layout(self, arch)

    @property
    def num_subnets(self) -> int:
        """Exact number of distinct subnets, not counting the choice of resolution."""
        per_block = len(self.kernel_choices) * len(self.expand_choices)
        return sum(per_block**d for d in self.depth_choices) ** self.num_stages

    # ---------------------------------------------------------------- validation
    def validate(self, arch: ArchConfig) -> ArchConfig:
        """Return ``arch`` if it is a member of this space, else raise `SpaceError`."""
        def bad(field: str, value: Any, allowed: Any) -> SpaceError:
            return SpaceError(f"ArchConfig.{field}: got {value!r}, allowed values are "
                              f"{list(allowed)} (search space {self.name!r})")

        if not isinstance(arch, ArchConfig):
            raise SpaceError(f"expected an ArchConfig, got {type(arch).__name__}")
        if arch.resolution not in self.resolutions:
            raise bad("resolution", arch.resolution, self.resolutions)
        if len(arch.depths) != self.num_stages:
            raise SpaceError(f"ArchConfig.depths: got {len(arch.depths)} stages "
                             f"{list(arch.depths)}, the space {self.name!r} has {self.num_stages}")
        for s, d in enumerate(arch.depths):
            if d not in self.depth_choices:
                raise bad(f"depths[{s}]", d, self.depth_choices)
        for s, i, k, e in arch.blocks():
            if k not in self.kernel_choices:
                raise bad(f"kernel_sizes[{s}][{i}]", k, self.kernel_choices)
            if e not in self.expand_choices:
                raise bad(f"expand_ratios[{s}][{i}]", e, self.expand_choices)
        return arch

    # ------------------------------------------------------------------ operators
    def make_arch(self, resolution: int, depths: Sequence[int], kernels: Sequence[Sequence[int]],
                  expands: Sequence[Sequence[float]]) -> ArchConfig:
        """Build an arch from per-slot choices (``max_depth`` per stage); extra slots are cut."""
        return ArchConfig(
            resolution=resolution, depths=tuple(depths),
            kernel_sizes=tuple(tuple(k[:d]) for k, d in zip(kernels, depths)),
            expand_ratios=tuple(tuple(e[:d]) for e, d in zip(expands, depths)),
        )

    def largest(self, resolution: int | None = None) -> ArchConfig:
        return self._uniform(self.kernel_choices[-1], self.expand_choices[-1],
                             self.depth_choices[-1], resolution or self.resolutions[-1])

    def smallest(self, resolution: int | None = None) -> ArchConfig:
        return self._uniform(self.kernel_choices[0], self.expand_choices[0],
                             self.depth_choices[0], resolution or self.resolutions[0])

    def with_resolutions(self, resolutions: Sequence[int] | None, *,
                         what: str = "resolutions") -> SearchSpace:
        """This space with only ``resolutions`` (some of its own) to choose from, as a search
        samples when the deployment fixes the input size or a latency table covers only some
        resolutions; artifacts (supernets, tables, predictors) keep the whole space."""
        if resolutions is None:
            return self
        listed = isinstance(resolutions, (list, tuple, set))
        wanted = sorted(set(resolutions)) if listed else None
        if not wanted or any(isinstance(r, bool) or r not in self.resolutions for r in wanted):
            raise SpaceError(f"{what}: got {short(list(resolutions) if listed else resolutions)}, expected "
                             f"some of the resolutions of space {self.name!r}: {list(self.resolutions)}")
        return self if tuple(wanted) == self.resolutions else replace(self, resolutions=tuple(wanted))

    PRECISION_MODES = {"fp32": ("fp32",), "int8": ("int8",), "mixed": ("fp32", "int8")}

    def with_precision(self, mode: str) -> SearchSpace:
        """This space drawing ``mode``'s precisions: ``fp32`` (no quantisation), ``int8``
        (every part) or ``mixed`` (each part fp32 or int8)."""
        if mode not in self.PRECISION_MODES:
            raise SpaceError(f"precision mode: got {mode!r}, expected one of {list(self.PRECISION_MODES)}")
        wanted = self.PRECISION_MODES[mode]
        return self if wanted == self.precisions else replace(self, precisions=wanted)

    @property
    def precision_mode(self) -> str:
        """``fp32``, ``int8`` or ``mixed``: what `precisions` lets a search draw."""
        return {v: k for k, v in self.PRECISION_MODES.items()}[tuple(sorted(self.precisions))]

    def draw_policy(self, rng: np.random.Generator, current: Sequence[str] | None = None,
                    prob: float = 1.0) -> tuple[str, ...]:
        """A precision per part: the only choice when there is one (no random draw, so an
        fp32 search draws exactly what it did before policies existed); otherwise each part
        of ``current`` redrawn with probability ``prob`` (all of them without ``current``)."""
        parts = self.num_stages + 2
        if len(self.precisions) == 1:
            return (self.precisions[0],) * parts
        current = list(current) if current else ["fp32"] * parts
        return tuple(self.precisions[rng.integers(len(self.precisions))] if rng.random() < prob else p
                     for p in current)

    def _uniform(self, k: int, e: float, d: int, r: int) -> ArchConfig:
        """The arch of these choices everywhere, in the space's precision when it has one."""
        n = self.num_stages
        precision = self.precisions[0] if len(self.precisions) == 1 else "fp32"
        return self.validate(ArchConfig(r, (d,) * n, ((k,) * d,) * n, ((e,) * d,) * n, precision))

    def sample(self, rng: np.random.Generator | int | None = None, *,
               kernels: Sequence[int] | None = None, expands: Sequence[float] | None = None,
               depths: Sequence[int] | None = None,
               resolutions: Sequence[int] | None = None) -> ArchConfig:
        """Each choice drawn independently and uniformly (as OFA does), optionally from a
        restricted subset of the choices (progressive shrinking uses this)."""
        rng = as_rng(rng)
        ks, es = kernels or self.kernel_choices, expands or self.expand_choices
        ds, rs = depths or self.depth_choices, resolutions or self.resolutions
        n, m = self.num_stages, self.max_depth
        k_idx = rng.integers(len(ks), size=(n, m))
        e_idx = rng.integers(len(es), size=(n, m))
        return self.make_arch(
            int(rs[rng.integers(len(rs))]), [int(ds[i]) for i in rng.integers(len(ds), size=n)],
            [[int(ks[i]) for i in row] for row in k_idx], [[es[i] for i in row] for row in e_idx],
        ).with_precision(self.draw_policy(rng))

    def _slots(self, arch: ArchConfig, rng: np.random.Generator):
        """Per-slot kernels/expands, inactive slots filled at random (for the operators)."""
        def pad(stages, choices):
            return [list(s) + [choices[i] for i in rng.integers(len(choices), size=self.max_depth - len(s))]
                    for s in stages]

        return pad(arch.kernel_sizes, self.kernel_choices), pad(arch.expand_ratios, self.expand_choices)

    def mutate(self, arch: ArchConfig, rng: np.random.Generator | int | None = None, *,
               prob: float = 0.1, resolution_prob: float = 0.5) -> ArchConfig:
        """Resample each block choice and each stage depth with probability ``prob`` and the
        resolution with ``resolution_prob`` (OFA's evolutionary mutation)."""
        rng = as_rng(rng)
        kernels, expands = self._slots(self.validate(arch), rng)
        res = arch.resolution
        if rng.random() < resolution_prob:
            res = int(self.resolutions[rng.integers(len(self.resolutions))])
        depths = [int(self.depth_choices[rng.integers(len(self.depth_choices))])
                  if rng.random() < prob else d for d in arch.depths]
        for row_k, row_e in zip(kernels, expands):
            for j in range(self.max_depth):
                if rng.random() < prob:
                    row_k[j] = int(self.kernel_choices[rng.integers(len(self.kernel_choices))])
                if rng.random() < prob:
                    row_e[j] = self.expand_choices[rng.integers(len(self.expand_choices))]
        policy = self.draw_policy(rng, list(arch.policy().values()), prob)
        return self.make_arch(res, depths, kernels, expands).with_precision(policy)

    def crossover(self, a: ArchConfig, b: ArchConfig,
                  rng: np.random.Generator | int | None = None) -> ArchConfig:
        """Every choice taken from one parent or the other with equal probability; a block
        only one parent has is taken from that parent."""
        rng = as_rng(rng)
        ka, ea = self._slots(self.validate(a), rng)
        kb, eb = self._slots(self.validate(b), rng)
        pick = rng.random(size=(self.num_stages, self.max_depth + 2)) < 0.5
        depths = [da if p else db for da, db, p in zip(a.depths, b.depths, pick[:, 0])]
        kernels, expands = [], []
        for s in range(self.num_stages):
            use_a = [(j < a.depths[s]) and (pick[s, j + 1] or j >= b.depths[s])
                     for j in range(self.max_depth)]
            kernels.append([ka[s][j] if u else kb[s][j] for j, u in enumerate(use_a)])
            expands.append([ea[s][j] if u else eb[s][j] for j, u in enumerate(use_a)])
        res = a.resolution if pick[0, -1] else b.resolution
        child = self.make_arch(res, depths, kernels, expands)
        if len(self.precisions) == 1:
            return child.with_precision(self.draw_policy(rng))
        take = rng.random(size=self.num_stages + 2) < 0.5
        pa, pb = a.policy().values(), b.policy().values()
        return child.with_precision(tuple(x if t else y for x, y, t in zip(pa, pb, take)))

    # ------------------------------------------------------------------- encoding
    @property
    def encoding_size(self) -> int:
        slots = self.num_stages * self.max_depth
        size = slots * (len(self.kernel_choices) + len(self.expand_choices)) + len(self.resolutions)
        return size + (self.num_stages + 2 if self.precisions != ("fp32",) else 0)

    def encode(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        """OFA's fixed-length encoding: per block slot a one-hot kernel and a one-hot expand
        ratio (all zeros for a skipped block), then a one-hot resolution. One arch gives a
        vector, a sequence gives a ``(n, encoding_size)`` float32 matrix.

        Vectorised over the batch (predictors call it in the search loop): the choices are
        gathered into flat arrays once and set with three scatter writes; a value outside
        the space raises `SpaceError`. A space that draws int8 (`precisions`) appends one
        feature per part (1: int8); an fp32 space encodes the network alone."""
        single = isinstance(archs, ArchConfig)
        batch = [archs] if single else list(archs)
        n, stages, m = len(batch), self.num_stages, self.max_depth
        nk, width = len(self.kernel_choices), len(self.kernel_choices) + len(self.expand_choices)
        out = np.zeros((n, self.encoding_size), dtype=np.float32)
        depths = np.array([d for a in batch for d in a.depths], dtype=np.int64)
        if depths.size != n * stages:
            raise SpaceError(f"encode: every arch needs {stages} stages (search space {self.name!r})")
        self._choice_index("depths", self.depth_choices, depths)
        rows, stage, slot = np.nonzero(np.arange(m) < depths.reshape(n, stages, 1))
        base = (stage * m + slot) * width
        kernels = [k for a in batch for s in a.kernel_sizes for k in s]
        expands = [e for a in batch for s in a.expand_ratios for e in s]
        out[rows, base + self._choice_index("kernel_sizes", self.kernel_choices, kernels)] = 1.0
        out[rows, base + nk + self._choice_index("expand_ratios", self.expand_choices, expands)] = 1.0
        res = self._choice_index("resolution", self.resolutions, [a.resolution for a in batch])
        out[np.arange(n), stages * m * width + res] = 1.0
        if self.precisions != ("fp32",):
            start = stages * m * width + len(self.resolutions)
            out[:, start:] = [[p == "int8" for p in a.policy().values()] for a in batch]
        return out[0] if single else out

    def _choice_index(self, field: str, choices: Sequence[float], values) -> np.ndarray:
        """Position of each value in ``choices`` (sorted), or `SpaceError` naming a bad one."""
        table = np.asarray(choices, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        idx = np.minimum(np.searchsorted(table, values), len(table) - 1)
        bad = table[idx] != values
        if bad.any():
            raise SpaceError(f"ArchConfig.{field}: got {values[bad][0]:g}, allowed values are "
                             f"{list(choices)} (search space {self.name!r})")
        return idx

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.precisions == ("fp32",):
            del out["precisions"]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict):
            raise SpaceError(f"SearchSpace: expected a mapping of fields, got {type(data).__name__}")
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpaceError(f"SearchSpace: unknown field(s) {unknown}; known fields: {sorted(names)}")
        try:
            return cls(**data)
        except TypeError as err:  # a required field is missing
            raise SpaceError(f"SearchSpace: {err}") from None

    @property
    def hash(self) -> str:
        """Short content hash of the networks (not of `precisions`): artifacts record it and
        refuse another space's."""
        fields = {k: v for k, v in self.to_dict().items() if k != "precisions"}  # a deployment choice
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
