"""MIT's published per-operator latency tables (once-for-all's Samsung Note10 tables, one
YAML file per input resolution; ProxylessNAS's mobile table has the same format) read into
a table of ours, so that a search can target those phones like any measured device.

Each YAML key names one operator of MIT's network by its shapes, e.g.
``expanded_conv-input:80x80x24-output:40x40x32-expand:72-kernel:5-stride:2-idskip:0-se:1-hs:0``
with the mean latency in ms over ``count`` runs. A block of ours is the sum of the operators
MIT's code adds up for it: the stem is ``Conv``; an inverted bottleneck ``expanded_conv``
(``expand``: the depthwise width in MobileNetV3's tables, which carry ``se``/``hs``; the
expansion ratio in ProxylessNAS's); MobileNetV3's head ``Conv_1`` + ``AvgPool2D`` +
``Conv_2`` + ``Logits``; ProxylessNAS's ``Conv_1`` + ``Logits`` (its pooling inside). The
tables were timed by MIT on the phone with TensorFlow Lite; nothing here re-times them, so
the table has no calibration and no reference subnets: its prediction is MIT's sum.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
from pathlib import Path

import pandas as pd

from latency_tables._table import (
    FORMAT,
    KEY_COLUMNS,
    VALUE_COLUMNS,
    LatencyTable,
    distinct_blocks,
    table_paths,
)
from supernet import ArtifactMismatchError, BlockSpec, NASError, SearchSpace, get_space
from supernet.core import check_outputs, short

__all__ = ["import_ofa_lut"]

_FILE = re.compile(r"^(\d+)_lookup_table\.ya?ml$")
_MAX_BYTES = 64 << 20


def _read(path: Path) -> dict[str, float]:
    """``{operator key: mean ms}`` of one of MIT's YAML files, every entry checked."""
    import yaml

    if path.stat().st_size > _MAX_BYTES:
        raise NASError(f"{path}: {path.stat().st_size:,} bytes; a lookup table is at most {_MAX_BYTES:,}")
    try:
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise NASError(f"{path}: not valid YAML ({short(str(err), 200)})") from None
    if not isinstance(data, dict) or not data:
        raise NASError(f"{path}: expected a mapping of operator keys to {{mean, std, count}}, got "
                       f"{short(data)}")
    out = {}
    for key, entry in data.items():
        mean = entry.get("mean") if isinstance(entry, dict) else None
        if not isinstance(key, str) or isinstance(mean, bool) or not isinstance(mean, (int, float)) \
                or not math.isfinite(mean) or mean < 0:
            raise NASError(f"{path}: entry {short(key)} holds {short(entry)}; expected a key "
                           "'OP-input:HxWxC-output:...' with a finite mean >= 0 (ms)")
        out[key] = float(mean)
    return out


def _shape(*dims: int) -> str:
    return "x".join(map(str, dims))


def _keys(spec: BlockSpec, mbv3: bool) -> list[str] | None:
    """MIT's operator keys whose latencies sum to ``spec``'s (None: a block their format
    has no operator for)."""
    r, o = spec.resolution, spec.out_resolution
    io = f"input:{_shape(r, r, spec.in_channels)}-output:"
    if spec.kind == "stem":
        return [f"Conv-{io}{_shape(o, o, spec.out_channels)}"]
    if spec.kind == "mbconv":
        if mbv3:
            expand = spec.mid_channels
            tail = f"-se:{int(spec.se_channels > 0)}-hs:{int(spec.act == 'hswish')}"
        elif spec.mid_channels % spec.in_channels == 0:
            expand, tail = spec.mid_channels // spec.in_channels, ""
        else:
            return None
        return [f"expanded_conv-{io}{_shape(o, o, spec.out_channels)}-expand:{expand}-kernel:{spec.kernel}"
                f"-stride:{spec.stride}-idskip:{int(spec.residual)}{tail}"]
    if spec.kind == "head" and mbv3:
        mid, mix = spec.mid_channels, spec.mix_channels
        return [f"Conv_1-{io}{_shape(r, r, mid)}",
                f"AvgPool2D-input:{_shape(r, r, mid)}-output:{_shape(1, 1, mid)}",
                f"Conv_2-input:{_shape(1, 1, mid)}-output:{_shape(1, 1, mix)}",
                f"Logits-input:{_shape(1, 1, mix)}-output:{spec.out_channels}"]
    if spec.kind == "mix_head" and not mbv3:
        mix = spec.mix_channels
        return [f"Conv_1-{io}{_shape(r, r, mix)}",
                f"Logits-input:{_shape(r, r, mix)}-output:{spec.out_channels}"]
    return None


