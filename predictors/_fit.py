"""`nas fit-predictor`: fit predictors on a collected table and report, on archs held out
of fitting, how well each one predicts (JSON report, predicted-vs-true plot)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predictors._metrics import kendall_tau, regression_metrics
from predictors.labels import read_table
from predictors.models import EncodedPredictor, create_predictor, list_predictors
from supernet import ArchConfig, ArtifactMismatchError, NASError, SearchSpace
from supernet.core import atomic_write_bytes, check_outputs, holds_output, json_text, short

__all__ = ["FitConfig", "fit_predictors", "split_table", "load_training_data", "plot_predictions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    data: str
    out: str
    models: tuple[str, ...] = ("mlp", "ridge", "gbt")
    test_fraction: float = 0.2
    seed: int = 0
    force: bool = False   # replace the report, plot and model folders of an earlier fit in ``out``

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in list_predictors()]
        if unknown or not self.models:
            raise NASError(f"FitConfig.models: got {list(self.models)}, expected names from "
                           f"{list_predictors()}")
        if not 0.0 < self.test_fraction < 1.0:
            raise NASError(f"FitConfig.test_fraction: got {self.test_fraction!r}, expected in (0, 1)")


def load_training_data(path: str | Path):
    """``(space, archs, table, meta)`` of a collected table, its space checked by hash."""
    table, meta = read_table(path)
    space = SearchSpace.from_dict(meta["space"])
    if space.hash != meta.get("space_hash"):
        raise ArtifactMismatchError(f"{path}: its metadata's search space does not match its hash")
    archs = []
    for row, text in enumerate(table["arch"], 1):
        try:
            arch = ArchConfig.from_json(text)
            space.validate(arch)
        except (NASError, ValueError, TypeError, KeyError) as err:
            raise ArtifactMismatchError(f"{path}: row {row}, column 'arch': {short(text)} is not an arch "
                                        f"of space {space.name!r} ({short(str(err), 200)})") from None
        archs.append(arch)
    return space, archs, table, meta


MIN_HELD_OUT = 5  # rank correlation and RMSE on fewer held-out archs mean nothing


def split_table(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed ``(fit, held_out)`` row indices; held-out rows are never used in fitting."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    if n - n_test < 2 or n_test < MIN_HELD_OUT:
        raise NASError(f"only {n} archs in the table: too few to fit a predictor and score it on "
                       f"{MIN_HELD_OUT}+ held-out archs (test fraction {test_fraction:g}); collect more "
                       f"(at least {math.ceil(MIN_HELD_OUT / test_fraction) + 2})")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def plot_predictions(path: Path, truth: np.ndarray, preds: dict[str, np.ndarray],
                     metrics: dict[str, dict[str, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(preds), figsize=(4.2 * len(preds), 4.2), squeeze=False)
    lo, hi = float(truth.min()), float(truth.max())
    for ax, (name, pred) in zip(axes[0], preds.items()):
        m = metrics[name]
        ax.scatter(truth, pred, s=6, alpha=0.6)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_title(f"{name}: RMSE {m['rmse']:.2f} pp, tau {m['kendall_tau']:.3f}")
        ax.set_xlabel("measured accuracy (%)")
        ax.set_ylabel("predicted accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@holds_output(lambda cfg, **_: cfg.out)
def fit_predictors(cfg: FitConfig, *, model_kwargs: dict[str, dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """Fit each model on the fit rows, evaluate on the held-out rows, save each model to
    ``out/<name>/``, and write ``out/report.json`` and ``out/pred_vs_true.png``."""
    out = Path(cfg.out)
    check_outputs([out / "report.json", out / "pred_vs_true.png", *(out / m for m in cfg.models)],
                  force=cfg.force, what="predictor output")
    space, archs, table, meta = load_training_data(cfg.data)
    y = table["accuracy"].to_numpy(dtype=np.float64)
    fit_idx, test_idx = split_table(len(archs), cfg.test_fraction, cfg.seed)
    fit_archs, test_archs = [archs[i] for i in fit_idx], [archs[i] for i in test_idx]
    out.mkdir(parents=True, exist_ok=True)
    metrics, preds = {}, {}
    for name in cfg.models:
        model: EncodedPredictor = create_predictor(name, space=space, supernet_hash=meta["supernet_hash"],
                                                   seed=cfg.seed, **(model_kwargs or {}).get(name, {}))
        start = time.perf_counter()
        model.fit(fit_archs, y[fit_idx])
        fit_seconds = time.perf_counter() - start
        preds[name] = model.predict(test_archs)
        metrics[name] = {**regression_metrics(y[test_idx], preds[name]), "fit_seconds": round(fit_seconds, 2)}
        model.save(out / name)
        log.info("%s: RMSE %.3f pp, MAE %.3f pp, tau %.3f, rho %.3f on %d held-out archs", name,
                 metrics[name]["rmse"], metrics[name]["mae"], metrics[name]["kendall_tau"],
                 metrics[name]["spearman"], len(test_idx))
    best = min(metrics, key=lambda m: metrics[m]["rmse"])
    half_a, half_b = (table[c].to_numpy(dtype=np.float64)[test_idx] for c in ("accuracy_a", "accuracy_b"))
    report = {
        "data": str(cfg.data), "supernet": meta.get("supernet"), "supernet_hash": meta["supernet_hash"],
        "space": space.name, "space_hash": space.hash, "n_fit": len(fit_idx), "n_held_out": len(test_idx),
        "test_fraction": cfg.test_fraction, "seed": cfg.seed, "units": "percentage points",
        "models": {n: {"rmse_pp": m["rmse"], "mae_pp": m["mae"], "kendall_tau": m["kendall_tau"],
                       "spearman": m["spearman"], "fit_seconds": m["fit_seconds"]}
                   for n, m in metrics.items()},
        "best": best, "tau_ceiling": kendall_tau(half_a, half_b),
        "plot": str(plot_predictions(out / "pred_vs_true.png", y[test_idx], preds, metrics)),
    }
    atomic_write_bytes(out / "report.json", json_text(report, indent=1).encode())
    return report
