"""The measurement protocol, standalone: imports onnxruntime, numpy and the standard library only.

`profile.py` runs this module in a fresh child process (``python -m edgedistill._measure SPEC OUT``)
so the caller's threads, imports and memory do not disturb the figures. Keeping it free of
edgedistill imports lets the same file run anywhere onnxruntime runs.

Protocol: create the session (timed), one first run (timed), warm-up until both ``warmup_runs`` and
``warmup_seconds`` are reached, then timed runs until both ``runs`` and ``min_seconds`` are reached,
each run timed with ``perf_counter`` around ``session.run``. Evaluation outputs are computed after
the timed runs, so they never inflate them.
"""

from __future__ import annotations

import array
import json
import platform
import sys
import time
from typing import Any

import numpy as np
import onnxruntime as ort

GRAPH_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
EXECUTION_MODES = {"sequential": ort.ExecutionMode.ORT_SEQUENTIAL, "parallel": ort.ExecutionMode.ORT_PARALLEL}
SESSION_KEYS = ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "execution_mode")
MAX_TIMED_RUNS = 1_000_000


def eval_arrays(eval_x) -> dict:
    """The evaluation inputs as npz entries: ``x`` for one input, ``x0``, ``x1``, ... (the model's input
    order) for several."""
    xs = eval_x if isinstance(eval_x, list) else [eval_x]
    return {"x": xs[0]} if len(xs) == 1 else {f"x{i}": a for i, a in enumerate(xs)}


def session_options(cfg: dict[str, Any]) -> ort.SessionOptions:
    """SessionOptions from a device file's ``session:`` mapping; raises ValueError on a bad key or value."""
    unknown = sorted(set(cfg) - set(SESSION_KEYS))
    if unknown:
        raise ValueError(f"unknown session option(s) {', '.join(unknown)}; known: {', '.join(SESSION_KEYS)}")
    opts = ort.SessionOptions()
    for key in ("intra_op_num_threads", "inter_op_num_threads"):
        if cfg.get(key) is not None:
            value = cfg[key]
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"session option {key} must be a whole number ≥ 0 (0 = onnxruntime's default), got {value!r}")
            setattr(opts, key, value)
    if cfg.get("graph_optimization_level") is not None:
        level = cfg["graph_optimization_level"]
        if level not in GRAPH_LEVELS:
            raise ValueError(f"graph_optimization_level {level!r} is not one of {', '.join(GRAPH_LEVELS)}")
        opts.graph_optimization_level = GRAPH_LEVELS[level]
    if cfg.get("execution_mode") is not None:
        mode = cfg["execution_mode"]
        if mode not in EXECUTION_MODES:
            raise ValueError(f"execution_mode {mode!r} is not one of {', '.join(EXECUTION_MODES)}")
        opts.execution_mode = EXECUTION_MODES[mode]
    return opts


