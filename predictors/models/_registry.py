"""A registry of predictor classes by name (each model registers itself where it is
defined, ``@register_predictor``), and loading a saved predictor."""

from __future__ import annotations

import json
from pathlib import Path

from predictors.models._encoded import FORMAT, MANIFEST, EncodedPredictor
from supernet import ArtifactMismatchError, NASError, SearchSpace

__all__ = ["create_predictor", "list_predictors", "load_predictor", "register_predictor",
           "resolve_predictor"]

PRETRAINED_DIR = Path(__file__).parents[1] / "pretrained"

_REGISTRY: dict[str, type[EncodedPredictor]] = {}


def register_predictor(cls: type[EncodedPredictor]) -> type[EncodedPredictor]:
    """Add a user's `EncodedPredictor` subclass under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, EncodedPredictor)) or not cls.name:
        raise NASError(f"register_predictor: expected an EncodedPredictor subclass with a name, got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


def predictor_class(kind: str, where: str) -> type[EncodedPredictor]:
    """The registered class of a saved predictor's ``kind`` (``where``: for the error)."""
    if kind not in _REGISTRY:
        raise ArtifactMismatchError(f"{where}: predictor kind {kind!r} is not registered; "
                                    f"known: {list_predictors()}")
    return _REGISTRY[kind]


def list_predictors() -> list[str]:
    """Names accepted by `create_predictor` (and ``nas fit-predictor --models``)."""
    return sorted(_REGISTRY)


def create_predictor(name: str | type[EncodedPredictor], *, space: SearchSpace | str,
                     supernet_hash: str | None = None, **kwargs) -> EncodedPredictor:
    """A new, unfitted predictor: a registered name or an `EncodedPredictor` subclass;
    ``kwargs`` go to its keyword-only constructor (e.g. ``steps=`` for ``"mlp"``)."""
    cls = name if isinstance(name, type) else _REGISTRY.get(name)
    if cls is None or not issubclass(cls, EncodedPredictor):
        raise NASError(f"unknown predictor {name!r}; available: {list_predictors()}")
    return cls(space=space, supernet_hash=supernet_hash, **kwargs)


def resolve_predictor(ref: str | Path) -> Path:
    """The predictor folder ``ref`` names: a path as it is, or ``pretrained:NAME`` for the
    predictor shipped with the pretrained supernet ``NAME``."""
    text = str(ref)
    if not text.startswith("pretrained:"):
        return Path(ref)
    name = text.removeprefix("pretrained:")
    folder = PRETRAINED_DIR / name
    if not name or "/" in name or not folder.is_dir():
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*") if p.is_dir())
        raise ArtifactMismatchError(f"no pretrained predictor {name!r}; shipped: "
                                    f"{['pretrained:' + n for n in shipped]}")
    return folder


def load_predictor(path: str | Path, *, space: SearchSpace | str | None = None,
                   supernet: str | Path | None = None) -> EncodedPredictor:
    """A predictor saved by ``save`` (a folder with ``predictor.json``), or the best model
    of a ``nas fit-predictor`` output folder (``report.json``). With ``space`` and/or
    ``supernet`` (checkpoint path or hash) it refuses, with `ArtifactMismatchError`, a
    predictor fitted for another space or on another supernet's accuracies.
    ``pretrained:NAME`` is the predictor shipped for the pretrained supernet of that name."""
    folder = resolve_predictor(path)
    report = folder / "report.json"
    if not (folder / MANIFEST).is_file() and report.is_file():
        best = json.loads(report.read_text()).get("best")
        folder = folder / str(best)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactMismatchError(f"no saved predictor at {path}: expected a folder with {MANIFEST} "
                                    "(or a `nas fit-predictor` output folder with report.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactMismatchError(f"{manifest_path}: not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactMismatchError(f"{manifest_path}: not a predictor of this project (format "
                                    f"{FORMAT!r} expected)")
    predictor = predictor_class(manifest.get("kind"), str(manifest_path)).from_manifest(folder, manifest)
    return predictor.check(space=space, supernet=supernet)
