"""Teacher-pass throughput: OnnxTeacher.run vs a bare session.run loop over the same batches.

    python benchmarks/teacher_pass.py [--samples 60000] [--rounds 3]

Both use one onnxruntime session with default options on the shipped digits teacher, the same
inputs (the digits set repeated to --samples rows, shaped 1×8×8) and the same batch size (the one
OnnxTeacher picks automatically). Rounds alternate; the median time of each is reported as
samples/s, with the ratio (target ≥ 0.90).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from edgedistill.data import load_dataset
from edgedistill.demo import builtin_teacher
from edgedistill.teacher import OnnxTeacher, auto_batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ds = load_dataset("builtin:digits")
    x = np.resize(ds.preprocessing.apply(ds.x), (args.samples, 64)).reshape(-1, 1, 8, 8).astype(np.float32)
    teacher = OnnxTeacher(builtin_teacher())
    sess, name, out = teacher.session, teacher.input.name, teacher.output.name
    batch = auto_batch_size({name: x})

    def bare() -> float:
        t0 = time.perf_counter()
        outs = [sess.run([out], {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
        np.concatenate(outs)
        return time.perf_counter() - t0

    def ours() -> float:
        t0 = time.perf_counter()
        teacher.run(x, progress=False)
        return time.perf_counter() - t0

    bare(), ours()  # warm-up
    t_bare, t_ours = [], []
    for _ in range(args.rounds):
        t_bare.append(bare())
        t_ours.append(ours())
    b, o = statistics.median(t_bare), statistics.median(t_ours)
    print(f"batch {batch}, {len(x)} samples, median of {args.rounds} rounds")
    print(f"bare session.run loop : {len(x) / b:>12,.0f} samples/s")
    print(f"OnnxTeacher.run       : {len(x) / o:>12,.0f} samples/s")
    print(f"ratio                 : {b / o:>12.3f}")


if __name__ == "__main__":
    main()
