"""`SearchSpace`: the contract every block family fulfils, and the operators (validation,
sampling, mutation, crossover, encoding, counting) written once against it.

A family subclasses `SearchSpace` as a frozen dataclass of its skeleton's fields, names its
per-block choices (`block_choices`), says which depths each stage may take, and builds the
static blocks of an arch (`layout`) and its elastic supernet (`supernet_class`). Code
outside a family goes through these methods and never names a family's fields.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from typing import Any, ClassVar

import numpy as np

from supernet.core import SpaceError, short
from supernet.space._arch import PRECISIONS, ArchConfig, choice_token, precision_parts
from supernet.space._block import BlockSpec

__all__ = ["PLUGINS_VARIABLE", "SearchSpace", "as_rng", "check_choices", "check_field", "family_class",
           "list_families", "load_plugins", "register_family"]

MAX_RESOLUTION = 2048  # px: 4x the largest ImageNet evaluation size in use; refused before any allocation

_FAMILIES: dict[str, type[SearchSpace]] = {}


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a generator, a seed or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def check_field(space: Any, ok: bool, field: str, value: Any, expected: str) -> None:
    """Raise `SpaceError` naming a space's bad field, its value and what is expected."""
    if not ok:
        raise SpaceError(f"{type(space).__name__}.{field}: got {short(value)}, expected {expected}")


def check_choices(space: Any, name: str, value: Sequence, ok, what: str) -> None:
    """A non-empty, strictly increasing list whose every value passes ``ok``."""
    check_field(space, len(value) > 0 and all(ok(v) for v in value) and list(value) == sorted(set(value)),
                name, value, f"a non-empty, strictly increasing list of {what}")


