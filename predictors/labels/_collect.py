"""`nas collect`: measure (arch, accuracy) pairs on a trained supernet into a table.

The table is a CSV (pandas) with a JSON sidecar ``<table>.meta.json`` naming the supernet
checkpoint (and its hash), the search space and how accuracies were measured. Rows are
written in chunks by replacing the whole file atomically, so a crash loses at most the
chunks in flight; running again with the same arguments measures only the missing archs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from predictors.labels._sampling import plan_archs
from supernet import ArchConfig, ArtifactMismatchError, NASError, SearchSpace, arch_cost, file_hash
from supernet.core import (
    atomic_write_bytes,
    check_columns,
    check_writable,
    die_with_parent,
    holds_output,
    json_text,
    short,
)

__all__ = ["CollectConfig", "collect", "read_table", "COLUMNS"]

log = logging.getLogger(__name__)

COLUMNS = ["plan_index", "source", "arch", "encoding", "resolution", "macs", "params",
           "peak_memory_bytes", "accuracy", "accuracy_a", "accuracy_b", "accuracy_fp32", "seconds"]


@dataclass(frozen=True)
class CollectConfig:
    """``accuracy`` is top-1 (%) on the whole validation split; ``accuracy_a``/``_b`` on its
    two halves (even and odd positions), two independent measurements of the same arch.
    ``precision`` (fp32, int8, mixed) draws a precision policy with every arch: an arch
    with int8 parts is measured as deployed (quantised, in ONNX Runtime: `evaluate_deployed`)
    and ``accuracy_fp32`` holds its float twin's accuracy (equal to ``accuracy`` in fp32)."""

    supernet: str
    out: str
    num_archs: int = 2000
    seed: int = 0
    stratified_fraction: float = 0.25
    calib_images: int = 2000
    data_dir: str | None = None
    workers: int = 1
    chunk_size: int = 8
    calib_batch: int = 250
    eval_batch: int = 250
    device: str = "cpu"   # "cuda" measures on the GPU (each worker a process on it)
    force: bool = False   # start over: an existing table at ``out`` is deleted first
    backend: str = "local"  # "ray": chunks run as Ray tasks (a local Ray, or ray_address's cluster)
    ray_address: str | None = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in SearchSpace.PRECISION_MODES:
            raise NASError(f"CollectConfig.precision: expected one of {list(SearchSpace.PRECISION_MODES)}, "
                           f"got {self.precision!r}")
        if self.backend not in ("local", "ray"):
            raise NASError(f"CollectConfig.backend: expected 'local' or 'ray', got {self.backend!r}")
        if self.ray_address is not None and self.backend != "ray":
            raise NASError("CollectConfig.ray_address (--ray-address) needs backend 'ray' (--backend ray)")
        if not isinstance(self.device, str) or self.device.split(":")[0] not in ("cpu", "cuda"):
            raise NASError(f"CollectConfig.device: expected 'cpu' or 'cuda[:N]', got {self.device!r}")
        for name in ("num_archs", "calib_images", "workers", "chunk_size", "calib_batch", "eval_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NASError(f"CollectConfig.{name}: expected a positive integer, got {value!r}")


def _meta(cfg: CollectConfig, payload: dict[str, Any], space) -> dict[str, Any]:
    from supernet import checkpoint_data_config

    data_cfg, seed = checkpoint_data_config(payload, cfg.calib_images, cfg.data_dir)
    return {"supernet": str(cfg.supernet), "supernet_hash": file_hash(cfg.supernet),
            "space": space.to_dict(), "space_hash": space.hash, "calib_images": cfg.calib_images,
            "dataset": data_cfg.dataset, "val_size": data_cfg.val_size, "train_seed": seed,
            "split": "validation", "seed": cfg.seed, "stratified_fraction": cfg.stratified_fraction,
            "num_archs": cfg.num_archs, "device": cfg.device, "precision": cfg.precision}


#: what defines a table's rows: a resume with any of these changed would mix two plans
#: (``num_archs`` may change when every measured arch is in the new plan too)
FINGERPRINT = ("supernet_hash", "space_hash", "calib_images", "val_size", "dataset", "seed",
               "stratified_fraction", "precision")


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A collected table and its metadata sidecar."""
    path = Path(path)
    meta_path = Path(f"{path}.meta.json")
    if not path.is_file() or not meta_path.is_file():
        raise ArtifactMismatchError(f"no collected table at {path} (with {meta_path.name} beside it); "
                                    "make one with `nas collect --supernet CKPT --out TABLE.csv`")
    try:
        table = pd.read_csv(path, dtype={"arch": str, "encoding": str, "source": str})
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise ArtifactMismatchError(f"{path}: not a readable accuracy table ({short(str(err))})") from None
    if "accuracy_fp32" not in table.columns and "accuracy" in table.columns:  # collected before int8
        table["accuracy_fp32"] = table["accuracy"]
    missing = sorted(set(COLUMNS) - set(table.columns))
    if missing:
        raise ArtifactMismatchError(f"{path}: not a collected accuracy table (lacks columns {missing})")
    if not isinstance(meta, dict) or not {"space", "space_hash", "supernet_hash"} <= set(meta):
        raise ArtifactMismatchError(f"{meta_path}: not the metadata of a collected table (needs space, "
                                    "space_hash, supernet_hash)")
    check_columns(table, path, {"accuracy": (0.0, 100.0), "accuracy_a": (0.0, 100.0),
                                "accuracy_b": (0.0, 100.0), "resolution": (1, None), "macs": (0, None),
                                "params": (0, None), "plan_index": (0, None)},
                  what="accuracy table", unique=("arch",))
    return table, meta


# ------------------------------------------------------------------- worker side
_WORKER: dict[str, Any] = {}


def _init_worker(cfg: CollectConfig, threads: int = 1, parent: int | None = None) -> None:
    import torch

    if parent is not None:  # a worker process: it must not outlive the collection
        die_with_parent(parent)
    from supernet import load_eval_data, load_supernet

    torch.set_num_threads(threads)
    net, payload = load_supernet(cfg.supernet)
    data = load_eval_data(payload, calib_images=cfg.calib_images, data_dir=cfg.data_dir,
                          calib_batch=cfg.calib_batch, eval_batch=cfg.eval_batch)
    _WORKER.update(net=net.to(cfg.device), data=data.to(cfg.device), precision=cfg.precision)


def _ray_measure(shared: list, device: str, jobs: list[tuple[int, str, str]],
                 precision: str = "fp32") -> list[dict[str, Any]]:
    """A Ray task: ``shared`` holds the object-store refs of the checkpoint and the
    evaluation data (in a list, so Ray hands over the refs, not copies); each worker process
    fetches them once and keeps the supernet for the next tasks."""
    import ray
    import torch

    from supernet import supernet_from_payload

    key = shared[0].hex()
    if _WORKER.get("key") != key:
        torch.set_num_threads(1)
        payload, data = ray.get(shared)
        _WORKER.update(key=key, net=supernet_from_payload(payload).to(device), data=data.to(device))
    _WORKER["precision"] = precision
    return _measure(jobs)


def _measure(jobs: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    from supernet import evaluate_deployed

    net, data = _WORKER["net"], _WORKER["data"]
    space = net.space.with_precision(_WORKER.get("precision", "fp32"))
    rows = []
    for index, source, arch_json in jobs:
        arch = ArchConfig.from_json(arch_json)
        start = time.perf_counter()
        correct, correct_fp32 = (c.double() for c in evaluate_deployed(net, arch, data))
        cost = arch_cost(net.space, arch)
        rows.append({
            "plan_index": index, "source": source, "arch": arch_json,
            "encoding": "".join(str(int(v)) for v in space.encode(arch)),
            "resolution": arch.resolution, "macs": cost.macs, "params": cost.params,
            "peak_memory_bytes": cost.peak_memory_bytes,
            "accuracy": 100.0 * float(correct.mean()), "accuracy_a": 100.0 * float(correct[0::2].mean()),
            "accuracy_b": 100.0 * float(correct[1::2].mean()),
            "accuracy_fp32": 100.0 * float(correct_fp32.mean()),
            "seconds": round(time.perf_counter() - start, 3)})
    return rows


# ------------------------------------------------------------------- driver side
@holds_output(lambda cfg, **_: cfg.out)
def collect(cfg: CollectConfig, *, progress: bool = False) -> pd.DataFrame:
    """Measure the planned archs not yet in ``cfg.out``; returns the whole table."""
    from supernet import load_checkpoint
    from supernet.core import progress as show_progress

    if Path(cfg.out).is_dir():
        raise NASError(f"--out {cfg.out}: a folder; expected the path of the table to write (.csv)")
    payload = load_checkpoint(cfg.supernet)
    if payload.get("kind") == "finetuned-subnet":
        raise NASError(f"{cfg.supernet}: a fine-tuned subnet (nas finetune), not a supernet; collect "
                       "measures the subnets of a supernet: give the supernet it came from")
    space = SearchSpace.from_dict(payload["space"]).with_precision(cfg.precision)
    meta = _meta(cfg, payload, space)
    if cfg.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise NASError(f"CollectConfig.device {cfg.device!r}: torch sees no CUDA GPU here; use 'cpu'")
    out = Path(cfg.out)
    check_writable(out)  # before any measurement, not after the first chunk
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if cfg.force:
        for stale in (out, Path(f"{out}.meta.json")):
            stale.unlink(missing_ok=True)
    if out.exists():
        table, old = read_table(out)
        old.setdefault("precision", "fp32")  # tables collected before int8
        diff = [k for k in FINGERPRINT if old.get(k) != meta[k]]
        if diff:
            raise ArtifactMismatchError(
                f"{out} was collected with other settings ({', '.join(f'{k}={old.get(k)!r}' for k in diff)}; "
                f"this run has {', '.join(f'{k}={meta[k]!r}' for k in diff)}): its rows would be mixed "
                "with another plan's. Write to another --out, or pass --force to start it over")
        rows = table[COLUMNS].to_dict("records")
    plan = plan_archs(space, cfg.num_archs, seed=cfg.seed, stratified_fraction=cfg.stratified_fraction)
    position = {a.to_json(): i for i, (a, _) in enumerate(plan)}
    foreign = [r["arch"] for r in rows if r["arch"] not in position]
    if foreign:
        raise ArtifactMismatchError(
            f"{out}: {len(foreign)} of its {len(rows)} archs are not in the plan of {cfg.num_archs} archs "
            f"(seed {cfg.seed}); collect {len(rows)} or more archs with the settings it was made with, "
            "write to another --out, or pass --force to start it over")
    for r in rows:  # the same archs, at their places in this plan
        r["plan_index"] = position[r["arch"]]
    done = {r["arch"] for r in rows}
    todo = [(i, src, a.to_json()) for i, (a, src) in enumerate(plan) if a.to_json() not in done]
    atomic_write_bytes(Path(f"{out}.meta.json"), json_text(meta, indent=1).encode())
    log.info("collect: %d of %d planned archs already in %s, %d to measure with %d worker(s)",
             cfg.num_archs - len(todo), cfg.num_archs, out, len(todo), cfg.workers)
    chunks = [todo[i:i + cfg.chunk_size] for i in range(0, len(todo), cfg.chunk_size)]
    bar = show_progress(len(todo), "collect", unit="arch", disable=not progress)

    def save(new_rows: list[dict[str, Any]]) -> None:
        rows.extend(new_rows)
        frame = pd.DataFrame(rows, columns=COLUMNS).sort_values("plan_index", kind="stable")
        atomic_write_bytes(out, frame.to_csv(index=False).encode())
        bar.update(len(new_rows))

    if cfg.backend == "ray" and chunks:
        _collect_on_ray(cfg, payload, chunks, save)
    elif cfg.workers == 1:
        _init_worker(cfg)
        try:
            for chunk in chunks:
                save(_measure(chunk))
        finally:
            _WORKER.clear()
    else:
        with ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(cfg, 1, os.getpid())) as pool:
            for future in as_completed([pool.submit(_measure, c) for c in chunks]):
                save(future.result())
    bar.close()
    if not chunks:
        save([])
    table, _ = read_table(out)
    return table


def _collect_on_ray(cfg: CollectConfig, payload: dict[str, Any], chunks: list, save) -> None:
    """Every chunk a Ray task (one CPU, or one GPU with ``device`` cuda): the checkpoint and
    the evaluation data go to the object store once; rows are saved as tasks finish; a task
    lost with its node is run again elsewhere (Ray's retries)."""
    import ray

    from supernet import load_eval_data
    from supernet.core import Reaper, start_ray

    reaper = Reaper()
    started = start_ray(cfg.ray_address, cfg.workers, reaper)
    try:
        data = load_eval_data(payload, calib_images=cfg.calib_images, data_dir=cfg.data_dir,
                              calib_batch=cfg.calib_batch, eval_batch=cfg.eval_batch)
        shared = [ray.put(payload), ray.put(data)]
        gpu = cfg.device.startswith("cuda")
        task = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=5)(_ray_measure)
        device = "cuda" if gpu else "cpu"
        pending = [task.remote(shared, device, chunk, cfg.precision) for chunk in chunks]
        log.info("collect: %d tasks on Ray (%s)", len(pending), cfg.ray_address or "local")
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                save(ray.get(done[0]))
            except ray.exceptions.RayError as err:
                raise NASError(f"collect on Ray: a task failed for good ({short(str(err), 300)}); "
                               "the rows measured so far are saved: run again to finish") from None
    finally:
        if started:
            ray.shutdown()
        reaper.stop()
