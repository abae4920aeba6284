"""Supernets that ship with the project, loadable by name (``pretrained:NAME`` wherever a
checkpoint path is taken). Each is a checkpoint plus a card (JSON) saying how it was
trained, how accurate its subnets are, its hash and the command that reproduces it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supernet.core import ArtifactMismatchError

__all__ = ["PRETRAINED_DIR", "PREFIX", "list_pretrained", "pretrained_card", "resolve_checkpoint"]

PRETRAINED_DIR = Path(__file__).with_name("pretrained")
PREFIX = "pretrained:"


def list_pretrained() -> list[str]:
    """Names of the shipped supernets (``supernet.load_pretrained(name)``)."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def resolve_checkpoint(ref: str | Path) -> Path:
    """The checkpoint file ``ref`` names: a path as it is, or ``pretrained:NAME`` for a
    shipped supernet."""
    text = str(ref)
    if not text.startswith(PREFIX):
        return Path(ref)
    name = text[len(PREFIX):]
    path = PRETRAINED_DIR / f"{name}.pt"
    if not name or "/" in name or not path.is_file():
        raise ArtifactMismatchError(f"no pretrained supernet {name!r}; shipped: "
                                    f"{[PREFIX + n for n in list_pretrained()]}")
    return path


def pretrained_card(name: str) -> dict[str, Any]:
    """The card of a shipped supernet: its recipe, test accuracies, hash and command."""
    path = resolve_checkpoint(PREFIX + name).with_suffix(".json")
    return json.loads(path.read_text())
