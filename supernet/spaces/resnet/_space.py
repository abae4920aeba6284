"""The ``resnet`` family: MIT's OFA-ResNet50 (ResNet-D: deep stem, average-pool
downsampling), elastic in the depth of each stage, the expand ratio of each bottleneck,
the width multiplier of the stem's two widths and of each stage, and the stem's depth."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from supernet.core import is_num
from supernet.space import (
    ArchConfig,
    BlockSpec,
    SearchSpace,
    check_choices,
    check_field,
    make_divisible,
    register_family,
)
from supernet.spaces.resnet._costs import EXPAND, STEM_DEPTH, WIDTH

__all__ = ["ResNetSpace"]


@register_family("resnet")
@dataclass(frozen=True)
class ResNetSpace(SearchSpace):
    """Deep stem (3x3 s2 to half the stem width, an optional residual 3x3, 3x3 to the stem
    width, max pool), stages of bottlenecks, pooled linear head: MIT's ``OFAResNets``.

    A stage runs ``base_depths[s] + d`` blocks for ``d`` in ``extra_depths``; each block's
    middle width is its output width times its expand ratio; ``width_mults`` scales, one
    choice per position, the stem's middle width, the stem's output width and each stage's
    width (`net_choices`); ``stem_depth`` is 3 (with the residual conv) or 2 (without).
    Channels round as MIT's do (multiples of ``channel_divisor``, never 10 % down)."""

    name: str
    in_channels: int
    num_classes: int
    stem_width: int
    stage_widths: tuple[int, ...]
    stage_strides: tuple[int, ...]
    base_depths: tuple[int, ...]
    extra_depths: tuple[int, ...]
    expand_choices: tuple[float, ...]
    width_choices: tuple[float, ...]
    resolutions: tuple[int, ...]
    channel_divisor: int = 8
    dropout: float = 0.0
    precisions: tuple[str, ...] = ("fp32",)

    def __post_init__(self) -> None:
        self.check_common()
        n = len(self.stage_widths)
        check_field(self, n > 0, "stage_widths", self.stage_widths, "at least one stage")
        for name in ("stage_strides", "base_depths"):
            check_field(self, len(getattr(self, name)) == n, name, getattr(self, name),
                        f"{n} entries, one per stage")
        check_field(self, all(isinstance(v, int) and v > 0 for v in (*self.stage_widths, self.stem_width)),
                    "stage_widths", self.stage_widths, "positive integers (and a positive stem_width)")
        check_field(self, all(s in (1, 2) for s in self.stage_strides), "stage_strides", self.stage_strides,
                    "values in (1, 2)")
        check_field(self, all(isinstance(d, int) and d > 0 for d in self.base_depths), "base_depths",
                    self.base_depths, "positive integers")
        check_choices(self, "extra_depths", self.extra_depths, lambda d: isinstance(d, int) and d >= 0,
                      "ints >= 0")
        for name in ("expand_choices", "width_choices"):
            check_choices(self, name, getattr(self, name),
                          lambda v: is_num(v) and 0 < v <= 4, "numbers in (0, 4]")
        check_field(self, 0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a float in [0, 1)")

    # ------------------------------------------------------------ the contract
    @property
    def block_choices(self) -> dict[str, tuple]:
        return {EXPAND: self.expand_choices}

    @property
    def net_choices(self) -> dict[str, tuple[tuple, ...]]:
        return {WIDTH: (self.width_choices,) * (2 + self.num_stages), STEM_DEPTH: ((2, 3),)}

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    def stage_depths(self, stage: int) -> tuple[int, ...]:
        return tuple(self.base_depths[stage] + d for d in self.extra_depths)

    @classmethod
    def supernet_class(cls) -> type:
        from supernet.spaces.resnet._supernet import ResNetSupernet  # torch: only when a network is built

        return ResNetSupernet

    def describe(self) -> dict[str, str]:
        return {**super().describe(),
                "stem": f"{self.stem_width} channels (x width), deep stem of 2 or 3 convs"}

    def stage_table(self) -> tuple[list[str], list[list[str]]]:
        return ["stage", "width", "stride", "blocks"], [
            [str(i + 1), str(w), str(st), "/".join(map(str, self.stage_depths(i)))]
            for i, (w, st) in enumerate(zip(self.stage_widths, self.stage_strides))]

    # ---------------------------------------------------------------- structure
    def channels(self, base: int, mult: float) -> int:
        return make_divisible(base * mult, self.channel_divisor)

    def stem_channels(self, mid_mult: float, out_mult: float) -> tuple[int, int]:
        """``(middle, output)`` widths of the stem: the middle is half the output width at
        its own multiplier, rounded again (as MIT's ``mid_input_channel``)."""
        return (make_divisible(self.channels(self.stem_width, mid_mult) // 2, self.channel_divisor),
                self.channels(self.stem_width, out_mult))

    def mid_channels(self, out_channels: int, expand: float) -> int:
        return make_divisible(round(out_channels * expand), self.channel_divisor)

    def layout(self, arch: ArchConfig) -> tuple[BlockSpec, ...]:
        """The static blocks (`BlockSpec`) that make up ``arch``, in execution order."""
        self.validate(arch)
        w = arch.choice(WIDTH)
        mid, cin = self.stem_channels(w[0], w[1])
        stem = BlockSpec("resnet_stem", arch.resolution, self.in_channels, cin, kernel=3, stride=4,
                         mid_channels=mid, residual=arch.choice(STEM_DEPTH)[0] == 3)
        specs, res = [stem], stem.out_resolution
        for s, i, choice in arch.blocks():
            cout = self.channels(self.stage_widths[s], w[2 + s])
            stride = self.stage_strides[s] if i == 0 else 1
            # the shortcut is an identity where the supernet's is: in a stage after its first block
            spec = BlockSpec("bottleneck", res, cin, cout, kernel=3, stride=stride,
                             mid_channels=self.mid_channels(cout, choice[EXPAND]), act="relu", expand=True,
                             residual=i > 0 or self.identity_shortcut(s))
            specs.append(spec)
            cin, res = cout, spec.out_resolution
        return (*specs, BlockSpec("linear_head", res, cin, self.num_classes))

    def identity_shortcut(self, stage: int) -> bool:
        """Whether the first block of ``stage`` has an identity shortcut: stride 1 and one and
        the same width in and out whatever the multipliers (its input's multiplier is chosen
        apart from its own); otherwise its shortcut is an average pool and a 1x1 conv. (MIT
        decides by comparing the two widths at equal multipliers, which differs only where
        an arch could then add tensors of different widths; no released space is such.)"""
        before = ([self.stem_width, *self.stage_widths])[stage]
        widths = {self.channels(c, m) for c in (before, self.stage_widths[stage]) for m in self.width_choices}
        return self.stage_strides[stage] == 1 and len(widths) == 1

    def distinct_blocks(self) -> list[BlockSpec]:
        """A block's input width is its predecessor's output width, chosen apart from its
        own, so blocks are enumerated position by position: at every resolution every stem,
        and each stage's blocks with every input width, output width and expand ratio."""
        seen: dict[BlockSpec, None] = {}
        mults, top, n = self.width_choices, self.width_choices[-1], self.num_stages
        for r in self.resolutions:
            for m0, m1, d0 in itertools.product(mults, mults, (2, 3)):
                arch = self.uniform(r, None, {EXPAND: self.expand_choices[-1], WIDTH: [m0, m1] + [top] * n,
                                              STEM_DEPTH: [d0]})
                seen.update(dict.fromkeys(self.layout(arch)))
            for s, w_in, w_out, e in itertools.product(range(n), mults, mults, self.expand_choices):
                widths = [top, w_in if s == 0 else top] + [w_in if k == s - 1 else w_out if k == s else top
                                                           for k in range(n)]
                arch = self.uniform(r, None, {EXPAND: e, WIDTH: widths, STEM_DEPTH: [3]})
                seen.update(dict.fromkeys(self.layout(arch)))
        return list(seen)
