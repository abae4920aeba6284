"""The ``resnet`` family's named spaces."""

from __future__ import annotations

from supernet.space import register_space
from supernet.spaces.resnet._space import ResNetSpace

__all__: list[str] = []


@register_space("ofa_resnet50")
def _ofa_resnet50() -> ResNetSpace:
    """MIT's ``ofa_resnet50_d=0+1+2_e=0.2+0.25+0.35_w=0.65+0.8+1.0``: ImageNet, 128..224 px."""
    return ResNetSpace(name="ofa_resnet50", in_channels=3, num_classes=1000, stem_width=64,
                       stage_widths=(256, 512, 1024, 2048), stage_strides=(1, 2, 2, 2),
                       base_depths=(2, 2, 4, 2), extra_depths=(0, 1, 2), expand_choices=(0.2, 0.25, 0.35),
                       width_choices=(0.65, 0.8, 1.0),
                       resolutions=tuple(range(128, 225, 4)))


@register_space("fmnist_resnet")
def _fmnist_resnet() -> ResNetSpace:
    """The same family for 28x28 grey images: three narrow stages after the stem's 4x
    reduction (7x7, 4x4, 2x2)."""
    return ResNetSpace(name="fmnist_resnet", in_channels=1, num_classes=10, stem_width=32,
                       stage_widths=(64, 128, 256), stage_strides=(1, 2, 2), base_depths=(1, 1, 1),
                       extra_depths=(0, 1, 2), expand_choices=(0.2, 0.25, 0.35),
                       width_choices=(0.65, 0.8, 1.0),
                       resolutions=(24, 28, 32))
