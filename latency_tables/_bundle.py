"""Latency tables for devices that have only onnxruntime and numpy: a probe bundle (every
model a build times, exported to ONNX, and the plan of what is timed with what) for
``probe_runner.py`` to time on the device, and the import of its results into a table
made exactly as a local build makes one (same chunks, reference scaling, calibration)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from latency_tables._build import (
    _GROUP,
    BuildConfig,
    _rescale,
    block_rows,
    calibration_meta,
    plan_chunks,
    table_blocks,
)
from latency_tables._calibration import calibration_archs, reference_archs, reference_time
from latency_tables._io import atomic_write_csv, atomic_write_json
from latency_tables._shipped import default_table_name
from latency_tables._table import FORMAT as TABLE_FORMAT
from latency_tables._table import LatencyTable, block_key, table_paths
from latency_tables._timing import device_name
from latency_tables.backends import DEPLOY_RUNTIMES, export_model, export_tflite_many
from supernet import (
    ArchConfig,
    ArtifactMismatchError,
    NASError,
    Subnet,
    build_block,
    get_space,
)
from supernet.core import atomic_path, check_outputs, json_text, short

__all__ = ["write_bundle", "import_results", "RUNNER"]

log = logging.getLogger(__name__)
RUNNER = Path(__file__).with_name("probe_runner.py")
FORMAT = "ofa-nas-probe/2"  # probe_runner.FORMAT


def write_bundle(config: BuildConfig, out: str | Path, *, force: bool = False) -> Path:
    """``out`` (a .zip): ``manifest.json``, ``models/*.onnx`` (``*.tflite`` for LiteRT) and
    ``probe_runner.py``; the runner is also written beside it. It times the bundle with the
    config's runtime (ONNX Runtime, OpenVINO or LiteRT), which is all it needs besides numpy."""
    from supernet.core import progress

    if config.runtime not in DEPLOY_RUNTIMES:  # what probe_runner.Runtime runs
        raise NASError(f"a probe bundle is timed with one of {list(DEPLOY_RUNTIMES)}: runtime "
                       f"{config.runtime!r} has no standalone runner")
    out = Path(out)
    if out.suffix != ".zip":
        raise NASError(f"bundle path {str(out)!r}: expected a .zip file name")
    runner = out.with_name(RUNNER.name)
    check_outputs([out], force=force, what="probe bundle")
    whole = get_space(config.space)
    space = config.covered(whole)
    b = config.batch_size
    models: dict[str, nn.Module] = {"overhead": nn.ReLU()}
    shapes = {"overhead": [b, 1, 8, 8]}
    blocks = table_blocks(space)
    names = {key: f"b{i}" for i, key in enumerate(blocks)}
    int8: dict[str, ArchConfig | bool] = {name: True for (_, p), name in names.items() if p == "int8"}
    for (spec, _), name in names.items():
        models[name] = build_block(spec)
        shapes[name] = [b, spec.in_channels, spec.resolution, spec.resolution]
    refs = reference_archs(space)
    cal = calibration_archs(space, config.calibration_archs, config.calibration_seed) \
        if config.calibration_archs else []
    order = np.random.default_rng(config.calibration_seed).permutation(len(cal))
    cal = [cal[i] for i in order]  # timed in groups of random company, as a local build does
    for prefix, archs in (("ref", refs), ("cal", cal)):
        for i, arch in enumerate(archs):
            models[f"{prefix}{i}"] = Subnet.build(space.layout(arch))
            if arch.quantized:
                int8[f"{prefix}{i}"] = arch
            shapes[f"{prefix}{i}"] = [b, space.in_channels, arch.resolution, arch.resolution]

    ref_names, cal_names = [f"ref{i}" for i in range(len(refs))], [f"cal{i}" for i in range(len(cal))]
    jobs = [{"id": f"p{chunk[0][0]}c{j}", "kind": "blocks", "pass": chunk[0][0], "seed": config.seed + j,
             "models": ["overhead", *ref_names, *(names[s] for _, s in chunk)]}
            for j, chunk in enumerate(plan_chunks(config, blocks))]
    group = min(_GROUP, len(cal)) or 1
    jobs += [{"id": f"cal{g}", "kind": "calibration", "seed": config.seed + 100_003 + g,
              "models": [*cal_names[start:start + group], *ref_names]}
             for g, start in enumerate(range(0, len(cal), group))]
    manifest = {
        "format": FORMAT, "meta": config.metadata(whole), "protocol": asdict(config.protocol),
        "threads": config.threads, "provider": config.provider, "runtime": config.runtime, "models": shapes,
        "blocks": {name: {**spec.to_dict(), "precision": p} for (spec, p), name in names.items()},
        "references": ref_names, "calibration": {"archs": [a.to_json() for a in cal], "group_size": group,
                                                 "groups": "random", "seed": config.calibration_seed},
        "jobs": jobs,
    }
    manifest["bundle_id"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="nas-bundle-") as tmp, atomic_path(out) as part, \
            zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf, progress(len(models), "export",
                                                                              unit="model") as bar:
        if config.runtime == "litert":  # converted in parallel first
            export_tflite_many([(m, Path(tmp) / f"{n}.tflite", tuple(shapes[n]), bool(int8.get(n)))
                                for n, m in models.items()])
        for name, module in models.items():
            if config.runtime == "litert":
                path = Path(tmp) / f"{name}.tflite"
            else:  # OpenVINO reads the ONNX models ONNX Runtime runs
                path = export_model(module, Path(tmp) / f"{name}.onnx", tuple(shapes[name]), int8.get(name))
            zf.write(path, f"models/{path.name}")
            bar.update(1)
        zf.writestr("manifest.json", json_text(manifest, indent=1))
        zf.write(RUNNER, RUNNER.name)
    shutil.copyfile(RUNNER, runner)
    log.info("bundle %s: %d models, %d jobs (id %s); runner %s", out, len(models), len(jobs),
             manifest["bundle_id"], runner)
    return out


def _read_bundle(path: str | Path) -> dict:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ArtifactMismatchError(f"{path}: not a probe bundle ({short(str(err))}); make one with "
                                    "`nas latency bundle`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactMismatchError(f"{path}: not a probe bundle of format {FORMAT!r}")
    return manifest


def _read_results(path: str | Path, manifest: dict) -> tuple[dict[tuple[str, str], float], dict]:
    try:
        data = Path(path).read_bytes()
        rows = pd.read_csv(io.BytesIO(data), dtype={"bundle_id": str, "job": str, "model": str})
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ArtifactMismatchError(f"{path}: not readable probe results ({short(str(err))})") from None
    missing = {"bundle_id", "job", "model", "ms"} - set(rows.columns)
    if missing:
        raise ArtifactMismatchError(f"{path}: not probe_runner results (lacks columns {sorted(missing)})")
    cut = not data.endswith(b"\n")  # probe_runner writes whole lines: this one was cut
    # ... and whole jobs: a job with some of its models is a file cut at a line's end
    mine = rows[rows["bundle_id"] == manifest["bundle_id"]]  # another bundle's are refused below
    have, jobs = set(zip(mine["job"], mine["model"])), set(mine["job"])
    lost = any((j["id"], m) not in have for j in manifest["jobs"] if j["id"] in jobs for m in j["models"])
    incomplete = rows[["bundle_id", "job", "model"]].isna().any(axis=1).to_numpy()
    if cut or lost or incomplete.any():
        row = len(rows) if cut else len(rows) + 1 if lost else int(np.flatnonzero(incomplete)[0]) + 1
        raise ArtifactMismatchError(f"{path}: row {row} is incomplete; the file was cut off (a copy or a run "
                                    "that stopped): copy it again, or run probe_runner.py again with the "
                                    "same --out to finish")
    others = sorted(set(rows["bundle_id"]) - {manifest["bundle_id"]})
    if others:
        raise ArtifactMismatchError(f"{path} holds results of bundle {others[0]}, not of this bundle "
                                    f"({manifest['bundle_id']}, space {manifest['meta']['space_name']!r}); "
                                    "import them with the bundle they were timed from")
    device = rows[rows["job"] == "device"]
    timed = rows[rows["job"] != "device"]
    ms = pd.to_numeric(timed["ms"], errors="coerce")
    if ms.isna().any() or not np.isfinite(ms).all() or (ms <= 0).any():
        raise ArtifactMismatchError(f"{path}: ms holds values that are not positive numbers")
    done = set(timed["job"])
    todo = [j["id"] for j in manifest["jobs"] if j["id"] not in done]
    if todo:
        raise ArtifactMismatchError(f"{path} holds {len(done)} of {len(manifest['jobs'])} jobs (missing e.g. "
                                    f"{todo[0]}); run probe_runner.py again with the same --out to finish")
    record = json.loads(device["model"].iloc[0]) if len(device) else {}
    return dict(zip(zip(timed["job"], timed["model"]), ms.astype(float))), record


def import_results(results: str | Path, bundle: str | Path, out: str | Path | None = None, *,
                   device: str | None = None, force: bool = False) -> LatencyTable:
    """The latency table of ``results`` (probe_runner.py's CSV of ``bundle``), written to ``out``
    (default: `default_table_name` of the device, in the current folder)."""
    manifest = _read_bundle(bundle)
    times_of, record = _read_results(results, manifest)
    meta = dict(manifest["meta"])
    if meta.get("format") != TABLE_FORMAT:
        raise ArtifactMismatchError(f"{bundle}: made for table format {meta.get('format')!r}, this version "
                                    f"writes {TABLE_FORMAT!r}; make the bundle again")
    cpu = record.get("cpu_model", "unknown")
    device = device or device_name(cpu, record.get("cores") or 1)
    out = out or default_table_name(device, meta["threads"], meta.get("batch_size", 1),
                                    meta.get("precision", "fp32"))
    csv, meta_path = table_paths(out)
    check_outputs([csv, meta_path], force=force, what="latency table")
    refs = manifest["references"]

    def timed(job: dict) -> tuple[dict[str, float], float]:
        """A job's own models (not the overhead probe nor the reference subnets) with their
        times, in order, and the job's reference time."""
        own = {m: times_of[(job["id"], m)] for m in job["models"] if m not in refs and m != "overhead"}
        return own, reference_time([times_of[(job["id"], r)] for r in refs])

    rows = []
    for job in (j for j in manifest["jobs"] if j["kind"] == "blocks"):
        times, reference = timed(job)
        specs = {block_key(manifest["blocks"][m]): t for m, t in times.items()}
        rows += block_rows([(job["pass"], spec) for spec in specs], specs, times_of[(job["id"], "overhead")],
                           reference)
    frame = _rescale(pd.DataFrame(rows), meta)
    meta.update(device=device, cpu_model=cpu,
                runtime_version=(record.get("runtime_version")
                                 or f"onnxruntime {record.get('onnxruntime', '?')}"),  # older runners
                provider=record.get("provider", meta["provider"]), rows_done=len(frame), complete=True,
                build_seconds=None, probe={"bundle_id": manifest["bundle_id"], "device": record})
    cal = manifest["calibration"]
    if cal["archs"]:
        runs, levels = [], []
        for job in (j for j in manifest["jobs"] if j["kind"] == "calibration"):
            times, reference = timed(job)
            runs += list(times.values())
            levels += [reference] * len(times)
        archs = [ArchConfig.from_json(a) for a in cal["archs"]]
        meta["calibration"] = calibration_meta(frame, meta, archs, np.array(runs), np.array(levels),
                                               cal["group_size"], cal["seed"],
                                               meta.get("reference_precisions", ["fp32"]),
                                               cal.get("groups", "by size"))  # older bundles: by size
    atomic_write_json(meta_path, meta)
    atomic_write_csv(csv, frame)
    table = LatencyTable.load(csv)
    log.info("imported %d block timings of %s into %s", len(frame), cpu, csv)
    return table

