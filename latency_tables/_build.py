"""Building a latency table: every distinct block of a space timed alone, chunk by chunk,
each chunk saved atomically so a killed build resumes where it stopped."""

from __future__ import annotations

import datetime
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from latency_tables._calibration import calibration_archs, fit_calibration, reference_archs, reference_time
from latency_tables._io import atomic_write_csv, atomic_write_json
from latency_tables._measure import Measured, measure_subnets
from latency_tables._table import (
    FORMAT,
    KEY_COLUMNS,
    VALUE_COLUMNS,
    LatencyTable,
    block_key,
    distinct_blocks,
    table_paths,
    with_precision_column,
)
from latency_tables._timing import Protocol, cpu_model, default_device_name, pinned, time_interleaved
from latency_tables.backends import get_backend, int8_runtimes, list_backends, make_runner, ov_device
from supernet import ArtifactMismatchError, BlockSpec, NASError, SearchSpace, Subnet, build_block, get_space
from supernet.core import check_writable, holds_output
from supernet.deploy import CPU_PROVIDER, check_provider

__all__ = ["BuildConfig", "build_table"]

log = logging.getLogger(__name__)
_MUST_MATCH = ("space_hash", "resolutions", "device", "runtime", "provider", "threads", "batch_size",
               "passes", "precision")
_OVERHEAD, _REFERENCE = "per-call overhead", "reference subnet"
_GROUP = 20  # whole subnets timed together beside the reference, in calibration and validation