def ort_error_message(e: BaseException) -> str:
    """onnxruntime's exception text without its '[ONNXRuntimeError] : 1 : FAIL : Load model from X failed:' preamble."""
    import re

    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    text = re.sub(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*", "", text)
    text = re.sub(r"^Load model from .*? failed:\s*", "", text)
    text = re.sub(r"^(Fatal error|This is an invalid model)[.:]?\s*", "", text)
    return text


def _rss_mb() -> tuple[float, float] | None:
    """(current RSS, peak RSS) of this process in MiB, from /proc; None where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def _percentiles(ms: np.ndarray) -> dict[str, float]:
    return {
        "mean_ms": float(ms.mean()), "std_ms": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
        "min_ms": float(ms.min()), "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
        "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
    }


def _progress(enabled: bool, text: str) -> None:
    if enabled:
        print(f"  {text}", file=sys.stderr, flush=True)


# Execution providers whose inputs and outputs live in device memory: timed through IOBinding.
DEVICE_OF_EP = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda", "DmlExecutionProvider": "dml"}


def _runner(sess: ort.InferenceSession, feed: dict[str, np.ndarray], mode: str, ep: str):
    """A zero-argument callable doing one inference, and whether it uses IOBinding.

    With IOBinding the inputs are copied to the device once, outputs stay on the device, and
    every run ends with a device synchronisation, so the clock stops when the work is done.
    """
    device = DEVICE_OF_EP.get(ep)
    if mode == "off" or (mode == "auto" and device is None):
        return (lambda: sess.run(None, feed)), False
    device = device or "cpu"
    binding = sess.io_binding()
    for name, arr in feed.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr, device, 0))
    for out in sess.get_outputs():
        binding.bind_output(out.name, device)

    def run() -> None:
        sess.run_with_iobinding(binding)
        binding.synchronize_outputs()

    return run, True


def _histogram(ms: np.ndarray, bins: int = 30) -> dict[str, list[float]]:
    """Counts over [min, p99]; the slowest 1 % go into the last bin, so every run is counted."""
    hi = float(np.percentile(ms, 99))
    lo = float(ms.min())
    if hi <= lo:
        hi = lo + 1e-6
    counts, edges = np.histogram(np.clip(ms, lo, hi), bins=bins, range=(lo, hi))
    return {"edges_ms": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the protocol on ``spec`` (see profile.py for its keys) and return the measured figures."""
    show = bool(spec.get("progress"))
    with np.load(spec["feed"]) as z:
        feed = {k: z[k] for k in z.files}
    providers = [(p, o) for p, o in spec["providers"]]
    mem0 = _rss_mb()
    opts = session_options(spec.get("session") or {})
    t0 = time.perf_counter()
    sess = ort.InferenceSession(spec["model"], opts, providers=providers)
    create_s = time.perf_counter() - t0
    active = sess.get_providers()
    wanted = providers[0][0]
    if wanted not in active and not spec.get("allow_fallback"):
        raise RuntimeError(f"{wanted} was requested but the session runs on {', '.join(active)}; no silent fallback")
    mem1 = _rss_mb()
    run, iobinding = _runner(sess, feed, spec.get("iobinding", "auto"), active[0])

    t0 = time.perf_counter()
    run()
    first_s = time.perf_counter() - t0

    _progress(show, f"warm-up: ≥ {spec['warmup_runs']} runs and ≥ {spec['warmup_seconds']} s")
    n_warm, t_start = 0, time.perf_counter()
    while n_warm < spec["warmup_runs"] or time.perf_counter() - t_start < spec["warmup_seconds"]:
        run()
        n_warm += 1

    mem2 = _rss_mb()  # after warm-up: what inference allocates, before the timing buffer grows

    _progress(show, f"timed runs: ≥ {spec['runs']} runs and ≥ {spec['min_seconds']} s")
    times = array.array("d")
    clock = time.perf_counter
    t_start = clock()
    while (len(times) < spec["runs"] or clock() - t_start < spec["min_seconds"]) and len(times) < MAX_TIMED_RUNS:
        a = clock()
        run()
        times.append(clock() - a)
    total_s = clock() - t_start

    ms = np.asarray(times) * 1e3
    batch = int(next(iter(feed.values())).shape[0]) if feed else 1
    timing = {
        "session_create_ms": create_s * 1e3, "first_run_ms": first_s * 1e3, "warmup_runs": n_warm,
        "runs": len(times), "total_s": total_s, **_percentiles(ms),
        "throughput_samples_per_s": batch * len(times) / float(ms.sum() / 1e3),
        "iobinding": iobinding, "histogram": _histogram(ms),
    }
    if mem0 and mem1 and mem2:
        memory: dict[str, Any] = {
            "rss_before_mb": mem0[0], "session_added_mb": mem1[0] - mem0[0],
            "inference_peak_added_mb": max(0.0, mem2[1] - mem1[0]), "peak_rss_mb": mem2[1],
        }
    else:
        memory = {"not_measured": "no /proc/self/status on this platform"}

    if spec.get("eval"):
        _progress(show, "outputs on the evaluation inputs")
        with np.load(spec["eval"]) as z:
            xs = [z["x"]] if "x" in z.files else [z[f"x{i}"] for i in range(len(z.files))]
        inputs = sess.get_inputs()
        first = inputs[0]
        fixed = first.shape[0] if first.shape and isinstance(first.shape[0], int) and first.shape[0] > 0 else None
        step = fixed or int(spec.get("eval_batch") or 256)
        outs = []
        for i in range(0, len(xs[0]), step):
            chunks = [x[i : i + step] for x in xs]
            real = len(chunks[0])
            if fixed and real < fixed:  # fixed-shape (mobile) models: pad the last chunk
                chunks = [np.concatenate([c, np.repeat(c[-1:], fixed - real, axis=0)]) for c in chunks]
            outs.append(np.asarray(sess.run(None, {inp.name: c for inp, c in zip(inputs, chunks)})[0])[:real])
        np.save(spec["eval_out"], np.concatenate(outs))

    ops: dict[str, Any] = {"not_measured": "per-op profiling not requested"}
    if spec.get("op_profile_runs"):
        _progress(show, f"per-op profile: a separate session, {spec['op_profile_runs']} runs")
        del sess, run  # the profiling session must not share the timed session's resources
        ops = op_profile(spec["model"], providers, spec.get("session") or {}, feed, int(spec["op_profile_runs"]))

    return {
        "timing": timing,
        "memory": memory,
        "ops": ops,
        "providers_active": active,
        "host": {
            "platform": platform.platform(), "machine": platform.machine(), "processor": _cpu_name(),
            "python": platform.python_version(), "onnxruntime": ort.__version__,
            "available_providers": ort.get_available_providers(),
        },
    }


def op_profile(model: str, providers, session_cfg: dict[str, Any], feed: dict[str, np.ndarray], runs: int) -> dict[str, Any]:
    """Per-op time from onnxruntime's profiler, aggregated by op type, by node and by execution provider.

    Runs in its own session with profiling on (profiling slows every run, so these runs are never
    the timed ones). The first run is dropped as warm-up; times are per run, averaged.
    """
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgedistill-ops-") as tmp:
        opts = session_options(session_cfg)
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(model, opts, providers=providers)
        for _ in range(runs + 1):
            sess.run(None, feed)
        with open(sess.end_profiling(), encoding="utf-8") as f:
            events = json.load(f)
    model_runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=lambda e: e["ts"])
    if not model_runs:
        return {"not_measured": "onnxruntime's profiler recorded no runs"}
    after = model_runs[0]["ts"] + model_runs[0]["dur"]  # drop the first run
    counted = len(model_runs) - 1
    nodes: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time") or e["ts"] < after:
            continue
        args = e.get("args", {})
        name = e["name"][: -len("_kernel_time")]
        n = nodes.setdefault(name, {"node": name, "op_type": args.get("op_name", "?"), "provider": args.get("provider", "?"), "us": 0.0})
        n["us"] += float(e["dur"])
    total_us = sum(n["us"] for n in nodes.values()) or 1.0

    def per_run(us: float) -> float:
        return us / counted / 1e3

    by_node = sorted(
        ({"node": n["node"], "op_type": n["op_type"], "provider": n["provider"], "ms_per_run": per_run(n["us"]), "share": n["us"] / total_us}
         for n in nodes.values()), key=lambda r: -r["ms_per_run"])
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in by_node:
        groups.setdefault(("op_type", r["op_type"]), []).append(r)
        groups.setdefault(("provider", r["provider"]), []).append(r)

    def agg(kind: str) -> list[dict[str, Any]]:
        rows = []
        for (k, key), members in groups.items():
            if k != kind:
                continue
            rows.append({kind: key, "nodes": len(members), "ms_per_run": sum(m["ms_per_run"] for m in members),
                         "share": sum(m["share"] for m in members),
                         **({"providers": sorted({m["provider"] for m in members})} if kind == "op_type" else {})})
        return sorted(rows, key=lambda r: -r["ms_per_run"])

    return {"runs": counted, "kernel_ms_per_run": per_run(total_us), "by_op_type": agg("op_type"),
            "by_provider": agg("provider"), "by_node": by_node}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    try:
        result = measure(spec)
    except Exception as e:  # reported to the parent, which turns it into a user error
        result = {"error": ort_error_message(e)}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0 if "error" not in result else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
