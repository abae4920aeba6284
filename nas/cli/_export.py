"""`nas export`: a chosen subnet to a verified, timed ONNX model with a model card."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from nas.cli._summary import Summary, add_json_flag, number, show


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="extract a subnet, verify and time it in ONNX Runtime, write a model card",
        description="Extract a subnet from a trained supernet, recalibrate its BN statistics on "
        "training images, export it to ONNX (opset 17, dynamic batch), check ONNX Runtime "
        "against PyTorch (fails over --tolerance), measure its latency and test accuracy, and "
        "write MODEL.json (the model card) beside MODEL.onnx.")
    p.add_argument("--supernet", help="supernet checkpoint (.pt) from `nas train`, or pretrained:NAME "
                   "(with --weights: the supernet they were fine-tuned from, by default)")
    p.add_argument("--weights", help="a fine-tuned subnet (OUT/finetuned.pt of `nas finetune`): export it "
                   "instead of the inherited weights; its arch is exported unless --arch or --front says")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--arch", help="the subnet: an arch JSON file or object (a model card works too), the "
                       "compact string a summary prints (r24[k5e6,k3e4|...]), smallest or largest")
    which.add_argument("--front", help="front.csv written by `nas search`")
    p.add_argument("--rank", type=int, default=0, help="row of --front to export (0 = first)")
    p.add_argument("--out", default="runs/export/model.onnx",
                   help="output .onnx path (model card: same name, .json; default: runs/export/model.onnx)")
    p.add_argument("--data-dir", help="dataset location, if not where the supernet was trained")
    p.add_argument("--table", help="latency table (file or shipped name): adds predicted latency, and "
                   "the model is timed as the table was (its threads, scaled by its reference subnets)")
    p.add_argument("--predictor", help="accuracy predictor folder: adds predicted accuracy")
    p.add_argument("--latency-max", type=float, metavar="MS",
                   help="the latency budget: the summary and card say whether the model keeps it (default: "
                        "the budget of the --front search, if it had one)")
    p.add_argument("--runtime", choices=("ort", "openvino", "litert"),
                   help="the runtime the model deploys on: ort (the ONNX model alone), openvino (OpenVINO IR "
                        ".xml/.bin beside it) or litert (a .tflite beside it; fp32 or all-int8); each is "
                        "checked against PyTorch, run on the test split and timed in that runtime (default: "
                        "the --table's runtime, else ort); openvino and litert need their extras: "
                        "pip install -e \".[openvino]\" / \".[litert]\"")
    p.add_argument("--threads", type=int, default=1, help="runtime threads for timing without --table")
    p.add_argument("--provider", default="CPUExecutionProvider",
                   help="ONNX Runtime execution provider for timing without --table (with one: the table's)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |ORT - PyTorch| allowed")
    p.add_argument("--timing-rounds", type=int, default=300,
                   help="timed runs of the model (each beside the reference subnets with --table); fewer "
                        "for large models on slow machines (default 300)")
    p.add_argument("--precision",
                   help="the arch's own policy by default (a searched arch carries one; fp32 without), or "
                        "fp32, int8, or a policy per part: a default then PART:PRECISION items, "
                        "e.g. int8,stem:fp32,head:fp32 (parts: stem, stage1..N, head). An int8 model is "
                        "quantised statically (QDQ, per-channel weights) and its fp32 twin kept beside it")
    p.add_argument("--quant-calib-images", type=int, default=256,
                   help="training images that calibrate the int8 activation ranges (default 256)")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0,
                   help="validation accuracy (pp) int8 may lose against fp32 before the export fails")
    p.add_argument("--allow-accuracy-drop", action="store_true", help="keep an int8 model whatever it loses")
    p.add_argument("--bare", action="store_true",
                   help="export the network alone (float input at the subnet's resolution, normalised); "
                        "by default the model takes images as the dataset stores them (uint8, native size) "
                        "and casts, resizes and normalises them itself")
    p.add_argument("--force", action="store_true", help="overwrite an existing model and card")
    add_json_flag(p)
    p.set_defaults(func=run)


def read_arch(text: str, supernet: str | None = None):
    """The arch ``--arch`` names: a JSON file or object (a model card or front.json entry
    works too), or, read with the space of ``supernet``, a compact string as the summaries
    print it (``r24[k5e6,k3e4|...]``), ``smallest`` or ``largest``."""
    from supernet import ArchConfig, NASError, SearchSpace, checkpoint_record

    path, where = Path(text), "--arch"
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise NASError(f"--arch: file {text!r} does not exist")
        text, where = path.read_text(), f"--arch {path}"
    elif not text.strip().startswith("{"):
        if supernet is None:
            raise NASError(f"--arch {text[:60]!r}: a compact arch string needs --supernet (its space "
                           "reads it)")
        space = SearchSpace.from_dict(checkpoint_record(supernet)["space"])
        if text.strip() in ("smallest", "largest"):
            return getattr(space, text.strip())()
        return space.parse_arch(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NASError(f"{where}: not valid JSON ({err.msg} at character {err.pos}): {text[:60]!r}") from None
    if isinstance(data, dict) and "arch" in data:  # a model card or a front.json entry
        data = data["arch"]
    if not isinstance(data, dict):
        raise NASError(f"{where}: expected an arch JSON file or object, got {text[:60]!r}")
    return ArchConfig.from_dict(data)


def run(args) -> int:
    from nas.export import ExportConfig, arch_from_front, export_subnet
    from supernet import ArchConfig, NASError, SearchSpace, SpaceError, checkpoint_record

    supernet, tuned = args.supernet, None
    if args.weights:
        tuned = checkpoint_record(args.weights)
        if tuned.get("kind") != "finetuned-subnet":
            raise NASError(f"--weights {args.weights}: a supernet checkpoint, not a fine-tuned subnet (nas "
                           "finetune); give it as --supernet with --arch or --front")
        supernet = supernet or tuned.get("supernet")
    if not supernet:
        raise NASError("--supernet is required (or --weights of a fine-tuned subnet, which records it)")
    budget = args.latency_max
    if args.front and budget is None:  # the search's own budget
        searched = Path(args.front).with_name("summary.json")
        with contextlib.suppress(OSError, ValueError, AttributeError):
            budget = json.loads(searched.read_text()).get("latency_budget_ms")
    if args.arch:
        arch = read_arch(args.arch, supernet)
    elif args.front:
        arch = arch_from_front(args.front, args.rank)
        try:
            SearchSpace.from_dict(checkpoint_record(supernet)["space"]).validate(arch)
        except SpaceError as err:
            raise NASError(f"--front {args.front}, rank {args.rank}: {err}; was it searched in the space of "
                           f"another supernet than {supernet}?") from None
    elif tuned is not None and "arch" in tuned:
        arch = ArchConfig.from_dict(tuned["arch"])
    else:
        raise NASError("say which subnet to export: --arch, --front (and --rank), or --weights")
    card = export_subnet(ExportConfig(
        supernet=supernet, weights=args.weights, arch=arch, out=args.out, data_dir=args.data_dir,
        table=args.table,
        predictor=args.predictor, threads=args.threads, provider=args.provider, tolerance=args.tolerance,
        force=args.force, precision=args.precision, quant_calib_images=args.quant_calib_images,
        max_accuracy_drop=args.max_accuracy_drop, allow_accuracy_drop=args.allow_accuracy_drop,
        bare=args.bare, timing_rounds=args.timing_rounds, latency_max=budget, runtime=args.runtime))
    keys = ("onnx", "arch_str", "test_acc", "predicted_acc", "measured_latency_ms", "measured_latency_raw_ms",
            "load_factor", "predicted_latency_ms", "parity_max_abs_diff", "macs", "params")
    summary = {k: card[k] for k in keys}
    if "budget" in card:
        summary["budget"] = card["budget"]
    if "quantization" in card:
        q = card["quantization"]
        summary["fp32_twin"] = card["fp32_twin"]
        summary["int8"] = {k: q[k] for k in ("int8_val_acc", "fp32_val_acc", "accuracy_drop_pp",
                                              "int8_test_acc", "fp32_test_acc", "top1_agreement_test",
                                              "int8_bytes", "fp32_bytes", "int8_over_fp32_latency")}
    report = Summary(f"exported {card['arch_str']}")
    report.fact("model", f"{card['onnx']} (card: {Path(card['onnx']).with_suffix('.json')})")
    report.fact("test accuracy", f"{number(card['test_acc'], unit='%')} (predicted "
                                 f"{number(card['predicted_acc'], unit='%')})")
    latency = f"{number(card['measured_latency_ms'], 3, 'ms')} measured"
    if card.get("predicted_latency_ms") is not None:
        latency += f", {number(card['predicted_latency_ms'], 3, 'ms')} predicted by the table"
    if not args.table:
        latency += " (raw: this machine, batch 1; --table times it on a table's scale)"
    report.fact("latency", latency)
    if "budget" in card:
        b = card["budget"]
        report.fact("within budget", f"{'yes' if b['within'] else 'NO'}: {number(b['measured_ms'], 3, 'ms')} "
                                     f"against {number(b['latency_max_ms'], 3, 'ms')} "
                                     f"({'table scale' if args.table else 'raw timing'})")
    report.fact("size", f"{number(card['macs'])} MACs, {number(card['params'])} params")
    report.fact("ONNX vs PyTorch", f"max abs. difference {card['parity_max_abs_diff']:.1e}")
    if card.get("finetuned"):
        tuned = card["finetuned"]
        summary["finetuned"] = tuned
        report.fact("weights", f"fine-tuned {tuned['epochs']} epochs (teacher {tuned['teacher']}): test "
                               f"{number(card['test_acc'], unit='%')}, inherited "
                               f"{number(tuned['inherited']['test_acc'], unit='%')}")
    report.fact("input", card["input"]["note"])
    if card.get("runtime"):
        rt = summary["runtime"] = card["runtime"]
        report.fact(rt["name"], f"{', '.join(rt['files'])}: test accuracy "
                                f"{number(rt['test_acc'], unit='%')}, max abs. difference "
                                f"{rt['parity_max_abs_diff']:.1e} vs {rt['parity_reference']} "
                                f"({rt['version']}); timed in it")
    if card.get("onnx_test_acc") is not None:
        report.fact("ONNX test accuracy", f"{number(card['onnx_test_acc'], unit='%')} on the raw test images")
    if "int8" in summary:
        q = summary["int8"]
        report.fact("precision", " ".join(f"{part}:{p}" for part, p in card["precision"].items()))
        report.fact("vs fp32 twin", f"validation {number(q['int8_val_acc'], unit='%')} vs "
                                    f"{number(q['fp32_val_acc'], unit='%')} "
                                    f"({-q['accuracy_drop_pp']:+.2f} pp), "
                                    f"test {number(q['int8_test_acc'], unit='%')} vs "
                                    f"{number(q['fp32_test_acc'], unit='%')}; "
                                    f"{number(q['fp32_bytes'] / 1e6, 2, 'MB')} -> "
                                    f"{number(q['int8_bytes'] / 1e6, 2, 'MB')}; "
                                    f"{q['int8_over_fp32_latency']:.2f}x its latency")
        report.fact("fp32 twin", summary["fp32_twin"])
    show(args, summary, report)
    return 0
