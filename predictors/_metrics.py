"""How well predicted values match measured ones: errors in the metric's unit (percentage
points for accuracy) and rank correlations (what a search that compares archs needs)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from supernet import NASError

__all__ = ["regression_metrics", "kendall_tau", "spearman_rho"]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size < 2:
        raise NASError(f"metrics: expected two arrays of the same length >= 2, got {t.size} and {p.size}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise NASError("metrics: the values contain NaN or infinity")
    return t, p


def _rank_correlation(statistic, y_true, y_pred) -> float:
    """A scipy rank correlation of the pair; 0.0 when either side is constant."""
    t, p = _pair(y_true, y_pred)
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        return 0.0
    value = statistic(t, p).statistic
    return 0.0 if np.isnan(value) else float(value)


def kendall_tau(y_true, y_pred) -> float:
    """Kendall's tau-b (ties counted as in scipy); 0.0 when either side is constant."""
    return _rank_correlation(stats.kendalltau, y_true, y_pred)


def spearman_rho(y_true, y_pred) -> float:
    """Spearman's rank correlation (average ranks for ties); 0.0 when a side is constant."""
    return _rank_correlation(stats.spearmanr, y_true, y_pred)


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """``rmse``, ``mae`` (in the unit of the values: percentage points for accuracy in %),
    ``kendall_tau``, ``spearman`` and ``n``."""
    t, p = _pair(y_true, y_pred)
    err = p - t
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "kendall_tau": kendall_tau(t, p), "spearman": spearman_rho(t, p), "n": int(t.size)}