class SearchSpace(ABC):
    """One family's skeleton and elastic choices (subclasses are frozen dataclasses).

    Every family has ``name``, ``in_channels``, ``num_classes``, ``resolutions`` and
    ``precisions`` fields. ``precisions`` are the deployment precisions a search draws per
    part (stem, each stage, head; `ArchConfig.precision`): ``("fp32",)`` by default,
    ``("int8",)`` for all-int8 models, both for mixed ones (`with_precision`). It is a choice
    of the deployment, not of the trained weights: `validate` accepts any policy, and the
    default is left out of `to_dict` (and of the hash artifacts record).

    ``SearchSpace(**fields)`` without a family builds an ``mbconv`` space, as before
    families existed; ``SearchSpace.from_dict`` reads the ``family`` key (``mbconv`` when
    absent)."""

    family: ClassVar[str] = ""
    PRECISION_MODES: ClassVar[dict[str, tuple[str, ...]]] = {
        "fp32": ("fp32",), "int8": ("int8",), "mixed": ("fp32", "int8")}

    def __new__(cls, *args, **kwargs):
        if cls is SearchSpace:  # the constructor of the single-family releases
            cls = family_class("mbconv")
        return super().__new__(cls)

    # ------------------------------------------------------------ the contract
    @property
    @abstractmethod
    def block_choices(self) -> dict[str, tuple]:
        """Per-block choice name -> its allowed values (increasing), in the family's order
        (the order of `encode`'s one-hots and of the compact string form)."""

    @property
    def net_choices(self) -> dict[str, tuple[tuple, ...]]:
        """Network-level choice name -> per position, its allowed values (increasing): a
        choice made once per position rather than per block (a width per stage, the stem's
        depth). None by default."""
        return {}

    @property
    @abstractmethod
    def num_stages(self) -> int:
        """Number of elastic stages."""

    @abstractmethod
    def stage_depths(self, stage: int) -> tuple[int, ...]:
        """The depths elastic stage ``stage`` may take (increasing)."""

    @abstractmethod
    def layout(self, arch: ArchConfig) -> tuple[BlockSpec, ...]:
        """The static blocks that make up ``arch``, in execution order."""

    def layout_parts(self, arch: ArchConfig) -> list[str]:
        """The precision part (`precision_parts`) of each block of ``layout(arch)``. By
        default a layout is one stem block, each stage's active blocks, one head block."""
        return ["stem", *(f"stage{s + 1}" for s, d in enumerate(arch.depths) for _ in range(d)), "head"]

    @classmethod
    @abstractmethod
    def supernet_class(cls) -> type:
        """The `Supernet` subclass that runs this family's archs."""

    def check_arch(self, arch: ArchConfig) -> None:  # noqa: B027 - optional hook
        """Family rules beyond each value being a choice (none by default)."""

    choice_aliases: ClassVar[dict[str, str]] = {}
    """Short names a training phase or `sample` may give a choice (``kernels`` for
    ``kernel_sizes``)."""

    # ------------------------------------------------------------------ derived
    @property
    def max_depth(self) -> int:
        return max(self.stage_depths(s)[-1] for s in range(self.num_stages))

    @property
    def all_depths(self) -> tuple[int, ...]:
        """Every depth some stage may take."""
        return tuple(sorted({d for s in range(self.num_stages) for d in self.stage_depths(s)}))

    @property
    def num_subnets(self) -> int:
        """Exact number of distinct subnets, not counting the choice of resolution."""
        per_block = int(np.prod([len(v) for v in self.block_choices.values()]))
        net = [len(allowed) for positions in self.net_choices.values() for allowed in positions]
        return int(np.prod([sum(per_block ** d for d in self.stage_depths(s))
                            for s in range(self.num_stages)] + net, dtype=object))

    def block_precisions(self, arch: ArchConfig) -> list[str]:
        """The precision of every block of ``layout(arch)``, from the arch's policy."""
        policy = arch.policy()
        return [policy[p] for p in self.layout_parts(arch)]

    def distinct_blocks(self) -> list[BlockSpec]:
        """Every distinct block any arch can contain, at every resolution (what a latency
        table times). By default: the layouts of the deepest archs that take one combination
        of choices everywhere, which holds every block of a family whose blocks depend only
        on their position and their own choices; a family whose blocks also depend on their
        neighbours' choices overrides this."""
        seen: dict[BlockSpec, None] = {}
        keys = list(self.block_choices)
        for r in self.resolutions:
            for combo in itertools.product(*self.block_choices.values()):
                seen.update(dict.fromkeys(self.layout(self.uniform(r, None, dict(zip(keys, combo))))))
        return list(seen)

    # -------------------------------------------------------------- validation
    def parse_arch(self, text: str) -> ArchConfig:
        """The member of this space that a compact string names, as ``str(arch)`` writes it:
        ``r24[k5e6,k3e4|k7e4,k5e3,k3e6|k5e6,k3e4]`` (resolution, then each block's choices,
        stages split by ``|``), network-level choices after the brackets (``w(0.65,1,1)``),
        and a precision policy after ``@`` (``@int8``, or one letter a part: ``@fiiff``)."""
        form = re.fullmatch(r"r(\d+)\[([^\]]*)\]((?:[A-Za-z_]+\([^)]*\))*)(?:@(\w+))?", text.strip())
        if form is None:
            raise SpaceError(f"arch string {short(text)}: expected the form r24[k5e6,k3e4|k7e4,k5e3] "
                             "(resolution, each block's choices, stages split by |), optionally @int8")
        tokens = {choice_token(k): k for k in self.block_choices}
        slots: dict[str, list[list[float]]] = {k: [] for k in self.block_choices}
        depths = []
        for stage in form.group(2).split("|"):
            blocks = stage.split(",")
            depths.append(len(blocks))
            for values in slots.values():
                values.append([])
            for block in blocks:
                pairs = re.findall(r"([A-Za-z_]+?)(\d+(?:\.\d+)?)", block)
                found = {tokens.get(t): float(v) for t, v in pairs}
                if ("".join(t + v for t, v in pairs) != block or len(pairs) != len(slots)
                        or set(found) != set(slots)):
                    raise SpaceError(f"arch string {short(text)}: block {block!r} is not one value for each "
                                     f"of {[choice_token(k) for k in slots]} (search space {self.name!r})")
                for key, value in found.items():
                    slots[key][-1].append(value)
        net_tokens = {choice_token(k): k for k in self.net_choices}
        net = {}
        for token, values in re.findall(r"([A-Za-z_]+)\(([^)]*)\)", form.group(3)):
            if token not in net_tokens:
                raise SpaceError(f"arch string {short(text)}: {token!r} is not a network-level choice of "
                                 f"search space {self.name!r} ({list(net_tokens)})")
            try:
                net[net_tokens[token]] = [float(v) for v in values.split(",")]
            except ValueError:
                raise SpaceError(f"arch string {short(text)}: {token}({values}) holds a non-number") from None
        parts = len(precision_parts(self.num_stages))
        policy = form.group(4)
        if policy is None:
            precision: tuple = ()
        elif policy == "int8":
            precision = ("int8",) * parts
        elif len(policy) == parts and set(policy) <= {"f", "i"}:
            precision = tuple("int8" if c == "i" else "fp32" for c in policy)
        else:
            raise SpaceError(f"arch string {short(text)}: precision @{policy} is neither @int8 nor {parts} "
                             "letters f (fp32) or i (int8), one a part: stem, each stage, head")
        arch = ArchConfig(int(form.group(1)), depths, precision=precision, **net,
                          **{k: tuple(tuple(v) for v in stages) for k, stages in slots.items()})
        return self.validate(arch)

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
            if d not in self.stage_depths(s):
                raise bad(f"depths[{s}]", d, self.stage_depths(s))
        if set(arch.keys) != set(self.block_choices) or set(arch.net_keys) != set(self.net_choices):
            raise SpaceError(f"ArchConfig: has choices {list(arch.keys + arch.net_keys)}, the {self.family} "
                             f"space {self.name!r} takes {list(self.block_choices) + list(self.net_choices)}")
        for key, allowed in self.block_choices.items():
            for s, stage in enumerate(arch.choice(key)):
                for i, v in enumerate(stage):
                    if v not in allowed:
                        raise bad(f"{key}[{s}][{i}]", v, allowed)
        for key, positions in self.net_choices.items():
            values = arch.choice(key)
            if len(values) != len(positions):
                raise SpaceError(f"ArchConfig.{key}: got {len(values)} values {list(values)}, the space "
                                 f"{self.name!r} takes {len(positions)}, one per position")
            for i, (v, allowed) in enumerate(zip(values, positions)):
                if v not in allowed:
                    raise bad(f"{key}[{i}]", v, allowed)
        self.check_arch(arch)
        return arch

    # --------------------------------------------------------------- operators
    def make_arch(self, resolution: int, depths: Sequence[int], slots: Mapping[str, Sequence[Sequence]],
                  precision: Any = (), net: Mapping[str, Sequence] | None = None) -> ArchConfig:
        """An arch from per-slot choices (a list per stage, at least ``depths[s]`` long for
        each choice; slots past a stage's depth are cut) and, where the space has them, the
        network-level choices (``net``; each position's largest value where not given)."""
        net = {k: tuple((net or {}).get(k) or [p[-1] for p in positions])
               for k, positions in self.net_choices.items()}
        return ArchConfig(resolution, tuple(depths), precision=precision, **net,
                          **{k: tuple(tuple(v[:d]) for v, d in zip(slots[k], depths))
                             for k in self.block_choices})

    def uniform(self, resolution: int, depth: int | None, values: Mapping[str, Any]) -> ArchConfig:
        """Every stage at ``depth`` (its deepest where None or not offered) with
        ``values[key]`` in every block, in the space's precision when it has one."""
        depths = [depth if depth in self.stage_depths(s) else self.stage_depths(s)[-1]
                  for s in range(self.num_stages)]
        return self._filled(resolution, depths, values)

    def _filled(self, resolution: int, depths: Sequence[int], values: Mapping[str, Any]) -> ArchConfig:
        """``values[key]`` in every block (and the given network-level choices), in the
        space's precision when it has one."""
        slots = {k: [[values[k]] * d for d in depths] for k in self.block_choices}
        precision = self.precisions[0] if len(self.precisions) == 1 else "fp32"
        return self.make_arch(resolution, depths, slots, precision,
                              {k: v for k, v in values.items() if k in self.net_choices})

    def _extreme(self, resolution: int | None, largest: bool, restrict: Mapping | None = None) -> ArchConfig:
        restrict = restrict or {}
        pick = max if largest else min
        values = {k: pick(restrict.get(k) or v) for k, v in self.block_choices.items()}
        r = resolution or pick(restrict.get("resolutions") or self.resolutions)
        depths = [pick(o) for o in self.offered_depths(restrict.get("depths"))]
        values.update({k: [pick([v for v in allowed if v in (restrict.get(k) or allowed)] or allowed)
                           for allowed in positions] for k, positions in self.net_choices.items()})
        return self.validate(self._filled(r, depths, values))

    def largest(self, resolution: int | None = None, restrict: Mapping | None = None) -> ArchConfig:
        """The largest value of every choice (of ``restrict``'s subsets where given)."""
        return self._extreme(resolution, True, restrict)

    def smallest(self, resolution: int | None = None, restrict: Mapping | None = None) -> ArchConfig:
        return self._extreme(resolution, False, restrict)

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

    def sample(self, rng: np.random.Generator | int | None = None, *,
               restrict: Mapping[str, Sequence] | None = None, **subsets: Sequence | None) -> ArchConfig:
        """Each choice drawn independently and uniformly (as OFA does), optionally from
        subsets of the choices, given as ``restrict`` or as keywords (a choice name or its
        alias, ``depths`` or ``resolutions`` -> values; progressive shrinking uses this):
        ``space.sample(0, kernel_sizes=[7], depths=[4])``."""
        rng = as_rng(rng)
        restrict = dict(restrict or {})
        for name, values in subsets.items():
            key = self.choice_aliases.get(name, name)
            if key not in (*self.block_choices, *self.net_choices, "depths", "resolutions"):
                raise SpaceError(f"sample: {name!r} is not a choice of the {self.family} space "
                                 f"{self.name!r}; choices: {[*self.block_choices, 'depths', 'resolutions']}")
            if values:
                restrict[key] = values
        n, m = self.num_stages, self.max_depth
        idx = {}
        for key, allowed in self.block_choices.items():
            values = restrict.get(key) or allowed
            idx[key] = [[values[i] for i in row] for row in rng.integers(len(values), size=(n, m))]
        rs = restrict.get("resolutions") or self.resolutions
        res = int(rs[rng.integers(len(rs))])
        offered = self.offered_depths(restrict.get("depths"))
        lengths = {len(o) for o in offered}
        picks = (rng.integers(lengths.pop(), size=n) if len(lengths) == 1  # one draw, as before families
                 else [rng.integers(len(o)) for o in offered])
        depths = [int(o[i]) for o, i in zip(offered, picks)]
        net = {}
        for key, positions in self.net_choices.items():
            offered = [[v for v in allowed if v in (restrict.get(key) or allowed)] or list(allowed)
                       for allowed in positions]
            net[key] = [values[rng.integers(len(values))] for values in offered]
        return self.make_arch(res, depths, idx, net=net).with_precision(self.draw_policy(rng))

    def offered_depths(self, wanted: Sequence[int] | None = None) -> list[tuple[int, ...]]:
        """Per stage, the depths it offers among ``wanted`` (all of its own when None); a
        stage offering none of them takes the nearest ones it has (`fit_depth`)."""
        out = []
        for s in range(self.num_stages):
            own = self.stage_depths(s)
            if not wanted:
                out.append(own)
                continue
            kept = tuple(d for d in own if d in wanted)
            out.append(kept or tuple(sorted({self.fit_depth(s, d) for d in wanted})))
        return out

    def fit_depth(self, stage: int, depth: int) -> int:
        """``depth`` if stage ``stage`` offers it, else the nearest depth it offers (for
        operators that draw one depth from `all_depths` for every stage)."""
        offered = self.stage_depths(stage)
        return depth if depth in offered else min(offered, key=lambda d: (abs(d - depth), d))

    def slots(self, arch: ArchConfig, rng: np.random.Generator) -> dict[str, list[list]]:
        """Per-slot choices of ``arch`` (``max_depth`` per stage), inactive slots filled at
        random: the operators' working form."""
        out = {}
        for key, allowed in self.block_choices.items():
            fill = [rng.integers(len(allowed), size=self.max_depth - len(s)) for s in arch.choice(key)]
            out[key] = [list(s) + [allowed[i] for i in idx]
                        for s, idx in zip(arch.choice(key), fill)]
        return out

    def mutate(self, arch: ArchConfig, rng: np.random.Generator | int | None = None, *,
               prob: float = 0.1, resolution_prob: float = 0.5) -> ArchConfig:
        """Resample each block choice and each stage depth with probability ``prob`` and the
        resolution with ``resolution_prob`` (OFA's evolutionary mutation)."""
        rng = as_rng(rng)
        slots = self.slots(self.validate(arch), rng)
        res = arch.resolution
        if rng.random() < resolution_prob:
            res = int(self.resolutions[rng.integers(len(self.resolutions))])
        depths = [int(self.stage_depths(s)[rng.integers(len(self.stage_depths(s)))])
                  if rng.random() < prob else d for s, d in enumerate(arch.depths)]
        choices = self.block_choices
        for s in range(self.num_stages):
            for j in range(self.max_depth):
                for key, allowed in choices.items():
                    if rng.random() < prob:
                        slots[key][s][j] = allowed[rng.integers(len(allowed))]
        net = {key: [allowed[rng.integers(len(allowed))] if rng.random() < prob else v
                     for v, allowed in zip(arch.choice(key), positions)]
               for key, positions in self.net_choices.items()}
        policy = self.draw_policy(rng, list(arch.policy().values()), prob)
        return self.make_arch(res, depths, slots, net=net).with_precision(policy)

    def crossover(self, a: ArchConfig, b: ArchConfig,
                  rng: np.random.Generator | int | None = None) -> ArchConfig:
        """Every choice taken from one parent or the other with equal probability; a block
        only one parent has is taken from that parent."""
        rng = as_rng(rng)
        sa, sb = self.slots(self.validate(a), rng), self.slots(self.validate(b), rng)
        pick = rng.random(size=(self.num_stages, self.max_depth + 2)) < 0.5
        depths = [da if p else db for da, db, p in zip(a.depths, b.depths, pick[:, 0])]
        slots: dict[str, list[list]] = {k: [] for k in self.block_choices}
        for s in range(self.num_stages):
            use_a = [(j < a.depths[s]) and (pick[s, j + 1] or j >= b.depths[s])
                     for j in range(self.max_depth)]
            for key in self.block_choices:
                slots[key].append([sa[key][s][j] if u else sb[key][s][j] for j, u in enumerate(use_a)])
        res = a.resolution if pick[0, -1] else b.resolution
        net = {}
        for key in self.net_choices:
            take = rng.random(size=len(a.choice(key))) < 0.5
            net[key] = [x if t else y for x, y, t in zip(a.choice(key), b.choice(key), take)]
        child = self.make_arch(res, depths, slots, net=net)
        if len(self.precisions) == 1:
            return child.with_precision(self.draw_policy(rng))
        take = rng.random(size=self.num_stages + 2) < 0.5
        pa, pb = a.policy().values(), b.policy().values()
        return child.with_precision(tuple(x if t else y for x, y, t in zip(pa, pb, take)))

    # ----------------------------------------------------------------- encoding
    @property
    def _net_width(self) -> int:
        return sum(len(allowed) for positions in self.net_choices.values() for allowed in positions)

    @property
    def encoding_size(self) -> int:
        width = sum(len(v) for v in self.block_choices.values())
        size = self.num_stages * self.max_depth * width + self._net_width + len(self.resolutions)
        return size + (self.num_stages + 2 if self.precisions != ("fp32",) else 0)

    def encode(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        """OFA's fixed-length encoding: per block slot a one-hot of each choice in
        `block_choices` order (all zeros for a skipped block), then a one-hot resolution. One
        arch gives a vector, a sequence gives a ``(n, encoding_size)`` float32 matrix.

        Vectorised over the batch (predictors call it in the search loop): the choices are
        gathered into flat arrays once and set with one scatter write each; a value outside
        the space raises `SpaceError`. A space that draws int8 (`precisions`) appends one
        feature per part (1: int8); an fp32 space encodes the network alone."""
        single = isinstance(archs, ArchConfig)
        batch = [archs] if single else list(archs)
        n, stages, m = len(batch), self.num_stages, self.max_depth
        width = sum(len(v) for v in self.block_choices.values())
        out = np.zeros((n, self.encoding_size), dtype=np.float32)
        depths = np.array([d for a in batch for d in a.depths], dtype=np.int64)
        if depths.size != n * stages:
            raise SpaceError(f"encode: every arch needs {stages} stages (search space {self.name!r})")
        self._choice_index("depths", self.all_depths, depths)
        rows, stage, slot = np.nonzero(np.arange(m) < depths.reshape(n, stages, 1))
        base = (stage * m + slot) * width
        offset = 0
        for key, allowed in self.block_choices.items():
            try:
                values = [v for a in batch for s in a.choice(key) for v in s]
            except SpaceError:
                raise SpaceError(f"encode: an arch lacks choice {key!r} "
                                 f"(search space {self.name!r})") from None
            out[rows, base + offset + self._choice_index(key, allowed, values)] = 1.0
            offset += len(allowed)
        start = stages * m * width
        for key, positions in self.net_choices.items():
            for i, allowed in enumerate(positions):
                values = [a.choice(key)[i] if len(a.choice(key)) > i else -1 for a in batch]
                out[np.arange(n), start + self._choice_index(f"{key}[{i}]", allowed, values)] = 1.0
                start += len(allowed)
        res = self._choice_index("resolution", self.resolutions, [a.resolution for a in batch])
        out[np.arange(n), start + res] = 1.0
        if self.precisions != ("fp32",):
            start += len(self.resolutions)
            out[:, start:] = [[p == "int8" for p in a.policy().values()] for a in batch]
        return out[0] if single else out

    def _choice_index(self, field: str, choices: Sequence[float], values) -> np.ndarray:
        """Position of each value in ``choices`` (sorted), or `SpaceError` naming a bad one."""
        table = np.asarray(choices, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return values.astype(np.int64)
        idx = np.minimum(np.searchsorted(table, values), len(table) - 1)
        bad = table[idx] != values
        if bad.any():
            raise SpaceError(f"ArchConfig.{field}: got {values[bad][0]:g}, allowed values are "
                             f"{list(choices)} (search space {self.name!r})")
        return idx

    # ------------------------------------------------------------ serialisation
    def check_common(self) -> None:
        """Checks of the fields every family has (call from ``__post_init__``)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        check_field(self, isinstance(self.name, str) and self.name != "", "name", self.name,
                    "a non-empty string")
        for name in ("in_channels", "num_classes"):
            value = getattr(self, name)
            check_field(self, isinstance(value, int) and not isinstance(value, bool) and value > 0,
                        name, value, "a positive integer")
        check_choices(self, "resolutions", self.resolutions,
                      lambda r: isinstance(r, int) and not isinstance(r, bool) and 8 <= r <= MAX_RESOLUTION,
                      f"ints from 8 to {MAX_RESOLUTION} (pixels; a larger image would need tens of GB "
                      "per network)")
        keys = [*self.block_choices, *self.net_choices]
        tokens = [choice_token(k) for k in keys]
        check_field(self, len(set(tokens)) == len(tokens), "choices", keys,
                    f"choices of distinct tokens (register_choice); got {tokens}")
        check_field(self, len(self.precisions) > 0 and len(set(self.precisions)) == len(self.precisions)
                    and all(p in PRECISIONS for p in self.precisions), "precisions", self.precisions,
                    f"distinct values among {list(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if self.precisions == ("fp32",):
            del out["precisions"]
        if self.family != "mbconv":  # mbconv spaces predate families: their files have no key
            out = {"family": self.family, **out}
        return out

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        """A space from `to_dict`'s mapping; its ``family`` key picks the family (``mbconv``
        when absent)."""
        if not isinstance(data, dict):
            raise SpaceError(f"SearchSpace: expected a mapping of fields, got {type(data).__name__}")
        data = dict(data)
        family = data.pop("family", "mbconv")
        if family not in list_families():
            raise SpaceError(f"SearchSpace.family: got {short(family)}, expected one of {list_families()}")
        target = family_class(family)
        if cls is not SearchSpace and not issubclass(target, cls):
            raise SpaceError(f"SearchSpace: a {family} space is not a {cls.__name__}")
        names = {f.name for f in fields(target)}
        unknown = sorted(set(data) - names, key=str)
        if unknown:
            raise SpaceError(f"SearchSpace ({family}): unknown field(s) {unknown}; "
                             f"known fields: {sorted(names)}")
        try:
            return target(**data)
        except TypeError as err:  # a required field is missing
            raise SpaceError(f"SearchSpace ({family}): {err}") from None

    @property
    def hash(self) -> str:
        """Short content hash of the networks (not of `precisions`): artifacts record it and
        refuse another space's."""
        fields_ = {k: v for k, v in self.to_dict().items() if k != "precisions"}  # a deployment choice
        text = json.dumps(fields_, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, str]:
        """What `nas space` prints about the choices: one line per kind of choice."""
        def fmt(values) -> str:
            return ", ".join(f"{v:g}" for v in values)

        lines = {"family": self.family, "stages": str(self.num_stages)}
        lines["per block"] = "; ".join(f"{k} {{{fmt(v)}}}" for k, v in self.block_choices.items()) or "-"
        for key, positions in self.net_choices.items():
            lines[key] = " / ".join("{" + fmt(allowed) + "}" for allowed in positions)
        depths = {self.stage_depths(s) for s in range(self.num_stages)}
        per_stage = ["{" + fmt(self.stage_depths(s)) + "}" for s in range(self.num_stages)]
        lines["depth per stage"] = per_stage[0] if len(depths) == 1 else " / ".join(per_stage)
        lines["resolutions"] = fmt(self.resolutions)
        return lines

    def stage_table(self) -> tuple[list[str], list[list[str]]]:
        """A header and one row per stage of what the family fixes per stage (for `nas
        space`); none by default."""
        return [], []


def register_family(name: str):
    """Class decorator: ``cls`` (a `SearchSpace` subclass) is the family ``name``."""
    def add(cls):
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise SpaceError(f"register_family({name!r}): expected a SearchSpace subclass, got {cls!r}")
        if name in _FAMILIES and _FAMILIES[name] is not cls:
            raise SpaceError(f"register_family: family {name!r} is registered already ({_FAMILIES[name]})")
        cls.family = name
        _FAMILIES[name] = cls
        return cls
    return add


PLUGINS_VARIABLE = "NAS_FAMILIES"
_PLUGINS_LOADED: set[str] = set()


def load_plugins() -> list[str]:
    """Import the modules named in the environment variable ``NAS_FAMILIES`` (comma
    separated, e.g. ``my_package.my_family``): a family defined in a user's own module
    registers itself there, and so is known to the command line, to worker processes and
    to Ray tasks, which all inherit the environment. Each module is imported once; returns
    the names imported now."""
    names = [n.strip() for n in os.environ.get(PLUGINS_VARIABLE, "").split(",") if n.strip()]
    done = []
    for name in names:
        if name in _PLUGINS_LOADED:
            continue
        _PLUGINS_LOADED.add(name)
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise SpaceError(f"{PLUGINS_VARIABLE}: cannot import {name!r} ({err}); it should name a "
                             "module on the Python path that defines a block family") from None
        done.append(name)
    return done


def list_families() -> list[str]:
    load_plugins()
    return sorted(_FAMILIES)


def family_class(name: str) -> type[SearchSpace]:
    if name not in _FAMILIES:
        load_plugins()
    if name not in _FAMILIES:
        raise SpaceError(f"unknown block family {name!r}; families: {list_families()} (a family of your "
                         f"own: name its module in the environment variable {PLUGINS_VARIABLE})")
    return _FAMILIES[name]
