"""`EncodedPredictor`: a predictor fitted on `SearchSpace.encode` vectors of one space and
one supernet, saved as a folder of safe files (JSON, a weights-only torch state dict, an
``.npz`` without pickled objects) whose provenance is checked when it is loaded."""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from supernet import (
    ArchConfig,
    ArtifactMismatchError,
    NASError,
    Predictor,
    SearchSpace,
    file_hash,
    get_space,
    resolve_checkpoint,
)
from supernet.core import atomic_write_bytes, json_text

__all__ = ["EncodedPredictor", "FORMAT", "MANIFEST", "sha256_of"]

FORMAT = "ofa-nas-predictor"
MANIFEST = "predictor.json"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class EncodedPredictor(Predictor):
    """Base of the fitted accuracy predictors.

    Subclasses set ``name`` (the registry key) and implement `_fit` / `_predict` on encoded
    float32 matrices, and `_state` / `_load_state`: the JSON-able part of the fitted model
    plus optional binary files that `save` writes and hashes into the manifest.
    ``supernet_hash`` is `supernet.file_hash` of the checkpoint the training data came from
    (None when unknown); ``space`` a preset name or a `SearchSpace`.
    """

    name: ClassVar[str] = ""
    metric = "accuracy"

    def __init__(self, *, space: SearchSpace | str, supernet_hash: str | None = None,
                 seed: int = 0) -> None:
        self.space = get_space(space)
        if supernet_hash is not None and not isinstance(supernet_hash, str):
            raise NASError(f"{type(self).__name__}: supernet_hash must be a string from "
                           f"supernet.file_hash, got {supernet_hash!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise NASError(f"{type(self).__name__}: seed must be an integer, got {seed!r}")
        self.supernet_hash, self.seed = supernet_hash, seed
        self.fitted = False

    # ------------------------------------------------------------------ interface
    def fit(self, archs: Sequence[ArchConfig], values) -> EncodedPredictor:
        y = np.asarray(values, dtype=np.float64).ravel()
        archs = list(archs)
        if len(archs) != len(y) or len(y) < 2:
            raise NASError(f"{type(self).__name__}.fit: got {len(archs)} archs and {len(y)} values; "
                           "expected the same number, at least 2")
        if not np.isfinite(y).all():
            raise NASError(f"{type(self).__name__}.fit: the values contain NaN or infinity")
        self._fit(self.space.encode(archs), y)
        self.fitted = True
        return self

    def predict(self, archs: ArchConfig | Sequence[ArchConfig]) -> np.ndarray:
        if not self.fitted:
            raise NASError(f"{type(self).__name__}.predict: not fitted yet; call fit() or load one "
                           "with predictors.load_predictor()")
        batch = [archs] if isinstance(archs, ArchConfig) else archs
        return np.asarray(self._predict(self.space.encode(batch)), dtype=np.float64).ravel()

    def check(self, *, space: SearchSpace | str | None = None,
              supernet: str | Path | None = None) -> EncodedPredictor:
        """Raise `ArtifactMismatchError` unless this predictor was fitted for ``space`` and on
        the supernet checkpoint ``supernet`` (a path, or a hash from `supernet.file_hash`)."""
        if space is not None and get_space(space).hash != self.space.hash:
            other = get_space(space)
            raise ArtifactMismatchError(
                f"predictor {self.name!r} was fitted on search space {self.space.name!r} (hash "
                f"{self.space.hash}), not on {other.name!r} (hash {other.hash}); fit one for that space")
        if supernet is not None:
            is_file = resolve_checkpoint(supernet).is_file()
            want = file_hash(supernet) if is_file else str(supernet)
            if self.supernet_hash != want:
                raise ArtifactMismatchError(
                    f"predictor {self.name!r} was fitted on accuracies of supernet checkpoint "
                    f"{self.supernet_hash}, not on {supernet} ({want}); collect and fit again for it "
                    "(nas collect, nas fit-predictor)")
        return self

    def fingerprint(self) -> str:
        """A hash of the fitted model (kind, settings, state, the supernet it was fitted on)."""
        if not self.fitted:
            raise NASError(f"{type(self).__name__}.fingerprint: fit it first")
        state, blobs = self._state()
        digest = hashlib.sha256(json.dumps(
            {"kind": self.name, "config": self._config(), "state": state, "seed": self.seed,
             "supernet_hash": self.supernet_hash, "space_hash": self.space.hash},
            sort_keys=True, default=str).encode())
        for name in sorted(blobs):
            digest.update(blobs[name])
        return f"{self.name}:{digest.hexdigest()[:16]}"

    # ------------------------------------------------------------------- saving
    def save(self, path: str | Path) -> Path:
        if not self.fitted:
            raise NASError(f"{type(self).__name__}.save: fit it first")
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state, blobs = self._state()
        files = {}
        for fname, data in blobs.items():
            atomic_write_bytes(folder / fname, data)
            files[fname] = hashlib.sha256(data).hexdigest()
        manifest = self.manifest(state, files)
        atomic_write_bytes(folder / MANIFEST, json_text(manifest, indent=1).encode())
        return folder

    def manifest(self, state: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
        """What `save` writes as ``predictor.json``: the kind, settings, provenance, the
        JSON state and the sha256 of each binary file."""
        return {"format": FORMAT, "version": 1, "kind": self.name, "metric": self.metric,
                "seed": self.seed, "supernet_hash": self.supernet_hash,
                "space_hash": self.space.hash, "space": self.space.to_dict(),
                "config": self._config(), "state": state, "files": files}

    @classmethod
    def from_manifest(cls, folder: Path, manifest: dict[str, Any], *, prefix: str = "") -> EncodedPredictor:
        """Rebuild a saved predictor; every binary file is checked against its sha256 first.
        ``prefix``: what the file names were given when stored inside another predictor's folder."""
        space = SearchSpace.from_dict(manifest["space"])
        if space.hash != manifest.get("space_hash"):
            raise ArtifactMismatchError(f"{folder}: the stored search space does not match its hash")
        blobs = {}
        for fname, digest in manifest.get("files", {}).items():
            target = folder / fname
            if Path(fname).name != fname or not target.is_file():
                raise ArtifactMismatchError(f"{folder}: file {fname!r} named in {MANIFEST} is missing")
            if sha256_of(target) != digest:
                raise ArtifactMismatchError(f"{target}: sha256 differs from the one in {MANIFEST}; "
                                            "the file was changed or corrupted; refit the predictor")
            blobs[fname.removeprefix(prefix)] = target
        model = cls(space=space, supernet_hash=manifest.get("supernet_hash"),
                    seed=manifest.get("seed", 0), **manifest.get("config", {}))
        model._load_state(manifest["state"], blobs)
        model.fitted = True
        return model

    # ------------------------------------------------------------ for subclasses
    def _config(self) -> dict[str, Any]:
        """Constructor keyword arguments (besides space/supernet_hash/seed), JSON-able."""
        return {}

    @abc.abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit on an ``(n, encoding_size)`` float32 matrix and ``n`` float64 targets."""

    @abc.abstractmethod
    def _predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for an encoded matrix, shape ``(n,)``."""

    @abc.abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(json_state, {file_name: bytes})`` of the fitted model."""

    @abc.abstractmethod
    def _load_state(self, state: dict[str, Any], files: dict[str, Path]) -> None:
        """Restore what `_state` returned (files as paths, already hash-checked)."""
