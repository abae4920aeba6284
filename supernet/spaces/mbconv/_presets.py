"""The ``mbconv`` family's named spaces."""

from __future__ import annotations

from dataclasses import replace

from supernet.space import register_space
from supernet.spaces.mbconv._space import MBConvSpace, ProxylessSpace, make_divisible

__all__: list[str] = []


@register_space("ofa_mbv3")
def _ofa_mbv3() -> MBConvSpace:
    """OFA-MobileNetV3 exactly as in the paper: ImageNet, 1000 classes, 128..224 px."""
    return MBConvSpace(
        name="ofa_mbv3", in_channels=3, num_classes=1000,
        stem_channels=16, stem_stride=2, first_block_channels=16,
        stage_widths=(24, 40, 80, 112, 160), stage_strides=(2, 2, 2, 1, 2),
        stage_acts=("relu", "relu", "hswish", "hswish", "hswish"),
        stage_se=(False, True, False, True, True),
        kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6), depth_choices=(2, 3, 4),
        resolutions=tuple(range(128, 225, 4)),
        final_expand_channels=960, feature_mix_channels=1280, dropout=0.1,
    )


@register_space("ofa_mbv3_w12")
def _ofa_mbv3_w12() -> MBConvSpace:
    """OFA-MobileNetV3 at width multiplier 1.2 (MIT's ``ofa_mbv3_d234_e346_k357_w1.2``):
    every width of ``ofa_mbv3`` times 1.2, rounded as MIT rounds (multiples of 8, never
    more than 10 % down)."""
    base, w = _ofa_mbv3(), 1.2

    def scale(c: int) -> int:
        return make_divisible(c * w, base.channel_divisor)

    return replace(base, name="ofa_mbv3_w12", stem_channels=scale(base.stem_channels),
                   first_block_channels=scale(base.first_block_channels),
                   stage_widths=tuple(scale(c) for c in base.stage_widths),
                   final_expand_channels=scale(base.final_expand_channels),
                   feature_mix_channels=scale(base.feature_mix_channels))


@register_space("fmnist_small")
def _fmnist_small() -> MBConvSpace:
    """The same block structure for 28x28 grey images: three narrower stages that run at
    7x7 and 4x4 after the stem (depthwise convs at high resolution dominate CPU time)."""
    return MBConvSpace(
        name="fmnist_small", in_channels=1, num_classes=10,
        stem_channels=16, stem_stride=2, first_block_channels=16,
        stage_widths=(24, 40, 80), stage_strides=(2, 1, 2),
        stage_acts=("relu", "hswish", "hswish"), stage_se=(False, True, True),
        kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6), depth_choices=(2, 3, 4),
        resolutions=(20, 24, 28, 32),
        final_expand_channels=480, feature_mix_channels=640, dropout=0.1,
    )


@register_space("ofa_proxyless")
def _ofa_proxyless() -> ProxylessSpace:
    """MIT's ``ofa_proxyless_d234_e346_k357_w1.3``: ProxylessNAS's widths (32, 16, 24, 40, 80,
    96, 192, 320, 1280) times 1.3, ImageNet, 128..224 px."""
    w = [make_divisible(c * 1.3, 8) for c in (32, 16, 24, 40, 80, 96, 192, 320, 1280)]
    return ProxylessSpace(
        name="ofa_proxyless", in_channels=3, num_classes=1000, stem_channels=w[0], stem_stride=2,
        first_block_channels=w[1], stage_widths=tuple(w[2:8]), stage_strides=(2, 2, 2, 1, 2, 1),
        stage_acts=("relu6",) * 6, stage_se=(False,) * 6, kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6),
        depth_choices=(2, 3, 4), resolutions=tuple(range(128, 225, 4)), final_expand_channels=w[8],
        feature_mix_channels=w[8], dropout=0.1, stage_max_depths=(4, 4, 4, 4, 4, 1))


@register_space("fmnist_proxyless")
def _fmnist_proxyless() -> ProxylessSpace:
    """The ProxylessNAS family for 28x28 grey images, on ``fmnist_small``'s widths."""
    return ProxylessSpace(
        name="fmnist_proxyless", in_channels=1, num_classes=10, stem_channels=16, stem_stride=2,
        first_block_channels=8, stage_widths=(24, 40, 80), stage_strides=(2, 1, 2), stage_acts=("relu6",) * 3,
        stage_se=(False,) * 3, kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6), depth_choices=(2, 3, 4),
        resolutions=(20, 24, 28, 32), final_expand_channels=480, feature_mix_channels=480, dropout=0.1)
