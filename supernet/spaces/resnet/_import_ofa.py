"""MIT's released OFA-ResNet50 supernet (``ofa_resnet50_d=0+1+2_e=0.2+0.25+0.35_w=0.65+0.8+1.0``)
as a supernet of the ``ofa_resnet50`` space: every tensor maps to one of ours, renamed."""

from __future__ import annotations

import re
from typing import Any

import torch

from supernet.nn import Supernet, renamed_state

__all__ = ["convert_ofa_resnet_state", "detect_ofa_resnet"]

_STEM = {"input_stem.0.": "stem.conv0.", "input_stem.1.conv.": "stem.conv1.", "input_stem.2.": "stem.conv2."}


def _plain(key: str) -> str:
    """MIT's live module names (``conv.conv.weight``, ``bn.bn.``, ``linear.linear.``) as its
    released files spell them (one level less)."""
    key = key.replace(".bn.bn.", ".bn.").replace(".linear.linear.", ".linear.")
    return key[: -len(".conv.conv.weight")] + ".conv.weight" if key.endswith(".conv.conv.weight") else key


def _rename(key: str, blocks: list[tuple[int, int]]) -> str | None:
    key = _plain(key)
    for mit, ours in _STEM.items():
        if key.startswith(mit):
            return ours + key[len(mit):]
    if key.startswith("classifier.linear."):
        return "head.classifier." + key[len("classifier.linear."):]
    match = re.fullmatch(r"blocks\.(\d+)\.(conv[123]|downsample)\.(.+)", key)
    if match is None or int(match.group(1)) >= len(blocks):
        return None
    stage, index = blocks[int(match.group(1))]
    layer, rest = match.group(2), match.group(3)
    if layer == "downsample":  # MIT's pool, conv and bn in one sequence; ours: the pool and a conv-bn
        layer = "downsample.conv"
    return f"stages.{stage}.{index}.{layer}.{rest}"


def convert_ofa_resnet_state(state: dict[str, Any], space) -> dict[str, torch.Tensor]:
    """MIT's ``OFAResNets`` state dict as the state dict of our supernet of ``space``; a key
    that is missing, unexpected or of the wrong shape is an error naming it."""
    blocks = [(s, i) for s in range(space.num_stages) for i in range(space.stage_depths(s)[-1])]
    return renamed_state(state, Supernet(space), lambda key: _rename(key, blocks),
                         f"an OFA-ResNet checkpoint of space {space.name!r}")


def detect_ofa_resnet(state: dict[str, Any]) -> str | None:
    """``ofa_resnet50`` for a state dict of MIT's ``OFAResNets``, else None."""
    return "ofa_resnet50" if any(_plain(k) == "input_stem.0.conv.weight" for k in state) else None


