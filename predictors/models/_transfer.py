"""`TransferPredictor`: a quantisation-aware accuracy predictor transferred from a
full-precision one (APQ's idea, our construction): what the arch is worth comes from the
fp32 predictor, what quantisation takes away is learned from a few quantised samples."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from predictors.models._encoded import EncodedPredictor
from predictors.models._registry import load_predictor, predictor_class, register_predictor
from supernet import ArtifactMismatchError, NASError

__all__ = ["TransferPredictor"]

_PREFIX = "base__"  # the base predictor's files, stored in this predictor's folder


@register_predictor
class TransferPredictor(EncodedPredictor):
    """Accuracy of an arch as deployed (`ArchConfig.precision`) = the fp32 ``base``
    predictor's accuracy of its float twin + a ridge regression of the difference on the
    precision policy (one feature per part: int8 or not), the policy at each input
    resolution (what quantising the stem costs depends on it: measured, 2 pp at some
    resolutions and less at others) and the base prediction itself (a drop may grow with the
    accuracy there is to lose).

    ``base`` is a fitted predictor (or its folder, or ``pretrained:NAME``) of the same
    space's networks whose encoding is this one's without the precision features. Fitting
    then needs only enough quantised samples to learn the drop, not the whole accuracy
    surface. Saved self-contained: the base predictor's files go in the same folder.
    """

    name = "transfer"

    def __init__(self, *, space, supernet_hash: str | None = None, seed: int = 0, base=None,
                 alphas: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))) -> None:
        super().__init__(space=space, supernet_hash=supernet_hash, seed=seed)
        if self.space.precisions == ("fp32",):
            raise NASError("TransferPredictor: its space must draw int8 (SearchSpace.with_precision('int8' "
                           "or 'mixed')): it predicts accuracy as quantised")
        self.alphas = tuple(float(a) for a in alphas)
        self.coef, self.intercept, self.alpha = np.zeros(self._num_features), 0.0, None
        self.base = None
        if base is not None:
            if not isinstance(base, EncodedPredictor):
                base = load_predictor(base)
            self._set_base(base)

    def _set_base(self, base: EncodedPredictor) -> None:
        if base.space.hash != self.space.hash:
            raise ArtifactMismatchError(
                f"TransferPredictor: the base predictor describes space {base.space.name!r} (hash "
                f"{base.space.hash}), not {self.space.name!r} (hash {self.space.hash})")
        if base.space.precisions != ("fp32",):
            raise NASError("TransferPredictor: the base must be a full-precision predictor (fitted on fp32 "
                           f"accuracies), got one of a space drawing {list(base.space.precisions)}")
        if not base.fitted:
            raise NASError("TransferPredictor: the base predictor is not fitted")
        self.base = base

    @property
    def _num_features(self) -> int:
        parts = self.space.num_stages + 2
        return parts * (1 + len(self.space.resolutions)) + 1

    def _config(self) -> dict[str, Any]:
        return {"alphas": list(self.alphas)}

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The base prediction and the drop model's features of an encoded batch."""
        if self.base is None:
            raise NASError("TransferPredictor: no base predictor; pass base= (an fp32 predictor or "
                           "its folder)")
        base = np.asarray(self.base._predict(x[:, :self.base.space.encoding_size]), dtype=np.float64)
        parts, k = self.space.num_stages + 2, len(self.space.resolutions)
        policy = x[:, -parts:].astype(np.float64)  # `SearchSpace.encode`: ..., resolution, policy
        resolution = x[:, -parts - k:-parts].astype(np.float64)
        by_resolution = (policy[:, :, None] * resolution[:, None, :]).reshape(len(x), -1)
        return base, np.column_stack([policy, by_resolution, base])

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import RidgeCV

        base, features = self._parts(x)
        model = RidgeCV(alphas=self.alphas).fit(features, y - base)
        self.coef, self.intercept = model.coef_.copy(), float(model.intercept_)
        self.alpha = float(model.alpha_)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        base, features = self._parts(x)
        return base + features @ self.coef + self.intercept

    def _state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        base_state, base_blobs = self.base._state()
        blobs = {f"{_PREFIX}{name}": data for name, data in base_blobs.items()}
        files = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
        drop = {"coef": self.coef.tolist(), "intercept": self.intercept, "alpha": self.alpha}
        return {"drop": drop, "base": self.base.manifest(base_state, files)}, blobs

    def _load_state(self, state: dict[str, Any], files: dict[str, Path]) -> None:
        manifest = state["base"]
        folder = next(iter(files.values())).parent if files else Path(".")
        self._set_base(predictor_class(manifest.get("kind"), "the base of a transfer predictor")
                       .from_manifest(folder, manifest, prefix=_PREFIX))
        coef = np.asarray(state["drop"]["coef"], dtype=np.float64)
        if coef.shape != (self._num_features,):
            raise ArtifactMismatchError(f"TransferPredictor: {coef.size} drop coefficients stored, the space "
                                        f"{self.space.name!r} needs {self._num_features}")
        self.coef, self.intercept = coef, float(state["drop"]["intercept"])
        self.alpha = state["drop"]["alpha"]
