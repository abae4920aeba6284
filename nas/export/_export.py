"""Export a chosen subnet: extract, recalibrate BN, export to ONNX, check ONNX Runtime
against PyTorch, time it, evaluate it on the test split, and write a model card."""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from nas.export._runtime import RUNTIMES, RuntimeModel, runtime_files, write_runtime_model
from supernet import (
    ArchConfig,
    ArtifactMismatchError,
    DataConfig,
    NASError,
    accuracy,
    arch_cost,
    build_data,
    calibrated_subnet,
    export_onnx,
    file_hash,
    load_finetuned,
    load_supernet,
    onnx_parity,
    resize,
)
from supernet.core import atomic_write_json, check_outputs, is_num, output_lock
from supernet.data import normalise
from supernet.deploy import CPU_PROVIDER, check_provider, onnx_predictions, parse_precision, quantize_onnx

__all__ = ["ExportConfig", "export_subnet", "arch_from_front"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    """What `export_subnet` needs. ``table`` (a latency table file or shipped name) adds the
    predicted latency and makes the timing follow the table's protocol (its threads, beside
    its reference subnets and execution provider; ``threads`` and ``provider`` are then
    unused); ``predictor`` (a predictor folder) adds the predicted accuracy."""

    supernet: str
    arch: ArchConfig
    out: str
    data_dir: str | None = None
    table: str | None = None
    predictor: str | None = None
    threads: int = 1
    provider: str = CPU_PROVIDER
    tolerance: float = 1e-4
    timing_rounds: int = 300
    force: bool = False
    precision: str | None = None    # None: the arch's own policy; "fp32", "int8", "int8,stem:fp32" ...
    quant_calib_images: int = 256   # training images the int8 activation ranges come from
    max_accuracy_drop: float = 1.0  # pp of validation accuracy int8 may lose against fp32 ...
    allow_accuracy_drop: bool = False  # ... unless this is set
    bare: bool = False  # the network alone (float input at the resolution), not `RawInput`
    weights: str | None = None  # a fine-tuned subnet of ``arch`` (nas finetune) instead of inherited weights
    latency_max: float | None = None  # the budget (ms): the card says whether the measured latency keeps it
    runtime: str | None = None  # ort, openvino (+ .xml/.bin) or litert (+ .tflite); None: the table's, or ort

    def __post_init__(self) -> None:
        if not str(self.out).endswith(".onnx"):
            raise NASError(f"out: got {self.out!r}, expected a path ending in .onnx")
        if not isinstance(self.arch, ArchConfig):
            raise NASError(f"arch: expected an ArchConfig, got {type(self.arch).__name__}")
        if not (is_num(self.tolerance) and self.tolerance > 0):
            raise NASError(f"tolerance (--tolerance): got {self.tolerance!r}, expected a positive number")
        if not (is_num(self.max_accuracy_drop) and self.max_accuracy_drop >= 0):
            raise NASError(f"max_accuracy_drop (--max-accuracy-drop): got {self.max_accuracy_drop!r}, "
                           "expected a number of percentage points >= 0")
        rounds = self.timing_rounds
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise NASError(f"timing_rounds (--timing-rounds): got {rounds!r}, expected a positive int")
        if self.table is None:
            check_provider(self.provider)
        if self.runtime is not None:
            runtime_files(self.runtime, Path(self.out))
        budget = self.latency_max
        if budget is not None and not (is_num(budget) and budget > 0):
            raise NASError(f"latency_max (--latency-max): got {budget!r}, expected a positive number of ms")
        if not isinstance(self.quant_calib_images, int) or self.quant_calib_images < 1:
            raise NASError(f"quant_calib_images: got {self.quant_calib_images!r}, expected a positive int")


class RawInput(nn.Module):
    """A subnet that takes images as the dataset stores them (uint8, NCHW, native size):
    the cast, the scaling to [0, 1], the normalisation and the resize to the subnet's
    resolution (bilinear, half-pixel centres, no antialias) run inside the graph, exactly
    as training and evaluation prepared every input."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float], resolution: int) -> None:
        super().__init__()
        self.net, self.resolution = net, resolution
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(resize(normalise(x, self.mean, self.std), self.resolution))


def _raw_input(config: ExportConfig, data_cfg: DataConfig, policy) -> str | None:
    """Why the model is exported bare (None: it takes raw images)."""
    if config.bare:
        return "--bare"
    if policy is not None:
        return "int8 models take the network's own input"
    if data_cfg.stream:
        return "streamed image files come in any size; decode, resize and crop them as the note says"
    return None


def arch_from_front(path: str | Path, rank: int = 0) -> ArchConfig:
    """The arch at ``rank`` (0 = first row) of a front CSV written by `nas search`."""
    path = Path(path)
    if path.suffix != ".csv" or not path.is_file():
        raise NASError(f"front: {str(path)!r} is not an existing .csv file written by `nas search`")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise NASError(f"{path}: not a readable front ({' '.join(str(err).split())[:200]}); expected the "
                       "front.csv of `nas search`") from None
    if "arch" not in frame.columns:
        raise NASError(f"{path}: no 'arch' column; expected the front.csv of `nas search`")
    searched = (path.parent / "summary.json").exists() and (path.parent / "front.csv").exists()
    if path.name != "front.csv" and searched:
        raise NASError(f"{path}: not the front of its search (every arch it evaluated, unranked); its front "
                       f"is {path.parent / 'front.csv'}")
    if Path(f"{path}.meta.json").exists() or "plan_index" in frame.columns:
        raise NASError(f"{path}: an accuracy table of `nas collect`, not a front; give the front.csv a "
                       "`nas search` wrote (its rows are ranked), or pick one subnet with --arch")
    if len(frame) == 0:
        raise NASError(f"{path}: no subnet in it (the search found none that met its bounds); loosen them "
                       "and search again")
    if not 0 <= rank < len(frame):
        single = len(frame) == 1  # a single-objective search writes its best subnet alone
        raise NASError(f"rank: got {rank}, but {path} holds " + (
            "one subnet, the best of a single-objective search: rank 0" if single
            else f"{len(frame)} subnets: ranks 0..{len(frame) - 1}"))
    return ArchConfig.from_json(frame["arch"].iloc[rank])


def _card_path(out: Path) -> Path:
    return out.with_suffix(".json")


def _time(table, space, arch: ArchConfig, config: ExportConfig, runtime: str):
    """Two passes of end-to-end timing: as the table was built when there is one (its
    protocol with ``config.timing_rounds`` rounds, in a group of its calibration's size),
    else in ``runtime`` with ``config.threads`` threads, batch 1, raw."""
    from latency_tables import Measured, Protocol, measure_archs, measure_subnets

    if table is not None:
        return measure_archs(table, [arch], passes=2, rounds=config.timing_rounds)
    runs, refs = measure_subnets(space, [arch], runtime=runtime, threads=config.threads, batch_size=1,
                                 provider=config.provider,
                                 protocol=Protocol(rounds=config.timing_rounds), passes=2)
    return Measured(runs, refs, None)


def _input_card(data, cfg: DataConfig, arch: ArchConfig, bare: str | None, raw_shape) -> dict:
    """The model's input contract, precisely: raw images, or the network's own input."""
    common = {"mean": data.mean, "std": data.std, "classes": list(data.classes),
              "resolution": arch.resolution}
    if bare is None:
        c, h, w = raw_shape
        return {"raw": True, "dtype": "uint8", "layout": "NCHW", "shape": [None, c, h, w], **common,
                "note": f"images as the dataset stores them: uint8 pixels, {c} channel(s), {h}x{w}, NCHW; "
                        "the graph casts them, scales to [0, 1], normalises with mean and std and resizes "
                        f"to {arch.resolution} px (bilinear, half-pixel centres, no antialias)"}
    return {"raw": False, "dtype": "float32", "layout": "NCHW",
            "shape": [None, len(data.mean), arch.resolution, arch.resolution], **common,
            "bare_because": bare, "note": _input_note(cfg)}


def _input_note(cfg: DataConfig) -> str:
    """How raw images become this model's input, as training and evaluation prepared them."""
    if not cfg.stream:
        return "scale pixels to [0, 1], resize to the resolution, then (x - mean) / std"
    short = max(cfg.image_size, round(cfg.image_size / cfg.center_crop))
    return (f"resize the shorter side to {short} px (bilinear) and crop the centre {cfg.image_size} px, "
            "resize that to the resolution (bilinear), scale pixels to [0, 1], then (x - mean) / std")


def _inputs(loader, resolution: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (NCHW float32 at ``resolution``) and labels of a split, up to ``limit``."""
    xs, ys, n = [], [], 0
    for x, y in loader.epoch(0):
        xs.append(resize(x, resolution).numpy())
        ys.append(y.numpy())
        n += len(y)
        if limit is not None and n >= limit:
            break
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def _quantize(config: ExportConfig, fp32: Path, out: Path, failed: Path, arch: ArchConfig,
              block_precisions: list[str],
              policy: dict, data, table) -> dict:
    """The int8 model at ``out`` and what quantisation changed: accuracy on the validation
    and test splits against the fp32 twin (both in ONNX Runtime), top-1 agreement, file
    sizes, and latency timed beside the twin. A validation drop over the allowed one
    raises `NASError` (the model is kept as .failed.onnx) unless it is allowed."""
    from latency_tables import Protocol, time_interleaved
    from supernet import ort_session

    calib, _ = _inputs(data.calib, arch.resolution, config.quant_calib_images)
    log.info("quantising to int8 (%s) with %d calibration images", policy, len(calib))
    info = quantize_onnx(fp32, out, calib, block_precisions=block_precisions)
    threads = table.meta["threads"] if table is not None else config.threads
    sessions = {"fp32": ort_session(fp32, threads), "int8": ort_session(out, threads)}
    acc = {}
    for split in ("val", "test"):
        x, y = _inputs(getattr(data, split), arch.resolution)
        p32, p8 = (onnx_predictions(sessions[k], x) for k in ("fp32", "int8"))
        acc[split] = (100.0 * float((p32 == y).mean()), 100.0 * float((p8 == y).mean()),
                      100.0 * float((p32 == p8).mean()))
    drop = acc["val"][0] - acc["val"][1]
    feed = {"input": np.ascontiguousarray(x[:1])}
    runners = {k: (lambda s=s: s.run(None, feed)) for k, s in sessions.items()}
    protocol = Protocol(rounds=config.timing_rounds)
    times = time_interleaved(runners, protocol, rng=np.random.default_rng(0))
    fp32_ms, int8_ms = (protocol.summary(times[k]) for k in ("fp32", "int8"))
    info.update(fp32_val_acc=acc["val"][0], int8_val_acc=acc["val"][1], accuracy_drop_pp=drop,
                fp32_test_acc=acc["test"][0], int8_test_acc=acc["test"][1],
                top1_agreement_test=acc["test"][2],
                fp32_bytes=fp32.stat().st_size, int8_bytes=out.stat().st_size,
                fp32_ms_raw=fp32_ms, int8_ms_raw=int8_ms, int8_over_fp32_latency=int8_ms / fp32_ms,
                latency_note=f"batch 1, {threads} thread(s), both timed interleaved here, raw "
                             f"{protocol.quantile:.0%} quantiles")
    log.info("int8: validation %.2f %% (fp32 %.2f %%, drop %.2f pp), %.2fx the fp32 latency, %d -> %d bytes",
             acc["val"][1], acc["val"][0], drop, int8_ms / fp32_ms, info["fp32_bytes"], info["int8_bytes"])
    if drop > config.max_accuracy_drop and not config.allow_accuracy_drop:
        hint = ("the stem is the part most often hurt: --precision int8,stem:fp32" if policy["stem"] == "int8"
                else "e.g. --precision int8,stem:fp32,stage1:fp32")
        os.replace(out, failed)
        raise NASError(f"int8 loses {drop:.2f} pp of validation accuracy against fp32 "
                       f"({acc['val'][1]:.2f} vs {acc['val'][0]:.2f} %), more than the "
                       f"{config.max_accuracy_drop:g} pp allowed; "
                       f"the model was moved to {failed}. Keep more parts at fp32 ({hint}) or pass "
                       "--allow-accuracy-drop")
    return info


def _finetuned(config: ExportConfig, arch: ArchConfig) -> tuple[nn.Module, dict]:
    """The fine-tuned subnet in ``config.weights``, checked against the supernet and arch
    being exported, and what the card records of it."""
    net, payload = load_finetuned(config.weights)
    if payload.get("supernet_hash") != file_hash(config.supernet):
        raise ArtifactMismatchError(f"--weights {config.weights}: fine-tuned from another supernet "
                                    f"({payload.get('supernet')}) than {config.supernet}")
    tuned = ArchConfig.from_dict(payload["arch"])
    if tuned.with_precision("fp32") != arch.with_precision("fp32"):
        raise ArtifactMismatchError(f"--weights {config.weights}: fine-tuned for {tuned}, not {arch}; "
                                    "leave --arch out to export the fine-tuned arch")
    if not payload.get("finished"):
        log.warning("%s: fine-tuning stopped after epoch %d of %d; exporting those weights",
                    config.weights, payload["epoch"], payload["config"]["epochs"])
    record = {"weights": str(config.weights), "epochs": payload["epoch"],
              "planned_epochs": payload["config"]["epochs"], "teacher": payload["config"]["teacher"],
              "lr": payload["config"]["lr"], "inherited": payload["inherited"],
              "finetuned": payload["finetuned"]}
    return net, record


def _verdict(card: dict, budget: float, scaled: bool) -> dict:
    """Whether the model keeps its latency budget, on the scale the budget was set on: the
    table's (the timing scaled to the machine's state when the table was built), or, without
    a table, the raw timing on this machine."""
    measured = card["measured_latency_ms"]
    return {"latency_max_ms": budget, "measured_ms": measured, "within": bool(measured <= budget),
            "scale": "the latency table's (measured_latency_ms)" if scaled
            else "raw, this machine (no --table: compare with a budget set on this machine)"}


def _runtime(config: ExportConfig, table, policy) -> str:
    """The runtime the model is exported to and timed in: ``config.runtime``, else the
    table's, else ONNX Runtime; a table of another runtime would time it wrongly."""
    tabled = table.meta.get("runtime") if table is not None and not table.meta.get("imported") else None
    runtime = config.runtime or (tabled if tabled in RUNTIMES else "ort")
    if tabled is not None and tabled != runtime:
        raise NASError(f"--runtime {runtime}: the latency table {config.table} was timed in {tabled}; a "
                       f"model is timed as its table was: pass --runtime {tabled} or a table of {runtime}")
    if runtime == "litert" and policy is not None and set(policy.values()) != {"int8"}:
        raise NASError(f"--runtime litert exports fp32 or all-int8 models, not the mixed policy {policy}: "
                       "pass --precision int8 or fp32, or --runtime openvino")
    return runtime


def _in_runtime(runtime: str, onnx: Path, net: nn.Module, x: torch.Tensor, test_x: np.ndarray,
                test_y: np.ndarray, files: dict[Path, Path], policy, config: ExportConfig,
                failed: Path, calib: np.ndarray | None) -> dict:
    """The model written for ``runtime`` (``files``: final -> partial path), its outputs
    against PyTorch's (fp32; over ``config.tolerance`` it is refused) or, for int8, against
    the ONNX Runtime model it was made from, and its test accuracy in that runtime."""
    from latency_tables.backends import get_backend
    from supernet import ort_session

    model_path = next(iter(files.values()))
    log.info("writing the %s model and checking it", runtime)
    write_runtime_model(runtime, onnx, net, (1, *x.shape[1:]), x.dtype, model_path, calib)
    model = RuntimeModel(runtime, model_path, config.threads)
    got = model.predict(x.numpy())
    if policy is None:
        was_training = net.training
        with torch.no_grad():
            want, reference = net.eval()(x).numpy(), "PyTorch"
        net.train(was_training)
    else:
        want, reference = ort_session(onnx, 1).run(None, {"input": x.numpy()})[0], "ONNX Runtime (int8)"
    diff = float(np.abs(got - want).max())
    if policy is None and diff > config.tolerance:
        moved = failed.with_suffix(model_path.suffix)
        os.replace(model_path, moved)
        raise NASError(f"{runtime} output differs from PyTorch by {diff:.3g} (> tolerance "
                       f"{config.tolerance:g}); the model was moved to {moved}")
    test_acc = 100.0 * float((model.labels(test_x) == test_y).mean())
    return {"name": runtime, "version": get_backend(runtime).version(), "model": str(next(iter(files))),
            "files": [str(f) for f in files], "parity_max_abs_diff": diff, "parity_reference": reference,
            "top1_agreement": 100.0 * float((got.argmax(1) == want.argmax(1)).mean()), "test_acc": test_acc}


def export_subnet(config: ExportConfig) -> dict:
    """Run the export and return the model card (also written beside the .onnx file). The
    model is written and checked under a temporary name and moved into place with its card
    at the end, holding the output's lock throughout: a second export to the same path is
    refused, and a rerun after a kill does the export again without --force."""
    out = Path(config.out)
    with output_lock(out) as killed:
        if killed:
            log.warning("an earlier export to %s was killed before it finished; doing it again", out)
        return _export(config, out, redo=killed)


def _export(config: ExportConfig, out: Path, redo: bool) -> dict:
    from latency_tables import LatencyTable

    card_path = _card_path(out)
    model, payload = load_supernet(config.supernet)
    space, arch = model.space, model.space.validate(config.arch)
    if config.precision is not None:  # the command line's policy replaces the arch's own
        arch = arch.with_precision(parse_precision(config.precision, space.num_stages) or "fp32")
    policy = arch.policy() if arch.quantized else None
    fp32_out = out if policy is None else out.with_name(f"{out.stem}.fp32.onnx")
    folders = [str(p) for p in (out, card_path, fp32_out) if p.is_dir()]
    if folders:
        raise NASError(f"--out: {', '.join(folders)} is a folder; expected the path of the model to write "
                       "(.onnx)")
    check_outputs([out, card_path, fp32_out], force=config.force or redo, what="export")
    partial = {fp32_out: fp32_out.with_name(f".{fp32_out.stem}.partial.onnx"),
               out: out.with_name(f".{out.stem}.partial.onnx")}  # the files until they are checked
    # everything the card needs is loaded and checked before the first file is written
    table = LatencyTable.load(config.table, space=space) if config.table else None
    if table is not None:
        table.predict([arch])  # a table that does not time the arch's precision says so now
    runtime = _runtime(config, table, policy)
    timing_table = None if table is None or table.meta.get("imported") else table  # imported: not re-timed
    extra = {path: path.with_name(f".{path.stem}.partial{path.suffix}")
             for path in runtime_files(runtime, out)}
    check_outputs(list(extra), force=config.force or redo, what="export")
    predictor = None
    if config.predictor:
        from predictors import load_predictor

        predictor = load_predictor(config.predictor, space=space, supernet=config.supernet)
    data_cfg = DataConfig(**{**payload["config"]["data"],
                             **({"path": config.data_dir} if config.data_dir else {})})
    data = build_data(data_cfg, batch_size=256)

    finetuned = _finetuned(config, arch) if config.weights else None
    if finetuned is None:
        log.info("extracting %s and recalibrating BN on %d training images", arch, data_cfg.calib_images)
        sub = calibrated_subnet(model, arch, data.calib)
    else:
        sub, finetuned = finetuned
    log.info("test accuracy on %d images", data.test.num_images)
    test_acc = accuracy(sub, data.test, arch.resolution)
    bare = _raw_input(config, data_cfg, policy)
    log.info("exporting to ONNX and checking it against PyTorch")
    if bare is None:
        images, labels = data.test.uint8()
        net, x = RawInput(sub, data.mean, data.std, arch.resolution), images[:64]
        export_onnx(net, partial[fp32_out], (1, *images.shape[1:]), dtype=torch.uint8)
    else:
        x, _ = next(iter(data.test.epoch(0)))
        net, x = sub, resize(x[:64], arch.resolution)
        export_onnx(sub, partial[fp32_out], (1, space.in_channels, arch.resolution, arch.resolution))
    failed = out.with_suffix(".failed.onnx")
    try:
        parity = onnx_parity(partial[fp32_out], net, x)
        if parity > config.tolerance:
            os.replace(partial[fp32_out], failed)
            raise NASError(f"ONNX Runtime output differs from PyTorch by {parity:.3g} "
                           f"(> tolerance {config.tolerance:g}); the model was moved to {failed}")
        if bare is None:  # what a client with onnxruntime alone gets on the raw test images
            from supernet import ort_session

            predicted = onnx_predictions(ort_session(partial[fp32_out], 1), images.numpy())
            onnx_test_acc = 100.0 * float((predicted == labels.numpy()).mean())
        log.info("timing the model whole in %s: %d rounds x 2 passes%s", runtime, config.timing_rounds,
                 ", beside the table's reference subnets" if timing_table is not None else "")
        timed = _time(timing_table, space, arch, config, runtime)
        quant = None if policy is None else _quantize(
            config, partial[fp32_out], partial[out], failed, arch, space.block_precisions(arch), policy, data,
            table)
        deployed = None
        if extra:
            partial.update(extra)
            test = (images.numpy(), labels.numpy()) if bare is None else _inputs(data.test, arch.resolution)
            calib = None if policy is None or runtime != "litert" else _inputs(  # LiteRT quantises itself
                data.calib, arch.resolution, config.quant_calib_images)[0]
            deployed = _in_runtime(runtime, partial[out], net, x, *test, extra, policy, config, failed, calib)
    except BaseException:  # nothing half-made is left; (--force) the earlier model and card stay as they were
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    cost = arch_cost(space, arch)
    card = {
        "onnx": str(out), "arch": arch.to_dict(), "arch_str": str(arch),
        "input": _input_card(data, data_cfg, arch, bare, images.shape[1:] if bare is None else None),
        "test_acc": test_acc, "parity_max_abs_diff": parity,
        "measured_latency_ms": float(timed.ms.mean()), "measured_latency_raw_ms": float(timed.raw_ms.mean()),
        "load_factor": timed.load_factor,
        "latency_runtime": runtime,
        "latency_threads": timing_table.meta["threads"] if timing_table else config.threads,
        "latency_provider": (timing_table.meta.get("provider", CPU_PROVIDER) if timing_table
                             else config.provider),
        "latency_note": ("timed as the table was built (runtime, threads, protocol), beside its reference "
                         "subnets, and scaled back to the machine's state then (see load_factor); the raw "
                         "time is measured_latency_raw_ms") if timing_table
        else f"{runtime} ({config.provider}), batch 1, raw 5th percentile of its calls, on this machine"
        + (" (the imported table was timed elsewhere: not comparable with its predictions)" if table else ""),
        "macs": cost.macs, "params": cost.params, "peak_memory_bytes": cost.peak_memory_bytes,
        "predicted_latency_ms": None, "predicted_acc": None,
        "provenance": {
            "supernet": str(config.supernet), "supernet_hash": file_hash(config.supernet),
            "space": space.name, "family": space.family, "space_hash": space.hash, "table": config.table,
            "predictor": config.predictor, "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    if bare is None:
        card["onnx_test_acc"] = onnx_test_acc
    if quant is not None:  # the headline figures are the int8 model's; the twin's go beside
        card.update(precision=policy, test_acc=quant["int8_test_acc"], fp32_test_acc=test_acc,
                    accuracy_drop_pp=quant["accuracy_drop_pp"], fp32_twin=str(fp32_out),
                    onnx_bytes=quant["int8_bytes"])
        card["quantization"] = {**quant, "note": "test_acc, measured_latency_ms and onnx_bytes describe "
                                "the int8 model (latency: timed as its table was built, when one was given); "
                                "parity_max_abs_diff compares the fp32 twin with PyTorch"}
    if table is not None:
        card["predicted_latency_ms"] = float(table.predict([arch])[0])
        card["provenance"]["table_device"] = table.meta.get("device")
    if predictor is not None:
        card["predicted_acc"] = float(predictor.predict([arch])[0])
    if finetuned is not None:
        card["finetuned"] = finetuned
    if deployed is not None:
        card["runtime"] = deployed
    if config.latency_max is not None:
        card["budget"] = _verdict(card, config.latency_max, timing_table is not None)
    try:
        for final, path in partial.items():  # checked: in place, then the card that describes them
            os.replace(path, final)
        atomic_write_json(card_path, card)
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)
    log.info("wrote %s (test acc %.2f %%, %.3f ms, parity %.1e) and %s", out, test_acc,
             card["measured_latency_ms"], parity, card_path)
    return card
