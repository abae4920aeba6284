"""`BlockSpec`: one static block of a subnet, the description used to build, cost, time and
look up every part of it (a latency table's key is its fields)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from supernet.core import SpaceError

__all__ = ["BlockKind", "BlockSpec", "block_kind", "conv_cost", "list_block_kinds", "make_divisible",
           "register_block"]


@dataclass(frozen=True)
class BlockKind:
    """What a family registers for each kind of static block it is made of.

    ``build(spec, dropout)``: a freshly initialised static ``nn.Module`` for ``spec``.
    ``cost(spec)``: ``(params, macs, peak_activation_elements)`` at batch 1 from the spec
    alone (a contract test checks it against counting the built module).
    ``pooled``: the block ends in a global pool (its output resolution is 1)."""

    build: Callable[[Any, float], Any]
    cost: Callable[[Any], tuple[int, int, int]]
    pooled: bool = False


_KINDS: dict[str, BlockKind] = {}


def register_block(kind: str, *, build: Callable, cost: Callable, pooled: bool = False) -> BlockKind:
    """Register a kind of static block (where its module is defined)."""
    entry = BlockKind(build, cost, pooled)
    if kind in _KINDS and _KINDS[kind] != entry:
        raise SpaceError(f"register_block: block kind {kind!r} is registered already")
    _KINDS[kind] = entry
    return entry


def list_block_kinds() -> list[str]:
    return sorted(_KINDS)


def block_kind(kind: str) -> BlockKind:
    if kind not in _KINDS:
        raise SpaceError(f"BlockSpec.kind: got {kind!r}, expected one of the registered kinds "
                         f"{list_block_kinds()}")
    return _KINDS[kind]


@dataclass(frozen=True)
class BlockSpec:
    """One static block of a registered ``kind`` (`register_block`): e.g. ``stem``
    (conv-BN-act), ``mbconv`` (inverted bottleneck) or ``head`` (final 1x1 expand, global
    pool, feature-mix 1x1 conv, classifier). ``resolution`` is the block's input size; what
    the other fields mean is the kind's: for an MBConv ``mid_channels`` is the depthwise
    width, ``se_channels`` the hidden width of squeeze-excite (0: none); for a head
    ``mid_channels`` is the final-expand width and ``mix_channels`` the feature-mix width.
    A kind that needs another number adds a field with a default, so that the tables of
    every other kind keep their columns.
    """

    kind: str
    resolution: int
    in_channels: int
    out_channels: int
    kernel: int = 1
    stride: int = 1
    mid_channels: int = 0
    se_channels: int = 0
    mix_channels: int = 0
    act: str = "relu"
    expand: bool = False
    residual: bool = False

    @property
    def out_resolution(self) -> int:
        return 1 if block_kind(self.kind).pooled else -(-self.resolution // self.stride)

    def to_dict(self) -> dict:
        return asdict(self)


def conv_cost(cin: int, cout: int, k: int, out_res: int, groups: int = 1) -> tuple[int, int]:
    """``(weights, macs)`` of a ``k x k`` convolution producing ``out_res x out_res`` maps."""
    weights = cout * (cin // groups) * k * k
    return weights, weights * out_res * out_res


def make_divisible(value: float, divisor: int) -> int:
    """Round ``value`` to a multiple of ``divisor``, never dropping more than 10 % (the
    channel rounding of MobileNet and of MIT's once-for-all)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded
