"""Named search spaces, and loading a user's own space from a JSON or YAML file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from supernet._errors import SpaceError
from supernet._space import SearchSpace

__all__ = ["get_space", "list_spaces", "load_space"]


def _ofa_mbv3() -> SearchSpace:
    """OFA-MobileNetV3 exactly as in the paper: ImageNet, 1000 classes, 128..224 px."""
    return SearchSpace(
        name="ofa_mbv3", in_channels=3, num_classes=1000,
        stem_channels=16, stem_stride=2, first_block_channels=16,
        stage_widths=(24, 40, 80, 112, 160), stage_strides=(2, 2, 2, 1, 2),
        stage_acts=("relu", "relu", "hswish", "hswish", "hswish"),
        stage_se=(False, True, False, True, True),
        kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6), depth_choices=(2, 3, 4),
        resolutions=tuple(range(128, 225, 4)),
        final_expand_channels=960, feature_mix_channels=1280, dropout=0.1,
    )


def _ofa_mbv3_w12() -> SearchSpace:
    """OFA-MobileNetV3 at width multiplier 1.2 (MIT's ``ofa_mbv3_d234_e346_k357_w1.2``):
    every width of ``ofa_mbv3`` times 1.2, rounded as MIT rounds (multiples of 8, never
    more than 10 % down)."""
    from dataclasses import replace

    from supernet._space import make_divisible

    base, w = _ofa_mbv3(), 1.2

    def scale(c: int) -> int:
        return make_divisible(c * w, base.channel_divisor)

    return replace(base, name="ofa_mbv3_w12", stem_channels=scale(base.stem_channels),
                   first_block_channels=scale(base.first_block_channels),
                   stage_widths=tuple(scale(c) for c in base.stage_widths),
                   final_expand_channels=scale(base.final_expand_channels),
                   feature_mix_channels=scale(base.feature_mix_channels))


def _fmnist_small() -> SearchSpace:
    """The same block structure for 28x28 grey images: three narrower stages that run at
    7x7 and 4x4 after the stem (depthwise convs at high resolution dominate CPU time)."""
    return SearchSpace(
        name="fmnist_small", in_channels=1, num_classes=10,
        stem_channels=16, stem_stride=2, first_block_channels=16,
        stage_widths=(24, 40, 80), stage_strides=(2, 1, 2),
        stage_acts=("relu", "hswish", "hswish"), stage_se=(False, True, True),
        kernel_choices=(3, 5, 7), expand_choices=(3, 4, 6), depth_choices=(2, 3, 4),
        resolutions=(20, 24, 28, 32),
        final_expand_channels=480, feature_mix_channels=640, dropout=0.1,
    )


_PRESETS: dict[str, Callable[[], SearchSpace]] = {
    "ofa_mbv3": _ofa_mbv3,
    "ofa_mbv3_w12": _ofa_mbv3_w12,
    "fmnist_small": _fmnist_small,
}


def list_spaces() -> list[str]:
    """Names of the built-in presets."""
    return sorted(_PRESETS)


def load_space(path: str | Path) -> SearchSpace:
    """A user-defined space from a ``.json`` or ``.yaml``/``.yml`` file of its fields."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search-space file {str(path)!r} does not exist")
    if path.stat().st_size > 1 << 20:
        raise SpaceError(f"{path}: {path.stat().st_size:,} bytes; a search-space file is at most 1 MiB")
    text = path.read_text(errors="replace")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpaceError(f"{path}: not valid JSON ({err})") from None
    elif path.suffix in (".yaml", ".yml"):
        from supernet._train_config import ConfigError, read_yaml

        try:
            data = read_yaml(path, "search-space file")
        except ConfigError as err:
            raise SpaceError(str(err)) from None
    else:
        raise SpaceError(f"{path}: expected a .json, .yaml or .yml search-space file")
    return SearchSpace.from_dict(data)


def get_space(name: str | SearchSpace | Path) -> SearchSpace:
    """A preset by name, a space file by path, or a `SearchSpace` passed through."""
    if isinstance(name, SearchSpace):
        return name
    if str(name) in _PRESETS:
        return _PRESETS[str(name)]()
    if Path(name).suffix in (".json", ".yaml", ".yml"):
        return load_space(name)
    raise SpaceError(f"unknown search space {str(name)!r}; presets: {list_spaces()}, "
                     "or give the path of a .json/.yaml space file")
