"""Cost of a distillation epoch with a cached teacher, against a plain supervised epoch and a naive loop.

    python benchmarks/distill_speed.py [--samples 60000] [--epochs 3] [--repeats 3] [--hidden 32]

Same student (the default mlp), same data (the digits inputs repeated with a little noise to
--samples rows), same optimiser, schedule and batch size (64), one process, measured side by side:
  * edgedistill: `distill` with the teacher's outputs already cached; its per-epoch training time
    (train_seconds in metrics.jsonl: the optimisation steps, without evaluation);
  * plain supervised: a bare PyTorch loop with cross-entropy on labels, nothing else;
  * naive distillation: the same bare loop that calls the teacher (onnxruntime) on every batch.
The edgedistill and supervised runs alternate --repeats times; medians over all their epochs; ratios
against the supervised epoch (target for edgedistill ≤ 1.10).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np
import torch

import edgedistill as ed
from edgedistill.data import load_dataset
from edgedistill.demo import builtin_teacher
from edgedistill.losses import kd_loss
from edgedistill.students import create_student


def bare_epochs(x, y, epochs: int, hidden: list[int], teacher=None) -> list[float]:
    torch.manual_seed(0)
    model = create_student("mlp", input_shape=(1, 8, 8), num_outputs=10, hidden=hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * ((len(x) + 63) // 64))
    xt, yt, g, times = torch.from_numpy(x), torch.from_numpy(y), torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(xt), generator=g).split(64):
            out = model(xt[idx])
            if teacher is None:
                loss = torch.nn.functional.cross_entropy(out, yt[idx])
            else:
                t_out = torch.from_numpy(teacher.session.run([teacher.output.name], {teacher.input.name: x[idx.numpy()]})[0])
                loss = kd_loss(out, t_out, temperature=4.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="distill and supervised runs, alternated")
    ap.add_argument("--hidden", default="32", help="the mlp student's hidden widths, e.g. 32 (the default student) or 512,512")
    args = ap.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    ds = load_dataset("builtin:digits")
    rng = np.random.default_rng(0)
    base = np.resize(ds.x / 16.0, (args.samples, 64))
    x = (base + rng.normal(0, 0.02, base.shape)).astype(np.float32).reshape(-1, 1, 8, 8)
    y = np.resize(ds.y, args.samples).astype(np.int64)
    quiet = lambda *_: None  # noqa: E731
    ours, sup = [], []
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(f"{tmp}/big.npz", x=x.reshape(len(x), 64), y=y, split=np.zeros(len(x), np.uint8))
        ed.distill(teacher=builtin_teacher(), data=f"{tmp}/big.npz", epochs=1, cache_dir=f"{tmp}/cache", out=f"{tmp}/warm", progress=False, log=quiet)
        for r in range(args.repeats):  # interleaved, so a slow spell of the machine hits both sides
            ed.distill(teacher=builtin_teacher(), data=f"{tmp}/big.npz", epochs=args.epochs, cache_dir=f"{tmp}/cache", out=f"{tmp}/run{r}",
                       student_args={"hidden": hidden}, progress=False, log=quiet)
            ours += [json.loads(line)["train_seconds"] for line in open(f"{tmp}/run{r}/metrics.jsonl")]
            sup += bare_epochs(x, y, args.epochs, hidden)
    naive = bare_epochs(x, y, args.epochs, hidden, teacher=ed.OnnxTeacher(builtin_teacher()))
    o, s, n = statistics.median(ours), statistics.median(sup), statistics.median(naive)
    print(f"mlp student hidden={hidden}, {args.samples} samples, batch 64, median of {len(ours)} epochs ({len(naive)} for naive)")
    print("epoch times (s): edgedistill " + " ".join(f"{t:.3f}" for t in ours) + " | supervised " + " ".join(f"{t:.3f}" for t in sup))
    print(f"plain supervised epoch        : {s:7.3f} s  1.00x")
    print(f"edgedistill, cached teacher   : {o:7.3f} s  {o / s:.2f}x")
    print(f"naive, teacher on every batch : {n:7.3f} s  {n / s:.2f}x")


if __name__ == "__main__":
    main()
