"""Time a probe bundle (`nas latency bundle`) on the device at hand.

    python probe_runner.py probe.zip --out results.csv

Needs only Python >= 3.8, numpy and the bundle's runtime: onnxruntime, openvino or
ai-edge-litert (this file imports nothing else that is not in the standard library), on
Linux, macOS, Windows or ARM boards. The bundle holds the models (ONNX; LiteRT's .tflite)
and the plan: a list of jobs, each a group of models timed interleaved (every
model ``warmup`` untimed calls, then ``rounds`` rounds in which every model runs ``calls``
timed calls in a fresh random order); a model's result is a quantile of its calls
(the protocol's, e.g. the 5th percentile).
After each job its rows are added to ``--out`` (rewritten atomically), so a killed run
started again with the same command goes on with the next job. Bring the CSV back and run
``nas latency import results.csv --bundle probe.zip --device-name my_device``.
"""

import argparse
import csv
import gc
import json
import os
import platform
import sys
import tempfile
import time
import zipfile

FORMAT = "ofa-nas-probe/2"
COLUMNS = ["bundle_id", "job", "model", "ms", "calls"]
DEVICE = "device"  # the job name of the row that records the device (its model: JSON)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_record(runtime, provider, threads):
    record = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(),
              "machine": platform.machine(), "python": platform.python_version(),
              "runtime": runtime.name, "runtime_version": runtime.version, "provider": provider,
              "threads": threads}
    if runtime.name == "ort":
        record["onnxruntime"] = runtime.version.split()[-1]
    return record


def read_done(path, bundle_id):
    """Rows already in ``path`` (a resumed run), refusing another bundle's results."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    other = {r["bundle_id"] for r in rows} - {bundle_id}
    if other:
        sys.exit(f"{path} holds results of another bundle ({sorted(other)[0]}), not {bundle_id}; "
                 "give another --out")
    return rows


def write_rows(path, rows):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=folder)
    with os.fdopen(fd, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Runtime:
    """The bundle's runtime: ``load(model bytes, threads, provider, shape)`` gives a
    zero-argument callable running the model once on a fixed random input, set up as a
    local build sets it up (this file must not import the project)."""

    PACKAGES = {"ort": "onnxruntime", "openvino": "openvino", "litert": "ai-edge-litert"}

    def __init__(self, name, np):
        self.name, self.np = name, np
        try:
            if name == "ort":
                import onnxruntime as module
                self.version = "onnxruntime " + module.__version__
            elif name == "openvino":
                import openvino as module
                self.version = "openvino " + module.__version__
            elif name == "litert":
                from importlib.metadata import version

                from ai_edge_litert import interpreter as module
                self.version = "ai-edge-litert " + version("ai-edge-litert")
            else:
                sys.exit(f"this bundle is for runtime {name!r}, which this runner does not know; update it")
        except ImportError as err:
            sys.exit(f"this bundle is timed with {name}: {err}; `pip install {self.PACKAGES[name]} numpy`")
        self.module = module

    def providers(self):
        if self.name == "ort":
            return self.module.get_available_providers()
        if self.name == "openvino":
            return ["CPUExecutionProvider"] + self.module.Core().available_devices
        return ["CPUExecutionProvider"]

    def load(self, data, threads, provider, shape):
        x = self.np.random.default_rng(0).standard_normal(shape).astype(self.np.float32)
        if self.name == "ort":
            sess = session(self.module, data, threads, provider)
            feed = {sess.get_inputs()[0].name: x}
            return lambda: sess.run(None, feed)
        if self.name == "openvino":
            ov = self.module
            model = ov.Core().read_model(data, ov.Tensor(self.np.empty(0, dtype=self.np.uint8)))
            device = "CPU" if provider == "CPUExecutionProvider" else provider
            config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"}
            if device == "CPU":
                config["INFERENCE_PRECISION_HINT"] = "f32"
            request = ov.Core().compile_model(model, device, config).create_infer_request()
            request.set_input_tensor(ov.Tensor(x))
            return request.infer
        interpreter = self.module.Interpreter(model_content=data, num_threads=threads)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        return interpreter.invoke


def session(ort, data, threads, provider):
    """The session options of a local build (supernet.deploy.ort_session: this file must not
    import the project)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads > 1:  # idle sessions must not spin-wait: timing interleaves many of them
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    fallback = ["CPUExecutionProvider"] if provider != "CPUExecutionProvider" else []
    return ort.InferenceSession(data, sess_options=options, providers=[provider] + fallback)


