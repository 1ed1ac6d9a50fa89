"""Teacher vs label-free student on digits: p50 latency and test accuracy, side by side in one run.

    python benchmarks/teacher_vs_student.py [--rounds 3] [--batches 1,32]

Distills the shipped teacher into the default mlp student (no labels), converts it, then profiles
teacher and student alternately (``--rounds`` times each, so drift on the host hits both alike)
with edgedistill's own protocol on the ``cpu`` device, and prints the median p50 of each and the
ratio. Accuracy is on the test split, which neither model saw in training.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import edgedistill as ed
from edgedistill.demo import builtin_teacher

from _student import default_student, quiet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--min-seconds", type=float, default=2.0)
    args = ap.parse_args()
    teacher = builtin_teacher()
    with tempfile.TemporaryDirectory() as tmp:
        student = default_student(tmp).onnx
        print(f"{'batch':>5} {'model':<8} {'params':>8} {'p50 ms (median of rounds)':>26} {'test top-1':>10}")
        for batch in (int(b) for b in args.batches.split(",")):
            p50 = {"teacher": [], "student": []}
            acc, params = {}, {}
            for _ in range(args.rounds):
                for name, path in (("teacher", teacher), ("student", student)):
                    r = ed.profile(model=path, device="cpu", data="builtin:digits", batch_size=batch,
                                   min_seconds=args.min_seconds, progress=False, log=quiet)
                    p50[name].append(r.timing["p50_ms"])
                    acc[name], params[name] = r.accuracy["top1"], r.model["parameters"]
            med = {k: statistics.median(v) for k, v in p50.items()}
            for name in ("teacher", "student"):
                print(f"{batch:>5} {name:<8} {params[name]:>8,} {med[name]:>26.4f} {100 * acc[name]:>9.2f}%")
            print(f"{batch:>5} ratio    {params['teacher'] / params['student']:>7.1f}x "
                  f"{'teacher/student p50 = ' + format(med['teacher'] / med['student'], '.2f') + 'x':>26} "
                  f"{100 * acc['student'] / acc['teacher']:>8.1f}% of teacher")


if __name__ == "__main__":
    main()
