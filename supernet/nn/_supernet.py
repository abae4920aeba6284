"""`Supernet`, the elastic network of a space (each family subclasses it), and `Subnet`, the
standalone static network an arch extracts to (or builds afresh from its layout)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from supernet.core import ArtifactMismatchError, SpaceError
from supernet.nn._layers import init_weights
from supernet.space import ArchConfig, BlockSpec, SearchSpace, block_kind

__all__ = ["Subnet", "Supernet", "build_block", "renamed_state"]


def build_block(spec: BlockSpec, dropout: float = 0.0) -> nn.Module:
    """A freshly initialised static module for one block, by its registered kind."""
    return block_kind(spec.kind).build(spec, dropout)


class Subnet(nn.Sequential):
    """A standalone network: its blocks in order, plus the specs they were built from."""

    def __init__(self, blocks: Sequence[nn.Module], specs: Sequence[BlockSpec]) -> None:
        super().__init__(*blocks)
        self.specs = tuple(specs)

    @classmethod
    def build(cls, specs: Sequence[BlockSpec], dropout: float = 0.0) -> Subnet:
        """A randomly initialised network of these blocks (training alone, timing)."""
        return init_weights(cls([build_block(s, dropout) for s in specs], specs))


class Supernet(nn.Module):
    """Runs any arch of its space and extracts any arch to a `Subnet`. The arch to run is an
    argument of `forward`; nothing about it is stored in the modules.

    ``Supernet(space)`` builds the supernet of the space's family (its
    `SearchSpace.supernet_class`). A family's subclass builds its modules in ``__init__``
    and implements `run` (the forward pass of one arch) and `extract`."""

    def __new__(cls, space: SearchSpace | None = None, *args, **kwargs):
        if cls is Supernet and space is not None:  # (copy and pickle call __new__ bare)
            if not isinstance(space, SearchSpace):
                raise SpaceError(f"Supernet: expected a SearchSpace, got {type(space).__name__}")
            cls = space.supernet_class()
        return super().__new__(cls)

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space

    def _check_input(self, x: torch.Tensor, arch: ArchConfig) -> None:
        self.space.validate(arch)
        want = (self.space.in_channels, arch.resolution, arch.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise SpaceError(f"input of shape {tuple(x.shape)} does not fit arch {arch}: expected "
                             f"(batch, {want[0]}, {want[1]}, {want[2]}); resize the batch to the "
                             "arch's resolution first")

    def forward(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        self._check_input(x, arch)
        return self.run(x, arch)

    def run(self, x: torch.Tensor, arch: ArchConfig) -> torch.Tensor:
        """The forward pass of ``arch`` (already validated against the input)."""
        raise NotImplementedError

    def extract(self, arch: ArchConfig) -> Subnet:
        """A standalone static network computing exactly what ``forward(x, arch)`` computes,
        with its own copy of the weights (and BN statistics), on the supernet's device."""
        raise NotImplementedError

    def sort_channels(self) -> None:  # noqa: B027 - optional
        """Importance re-sorting of the elastic widths (before an elastic-width phase)."""


def renamed_state(state: dict, model: nn.Module, rename: Callable[[str], str | None], what: str,
                  adjust: Callable[[str, torch.Tensor], torch.Tensor] = lambda key, value: value) -> dict:
    """``state`` (another code's state dict, e.g. MIT's) as a state dict of ``model``: each key
    renamed by ``rename`` (None: not ours) and its tensor passed through ``adjust``. A key
    that is unexpected, missing or of the wrong shape is an `ArtifactMismatchError` naming
    it, saying that the file is not ``what``."""
    want = model.state_dict()
    out, unknown = {}, []
    for key, value in state.items():
        ours = rename(key)
        if ours is None or ours not in want:
            unknown.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            raise ArtifactMismatchError(f"{what}: {key} holds {type(value).__name__}, not a tensor")
        out[ours] = adjust(ours, value)
    missing = [k for k in want if k not in out]
    wrong = [f"{k} {tuple(out[k].shape)} (expected {tuple(want[k].shape)})" for k in out
             if tuple(out[k].shape) != tuple(want[k].shape)]
    problems = [f"unexpected key(s) {unknown[:3]}" if unknown else "",
                f"missing {missing[:3]}" if missing else "", f"wrong shape {wrong[:3]}" if wrong else ""]
    if any(problems):
        raise ArtifactMismatchError(
            f"not {what}: {'; '.join(p for p in problems if p)} ({len(unknown)} unexpected, {len(missing)} "
            f"missing, {len(wrong)} of the wrong shape in all)")
    return out
