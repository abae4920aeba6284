"""The static blocks an arch is made of: one description used to build, cost, time and
look up every part of a subnet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supernet._arch import ArchConfig
    from supernet._space import SearchSpace

__all__ = ["BlockSpec", "arch_layout"]


@dataclass(frozen=True)
class BlockSpec:
    """One static block: ``stem`` (conv-BN-act), ``mbconv`` (inverted bottleneck) or ``head``
    (final 1x1 expand, global pool, feature-mix 1x1 conv, classifier).

    ``mid_channels`` is the depthwise width of an MBConv or the final-expand width of the
    head; ``se_channels`` is the hidden width of squeeze-excite (0: none); ``mix_channels``
    is the head's feature-mix width. ``resolution`` is the block's input size.
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
        return 1 if self.kind == "head" else -(-self.resolution // self.stride)

    def to_dict(self) -> dict:
        return asdict(self)


def arch_layout(space: SearchSpace, arch: ArchConfig) -> tuple[BlockSpec, ...]:
    space.validate(arch)
    res = arch.resolution
    stem = BlockSpec("stem", res, space.in_channels, space.stem_channels, kernel=3,
                     stride=space.stem_stride, act="hswish")
    res = stem.out_resolution
    c = space.first_block_channels
    first = BlockSpec("mbconv", res, space.stem_channels, c, kernel=3, mid_channels=space.stem_channels,
                      act="relu", residual=space.stem_channels == c)
    blocks = [stem, first]
    for s, i, k, e in arch.blocks():
        cin, cout = space.stage_in_channels(s, i), space.stage_widths[s]
        stride = space.stage_strides[s] if i == 0 else 1
        mid = space.mid_channels(cin, e)
        block = BlockSpec(
            "mbconv", res, cin, cout, kernel=k, stride=stride, mid_channels=mid,
            se_channels=space.se_channels(mid) if space.stage_se[s] else 0,
            act=space.stage_acts[s], expand=True, residual=stride == 1 and cin == cout,
        )
        blocks.append(block)
        res = block.out_resolution
    blocks.append(BlockSpec("head", res, space.stage_widths[-1], space.num_classes,
                            mid_channels=space.final_expand_channels,
                            mix_channels=space.feature_mix_channels, act="hswish"))
    return tuple(blocks)