def time_job(runtime, np, bundle, job, manifest, provider):
    """Milliseconds of every model of ``job`` (the protocol's quantile of its calls), timed
    interleaved."""
    protocol, threads = manifest["protocol"], manifest["threads"]
    ext = ".tflite" if runtime.name == "litert" else ".onnx"
    runners = [(name, runtime.load(bundle.read("models/" + name + ext), threads, provider,
                                   manifest["models"][name])) for name in job["models"]]
    samples = {name: [] for name, _ in runners}
    rng = np.random.default_rng(job["seed"])
    clock = time.perf_counter_ns
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _, run in runners:
            for _ in range(protocol["warmup"]):
                run()
        for _ in range(protocol["rounds"]):
            for i in rng.permutation(len(runners)):
                name, run = runners[i]
                out = samples[name]
                for _ in range(protocol["calls"]):
                    t0 = clock()
                    run()
                    out.append(clock() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    q = protocol["quantile"]  # every bundle of this format records it
    return {name: (float(np.quantile(np.asarray(v, dtype=np.float64), q)) / 1e6, len(v))
            for name, v in samples.items()}


def pin(threads, core):
    """One thread: pin this process to one core (Linux), as a local build does."""
    if threads != 1 or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    core = max(allowed) if core is None else core
    os.sched_setaffinity(0, {core})
    return core


def main(argv=None):
    p = argparse.ArgumentParser(description="Time a probe bundle on this device (needs numpy and the "
                                "bundle's runtime: onnxruntime, openvino or ai-edge-litert).")
    p.add_argument("bundle", help="probe.zip written by `nas latency bundle`")
    p.add_argument("--out", default="results.csv", help="results CSV (resumed when it exists)")
    p.add_argument("--provider", help="onnxruntime execution provider, or OpenVINO device (default: the "
                   "bundle's)")
    p.add_argument("--pin-core", type=int, help="core to pin to with 1 thread (default: the last)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    try:
        import numpy as np
    except ImportError as err:
        sys.exit(f"probe_runner needs numpy: {err}; `pip install numpy`")
    with zipfile.ZipFile(args.bundle) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        if manifest.get("format") != FORMAT:
            sys.exit(f"{args.bundle}: not a probe bundle of format {FORMAT}")
        runtime = Runtime(manifest.get("runtime", "ort"), np)  # bundles before runtimes: ONNX Runtime
        provider = args.provider or manifest["provider"]
        if provider not in runtime.providers():
            sys.exit(f"{provider} is not one this {runtime.version} offers ({runtime.providers()}); pass "
                     "--provider")
        rows = read_done(args.out, manifest["bundle_id"])
        device = device_record(runtime, provider, manifest["threads"])
        device["pinned_core"] = pin(manifest["threads"], args.pin_core)
        before = [json.loads(r["model"]) for r in rows if r["job"] == DEVICE]
        same = ("cpu_model", "provider")
        if before and {k: before[0].get(k) for k in same} != {k: device[k] for k in same}:
            sys.exit(f"{args.out} was started on {before[0].get('cpu_model')} ({before[0].get('provider')}), "
                     f"this is {device['cpu_model']} ({provider}): give another --out")
        if not before:
            rows.insert(0, {"bundle_id": manifest["bundle_id"], "job": DEVICE, "model": json.dumps(device),
                            "ms": "", "calls": ""})
        done = {r["job"] for r in rows}
        jobs = [j for j in manifest["jobs"] if j["id"] not in done]
        total, start = len(manifest["jobs"]), time.monotonic()
        if not args.quiet:
            print(f"{total - len(jobs)} of {total} jobs already done; {len(jobs)} to time on "
                  f"{device['cpu_model']} ({provider}, {manifest['threads']} thread(s))", flush=True)
        for k, job in enumerate(jobs, 1):
            for name, (ms, calls) in time_job(runtime, np, bundle, job, manifest, provider).items():
                rows.append({"bundle_id": manifest["bundle_id"], "job": job["id"], "model": name,
                             "ms": repr(ms), "calls": calls})
            write_rows(args.out, rows)
            if not args.quiet:
                rate = k / max(time.monotonic() - start, 1e-9)
                left = (len(jobs) - k) / rate
                print(f"job {total - len(jobs) + k}/{total} done ({job['id']}); about {left:.0f} s left",
                      flush=True)
    if not args.quiet:
        print(f"results in {args.out}; bring it back and run `nas latency import {args.out} "
              f"--bundle {args.bundle} --device-name DEVICE`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
