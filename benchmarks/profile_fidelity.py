"""Fidelity of `edgedistill profile`: its p50 vs a bare perf_counter loop around session.run.

    python benchmarks/profile_fidelity.py [--rounds 3] [--runs 2000]

For a tiny model (the digits MLP student) and a larger CNN (the digits teacher), with the same
inputs (one real test sample), the same session options (the ``cpu`` device file) and the same
thread settings, measures alternately, ``--rounds`` times each:
  * edgedistill's protocol (`edgedistill.profile`, fresh child process, warm-up, timed runs), and
  * a bare loop: a fresh ``python -c`` process that creates the session, warms up, then times
    ``--runs`` calls of ``session.run`` with ``time.perf_counter``.
Prints the median p50 of each and the ratio; the target is within 5 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

import numpy as np

import edgedistill as ed
from edgedistill.data import fit_to_input, load_dataset
from edgedistill.demo import builtin_teacher

from _student import default_student, quiet

BARE = r"""
import json, sys, time, numpy as np, onnxruntime as ort
model, feed_path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
opts = ort.SessionOptions(); opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
x = np.load(feed_path); feed = {sess.get_inputs()[0].name: x}
for _ in range(max(10, runs // 10)): sess.run(None, feed)
t = []
for _ in range(runs):
    a = time.perf_counter(); sess.run(None, feed); t.append(time.perf_counter() - a)
print(json.dumps({"p50_ms": float(np.percentile(np.array(t) * 1e3, 50))}))
"""


def bare_p50(model: str, feed_path: str, runs: int) -> float:
    out = subprocess.run([sys.executable, "-c", BARE, model, feed_path, str(runs)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["p50_ms"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        student = default_student(tmp).onnx
        x = fit_to_input(load_dataset("builtin:digits").part("test")[0][:1], (None, 1, 8, 8), np.dtype(np.float32))
        np.save(f"{tmp}/feed.npy", x)
        print(f"{'model':<16} {'edgedistill p50':>16} {'bare loop p50':>14} {'ratio':>7}")
        for name, model in (("student (MLP)", student), ("teacher (CNN)", str(builtin_teacher()))):
            ours, bare = [], []
            for _ in range(args.rounds):
                r = ed.profile(model=model, device="cpu", data="builtin:digits", runs=args.runs, min_seconds=0.0,
                               op_profile_runs=0, html=False, progress=False, log=quiet)
                ours.append(r.timing["p50_ms"])
                bare.append(bare_p50(model, f"{tmp}/feed.npy", args.runs))
            a, b = statistics.median(ours), statistics.median(bare)
            print(f"{name:<16} {a:>13.4f} ms {b:>11.4f} ms {a / b:>7.3f}")


if __name__ == "__main__":
    main()
