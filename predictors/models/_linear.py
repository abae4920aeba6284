"""Ridge regression on the arch encoding: the cheapest baseline (additive per-choice
effects), stored as plain JSON coefficients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from predictors.models._encoded import EncodedPredictor
from predictors.models._registry import register_predictor
from supernet import NASError

__all__ = ["RidgePredictor"]


@register_predictor
class RidgePredictor(EncodedPredictor):
    """scikit-learn ``RidgeCV``: the L2 strength is chosen among ``alphas`` by efficient
    leave-one-out cross-validation on the training archs."""

    name = "ridge"

    def __init__(self, *, space, supernet_hash: str | None = None, seed: int = 0,
                 alphas: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))) -> None:
        super().__init__(space=space, supernet_hash=supernet_hash, seed=seed)
        alphas = tuple(float(a) for a in alphas)
        if not alphas or min(alphas) <= 0:
            raise NASError(f"RidgePredictor: alphas must be positive numbers, got {alphas!r}")
        self.alphas = alphas
        self.alpha, self.coef, self.intercept = None, np.zeros(self.space.encoding_size), 0.0

    def _config(self) -> dict[str, Any]:
        return {"alphas": list(self.alphas)}

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import RidgeCV

        model = RidgeCV(alphas=self.alphas).fit(x.astype(np.float64), y)
        self.alpha, self.coef = float(model.alpha_), model.coef_.copy()
        self.intercept = float(model.intercept_)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef.astype(np.float32) + self.intercept

    def _state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        return {"alpha": self.alpha, "coef": self.coef.tolist(), "intercept": self.intercept}, {}

    def _load_state(self, state: dict[str, Any], files: dict[str, Path]) -> None:
        coef = np.asarray(state["coef"], dtype=np.float64)
        if coef.shape != (self.space.encoding_size,):
            raise NASError(f"RidgePredictor: {coef.size} coefficients stored, the space's encoding "
                           f"has {self.space.encoding_size}")
        self.alpha, self.coef, self.intercept = state["alpha"], coef, float(state["intercept"])
