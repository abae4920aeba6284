"""Validating a latency table: random subnets spread over the size range, exported whole
and timed end to end exactly as the blocks were, against the table's predictions."""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latency_tables._calibration import reference_archs, spread_archs
from latency_tables._io import atomic_write_json
from latency_tables._measure import measure_archs
from latency_tables._table import LatencyTable
from latency_tables._timing import Protocol
from predictors import kendall_tau
from supernet import ArchConfig, NASError, arch_cost
from supernet.core import atomic_path

__all__ = ["ValidateConfig", "validate_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidateConfig:
    """``num_archs`` subnets drawn with ``seed`` (never the table's calibration or reference subnets),
    timed with ``protocol`` (default: the one the table was built with)."""

    num_archs: int = 100
    seed: int = 0
    protocol: Protocol | None = None
    pin_core: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_archs, int) or self.num_archs < 2:
            raise NASError(f"ValidateConfig.num_archs: got {self.num_archs!r}, expected an integer >= 2")


def _shares(predicted: np.ndarray, measured: np.ndarray) -> dict:
    err = predicted / measured - 1
    return {"within_5pct": float(np.mean(np.abs(err) <= 0.05)),
            "within_10pct": float(np.mean(np.abs(err) <= 0.10)),
            "mape": float(np.mean(np.abs(err)) * 100), "mean_error_pct": float(np.mean(err) * 100)}


def _repeat(runs: np.ndarray) -> dict:
    gap = np.abs(runs[0] / runs[1] - 1)
    return {"repeat_within_10pct": float(np.mean(gap <= 0.10)),
            "repeat_within_5pct": float(np.mean(gap <= 0.05)), "repeat_mape": float(np.mean(gap) * 100)}


def validate_table(table: LatencyTable, config: ValidateConfig, *, json_path: str | Path | None = None,
                   plot_path: str | Path | None = None, extra: dict | None = None,
                   progress: bool = False) -> dict:
    """Measure ``config.num_archs`` whole subnets in two independent passes and compare the
    table's predictions with the mean of both; write the report (JSON) and the
    predicted-vs-measured scatter plot when paths are given.

    The headline scores use the protocol's measurement (`Measured.ms`: each time scaled by
    the reference subnets timed beside it, back to the machine's state during the build);
    ``raw`` holds the same scores on unscaled times, with ``load_factor``, the reference's
    time now over then. On a machine of its own both agree."""
    meta, space = table.meta, table.covered_space
    if table.calibration and table.calibration.get("groups") != "random":
        where = table.path or "TABLE.csv"
        log.warning("%s: its calibration was timed in groups of archs of one size or resolution, "
                    "unlike the mixed groups validation times; `nas latency build --recalibrate --out %s` "
                    "(with the options it was built with) fits it again", where, where)
    calibration = (table.calibration or {}).get("archs", [])
    archs = spread_archs(space, config.num_archs, config.seed,  # neither calibration nor references
                         exclude={*map(ArchConfig.from_json, calibration), *reference_archs(space)})
    load_before = os.getloadavg()
    timed = measure_archs(table, archs, passes=2, seed=config.seed, protocol=config.protocol,
                          pin_core=config.pin_core, progress=progress)
    measured, raw = timed.ms.mean(axis=0), timed.raw_ms.mean(axis=0)
    predicted, naive = table.predict(archs), table.predict(archs, calibrated=False)
    report = {
        **_shares(predicted, measured), "kendall_tau": kendall_tau(predicted, measured),
        "num_archs": len(archs), **_repeat(timed.ms), "reference_scaled": timed.level_ms is not None,
        "raw": {**_shares(predicted, raw), "kendall_tau": kendall_tau(predicted, raw),
                **_repeat(timed.raw_ms), "load_factor": timed.load_factor},
        "uncalibrated": {**_shares(naive, measured), "kendall_tau": kendall_tau(naive, measured)},
        "device": meta["device"], "cpu_model": meta["cpu_model"], "runtime": meta["runtime_version"],
        "threads": meta["threads"], "batch_size": meta["batch_size"], "space": space.name,
        "space_hash": space.hash, "table": str(table.path or ""), "seed": config.seed,
        "protocol": (config.protocol or Protocol.recorded(meta["protocol"])).__dict__,
        "calibration": {k: v for k, v in (table.calibration or {}).items()
                        if k not in ("archs", "measured_ms")} or None,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
        "archs": [{"arch": a.to_json(), "macs": arch_cost(space, a).macs, "predicted_ms": float(p),
                   "measured_ms": float(m), "raw_ms": [round(float(r), 6) for r in timed.raw_ms[:, i]],
                   "reference_ms": [round(float(r), 6) for r in timed.reference_ms[:, i]]}
                  for i, (a, p, m) in enumerate(zip(archs, predicted, measured))],
    }
    if plot_path is not None:
        title = (f"{meta['device']}, {meta['runtime']}, {meta['threads']} thread(s), batch "
                 f"{meta['batch_size']}, {space.name}: within ±10 % {report['within_10pct']:.2f}, "
                 f"tau {report['kendall_tau']:.2f}\nrepeat within ±10 % {report['repeat_within_10pct']:.2f}; "
                 f"raw times: within ±10 % {report['raw']['within_10pct']:.2f}, load factor "
                 f"{timed.load_factor or float('nan'):.2f}")
        report["plot"] = str(scatter_plot(predicted, measured, plot_path, title=title, raw=raw))
    if json_path is not None:
        atomic_write_json(json_path, report)
    return report


def scatter_plot(predicted: np.ndarray, measured: np.ndarray, path: str | Path, *, title: str,
                 raw: np.ndarray | None = None) -> Path:
    """Predicted vs measured latency with the y = x line and the ±10 % band (PNG, atomic);
    ``raw`` (unscaled times) in grey when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    every = np.concatenate([measured, predicted] + ([] if raw is None else [raw]))
    lo, hi = 0.9 * every.min(), 1.1 * every.max()
    line = np.array([lo, hi])
    ax.plot(line, line, "k-", lw=1, label="y = x")
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="tab:green", alpha=0.15, label="±10 %")
    if raw is not None:
        ax.scatter(raw, predicted, s=8, color="0.6", label="raw times (not scaled by the reference)")
    ax.scatter(measured, predicted, s=14, color="tab:blue", label=f"{len(measured)} subnets")
    ax.set(xlabel="measured end-to-end latency (ms)", ylabel="predicted latency (ms)",
           xlim=(lo, hi), ylim=(lo, hi))
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper left")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return Path(path)
