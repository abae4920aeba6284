"""MIT's released once-for-all supernets as supernets of this project: each family reads
its own (`supernet.space.register_importer`); this module reads the file and picks it."""

from __future__ import annotations

from pathlib import Path

from supernet._checkpoint import safe_load
from supernet.core import ArtifactMismatchError
from supernet.nn import Supernet
from supernet.space import get_space, importers

__all__ = ["import_ofa"]

RELEASES = ("ofa_mbv3_d234_e346_k357_w1.0 (and _w1.2), ofa_proxyless_d234_e346_k357_w1.3, "
            "ofa_resnet50_d=0+1+2_e=0.2+0.25+0.35_w=0.65+0.8+1.0")


def import_ofa(checkpoint: str | Path, space: str | None = None) -> Supernet:
    """A `Supernet` holding the weights of one of MIT's released checkpoints (a state dict,
    possibly under ``"state_dict"``; the names of MIT's live modules or of its files). Its
    space is found from the tensors (``space`` names it instead: a preset of the family the
    checkpoint belongs to)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise ArtifactMismatchError(f"OFA checkpoint {str(path)!r} does not exist; MIT's releases are "
                                    f"{RELEASES}")
    state = safe_load(path, "checkpoint")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ArtifactMismatchError(f"{path}: holds {type(state).__name__}, expected a state dict")
    found = [(imp, name) for imp in importers().values() if (name := imp.detect(state)) is not None]
    if not found:
        raise ArtifactMismatchError(f"{path}: not one of MIT's once-for-all supernets ({RELEASES}): none of "
                                    f"the families {sorted(importers())} recognises its tensors")
    importer, detected = found[0]
    target = get_space(space or detected)
    if target.family != importer.family:
        raise ArtifactMismatchError(f"{path}: a {importer.family} checkpoint ({detected}); --space "
                                    f"{space!r} is a {target.family} space")
    model = Supernet(target)
    model.load_state_dict(importer.convert(state, target))
    return model.eval()
