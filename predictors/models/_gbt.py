"""Gradient-boosted trees on the arch encoding (scikit-learn's histogram GBT).

The fitted trees are stored as plain arrays in an ``.npz`` (no pickle, loaded with
``allow_pickle=False``) and evaluated by a vectorised numpy traversal, so a saved model
never needs unpickling; a test checks that traversal against scikit-learn's own predict."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from predictors.models._encoded import EncodedPredictor
from predictors.models._registry import register_predictor
from supernet import NASError

__all__ = ["GBTPredictor"]

_MAX_TREE_FEATURES = 16
_ARRAYS = ("feature", "threshold", "left", "right", "is_leaf", "value", "roots")


def _traverse(trees: dict[str, np.ndarray], x: np.ndarray, roots: np.ndarray, depth: int) -> np.ndarray:
    """Leaf node reached in each of the trees starting at ``roots``, per row: ``(n, trees)``."""
    rows = np.arange(len(x))[:, None]
    node = np.broadcast_to(roots, (len(x), len(roots))).copy()
    for _ in range(depth):
        go_left = x[rows, trees["feature"][node]] <= trees["threshold"][node]
        child = np.where(go_left, trees["left"][node], trees["right"][node])
        node = np.where(trees["is_leaf"][node], node, child)
    return node


def _lookup_tables(trees: dict[str, np.ndarray], n_features: int, depth: int):
    """Each tree as a table over the 2^k combinations of the k (0/1) features it splits on:
    a row's code for tree t is ``x @ powers[:, t]``, its leaf value ``lut[offsets[t] + code]``.
    Predicting is then one small matmul and one gather, not a walk down every tree."""
    roots = trees["roots"]
    ends = np.append(roots[1:], len(trees["feature"]))
    powers = np.zeros((n_features, len(roots)), dtype=np.float32)
    luts, offsets, total = [], [], 0
    for t, (lo, hi) in enumerate(zip(roots, ends)):
        feats = np.unique(trees["feature"][lo:hi][~trees["is_leaf"][lo:hi]])
        codes = np.arange(2 ** len(feats))
        grid = np.zeros((len(codes), n_features), dtype=np.float32)
        grid[:, feats] = (codes[:, None] >> np.arange(len(feats))) & 1
        luts.append(trees["value"][_traverse(trees, grid, roots[t:t + 1], depth)[:, 0]])
        powers[feats, t] = 2.0 ** np.arange(len(feats))
        offsets.append(total)
        total += len(codes)
    # float32 leaf values and int32 codes halve the memory a gather touches (predict sums in float64)
    index = np.int32 if total < 2 ** 31 else np.int64
    return powers, np.concatenate(luts).astype(np.float32), np.asarray(offsets, dtype=index)


@register_predictor
class GBTPredictor(EncodedPredictor):
    """``HistGradientBoostingRegressor`` with a fixed number of boosting rounds (no early
    stopping, so a fit is reproducible for a seed), squared error."""

    name = "gbt"

    def __init__(self, *, space, supernet_hash: str | None = None, seed: int = 0,
                 max_iter: int = 400, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 max_depth: int = 6, min_samples_leaf: int = 10, l2_regularization: float = 1.0) -> None:
        super().__init__(space=space, supernet_hash=supernet_hash, seed=seed)
        for name in ("max_iter", "max_leaf_nodes", "max_depth", "min_samples_leaf"):
            value = locals()[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NASError(f"GBTPredictor: {name} must be a positive integer, got {value!r}")
        if min(max_leaf_nodes - 1, 2 ** max_depth - 1) > _MAX_TREE_FEATURES:
            raise NASError(f"GBTPredictor: trees may split on at most {_MAX_TREE_FEATURES} features "
                           f"(each becomes a 2^features lookup table); got max_leaf_nodes={max_leaf_nodes} "
                           f"and max_depth={max_depth}: lower max_leaf_nodes to <= {_MAX_TREE_FEATURES + 1}")
        if not 0 < learning_rate <= 1 or l2_regularization < 0:
            raise NASError(f"GBTPredictor: need 0 < learning_rate <= 1 and l2_regularization >= 0, "
                           f"got {learning_rate!r} and {l2_regularization!r}")
        self.params = {"max_iter": max_iter, "learning_rate": float(learning_rate),
                       "max_leaf_nodes": max_leaf_nodes, "max_depth": max_depth,
                       "min_samples_leaf": min_samples_leaf, "l2_regularization": float(l2_regularization)}
        self.trees: dict[str, np.ndarray] = {}
        self.baseline = 0.0
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _config(self) -> dict[str, Any]:
        return dict(self.params)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor
        from threadpoolctl import threadpool_limits

        model = HistGradientBoostingRegressor(early_stopping=False, random_state=self.seed, **self.params)
        with threadpool_limits(limits=1):  # OpenMP threads only spin on small data and shared cores
            model.fit(x, y)
        self.sklearn_model = model  # kept in memory only (tests compare against it)
        self.trees, self.baseline = self._flatten(model)
        self._tables = None

    @staticmethod
    def _flatten(model) -> tuple[dict[str, np.ndarray], float]:
        """All trees' nodes in one set of flat arrays; children as global node indices."""
        nodes = [pred.nodes for stage in model._predictors for pred in stage]
        offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]]).astype(np.int64)
        cat = np.concatenate(nodes)
        if cat["is_categorical"].any():
            raise NASError("GBTPredictor: categorical splits are not supported")
        shift = np.repeat(offsets, [len(n) for n in nodes])
        leaf = cat["is_leaf"].astype(bool)
        thresholds = cat["num_threshold"][~leaf]
        if thresholds.size and not ((thresholds >= 0) & (thresholds < 1)).all():
            raise NASError("GBTPredictor: expected splits of 0/1 features (one-hot encodings)")
        trees = {"feature": cat["feature_idx"].astype(np.int64), "threshold": cat["num_threshold"],
                 "left": np.where(leaf, 0, cat["left"].astype(np.int64) + shift),
                 "right": np.where(leaf, 0, cat["right"].astype(np.int64) + shift),
                 "is_leaf": leaf, "value": cat["value"].astype(np.float64), "roots": offsets}
        return trees, float(np.ravel(model._baseline_prediction)[0])

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self._tables is None:
            self._tables = _lookup_tables(self.trees, self.space.encoding_size, self.params["max_depth"])
        powers, lut, offsets = self._tables
        out = np.full(len(x), self.baseline)
        for start in range(0, len(x), 4096):
            codes = (x[start:start + 4096] @ powers).astype(offsets.dtype)
            codes += offsets
            out[start:start + len(codes)] += np.take(lut, codes).sum(1, dtype=np.float64)
        return out

    def _state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        buf = io.BytesIO()
        np.savez(buf, **self.trees)
        return {"trees": "trees.npz", "baseline": self.baseline}, {"trees.npz": buf.getvalue()}

    def _load_state(self, state: dict[str, Any], files: dict[str, Path]) -> None:
        with np.load(files[state["trees"]], allow_pickle=False) as data:
            missing = [k for k in _ARRAYS if k not in data.files]
            if missing:
                raise NASError(f"GBTPredictor: {files[state['trees']]} lacks arrays {missing}")
            self.trees = {k: data[k] for k in _ARRAYS}
        self.baseline = float(state["baseline"])
        self._tables = None
