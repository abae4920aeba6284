"""MIT's released once-for-all MobileNetV3 supernets (``ofa_mbv3_d234_e346_k357_w1.0`` and
``_w1.2``) as supernets of this project.

Our ``ofa_mbv3`` preset (and ``ofa_mbv3_w12`` for the 1.2 width multiplier) computes
exactly the function of MIT's ``OFAMobileNetV3``: every tensor maps to one of ours, only
renamed, except the kernel-transform matrices, which MIT applies as ``F.linear`` (``x @
W.T``) and we as ``x @ T``: they are stored transposed. A test compares the logits of
MIT's own module and of the imported supernet on random subnets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from supernet._errors import ArtifactMismatchError
from supernet._model import Supernet
from supernet._presets import get_space

__all__ = ["convert_ofa_state", "import_ofa"]

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
    "final_expand_layer.conv.weight": "head.final_expand.conv.weight",
    "final_expand_layer.bn.": "head.final_expand.bn.",
    "feature_mix_layer.conv.weight": "head.feature_mix.weight",
    "classifier.linear.": "head.classifier.",
}


def _rename(key: str, max_depth: int) -> str | None:
    key = key.replace(".mobile_inverted_conv.", ".conv.")  # the older releases' name
    for mit, ours in _FIXED.items():
        if key == mit or (mit.endswith(".") and key.startswith(mit)):
            return ours + key[len(mit):]
    match = re.fullmatch(r"blocks\.(\d+)\.conv\.(.+)", key)
    if match is None or int(match.group(1)) == 0:
        return None
    stage, index = divmod(int(match.group(1)) - 1, max_depth)
    rest = match.group(2)
    for mit, ours in _BLOCK.items():
        if rest == mit or (mit.endswith(".") and rest.startswith(mit)):
            return f"stages.{stage}.{index}.{ours}{rest[len(mit):]}"
    return None


def convert_ofa_state(state: dict[str, Any], space) -> dict[str, torch.Tensor]:
    """MIT's ``OFAMobileNetV3`` state dict as the state dict of our `Supernet` of
    ``space``; a key that is missing, unexpected or of the wrong shape is an error naming it."""
    want = Supernet(space).state_dict()
    out, unknown = {}, []
    for key, value in state.items():
        ours = _rename(key, space.max_depth)
        if ours is None or ours not in want:
            unknown.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            raise ArtifactMismatchError(f"OFA checkpoint: {key} holds {type(value).__name__}, not a tensor")
        out[ours] = value.t().contiguous() if ".transforms." in ours else value
    missing = [k for k in want if k not in out]
    wrong = [f"{k} {tuple(out[k].shape)} (expected {tuple(want[k].shape)})" for k in out
             if tuple(out[k].shape) != tuple(want[k].shape)]
    problems = [f"unexpected key(s) {unknown[:3]}" if unknown else "",
                f"missing {missing[:3]}" if missing else "", f"wrong shape {wrong[:3]}" if wrong else ""]
    if any(problems):
        raise ArtifactMismatchError(
            f"not an OFA-MobileNetV3 checkpoint of space {space.name!r}: "
            f"{'; '.join(p for p in problems if p)} ({len(unknown)} unexpected, {len(missing)} missing, "
            f"{len(wrong)} of the wrong shape in all)")
    return out


def import_ofa(checkpoint: str | Path, space: str | None = None) -> Supernet:
    """A `Supernet` holding the weights of MIT's released OFA-MobileNetV3 checkpoint (a
    state dict, possibly under ``"state_dict"``; ``conv`` or the older
    ``mobile_inverted_conv`` names). ``space``: ``ofa_mbv3`` or ``ofa_mbv3_w12``; None picks
    it from the stem's width (16: w1.0, 24: w1.2)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise ArtifactMismatchError(f"OFA checkpoint {str(path)!r} does not exist; MIT's releases are "
                                    "ofa_mbv3_d234_e346_k357_w1.0 and ..._w1.2")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for foreign files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ArtifactMismatchError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "first_conv.conv.weight" not in state:
        raise ArtifactMismatchError(f"{path}: not an OFA-MobileNetV3 state dict (no first_conv.conv.weight)")
    if space is None:
        stem = int(state["first_conv.conv.weight"].shape[0])
        space = {16: "ofa_mbv3", 24: "ofa_mbv3_w12"}.get(stem)
        if space is None:
            raise ArtifactMismatchError(f"{path}: a stem of {stem} channels matches neither w1.0 (16) nor "
                                        "w1.2 (24)")
    target = get_space(space)
    model = Supernet(target)
    model.load_state_dict(convert_ofa_state(state, target))
    return model.eval()
