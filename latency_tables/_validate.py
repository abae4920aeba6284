"""Validating a latency table: random subnets spread over the size range, exported whole
and timed end to end exactly as the blocks were, against the table's predictions."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latency_tables._e2e import measure_subnets, spread_archs
from latency_tables._io import atomic_write_json
from latency_tables._measure import Protocol
from latency_tables._table import LatencyTable
from predictors import kendall_tau
from supernet import ArchConfig, NASError, arch_cost
from supernet._io import atomic_path

__all__ = ["ValidateConfig", "validate_table"]


@dataclass(frozen=True)
class ValidateConfig:
    """``num_archs`` subnets drawn with ``seed`` (never the table's calibration subnets),
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


def validate_table(table: LatencyTable, config: ValidateConfig, *, json_path: str | Path | None = None,
                   plot_path: str | Path | None = None, extra: dict | None = None) -> dict:
    """Measure ``config.num_archs`` whole subnets in two independent passes and compare the
    table's predictions with the mean of both; write the report (JSON) and the
    predicted-vs-measured scatter plot when paths are given.

    ``load_factor`` is the reference subnet's time now over its time during the build's
    calibration: far from 1 when the machine is busier (or idler) than it was;
    ``load_adjusted`` scores each prediction scaled by the reference timed beside that
    subnet. The headline figures are never adjusted."""
    meta, space = table.meta, table.space
    calibration = (table.calibration or {}).get("archs", [])
    archs = spread_archs(space, config.num_archs, config.seed,
                         exclude={ArchConfig.from_json(a) for a in calibration})
    protocol = config.protocol or Protocol(**meta["protocol"])
    load_before = os.getloadavg()
    runs, reference = measure_subnets(space, archs, runtime=meta["runtime"], threads=meta["threads"],
                                      batch_size=meta["batch_size"], protocol=protocol, passes=2,
                                      seed=config.seed, pin_core=config.pin_core,
                                      group_size=(table.calibration or {}).get("num_archs", 20))
    measured = runs.mean(axis=0)
    predicted, naive = table.predict(archs), table.predict(archs, calibrated=False)
    repeat = np.abs(runs[0] / runs[1] - 1)
    scale = (table.calibration or {}).get("reference_ms")
    load_factor = float(reference.mean() / scale) if scale else None
    per_arch = reference.mean(axis=0) / scale if scale else None  # the reference beside each arch
    report = {
        **_shares(predicted, measured), "kendall_tau": kendall_tau(predicted, measured),
        "num_archs": len(archs), "repeat_within_10pct": float(np.mean(repeat <= 0.10)),
        "repeat_within_5pct": float(np.mean(repeat <= 0.05)),
        "repeat_mape": float(np.mean(repeat) * 100),
        "uncalibrated": {**_shares(naive, measured), "kendall_tau": kendall_tau(naive, measured)},
        "load_factor": load_factor,
        "load_adjusted": {**_shares(predicted * per_arch, measured),
                          "kendall_tau": kendall_tau(predicted * per_arch, measured)} if scale else None,
        "device": meta["device"], "cpu_model": meta["cpu_model"], "runtime": meta["runtime_version"],
        "threads": meta["threads"], "batch_size": meta["batch_size"], "space": space.name,
        "space_hash": space.hash, "table": str(table.path or ""), "seed": config.seed,
        "protocol": protocol.__dict__, "calibration": {k: v for k, v in (table.calibration or {}).items()
                                                       if k != "archs"} or None,
        "reference_ms": float(reference.mean()),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
        "archs": [{"arch": a.to_json(), "macs": arch_cost(space, a).macs, "predicted_ms": float(p),
                   "measured_ms": float(m), "runs_ms": [round(float(r), 6) for r in runs[:, i]],
                   "reference_ms": [round(float(r), 6) for r in reference[:, i]]}
                  for i, (a, p, m) in enumerate(zip(archs, predicted, measured))],
    }
    if plot_path is not None:
        title = (f"{meta['device']}, {meta['runtime']}, {meta['threads']} thread(s), batch "
                 f"{meta['batch_size']}, {space.name}: within ±10 % {report['within_10pct']:.2f}, "
                 f"tau {report['kendall_tau']:.2f}\nrepeat within ±10 % {report['repeat_within_10pct']:.2f}, "
                 f"load factor {load_factor or float('nan'):.2f}")
        report["plot"] = str(scatter_plot(predicted, measured, plot_path, title=title))
    if json_path is not None:
        atomic_write_json(json_path, report)
    return report


def scatter_plot(predicted: np.ndarray, measured: np.ndarray, path: str | Path, *, title: str) -> Path:
    """Predicted vs measured latency with the y = x line and the ±10 % band (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    lo, hi = 0.9 * min(predicted.min(), measured.min()), 1.1 * max(predicted.max(), measured.max())
    line = np.array([lo, hi])
    ax.plot(line, line, "k-", lw=1, label="y = x")
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="tab:green", alpha=0.15, label="±10 %")
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
