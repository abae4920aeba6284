"""`ArchConfig`: the one immutable description of a subnet, shared by every package."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from supernet._errors import SpaceError

__all__ = ["PRECISIONS", "ArchConfig", "precision_parts"]

PRECISIONS = ("fp32", "int8")


def precision_parts(num_stages: int) -> list[str]:
    """The parts a precision policy names: ``stem`` (stem conv and the fixed first block),
    ``stage1`` .. ``stageN`` (the elastic stages) and ``head``."""
    return ["stem", *(f"stage{i + 1}" for i in range(num_stages)), "head"]


def _as_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise SpaceError(f"ArchConfig.{field}: expected an integer, got {value!r}")
    return int(value)


def _as_number(field: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpaceError(f"ArchConfig.{field}: expected a number, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def _nested(field: str, value: Any, convert) -> tuple[tuple, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in value):
        raise SpaceError(
            f"ArchConfig.{field}: expected one list of per-block values per stage, got {value!r}"
        )
    return tuple(tuple(convert(field, v) for v in stage) for stage in value)


@dataclass(frozen=True)
class ArchConfig:
    """One subnet: input resolution, depth of each elastic stage, and for each *active*
    block (the first ``depths[i]`` blocks of stage ``i``) its kernel size and expand ratio.

    ``precision`` is the deployment's precision policy: ``fp32`` or ``int8`` for each part
    of `precision_parts` (stem, each stage, head); all-``fp32`` is stored as ``()``, the
    default, so an arch without a policy is the FP32 network it always was.

    Only active blocks are stored, so two configs are equal exactly when they describe the
    same network. Whether the values are allowed is checked by ``SearchSpace.validate``.
    """

    resolution: int
    depths: tuple[int, ...]
    kernel_sizes: tuple[tuple[int, ...], ...]
    expand_ratios: tuple[tuple[int | float, ...], ...]
    precision: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "resolution", _as_int("resolution", self.resolution))
        if not isinstance(self.depths, (list, tuple)):
            raise SpaceError(f"ArchConfig.depths: expected a list of ints, got {self.depths!r}")
        set_(self, "depths", tuple(_as_int("depths", d) for d in self.depths))
        if any(d < 1 for d in self.depths):
            raise SpaceError(f"ArchConfig.depths: got {list(self.depths)}, expected a positive number "
                             "of blocks in every stage")
        if self.resolution < 1:
            raise SpaceError(f"ArchConfig.resolution: got {self.resolution}, expected a positive size")
        set_(self, "kernel_sizes", _nested("kernel_sizes", self.kernel_sizes, _as_int))
        set_(self, "expand_ratios", _nested("expand_ratios", self.expand_ratios, _as_number))
        for field in ("kernel_sizes", "expand_ratios"):
            lengths = tuple(len(stage) for stage in getattr(self, field))
            if lengths != self.depths:
                raise SpaceError(
                    f"ArchConfig.{field}: wrong number of blocks {list(lengths)} per stage; "
                    f"depths {list(self.depths)} ask for exactly that many per stage"
                )
        set_(self, "precision", self._policy(self.precision))

    def _policy(self, value: Any) -> tuple[str, ...]:
        parts = precision_parts(len(self.depths))
        if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
            return ()
        if isinstance(value, str) and value in PRECISIONS:
            value = (value,) * len(parts)
        if (not isinstance(value, (list, tuple)) or len(value) != len(parts)
                or not all(isinstance(p, str) and p in PRECISIONS for p in value)):
            raise SpaceError(f"ArchConfig.precision: got {value!r}, expected one of {list(PRECISIONS)} "
                             f"per part {parts} (or one of them for every part)")
        return () if all(p == "fp32" for p in value) else tuple(value)

    @property
    def num_blocks(self) -> int:
        """Number of active elastic blocks."""
        return sum(self.depths)

    def blocks(self) -> list[tuple[int, int, int, int | float]]:
        """``(stage, index_in_stage, kernel, expand)`` of every active block, in order."""
        return [
            (s, i, k, e)
            for s, (ks, es) in enumerate(zip(self.kernel_sizes, self.expand_ratios))
            for i, (k, e) in enumerate(zip(ks, es))
        ]

    @property
    def quantized(self) -> bool:
        """Whether any part runs in int8."""
        return bool(self.precision)

    def policy(self) -> dict[str, str]:
        """Part -> precision (``fp32`` everywhere for an arch without a policy)."""
        parts = precision_parts(len(self.depths))
        return dict(zip(parts, self.precision or ("fp32",) * len(parts)))

    def block_precisions(self) -> list[str]:
        """The precision of every block of the arch's layout (`SearchSpace.layout` order:
        stem, the fixed first block, the active blocks of each stage, head)."""
        p = list(self.policy().values())
        return [p[0], p[0], *(p[s + 1] for s, d in enumerate(self.depths) for _ in range(d)), p[-1]]

    def with_precision(self, policy: Any) -> ArchConfig:
        """This arch with another policy: a precision for every part, a list of one per
        part, or a mapping part -> precision (parts not named stay as they are)."""
        if isinstance(policy, dict):
            merged = self.policy()
            unknown = sorted(set(policy) - set(merged))
            if unknown:
                raise SpaceError(f"ArchConfig.precision: unknown part(s) {unknown}; parts: {list(merged)}")
            policy = tuple({**merged, **policy}.values())
        return replace(self, precision=policy)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "resolution": self.resolution,
            "depths": list(self.depths),
            "kernel_sizes": [list(s) for s in self.kernel_sizes],
            "expand_ratios": [list(s) for s in self.expand_ratios],
        }
        if self.precision:
            out["precision"] = list(self.precision)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ArchConfig:
        expected = {"resolution", "depths", "kernel_sizes", "expand_ratios"}
        if not isinstance(data, dict) or not expected <= set(data) <= expected | {"precision"}:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SpaceError(f"ArchConfig: expected an object with keys {sorted(expected)} (and optionally "
                             f"'precision'), got {got}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpaceError(f"ArchConfig: not valid JSON ({err}): {text[:80]!r}") from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        stages = "|".join(
            ",".join(f"k{k}e{e:g}" for k, e in zip(ks, es))
            for ks, es in zip(self.kernel_sizes, self.expand_ratios)
        )
        tail = ""
        if self.precision:
            tail = "@int8" if set(self.precision) == {"int8"} else "@" + "".join(p[0] for p in self.precision)
        return f"r{self.resolution}[{stages}]{tail}"
