"""Training curves: validation accuracy of the smallest, largest and a random subnet (or of
a subnet being fine-tuned) per epoch, read from the ``metrics.jsonl`` of one or more runs,
with each run's phases marked."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supernet.core import DataError, atomic_write_bytes

__all__ = ["read_metrics", "plot_curves"]

_SUBNETS = {"acc_largest": "tab:red", "acc_random": "tab:green", "acc_smallest": "tab:blue"}
_STYLES = ["-", "--", ":", "-."]


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The epochs a run logged, in order; a redone epoch's later line wins."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such metrics file; expected the metrics.jsonl a training run writes")
    rows: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows[int(row["global_epoch"])] = row
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}, line {n}: not a metrics record with a 'global_epoch' ({exc})") from exc
    return [rows[k] for k in sorted(rows)]


def plot_curves(runs: Mapping[str, str | Path], out: str | Path, *, title: str | None = None) -> Path:
    """Plot the runs' validation accuracies (one line style per run, one colour per subnet)
    against the epoch into the PNG ``out``, written atomically; returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise DataError("plot_curves: no runs given; expected {label: path to metrics.jsonl}")
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    for i, (label, path) in enumerate(runs.items()):
        rows = read_metrics(path)
        epochs = [r["global_epoch"] for r in rows]
        style = _STYLES[i % len(_STYLES)]
        keys = sorted({k for r in rows for k in r if k.startswith("acc_")},
                      key=lambda k: (k not in _SUBNETS, k))
        for key in keys:
            ax.plot(epochs, [r.get(key) for r in rows], style, c=_SUBNETS.get(key, "tab:purple"), marker=".",
                    ms=4,
                    label=f"{label}: {key.removeprefix('acc_')}")
        if len({r["phase"] for r in rows}) < 2:
            continue
        for r in (r for r in rows if r["epoch"] == 1):  # each phase's first epoch
            if r["phase_index"] > 0:
                ax.axvline(r["global_epoch"] - 0.5, c="0.7", ls=style, lw=0.8)
            ax.annotate(r["phase"], (r["global_epoch"] - 0.4, 0.02), xycoords=("data", "axes fraction"),
                        fontsize=7, va="bottom", rotation=90, color="0.4")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title or "validation accuracy per epoch (BN recalibrated)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=len(runs), loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(out, buf.getvalue())
