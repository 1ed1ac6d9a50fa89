"""Quality of label-free distillation on digits, and KD against training on 10 % of the labels.

    python benchmarks/distill_quality.py [--seeds 0,1,2] [--students mlp,cnn,mobilenet]
                                         [--grid "batch_size=8,16,64 lr=0.01,0.03"]

For each student family (built-in defaults) and seed:
  * KD: the student distilled from the shipped teacher with no labels at all, the product's default
    recipe, untuned;
  * supervised: the same student trained with cross-entropy on a random 10 % of the training labels
    only (the same loop with --labels --alpha 1, so KD has weight 0), once with KD's own recipe (the
    defaults: batch 64, lr 0.01) and, so as not to compare KD with a baseline starved by a recipe made
    for 10× more data, with every recipe in --grid, keeping the one with the best validation accuracy
    (179 labelled validation samples, which the KD arm never sees).
Test-split accuracy, means over seeds, and KD's lead in points over both baselines (target: ≥ 10).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile

import numpy as np

import edgedistill as ed
from edgedistill.data import load_dataset
from edgedistill.demo import builtin_teacher


def accuracy(run: str, part: str) -> float:
    import torch

    model, _ = ed.load_student(run)
    x, y = load_dataset("builtin:digits").part(part)
    with torch.no_grad():
        return float((model(torch.from_numpy(x.reshape(-1, 1, 8, 8))).argmax(1).numpy() == y).mean())


def parse_grid(text: str) -> list[dict[str, float]]:
    """``"batch_size=16,64 lr=0.01,0.003"`` → every combination as distill keyword arguments."""
    axes = []
    for item in text.split():
        key, _, values = item.partition("=")
        cast = int if key in ("batch_size", "epochs") else float
        axes.append([(key, cast(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--students", default="mlp,cnn,mobilenet")
    ap.add_argument("--grid", default="batch_size=8,16,64 lr=0.01,0.03", help="recipes tried for the tuned supervised baseline")
    args = ap.parse_args()
    quiet = lambda *_: None  # noqa: E731
    teacher = builtin_teacher()
    ds = load_dataset("builtin:digits")
    x_test, y_test = ds.part("test")
    teacher_acc = float((ed.OnnxTeacher(teacher).run(x_test.reshape(-1, 1, 8, 8), progress=False).argmax(1) == y_test).mean())
    seeds, grid = [int(s) for s in args.seeds.split(",")], parse_grid(args.grid)
    default = {"batch_size": 64, "lr": 0.01}  # distill's defaults, the recipe the KD arm uses
    grid = [default, *(r for r in grid if r != default)]
    print(f"teacher (151,306 parameters): {100 * teacher_acc:.2f} % on the test split; baseline recipes: {grid}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.students.split(","):
            kd, sup, same, params = [], [], [], 0
            for seed in seeds:
                run = f"{tmp}/{family}-kd{seed}"
                params = ed.distill(teacher=teacher, student=family, seed=seed, out=run, progress=False, log=quiet).student_parameters
                kd.append(accuracy(run, "test"))
                rng = np.random.default_rng(seed)
                train = np.flatnonzero(ds.split == 0)
                few = rng.choice(train, size=len(train) // 10, replace=False)
                keep = np.concatenate([few, np.flatnonzero(ds.split == 1)])
                np.savez(f"{tmp}/few{seed}.npz", x=ds.x[keep] / 16.0, y=ds.y[keep], split=ds.split[keep])
                tried = []
                for i, recipe in enumerate(grid):
                    run = f"{tmp}/{family}-sup{seed}-{i}"
                    ed.distill(teacher=teacher, data=f"{tmp}/few{seed}.npz", student=family, labels=True, alpha=1.0, seed=seed,
                               out=run, progress=False, log=quiet, **recipe)
                    tried.append((accuracy(run, "val"), accuracy(run, "test"), recipe))
                val, test, recipe = max(tried, key=lambda t: t[0])
                sup.append(test)
                same.append(tried[0][1])
                print(f"{family:10s} seed {seed}: label-free KD {100 * kd[-1]:.2f} %   10 % labels only ({len(few)} samples) "
                      f"{100 * test:.2f} % (recipe {recipe}, val {100 * val:.2f} %; all recipes on test: "
                      f"{', '.join(f'{100 * t[1]:.1f}' for t in tried)})")
            rows.append((family, params, statistics.mean(kd), statistics.mean(same), statistics.mean(sup)))
    print(f"\nmeans over seeds {args.seeds}; teacher {100 * teacher_acc:.2f} %")
    print(f"{'student':10s} {'params':>8s} {'vs teacher':>10s} {'label-free KD':>14s} {'% of teacher':>12s}   "
          f"{'10 % labels, same recipe':>24s} {'KD ahead':>8s}   {'10 % labels, tuned':>18s} {'KD ahead':>8s}")
    for family, params, k, s_same, s_tuned in rows:
        print(f"{family:10s} {params:8,d} {f'1/{151306 / params:.0f}':>10s} {100 * k:12.2f} % {100 * k / teacher_acc:10.1f} %   "
              f"{100 * s_same:22.2f} % {100 * (k - s_same):8.1f}   {100 * s_tuned:16.2f} % {100 * (k - s_tuned):8.1f}")
    print("KD ahead by, in points (target: 10)")

if __name__ == "__main__":
    main()
