"""The ``mbconv`` family: OFA-MobileNetV3's skeleton (stem, one fixed MBConv, elastic
stages of inverted bottlenecks with kernel and expand ratio per block, head)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

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
from supernet.spaces.mbconv._costs import EXPAND, KERNEL

__all__ = ["MBConvSpace", "make_divisible"]

ACTIVATIONS = ("relu", "relu6", "hswish")
HEADS = ("mbv3", "mix")


@register_family("mbconv")
@dataclass(frozen=True)
class MBConvSpace(SearchSpace):
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
    stem_act: str = "hswish"
    first_block_act: str = "relu"
    head: str = "mbv3"
    bn_eps: float = 1e-5
    stage_max_depths: tuple[int, ...] | None = None

    #: fields added after the first release: left out of `to_dict` (and so of the hash) at
    #: their defaults, so the spaces and artifacts made before them keep their hashes
    LATER_FIELDS: ClassVar[tuple[str, ...]] = ("stem_act", "first_block_act", "head", "bn_eps",
                                               "stage_max_depths")

    choice_aliases: ClassVar[dict[str, str]] = {"kernels": KERNEL, "expands": EXPAND}

    def __post_init__(self) -> None:
        self.check_common()
        for name in ("stem_channels", "stem_stride",
                     "first_block_channels", "final_expand_channels", "feature_mix_channels",
                     "se_reduction", "channel_divisor"):
            value = getattr(self, name)
            check_field(self, isinstance(value, int) and value > 0, name, value, "a positive integer")
        check_field(self, isinstance(self.stage_widths, tuple) and len(self.stage_widths) > 0 and all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in self.stage_widths),
            "stage_widths", self.stage_widths, "a list of positive ints, one output width per stage")
        n = len(self.stage_widths)
        for name in ("stage_strides", "stage_acts", "stage_se"):
            value = getattr(self, name)
            check_field(self, len(value) == n, name, value, f"{n} entries, one per stage")
        check_field(self, all(a in ACTIVATIONS for a in self.stage_acts), "stage_acts", self.stage_acts,
               f"values in {ACTIVATIONS}")
        check_field(self, all(s in (1, 2) for s in self.stage_strides), "stage_strides",
               self.stage_strides, "values in (1, 2)")
        for name, ok, what in (
            ("kernel_choices", lambda k: isinstance(k, int) and k > 0 and k % 2, "odd positive ints"),
            ("expand_choices", lambda e: is_num(e) and e > 0, "positive numbers"),
            ("depth_choices", lambda d: isinstance(d, int) and d > 0, "positive ints"),
        ):
            check_choices(self, name, getattr(self, name), ok, what)
        check_field(self, 0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a float in [0, 1)")
        for name in ("stem_act", "first_block_act"):
            check_field(self, getattr(self, name) in ACTIVATIONS, name, getattr(self, name),
                        f"one of {ACTIVATIONS}")
        check_field(self, self.head in HEADS, "head", self.head,
                    f"one of {HEADS} (mbv3: final expand, pool, feature mix; mix: feature mix, pool)")
        check_field(self, isinstance(self.bn_eps, float) and 0 < self.bn_eps < 1, "bn_eps", self.bn_eps,
                    "a float in (0, 1)")
        if self.stage_max_depths is not None:
            object.__setattr__(self, "stage_max_depths", tuple(self.stage_max_depths))
            check_field(self, len(self.stage_max_depths) == n and all(
                isinstance(d, int) and 0 < d <= self.depth_choices[-1] for d in self.stage_max_depths),
                "stage_max_depths", self.stage_max_depths,
                f"null or {n} positive ints, one per stage, none above {self.depth_choices[-1]}")

    def to_dict(self) -> dict:
        defaults = {f.name: f.default for f in fields(self) if f.name in self.LATER_FIELDS}
        return {k: v for k, v in super().to_dict().items() if k not in defaults or v != defaults[k]}

    # ------------------------------------------------------------ the contract
    @property
    def block_choices(self) -> dict[str, tuple]:
        return {KERNEL: self.kernel_choices, EXPAND: self.expand_choices}

    @property
    def num_stages(self) -> int:
        return len(self.stage_widths)

    def stage_depths(self, stage: int) -> tuple[int, ...]:
        """``depth_choices``, or those up to the stage's cap (``stage_max_depths``; a cap below
        every choice is the stage's only depth)."""
        if self.stage_max_depths is None:
            return self.depth_choices
        cap = self.stage_max_depths[stage]
        return tuple(d for d in self.depth_choices if d <= cap) or (cap,)

    @classmethod
    def supernet_class(cls) -> type:
        from supernet.spaces.mbconv._supernet import MBConvSupernet  # torch: only when a network is built

        return MBConvSupernet

    def layout_parts(self, arch: ArchConfig) -> list[str]:
        """The fixed first block belongs to the stem part too."""
        return ["stem", *super().layout_parts(arch)]

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "stem": f"{self.stem_channels} channels, stride {self.stem_stride}"}

    def stage_table(self) -> tuple[list[str], list[list[str]]]:
        return ["stage", "width", "stride", "activation", "SE"], [
            [str(i + 1), str(w), str(st), act, "yes" if se else "no"]
            for i, (w, st, act, se) in enumerate(zip(self.stage_widths, self.stage_strides, self.stage_acts,
                                                     self.stage_se))]

    # ---------------------------------------------------------------- structure
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

    def layout(self, arch: ArchConfig) -> tuple[BlockSpec, ...]:
        """The static blocks (`BlockSpec`) that make up ``arch``, in execution order."""
        self.validate(arch)
        res = arch.resolution
        stem = BlockSpec("stem", res, self.in_channels, self.stem_channels, kernel=3,
                         stride=self.stem_stride, act=self.stem_act)
        res = stem.out_resolution
        c = self.first_block_channels
        first = BlockSpec("mbconv", res, self.stem_channels, c, kernel=3, mid_channels=self.stem_channels,
                          act=self.first_block_act, residual=self.stem_channels == c)
        blocks = [stem, first]
        for s, i, choice in arch.blocks():
            k, e = choice[KERNEL], choice[EXPAND]
            cin, cout = self.stage_in_channels(s, i), self.stage_widths[s]
            stride = self.stage_strides[s] if i == 0 else 1
            mid = self.mid_channels(cin, e)
            block = BlockSpec(
                "mbconv", res, cin, cout, kernel=k, stride=stride, mid_channels=mid,
                se_channels=self.se_channels(mid) if self.stage_se[s] else 0,
                act=self.stage_acts[s], expand=True, residual=stride == 1 and cin == cout,
            )
            blocks.append(block)
            res = block.out_resolution
        if self.head == "mix":
            blocks.append(BlockSpec("mix_head", res, self.stage_widths[-1], self.num_classes,
                                    mix_channels=self.feature_mix_channels, act=self.stage_acts[-1]))
        else:
            blocks.append(BlockSpec("head", res, self.stage_widths[-1], self.num_classes,
                                    mid_channels=self.final_expand_channels,
                                    mix_channels=self.feature_mix_channels, act="hswish"))
        return tuple(blocks)


@register_family("proxyless")
@dataclass(frozen=True)
class ProxylessSpace(MBConvSpace):
    """OFA-ProxylessNAS (MIT's ``OFAProxylessNASNets``): the ``mbconv`` skeleton with ReLU6
    everywhere, no squeeze-excite, a head of one feature-mix conv (``head: mix``; its
    ``final_expand_channels`` are unused), batch norm with eps 1e-3, and a last stage of a
    single block (``stage_max_depths``)."""

    stem_act: str = "relu6"
    first_block_act: str = "relu6"
    head: str = "mix"
    bn_eps: float = 1e-3