@dataclass(frozen=True)
class BuildConfig:
    """What to measure and how. ``device`` defaults to a name derived from the CPU model;
    ``chunk_size`` blocks are timed interleaved between two checkpoints; every block is
    timed in ``passes`` passes, each shuffled into other chunks (a block's latency is the
    mean over passes, so no chunk's company biases it); the calibration
    is fitted on about ``calibration_archs`` whole subnets (as many at each resolution)
    drawn with ``calibration_seed`` (0: none). ``resolutions`` (some of the space's) limits
    the table to those input sizes: a search with it samples only them. ``precision``:
    ``fp32`` blocks, ``int8`` blocks (each quantised alone as `quantize_onnx` quantises a
    whole subnet: QDQ, per-channel weights; the Q/DQ at its edges timed with it), or
    ``mixed``: both, for searches that choose a precision per part; the calibration is then
    fitted on whole subnets of that kind (mixed: random policies, so their float<->int8
    boundaries are in what it is fitted on)."""

    space: SearchSpace | str = "fmnist_small"
    device: str | None = None
    threads: int = 1
    batch_size: int = 1
    runtime: str = "ort"
    provider: str = CPU_PROVIDER  # ONNX Runtime's execution provider, or OpenVINO's device (CPU, GPU, NPU)
    protocol: Protocol = field(default_factory=Protocol)
    chunk_size: int = 64
    passes: int = 3
    calibration_archs: int = 40
    calibration_seed: int = 1_000_003
    pin_core: int | None = None
    seed: int = 0
    resolutions: tuple[int, ...] | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("threads", "batch_size", "chunk_size", "passes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NASError(f"BuildConfig.{name}: got {value!r}, expected a positive integer")
        if self.runtime not in list_backends():
            raise NASError(f"BuildConfig.runtime: got {self.runtime!r}, expected one of {list_backends()}")
        if self.runtime == "ort":
            check_provider(self.provider)
        elif self.runtime == "openvino":
            ov_device(self.provider)
        elif self.provider != CPU_PROVIDER:
            raise NASError(f"BuildConfig.provider: {self.provider!r} needs runtime 'ort' (an execution "
                           f"provider) or 'openvino' (a device), got runtime {self.runtime!r}")
        if self.precision not in SearchSpace.PRECISION_MODES:
            raise NASError(f"BuildConfig.precision: got {self.precision!r}, expected one of "
                           f"{list(SearchSpace.PRECISION_MODES)}")
        if self.precision != "fp32" and self.runtime not in int8_runtimes():
            raise NASError(f"BuildConfig.precision {self.precision!r}: int8 blocks are timed in "
                           f"{int8_runtimes()} only, got runtime {self.runtime!r}")
        if self.precision == "mixed" and self.runtime == "litert":
            raise NASError("BuildConfig.precision 'mixed': LiteRT times fp32 or all-int8 models; time mixed "
                           "precision in runtime 'ort' or 'openvino'")
        if self.calibration_archs == 1 or self.calibration_archs < 0:
            raise NASError(f"BuildConfig.calibration_archs: got {self.calibration_archs!r}, "
                           "expected 0 (no calibration) or at least 2")

    def covered(self, space: SearchSpace) -> SearchSpace:
        """``space`` with the resolutions and precisions this table covers."""
        return space.with_resolutions(self.resolutions, what="BuildConfig.resolutions (--resolution)"
                                      ).with_precision(self.precision)

    def metadata(self, space: SearchSpace) -> dict:
        covered = self.covered(space)
        return {
            "format": FORMAT, "device": self.device or default_device_name(), "cpu_model": cpu_model(),
            "runtime": self.runtime, "runtime_version": get_backend(self.runtime).version(),
            "provider": self.provider,
            "threads": self.threads, "batch_size": self.batch_size, "space_name": space.name,
            "space_hash": space.hash, "space": space.to_dict(), "protocol": asdict(self.protocol),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "resolutions": list(covered.resolutions),
            "precision": self.precision, "reference_precisions": list(covered.precisions),
            "num_blocks": len(table_blocks(covered)), "passes": self.passes, "rows_done": 0,
            "complete": False,
            "overhead_ms": None, "calibration": None, "build_seconds": 0.0,
        }


def _start(config: BuildConfig, space: SearchSpace, csv: Path, meta_path: Path,
           resume: bool, force: bool) -> tuple[pd.DataFrame, dict]:
    fresh = config.metadata(space)
    if not (csv.exists() or meta_path.exists()) or force:
        return pd.DataFrame(columns=KEY_COLUMNS + VALUE_COLUMNS), fresh
    if not resume:
        raise NASError(f"latency table {csv} already exists; pass --resume to finish it or --force to "
                       "overwrite it, or choose another output path")
    if not (csv.exists() and meta_path.exists()):
        raise NASError(f"cannot resume {csv}: its .csv or .json half is missing; use --force")
    meta = json.loads(meta_path.read_text())
    meta.setdefault("provider", CPU_PROVIDER)  # tables from before providers were recorded
    meta.setdefault("resolutions", list(space.resolutions))  # and from before partial tables
    meta["protocol"] = asdict(Protocol.recorded(meta["protocol"]))  # and from before quantiles
    meta.setdefault("precision", "fp32")  # and from before int8
    meta.setdefault("reference_precisions", ["fp32"])  # and from before int8 reference subnets
    diff = {k: (meta.get(k), fresh[k]) for k in _MUST_MATCH if meta.get(k) != fresh[k]}
    quantiles = meta["protocol"]["quantile"], fresh["protocol"]["quantile"]
    if quantiles[0] != quantiles[1]:  # more or fewer rounds are fine; another statistic is not
        diff["protocol quantile"] = quantiles
    if diff:
        raise ArtifactMismatchError(
            f"cannot resume {csv}: it was started with other settings (recorded, asked): {diff}; "
            "resume with the same options, or use --force to start over")
    return with_precision_column(pd.read_csv(csv)), meta


def table_blocks(space: SearchSpace) -> list[tuple[BlockSpec, str]]:
    """What a table of ``space`` times: every distinct block in every precision the space
    draws (`SearchSpace.precisions`)."""
    return [(spec, p) for p in space.precisions for spec in distinct_blocks(space)]


def _measure_chunk(specs: list[tuple[BlockSpec, str]], config: BuildConfig, space: SearchSpace,
                   rng: np.random.Generator, references: list[str]) -> tuple[dict, float, float]:
    """The time (ms, the protocol's statistic) of each block in ``specs``, with the per-call
    overhead and the reference subnets (`reference_archs` in ``references``) timed in the same
    interleaved loop."""
    b = config.batch_size
    with tempfile.TemporaryDirectory(prefix="nas-blocks-") as tmp:
        # keyed by what defines each graph: the overhead and reference models come back in
        # every chunk, a block in every pass (LiteRT's conversion of one takes about 2 s)
        models = {}  # runner key -> (module, input shape, name, cache key, quantize)

        def add(k, module: nn.Module, shape: tuple[int, ...], name: str, graph, q) -> None:
            models[k] = (module, (b, *shape), name, (space.hash, graph, b, q), q)

        add(_OVERHEAD, nn.ReLU(), (1, 8, 8), "overhead", _OVERHEAD, False)
        for i, arch in enumerate(reference_archs(space, references)):
            add((_REFERENCE, i), Subnet.build(space.layout(arch)),
                (space.in_channels, arch.resolution, arch.resolution), f"ref{i}", arch.to_json(),
                tuple(space.block_precisions(arch)) if arch.quantized else False)
        for i, (spec, precision) in enumerate(specs):
            add((spec, precision), build_block(spec), (spec.in_channels, spec.resolution, spec.resolution),
                f"b{i}", spec, precision == "int8")
        get_backend(config.runtime).prepare([(m, shape, key, q) for m, shape, _, key, q in models.values()])
        runners = {k: make_runner(config.runtime, module, shape, threads=config.threads, workdir=Path(tmp),
                                  name=name, provider=config.provider, quantize=q, cache_key=key)
                   for k, (module, shape, name, key, q) in models.items()}
        times = time_interleaved(runners, config.protocol, rng=rng, runtime=config.runtime,
                                 threads=config.threads)
    result = {k: config.protocol.summary(v) for k, v in times.items()}
    reference = reference_time([result.pop(k) for k in list(result) if k[0] == _REFERENCE])
    return result, result.pop(_OVERHEAD), reference


def block_rows(work: list[tuple[int, BlockSpec]], times: dict, overhead: float,
               reference: float) -> list[dict]:
    """The table rows of one chunk: each ``(pass, block)`` of ``work`` with its time (ms)
    and the chunk's per-call overhead and reference time (``latency_ms``: see `_rescale`)."""
    return [{**s.to_dict(), "precision": p, "pass": k, "latency_ms": np.nan, "raw_ms": times[s, p],
             "overhead_ms": overhead, "reference_ms": reference} for k, (s, p) in work]


def _rescale(frame: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """``latency_ms = (raw - overhead) * level / chunk reference``: every chunk on the scale
    of the median reference timing of the build, whatever the machine's load was then."""
    level = float(np.median(frame["reference_ms"]))
    meta.update(reference_ms=level, overhead_ms=float(np.median(frame["overhead_ms"])))
    scale = level / frame["reference_ms"]
    frame["latency_ms"] = ((frame["raw_ms"] - frame["overhead_ms"]).clip(lower=0.0) * scale).round(6)
    return frame


def plan_chunks(config: BuildConfig, blocks: list,
                done: set[tuple[int, object]] = frozenset()) -> list[list[tuple[int, object]]]:
    """The ``(pass, block)`` timings not ``done``, in chunks timed together: every pass in
    its own order (other chunks, other company); a chunk never spans two passes, so no block
    is timed twice in one chunk."""
    chunks = []
    for k in range(config.passes):
        order = np.random.default_rng(config.seed + 7919 * k).permutation(len(blocks))
        todo = [(k, blocks[i]) for i in order if (k, blocks[i]) not in done]
        chunks += [todo[i:i + config.chunk_size] for i in range(0, len(todo), config.chunk_size)]
    return chunks


def _first(chunks: list[list], n: int) -> list[list]:
    """The chunks holding the first ``n`` items (the last one cut short)."""
    kept = []
    for chunk in chunks:
        if n <= 0:
            break
        kept.append(chunk[:n])
        n -= len(kept[-1])
    return kept


@holds_output(lambda config, out, **_: table_paths(out)[0])
def build_table(config: BuildConfig, out: str | Path, *, resume: bool = False, force: bool = False,
                progress: bool = False, max_blocks: int | None = None,
                recalibrate: bool = False) -> LatencyTable | None:
    """Measure every block of ``config.space`` not yet in ``out`` and save after each chunk;
    then fit the calibration. Returns the finished table, or None when ``max_blocks`` new
    blocks were measured and the table is not finished yet (resume it later).
    ``recalibrate``: resume ``out`` and fit its calibration again on whole subnets timed
    now, keeping its blocks."""
    from supernet.core import progress as show_progress

    whole = get_space(config.space)
    space = config.covered(whole)  # what is timed: the table's resolutions only
    csv, meta_path = table_paths(out)
    check_writable(csv)  # before the first block is timed, not after the first chunk
    if recalibrate and force:
        raise NASError("recalibrate keeps a table's blocks and force discards them: choose one")
    if recalibrate and not config.calibration_archs:
        raise NASError("recalibrate needs calibration subnets: calibration_archs is 0")
    if recalibrate and not (csv.exists() and meta_path.exists()):
        raise NASError(f"cannot recalibrate {csv}: no table there (its .csv and .json); build it first")
    frame, meta = _start(config, whole, csv, meta_path, resume or recalibrate, force)
    t0, spent = time.monotonic(), float(meta.get("build_seconds") or 0.0)
    records = frame[["pass", *KEY_COLUMNS]].to_dict("records") if len(frame) else []
    done = {(r.pop("pass"), block_key(r)) for r in records}
    chunks = plan_chunks(config, table_blocks(space), done)
    if max_blocks is not None:
        chunks = _first(chunks, max_blocks)
    rng = np.random.default_rng(config.seed + len(done))

    def save() -> None:
        meta.update(rows_done=len(frame), build_seconds=round(spent + time.monotonic() - t0, 2))
        atomic_write_json(meta_path, meta)  # metadata first: rows never lack their context
        atomic_write_csv(csv, frame)

    save()
    with pinned(config.threads, config.pin_core), show_progress(
            meta["num_blocks"] * config.passes, f"{meta['device']} t{config.threads}", initial=len(done),
            unit="block", disable=not progress) as bar:
        for chunk in chunks:
            rows = pd.DataFrame(block_rows(chunk, *_measure_chunk([s for _, s in chunk], config, space, rng,
                                                                  meta["reference_precisions"])))
            frame = _rescale(rows if frame.empty else pd.concat([frame, rows], ignore_index=True), meta)
            save()
            bar.update(len(chunk))
    if len(frame) < meta["num_blocks"] * config.passes:
        log.info("stopped after %d of %d block timings; resume with --resume", len(frame),
                 meta["num_blocks"] * config.passes)
        return None
    if config.calibration_archs and (recalibrate or not meta["calibration"]):
        if meta["calibration"]:  # replaced on request, kept beside the new one
            meta["previous_calibration"] = meta["calibration"]
        _calibrate(config, space, frame, meta)
    meta["complete"] = True
    save()
    return LatencyTable.load(csv)


def _calibrate(config: BuildConfig, space: SearchSpace, frame: pd.DataFrame, meta: dict) -> None:
    """Fit the calibration (`fit_calibration`) on whole subnets timed end to end in groups
    of up to 20, each group beside the reference subnets and scaled to their median
    over the groups, as validation times them; validation uses other subnets."""
    archs = calibration_archs(space, config.calibration_archs, config.calibration_seed)
    group = min(_GROUP, len(archs))
    log.info("calibrating on %d whole subnets", len(archs))
    runs, refs = measure_subnets(space, archs, runtime=config.runtime, threads=config.threads,
                                 batch_size=config.batch_size, protocol=config.protocol, seed=config.seed,
                                 group_size=group, pin_core=config.pin_core, provider=config.provider,
                                 reference_precisions=space.precisions)
    meta["calibration"] = calibration_meta(frame, meta, archs, runs[0], refs[0], group,
                                           config.calibration_seed, list(space.precisions))


def calibration_meta(frame: pd.DataFrame, meta: dict, archs: list, runs: np.ndarray, refs: np.ndarray,
                     group: int, seed: int, references: list[str], groups: str = "random") -> dict:
    """The calibration fitted on whole subnets ``archs`` timed end to end (``runs``, ms),
    in groups of ``group`` (``groups``: "random", or "by size" for old probe bundles),
    each beside the reference subnets in ``references`` precisions (``refs``: their
    reference time), on the scale of the median reference time: a local build and an
    imported probe share it."""
    level = float(np.median(refs))
    measured = Measured(runs[None], refs[None], level).ms[0]
    predicted = LatencyTable(frame, meta).predict(archs, calibrated=False)
    return {**fit_calibration(predicted, measured, [a.resolution for a in archs]),
            "num_archs": len(archs), "group_size": group, "groups": groups, "seed": seed,
            "reference_ms": level, "reference_precisions": list(references),
            "uncalibrated_mape": float(np.mean(np.abs(predicted / measured - 1)) * 100),
            "archs": [a.to_json() for a in archs], "measured_ms": [round(float(m), 6) for m in measured]}