def _tables(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        raise NASError(f"{folder}: not a folder; expected the folder of MIT's RES_lookup_table.yaml files "
                       "(e.g. 160_lookup_table.yaml ... 224_lookup_table.yaml)")
    found = {int(m.group(1)): p for p in sorted(folder.iterdir()) if (m := _FILE.match(p.name))}
    if not found:
        raise NASError(f"{folder}: holds no RES_lookup_table.yaml file (MIT's per-resolution tables, "
                       "e.g. 160_lookup_table.yaml)")
    return found


def import_ofa_lut(folder: str | Path, *, space: SearchSpace | str, out: str | Path, device: str = "note10",
                   force: bool = False) -> LatencyTable:
    """A table at ``out`` (``.csv`` + ``.json``) of every block of ``space`` at the
    resolutions MIT's tables in ``folder`` cover, each block's latency the sum of MIT's
    means for its operators. Refuses a space whose blocks the tables do not all cover (another
    width, another family), naming the first missing operator; archs of other resolutions
    are refused by the table when searched. Metadata marks it imported and uncalibrated."""
    folder, whole = Path(folder), get_space(space)
    csv, meta_path = table_paths(out)
    check_outputs([csv, meta_path], force=force, what="latency table")
    files = _tables(folder)
    outside = sorted(set(files) - set(whole.resolutions))
    if outside:
        raise NASError(f"{folder}: tables for resolution(s) {outside}, which space {whole.name!r} does not "
                       f"have (its resolutions: {list(whole.resolutions)}); another space's tables?")
    covered = whole.with_resolutions(tuple(sorted(files)))
    luts = {r: _read(p) for r, p in files.items()}
    mbv3 = any("-se:" in k for lut in luts.values() for k in lut if k.startswith("expanded_conv"))
    times: dict[BlockSpec, list[float]] = {}
    missing = []
    for res in sorted(files):  # a block deep in the net can follow from two input sizes (176 and
        for spec in distinct_blocks(covered.with_resolutions((res,))):  # 192 px reach 6 px): the mean
            keys = _keys(spec, mbv3)
            lost = [spec.kind] if keys is None else [k for k in keys if k not in luts[res]]
            if lost:
                missing.append((res, spec, lost[0]))
            else:
                times.setdefault(spec, []).append(sum(luts[res][k] for k in keys))
    if missing:
        res, spec, key = missing[0]
        raise ArtifactMismatchError(
            f"{folder}: MIT's tables lack {len(missing)} of the blocks of space {whole.name!r} at "
            f"{sorted(files)} px; e.g. no {key!r} in {files[res].name} (for {spec}); tables of another "
            "width or family? (Note10's are OFA-MobileNetV3 at width 1.2: ofa_mbv3_w12)")
    rows = [{**spec.to_dict(), "precision": "fp32", "pass": 0, "latency_ms": sum(v) / len(v),
             "raw_ms": max(sum(v) / len(v), 1e-9), "overhead_ms": 0.0, "reference_ms": 1.0}
            for spec, v in times.items()]
    shared = [max(v) / min(v) - 1 for v in times.values() if len(v) > 1 and min(v) > 0]
    frame = pd.DataFrame(rows, columns=KEY_COLUMNS + VALUE_COLUMNS)
    meta = {
        "format": FORMAT, "device": device, "cpu_model": f"{device} (imported: MIT's lookup tables)",
        "runtime": "imported",
        "runtime_version": "TensorFlow Lite as timed by MIT (once-for-all lookup tables)",
        "provider": "CPU", "threads": 1, "batch_size": 1, "space_name": whole.name, "space_hash": whole.hash,
        "space": whole.to_dict(), "protocol": {"statistic": "mean over MIT's runs"},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "resolutions": sorted(files), "precision": "fp32", "reference_precisions": ["fp32"],
        "num_blocks": len(rows), "passes": 1, "rows_done": len(rows), "complete": True,
        "overhead_ms": 0.0, "calibration": None, "build_seconds": 0.0, "calibrated": False,
        "imported": {"source": str(folder.resolve()),
                     "format": "ofa-lut/" + ("mbv3" if mbv3 else "proxylessnas"),
                     "files": {str(r): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
                               for r, p in files.items()},
                     "blocks_in_two_tables": len(shared),
                     "their_largest_gap_pct": round(100 * max(shared, default=0.0), 2),
                     "note": "per-operator means measured by MIT; not re-timed, no calibration, no reference "
                             "subnets: `nas latency validate` cannot check it here"},
    }
    table = LatencyTable(frame, meta)
    table.save(csv)
    return LatencyTable.load(csv, space=whole)
