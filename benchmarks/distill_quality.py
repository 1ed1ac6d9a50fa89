"""Quality of label-free distillation on digits, and KD against training on 10 % of the labels.

    python benchmarks/distill_quality.py [--seeds 0,1,2]

For each seed: (a) the default mlp student (2,410 parameters, 1/63 of the teacher) distilled from the
shipped teacher with no labels at all; (b) the same student trained with cross-entropy on a random
10 % of the training labels only (the same loop with --labels --alpha 1, so KD has weight 0).
Test-split accuracy of both, their mean over seeds, and the gap in points.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np

import edgedistill as ed
from edgedistill.data import load_dataset
from edgedistill.demo import builtin_teacher


def test_accuracy(run: str) -> float:
    import torch

    model, _ = ed.load_student(run)
    x, y = load_dataset("builtin:digits").part("test")
    with torch.no_grad():
        return float((model(torch.from_numpy(x.reshape(-1, 1, 8, 8))).argmax(1).numpy() == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    quiet = lambda *_: None  # noqa: E731
    teacher = builtin_teacher()
    ds = load_dataset("builtin:digits")
    kd, sup = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            ed.distill(teacher=teacher, seed=seed, out=f"{tmp}/kd{seed}", progress=False, log=quiet)
            kd.append(test_accuracy(f"{tmp}/kd{seed}"))
            rng = np.random.default_rng(seed)
            train = np.flatnonzero(ds.split == 0)
            few = rng.choice(train, size=len(train) // 10, replace=False)
            keep = np.concatenate([few, np.flatnonzero(ds.split == 1)])
            np.savez(f"{tmp}/few{seed}.npz", x=ds.x[keep] / 16.0, y=ds.y[keep], split=ds.split[keep])
            ed.distill(teacher=teacher, data=f"{tmp}/few{seed}.npz", labels=True, alpha=1.0, seed=seed,
                       out=f"{tmp}/sup{seed}", progress=False, log=quiet)
            sup.append(test_accuracy(f"{tmp}/sup{seed}"))
            print(f"seed {seed}: label-free KD {100 * kd[-1]:.2f} %   10 % labels only ({len(few)} samples) {100 * sup[-1]:.2f} %")
    teacher_acc = float((ed.OnnxTeacher(teacher).run(ds.part("test")[0].reshape(-1, 1, 8, 8), progress=False).argmax(1) == ds.part("test")[1]).mean())
    print(f"teacher (151,306 parameters): {100 * teacher_acc:.2f} %")
    print(f"label-free KD, mean of {len(kd)} seeds: {100 * statistics.mean(kd):.2f} % = {100 * statistics.mean(kd) / teacher_acc:.1f} % of the teacher")
    print(f"10 % labels alone, mean: {100 * statistics.mean(sup):.2f} %; KD ahead by {100 * (statistics.mean(kd) - statistics.mean(sup)):.1f} points")


if __name__ == "__main__":
    main()
