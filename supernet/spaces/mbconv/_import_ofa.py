"""MIT's released once-for-all MobileNetV3 supernets (``ofa_mbv3_d234_e346_k357_w1.0`` and
``_w1.2``) as supernets of this project.

Our ``ofa_mbv3`` preset (and ``ofa_mbv3_w12`` for the 1.2 width multiplier) computes
exactly the function of MIT's ``OFAMobileNetV3``: every tensor maps to one of ours, only
renamed, except the kernel-transform matrices, which MIT applies as ``F.linear`` (``x @
W.T``) and we as ``x @ T``: they are stored transposed. A test compares the logits of
MIT's own module and of the imported supernet on random subnets."""

from __future__ import annotations

import re
from typing import Any

import torch

from supernet.core import ArtifactMismatchError
from supernet.nn import Supernet, renamed_state

__all__ = ["convert_ofa_state", "detect_ofa_mbv3", "detect_ofa_proxyless"]

_BLOCK = {  # MIT's name inside an elastic block -> ours
    "inverted_bottleneck.conv.conv.weight": "expand.conv.weight",
    "inverted_bottleneck.bn.bn.": "expand.bn.",
    "depth_conv.conv.conv.weight": "depthwise.conv.weight",
    "depth_conv.conv.5to3_matrix": "depthwise.conv.transforms.3",
    "depth_conv.conv.7to5_matrix": "depthwise.conv.transforms.5",
    "depth_conv.bn.bn.": "depthwise.bn.",
    "depth_conv.se.fc.reduce.": "se.reduce.",
    "depth_conv.se.fc.expand.": "se.expand.",
    "point_linear.conv.conv.weight": "project.conv.weight",
    "point_linear.bn.bn.": "project.bn.",
}
_FIXED = {  # the stem, the fixed first block and the head
    "first_conv.conv.weight": "stem.conv.weight", "first_conv.bn.": "stem.bn.",
    "blocks.0.conv.depth_conv.conv.weight": "first_block.depthwise.conv.weight",
    "blocks.0.conv.depth_conv.bn.": "first_block.depthwise.bn.",
    "blocks.0.conv.point_linear.conv.weight": "first_block.project.conv.weight",
    "blocks.0.conv.point_linear.bn.": "first_block.project.bn.",
    "classifier.linear.": "head.classifier.",
}
_HEADS = {  # MobileNetV3's head (final expand, pool, feature mix without BN) and ProxylessNAS's
    "mbv3": {"final_expand_layer.conv.weight": "head.final_expand.conv.weight",
             "final_expand_layer.bn.": "head.final_expand.bn.",
             "feature_mix_layer.conv.weight": "head.feature_mix.weight"},
    "mix": {"feature_mix_layer.conv.weight": "head.feature_mix.conv.weight",
            "feature_mix_layer.bn.": "head.feature_mix.bn."},
}


def _rename(key: str, space) -> str | None:
    key = key.replace(".mobile_inverted_conv.", ".conv.")  # the older releases' name
    for mit, ours in {**_FIXED, **_HEADS[space.head]}.items():
        if key == mit or (mit.endswith(".") and key.startswith(mit)):
            return ours + key[len(mit):]
    match = re.fullmatch(r"blocks\.(\d+)\.conv\.(.+)", key)
    blocks = [(s, i) for s in range(space.num_stages) for i in range(space.stage_depths(s)[-1])]
    if match is None or not 0 < int(match.group(1)) <= len(blocks):
        return None
    stage, index = blocks[int(match.group(1)) - 1]
    rest = match.group(2)
    for mit, ours in _BLOCK.items():
        if rest == mit or (mit.endswith(".") and rest.startswith(mit)):
            return f"stages.{stage}.{index}.{ours}{rest[len(mit):]}"
    return None


def convert_ofa_state(state: dict[str, Any], space) -> dict[str, torch.Tensor]:
    """MIT's ``OFAMobileNetV3`` (or ``OFAProxylessNASNets``) state dict as the state dict of
    our `Supernet` of ``space``; a key that is missing, unexpected or of the wrong shape is
    an error naming it."""
    net = "MobileNetV3" if space.family == "mbconv" else "ProxylessNAS"
    return renamed_state(state, Supernet(space), lambda key: _rename(key, space),
                         f"an OFA-{net} checkpoint of space {space.name!r}",
                         lambda key, value: value.t().contiguous() if ".transforms." in key else value)


def detect_ofa_mbv3(state: dict[str, Any]) -> str | None:
    """``ofa_mbv3`` or ``ofa_mbv3_w12`` (by the stem's width: 16 or 24) for a state dict of
    MIT's ``OFAMobileNetV3``, else None."""
    stem = state.get("first_conv.conv.weight")
    if not isinstance(stem, torch.Tensor) or not any(k.startswith("final_expand_layer.") for k in state):
        return None
    space = {16: "ofa_mbv3", 24: "ofa_mbv3_w12"}.get(int(stem.shape[0]))
    if space is None:
        raise ArtifactMismatchError(f"an OFA-MobileNetV3 stem of {int(stem.shape[0])} channels matches "
                                    "neither w1.0 (16) nor w1.2 (24)")
    return space




def detect_ofa_proxyless(state: dict[str, Any]) -> str | None:
    """``ofa_proxyless`` for a state dict of MIT's ``OFAProxylessNASNets``, else None."""
    stem = state.get("first_conv.conv.weight")
    head = any(k.startswith("feature_mix_layer.bn.") for k in state)
    return "ofa_proxyless" if isinstance(stem, torch.Tensor) and head else None


