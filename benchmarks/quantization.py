"""fp32 vs dynamic int8 vs static int8 (QDQ) vs fp16 for the digits student and the teacher CNN.

    python benchmarks/quantization.py [--batch 1] [--min-seconds 2]

Distills the default label-free mlp student, converts it and the shipped teacher with all three
methods, then profiles the eight files one after another in the same run with edgedistill's
protocol on the ``cpu`` device: size, p50 latency and test accuracy, plus p50 relative to fp32.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

import edgedistill as ed
from edgedistill.demo import builtin_teacher

from _student import default_student, quiet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        convs = {
            "student (MLP)": default_student(tmp, quantize="dynamic,static,fp16"),
            "teacher (CNN)": ed.convert(source=builtin_teacher(), out=f"{tmp}/teacher", quantize="dynamic,static,fp16",
                                        data="builtin:digits", latency=False, log=quiet),
        }
        print(f"{'model':<14} {'variant':<12} {'size':>10} {'p50 ms':>9} {'vs fp32':>8} {'test top-1':>10}")
        for name, conv in convs.items():
            base = None
            for variant, key in (("fp32", "fp32"), ("dynamic int8", "dynamic"), ("static int8", "static"), ("fp16", "fp16")):
                path = pathlib.Path(conv.files[key])
                r = ed.profile(model=path, device="cpu", data="builtin:digits", batch_size=args.batch,
                               min_seconds=args.min_seconds, progress=False, log=quiet)
                p50 = r.timing["p50_ms"]
                base = base or p50
                print(f"{name:<14} {variant:<12} {path.stat().st_size / 1024:>8.1f}KiB {p50:>9.4f} {base / p50:>7.2f}x "
                      f"{100 * r.accuracy['top1']:>9.2f}%")


if __name__ == "__main__":
    main()
