"""`nas show PATH`: what an artifact of this project is, what produced it and its key
figures: the first thing to do with a file someone sent you."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from nas.cli._summary import Summary, add_json_flag, number, show
from supernet.core import NASError, short

KINDS = ("supernet checkpoint (.pt, pretrained:NAME)", "latency table (.csv/.json)",
         "latency validation report (.json)", "accuracy table (.csv with .csv.meta.json)",
         "predictor folder or one predictor", "search folder", "ONNX model or its card",
         "training run folder", "pipeline run folder (nas demo/run)", "probe bundle (.zip)")


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="describe any file or folder this project writes",
                       description="Recognise an artifact (" + "; ".join(KINDS) + ") and print what it "
                       "is, what produced it (hashes, config, date) and its key figures.")
    p.add_argument("path", help="a file or folder written by nas (or pretrained:NAME)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    record, report = describe(args.path, check=args.json)
    show(args, record, report)
    return 0


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NASError(f"{path}: not readable JSON ({err})") from None


def describe(text: str, check: bool = True) -> tuple[dict, Summary]:
    """``(record, summary)`` of the artifact at ``text``; a clear error for anything else.
    ``check=False`` describes a latency table from its metadata, without reading its timings."""
    path = Path(text)
    if text.startswith("pretrained:") or path.suffix == ".pt":
        return _checkpoint(text)
    if not path.exists():
        raise NASError(f"{text}: no such file or folder")
    if path.is_dir():
        return _folder(path)
    if path.suffix == ".onnx" or (path.suffix == ".json" and path.with_suffix(".onnx").exists()):
        return _model(path.with_suffix(".onnx"))
    if path.suffix == ".zip":
        return _bundle(path)
    if path.suffix == ".csv" and Path(f"{path}.meta.json").exists():
        return _accuracy_table(path)
    if path.suffix in (".csv", ".json"):
        meta = _json(path.with_suffix(".json")) if path.with_suffix(".json").exists() else None
        if isinstance(meta, dict) and str(meta.get("format", "")).startswith("ofa-nas-latency-table"):
            return _latency_table(path, check)
        data = _json(path) if path.suffix == ".json" else None
        if isinstance(data, dict) and {"within_10pct", "kendall_tau", "raw"} <= set(data):
            return _validation(path, data)
        if isinstance(data, dict) and data.get("format") == "ofa-nas-predictor":
            return _predictor(path.parent)
    raise NASError(f"{text}: not an artifact nas recognises; it knows: " + "; ".join(KINDS))


def _checkpoint(text: str) -> tuple[dict, Summary]:
    from supernet import SearchSpace, checkpoint_record, file_hash, resolve_checkpoint

    payload = checkpoint_record(text)  # without torch when it can: seconds faster
    space = SearchSpace.from_dict(payload["space"])
    phases = [p["name"] for p in (payload.get("config") or {}).get("phases", [])]
    metrics = payload.get("metrics") or {}
    record = {"kind": "supernet checkpoint", "path": text, "space": space.name, "space_hash": space.hash,
              "finished": bool(payload.get("finished")), "phases": phases,
              "epoch": metrics.get("global_epoch"), "source": payload.get("source"),
              "file_hash": file_hash(str(resolve_checkpoint(text))),
              "accuracy": {k: v for k, v in metrics.items() if k.startswith("acc_")}}
    report = Summary(f"supernet checkpoint: {space.name} (hash {space.hash})")
    report.fact("file", f"{text} (sha256 {record['file_hash']})")
    if record["source"]:
        source = record["source"]
        report.fact("source", f"{source.get('kind')} checkpoint {source.get('checkpoint')}")
    state = "finished" if record["finished"] else f"in training (phase {payload.get('phase_name', '?')})"
    report.fact("training", f"{state}; phases {', '.join(phases) or '-'}; "
                            f"epoch {metrics.get('global_epoch', '-')}")
    if record["accuracy"]:
        report.table(["subnet", "validation accuracy (%)"],
                     [[k.removeprefix("acc_"), number(v)] for k, v in record["accuracy"].items()])
    if text.startswith("pretrained:"):
        from supernet import pretrained_card

        card = pretrained_card(text.split(":", 1)[1])
        record["card"] = card
        report.table(["subnet (card)", "arch", "test accuracy (%)"],
                     [[k, v["arch"], number(v["test"])] for k, v in card["accuracy_pct"].items()])
    return record, report


def _latency_table(path: Path, check: bool) -> tuple[dict, Summary]:
    """From the metadata alone (fast: no pandas), or with ``check`` also the timings read,
    checked and fingerprinted, as any command that uses the table does."""
    from latency_tables import read_table_meta, reference_precisions

    m = read_table_meta(path)
    with open(path.with_suffix(".csv"), "rb") as fh:  # rows, without reading them: a cut table shows it
        rows = max(0, sum(1 for _ in fh) - 1)
    if m.get("complete") and rows != m.get("num_blocks", 0) * m.get("passes", 1):
        m = {**m, "complete": False}
    record = {"kind": "latency table",
              **{k: v for k, v in m.items() if k not in ("space", "calibration", "previous_calibration")}}
    cal = m.get("calibration") or {}
    if check:
        from latency_tables import LatencyTable

        table = LatencyTable.load(path, require_complete=False)
        m, cal = table.meta, table.calibration or {}
        record["fingerprint"] = table.fingerprint()
    record["calibration"] = {k: v for k, v in cal.items() if k not in ("archs", "measured_ms")}
    state = "complete" if m.get("complete") else f"INCOMPLETE: {rows} block timings in its .csv"
    report = Summary(f"latency table: {m['device']} ({state})")
    report.fact("device", f"{m['cpu_model']}, {m.get('runtime_version')}, {m.get('provider', 'CPU')}, "
                          f"{m['threads']} thread(s), batch {m['batch_size']}, {m.get('precision', 'fp32')}")
    report.fact("space", f"{m['space_name']} (hash {m['space_hash']}), {m.get('num_blocks')} blocks at "
                         f"{', '.join(map(str, m.get('resolutions') or []))} px")
    report.fact("protocol", ", ".join(f"{k} {v}" for k, v in m["protocol"].items()))
    if cal:
        groups = "random groups" if cal.get("groups") == "random" else "groups by size (old: --recalibrate)"
        refs = "/".join(reference_precisions(m))
        report.fact("calibration", f"{cal['num_archs']} subnets, fit error {cal['fit_mape']:.1f} %, "
                                   f"{groups}, {refs} references")
    if m.get("imported"):
        imp = m["imported"]
        report.fact("calibration", "none (imported: not re-timed, so not calibrated or validated here)")
        report.fact("made", f"{m.get('created')}, imported from {imp.get('format')} tables in "
                            f"{imp.get('source')}")
    else:
        report.fact("made", f"{m.get('created')}, {number(m.get('build_seconds'), 0, 's')}"
                    + (f", imported from probe {m['probe']['bundle_id']}" if m.get("probe") else ""))
    return record, report


def _validation(path: Path, data: dict) -> tuple[dict, Summary]:
    report = Summary(f"latency validation: {data.get('device')} table on {data.get('num_archs')} "
                     "unseen subnets")
    rows = (("within_5pct", "within ±5 %", 2, ""), ("within_10pct", "within ±10 %", 2, ""),
            ("kendall_tau", "Kendall tau", 3, ""), ("mape", "mean abs. error", 1, "%"))
    for key, label, digits, unit in rows:
        report.fact(label, f"{number(data[key], digits, unit)} (raw times: "
                           f"{number(data['raw'].get(key), digits, unit)})")
    report.fact("table", data.get("table"))
    report.fact("date", data.get("date"))
    return {"kind": "latency validation report", **data}, report


def _accuracy_table(path: Path) -> tuple[dict, Summary]:
    import pandas as pd

    meta, frame = _json(Path(f"{path}.meta.json")), pd.read_csv(path)
    acc = frame.get("accuracy")
    record = {"kind": "accuracy table", "rows": len(frame),
              **{k: v for k, v in meta.items() if k != "space"}}
    report = Summary(f"accuracy table: {len(frame)} subnets measured")
    report.fact("supernet", f"{meta.get('supernet')} (hash {meta.get('supernet_hash')})")
    report.fact("data", f"{meta.get('dataset')}, {meta.get('split')} split, BN recalibrated on "
                        f"{meta.get('calib_images')} images")
    if acc is not None and len(acc):
        report.fact("accuracy", f"{number(acc.min(), unit='%')} to {number(acc.max(), unit='%')} "
                                f"(median {number(acc.median(), unit='%')})")
    return record, report


def _predictor(folder: Path) -> tuple[dict, Summary]:
    one = folder / "predictor.json"
    models = [one] if one.exists() else sorted(folder.glob("*/predictor.json"))
    report_file = folder / ("report.json" if not one.exists() else "../report.json")  # a fit's model folder
    fit = _json(report_file) if report_file.exists() else {}
    scores, best = fit.get("models", {}), fit.get("best")
    rows, record = [], {"kind": "accuracy predictor", "models": {}, "best": best}
    for file in models:
        meta = _json(file)
        if not isinstance(meta, dict) or meta.get("format") != "ofa-nas-predictor" or "kind" not in meta:
            got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise NASError(f"{file}: not a predictor's manifest (format {short(got)}, expected "
                           "'ofa-nas-predictor'); fit the predictor again")
        keys = ("kind", "metric", "supernet_hash", "space_hash")
        record["models"][meta["kind"]] = {k: meta.get(k) for k in keys}
        s = scores.get(meta["kind"], {})
        used = " (best: what a search loads)" if meta["kind"] == best and len(models) > 1 else ""
        rows.append([meta["kind"] + used, meta.get("supernet_hash", "-"), meta.get("space_hash", "-"),
                     number(s.get("rmse_pp"), 3), number(s.get("kendall_tau"), 3)])
    report = Summary(f"accuracy predictor{'s' if len(rows) > 1 else ''} in {folder}")
    report.table(["model", "supernet hash", "space hash", "held-out RMSE (pp)", "Kendall tau"], rows)
    return record, report


def _model(onnx: Path) -> tuple[dict, Summary]:
    card_path = onnx.with_suffix(".json")
    twin = not card_path.exists() and onnx.name.endswith(".fp32.onnx")  # the fp32 twin of an int8 export
    if twin:
        card_path = onnx.with_name(onnx.name.removesuffix(".fp32.onnx") + ".json")
    if not card_path.exists():
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own types: a truncated or foreign file
            reason = " ".join(str(err).split())[:200]
            raise NASError(f"{onnx}: not a readable ONNX model ({reason}); export it again") from None
        io = [(i.name, i.type, i.shape) for i in (*session.get_inputs(), *session.get_outputs())]
        report = Summary(f"ONNX model {onnx} (no model card beside it)")
        for name, kind, shape in io:
            report.fact(name, f"{kind} {shape}")
        return {"kind": "onnx model", "io": io}, report
    card = _json(card_path)
    if twin and "fp32_twin" in card:
        report = Summary(f"ONNX model {card['arch_str']}: the fp32 twin of the int8 model {card['onnx']}")
        report.fact("test accuracy", number(card["fp32_test_acc"], unit="%"))
        report.fact("card", str(card_path))
        return {"kind": "onnx model card", **card}, report
    report = Summary(f"ONNX model {card['arch_str']}")
    report.fact("files", f"{card['onnx']} + card {card_path}")
    report.fact("test accuracy", number(card["test_acc"], unit="%"))
    if card.get("precision"):
        report.fact("precision", " ".join(f"{part}:{p}" for part, p in card["precision"].items())
                    + f" ({-card['accuracy_drop_pp']:+.2f} pp validation vs the fp32 twin "
                      f"{card['fp32_twin']})")
    device = card["provenance"].get("table_device")
    report.fact("latency", f"{number(card['measured_latency_ms'], 3, 'ms')} measured"
                           + (f" in {card['latency_runtime']}" if card.get("latency_runtime") else "")
                           + (f" as table {device} was built" if device else ""))
    if card.get("runtime"):
        rt = card["runtime"]
        report.fact(rt["name"], f"{', '.join(rt['files'])}: test accuracy "
                                f"{number(rt['test_acc'], unit='%')}, max abs. difference "
                                f"{rt['parity_max_abs_diff']:.1e} vs {rt['parity_reference']}")
    report.fact("input", card["input"].get("note", ""))
    made = card["provenance"]
    report.fact("made from", f"{made['supernet']} (hash {made['supernet_hash']}), {made['date']}")
    return {"kind": "onnx model card", **card}, report


def _bundle(path: Path) -> tuple[dict, Summary]:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except (KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        raise NASError(f"{path}: not a probe bundle (no readable manifest.json)") from None
    meta = manifest.get("meta", {})
    record = {"kind": "probe bundle", "bundle_id": manifest.get("bundle_id"),
              "format": manifest.get("format"),
              "space": meta.get("space_name"), "jobs": len(manifest.get("jobs", [])),
              "models": len(manifest.get("models", {})), "protocol": manifest.get("protocol")}
    report = Summary(f"probe bundle {manifest.get('bundle_id')} ({manifest.get('format')})")
    report.fact("space", f"{meta.get('space_name')} (hash {meta.get('space_hash')})")
    report.fact("plan", f"{record['models']} models in {record['jobs']} jobs, "
                        f"{manifest.get('threads')} thread(s)")
    report.fact("on the device", f"python probe_runner.py {path.name} --out results.csv")
    return record, report


def _folder(path: Path) -> tuple[dict, Summary]:
    if (path / "experiment.json").exists() and (path / "summary.json").exists():
        summary = _json(path / "summary.json")
        report = Summary(f"pipeline run {summary.get('name')} "
                         f"({summary.get('total_seconds', summary.get('seconds', 0)):.0f} s in all)")
        report.table(["budget (ms)", "subnet", "test acc (%)", "measured (ms)"],
                     [[number(b["latency_budget_ms"], 3), b["arch"], number(b["test_acc"]),
                       number(b["measured_latency_ms"], 3)] for b in summary.get("budgets", [])])
        return {"kind": "pipeline run", **summary}, report
    if (path / "summary.json").exists() and (path / "front.csv").exists():
        summary = _json(path / "summary.json")
        report = Summary(f"search folder: {summary.get('strategy')} on {summary.get('space')}")
        report.fact("evaluated", f"{summary.get('evaluated')} archs, "
                                 f"{summary.get('front_size')} on the front")
        best = summary.get("best") or {}
        if best:
            from supernet import ArchConfig

            report.fact("best", str(ArchConfig.from_dict(best["arch"])))
        report.fact("hypervolume", number(summary.get("hypervolume"), 4))
        return {"kind": "search folder", **summary}, report
    if (path / "predictor.json").exists() or any(path.glob("*/predictor.json")):
        return _predictor(path)
    if (path / "metrics.jsonl").exists() or (path / "supernet.pt").exists():
        record, report = {}, Summary(f"training run {path} (no checkpoint yet)")
        if (path / "supernet.pt").exists():
            record, report = _checkpoint(str(path / "supernet.pt"))
        if (path / "curves.png").exists():
            report.fact("curves", str(path / "curves.png"))
        return {"kind": "training run", "path": str(path), **record}, report
    raise NASError(f"{path}: a folder nas does not recognise; it knows: " + "; ".join(KINDS))
