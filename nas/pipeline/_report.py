"""The run report: Markdown summary, accuracy-latency plot (front, budgets, chosen models)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from supernet.core import atomic_write_bytes, atomic_write_text

__all__ = ["write_report"]


def _plot(front: pd.DataFrame, rows: list[dict[str, Any]], budget_fronts: list[list[dict]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    front = front.sort_values("latency")
    ax.plot(front["latency"], front["accuracy"], "-o", ms=3, color="0.6",
            label="Pareto front of the whole space (predicted)")
    for i, row in enumerate(rows):
        color = f"C{i + 1}"
        points = sorted(budget_fronts[i], key=lambda p: p["latency"]) if i < len(budget_fronts) else []
        if points:  # the front of the budget's own search, which its model was chosen from
            ax.plot([p["latency"] for p in points], [p["accuracy"] for p in points], "-", marker=".",
                    ms=4, lw=1, color=color, alpha=0.8,
                    label=f"front searched under {row['latency_budget_ms']:g} ms")
        ax.axvline(row["latency_budget_ms"], color=color, ls="--", lw=1,
                   label=f"budget {row['latency_budget_ms']:g} ms")
        ax.plot(row["predicted_latency_ms"], row["predicted_acc"], "s", color=color, mfc="none", ms=8)
        ax.plot(row["measured_latency_ms"], row["test_acc"], "*", color=color, ms=12)
    ax.plot([], [], "ks", mfc="none", label="chosen: predicted")
    ax.plot([], [], "k*", label="chosen: measured (ONNX Runtime, test set)")
    ax.set_xlabel("latency (ms, batch 1)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(out: Path, summary: dict[str, Any]) -> None:
    """``report.md``, ``pareto.png`` and ``front.csv`` (a copy of the front search's) in ``out``."""
    front = pd.read_csv(out / "search" / "front" / "front.csv")
    atomic_write_text(out / "front.csv", front.to_csv(index=False))
    rows = summary["budgets"]
    fronts = []
    for i in range(len(rows)):
        verified = out / "search" / f"budget_{i}" / "verified.json"
        fronts.append(json.loads(verified.read_text()).get("front", []) if verified.is_file() else [])
    atomic_write_bytes(out / "pareto.png", _plot(front, rows, fronts))
    lines = [
        f"# {summary['name']}", "",
        f"Finished in {summary['seconds']:.0f} s. Supernet: `{summary['supernet']}`; latency table: "
        f"`{summary['latency_table']}`; accuracy predictor: `{summary['predictor']}`.", "",
        "![accuracy vs latency](pareto.png)", "",
        "| budget (ms) | predicted (ms) | measured (ms) | raw (ms) | meets | predicted acc (%) "
        "| test acc (%) | gain over the next smaller | MACs | params | model |",
        "|---:|---:|---:|---:|:-:|---:|---:|---|---:|---:|---|",
    ]
    for i, r in enumerate(rows):
        gain = "" if i == 0 else (
            f"{r['test_acc'] - rows[i - 1]['test_acc']:+.2f} pp for "
            f"{r['measured_latency_ms'] - rows[i - 1]['measured_latency_ms']:+.3f} ms")
        lines.append(
            f"| {r['latency_budget_ms']:g} | {r['predicted_latency_ms']:.3f} | "
            f"{r['measured_latency_ms']:.3f} | {r['measured_latency_raw_ms']:.3f} | "
            f"{'yes' if r['meets_budget'] else 'NO'} | "
            f"{r['predicted_acc']:.2f} | {r['test_acc']:.2f} | {gain} | {r['macs']:,} | {r['params']:,} | "
            f"`{Path(r['onnx_path']).name}` |")
    tuned = [r for r in rows if r.get("finetune_epochs")]
    if tuned:
        lines += ["", "Fine-tuned from their inherited weights (test accuracy, inherited -> fine-tuned): "
                  + "; ".join(f"{r['latency_budget_ms']:g} ms: {r['inherited_test_acc']:.2f} -> "
                              f"{r['test_acc']:.2f} ({r['finetune_epochs']} epochs)" for r in tuned) + "."]
    lines += ["", "Measured: timed on this machine as the latency table was built, beside its reference "
              "subnets, and scaled back to the machine's state during the build; raw: the same timing "
              "unscaled (their ratio is the machine's load factor then).", "",
              "Stage times (s, as measured when each ran): " + ", ".join(
                  f"{k} {v['seconds']}" + (" (reused)" if v["reused"] else "")
                  for k, v in summary["stages"].items()),
              "", "Each model's card (`.json` beside the `.onnx`) records its arch, input "
              "normalisation, parity with PyTorch and the hashes of what produced it.", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
