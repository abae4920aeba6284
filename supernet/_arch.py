"""`ArchConfig`: the one immutable description of a subnet, shared by every package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from supernet._errors import SpaceError

__all__ = ["ArchConfig"]


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

    Only active blocks are stored, so two configs are equal exactly when they describe the
    same network. Whether the values are allowed is checked by ``SearchSpace.validate``.
    """

    resolution: int
    depths: tuple[int, ...]
    kernel_sizes: tuple[tuple[int, ...], ...]
    expand_ratios: tuple[tuple[int | float, ...], ...]

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "resolution": self.resolution,
            "depths": list(self.depths),
            "kernel_sizes": [list(s) for s in self.kernel_sizes],
            "expand_ratios": [list(s) for s in self.expand_ratios],
        }

    @classmethod
    def from_dict(cls, data: Any) -> ArchConfig:
        expected = {"resolution", "depths", "kernel_sizes", "expand_ratios"}
        if not isinstance(data, dict) or set(data) != expected:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SpaceError(f"ArchConfig: expected an object with keys {sorted(expected)}, got {got}")
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
        return f"r{self.resolution}[{stages}]"
