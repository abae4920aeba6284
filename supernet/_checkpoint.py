"""Checkpoint files: written atomically, read safely (``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from supernet._pretrained import resolve_checkpoint
from supernet.core import ArtifactMismatchError, atomic_path
from supernet.nn import Supernet
from supernet.space import SearchSpace

__all__ = ["save_checkpoint", "load_checkpoint", "load_supernet", "load_pretrained", "safe_load"]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename over it: a crash
    leaves either the old checkpoint or the new one, never half of one."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def safe_load(path: str | Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only, never code from
    the file. A file it cannot read raises `ArtifactMismatchError` naming the file, ``what``
    it should have been and torch's reason, without torch's advice to load it unsafely."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line for line in lines if "weights_only" not in line and "torch.load" not in line),
                      type(err).__name__)
        raise ArtifactMismatchError(f"{path}: not a readable {what} ({reason[:200]})") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file (or ``pretrained:NAME``) as a dict of plain tensors and values."""
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise ArtifactMismatchError(f"checkpoint {str(path)!r} does not exist")
    payload = safe_load(path, "checkpoint of this project")
    if not isinstance(payload, dict) or "model" not in payload or "space" not in payload:
        raise ArtifactMismatchError(f"{path}: expected a supernet checkpoint with 'model' and 'space'")
    return payload


def load_supernet(path: str | Path) -> tuple[Supernet, dict[str, Any]]:
    """The supernet stored in a checkpoint (a path or ``pretrained:NAME``), in eval mode,
    and the whole checkpoint."""
    payload = load_checkpoint(path)
    return supernet_from_payload(payload, str(path)), payload


def supernet_from_payload(payload: dict[str, Any], where: str = "checkpoint") -> Supernet:
    """The supernet of a loaded checkpoint (`load_checkpoint`), in eval mode; ``where``
    names it in errors."""
    if payload.get("kind") == "finetuned-subnet":
        raise ArtifactMismatchError(f"{where}: a fine-tuned subnet (nas finetune), not a supernet; export it "
                                    "with nas export --weights, or give the supernet it came from")
    model = Supernet(SearchSpace.from_dict(payload["space"]))
    state = payload["model"]
    if not isinstance(state, dict):
        raise ArtifactMismatchError(f"{where}: 'model' holds {type(state).__name__}, expected a state dict")
    want = model.state_dict()
    problems = [f"missing {k}" for k in want if k not in state] + [
        f"unexpected {k}" for k in state if k not in want] + [
        f"{k} of shape {tuple(getattr(v, 'shape', ()))} (expected {tuple(want[k].shape)})"
        for k, v in state.items() if k in want and tuple(getattr(v, "shape", ())) != tuple(want[k].shape)]
    if problems:
        raise ArtifactMismatchError(f"{where}: its weights do not fit its search space "
                                    f"{model.space.name!r}: {'; '.join(problems[:3])}"
                                    f"{f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''}")
    model.load_state_dict(state)
    return model.eval()


def load_pretrained(name: str) -> tuple[Supernet, dict[str, Any]]:
    """A supernet that ships with the project, e.g. ``load_pretrained("fmnist_small")``
    (`list_pretrained` names them; `pretrained_card` tells how each was trained)."""
    return load_supernet(f"pretrained:{name}")
