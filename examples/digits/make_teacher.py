"""Train the shipped digits teacher: a small CNN (151k parameters) exported to teacher.onnx.

    python examples/digits/make_teacher.py            # writes examples/digits/teacher.onnx

Trained with labels on the train split of builtin:digits (pixels scaled to 0..1, shaped 1×8×8),
with one-pixel random shifts as augmentation, a fixed seed and one thread, so the run is
reproducible. Prints the test accuracy; the shipped file reaches ≥ 98 %.
"""

from __future__ import annotations

import pathlib

import torch
from torch import nn

from edgedistill.data import load_dataset

OUT = pathlib.Path(__file__).resolve().parent / "teacher.onnx"
SEED, EPOCHS, BATCH = 0, 60, 64


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


def shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift each image by -1..1 pixels in each direction, filling with zeros."""
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2, len(x)), generator=g)
    return torch.stack([p[:, a : a + 8, b : b + 8] for p, a, b in zip(padded, dy.tolist(), dx.tolist())])


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(SEED)
    ds = load_dataset("builtin:digits")
    (xtr, ytr), (xte, yte) = ds.part("train"), ds.part("test")
    xtr, xte = torch.from_numpy(xtr.reshape(-1, 1, 8, 8)), torch.from_numpy(xte.reshape(-1, 1, 8, 8))
    ytr = torch.from_numpy(ytr)
    model = build()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS * ((len(xtr) + BATCH - 1) // BATCH))
    for epoch in range(EPOCHS):
        model.train()
        for idx in torch.randperm(len(xtr), generator=g).split(BATCH):
            loss = nn.functional.cross_entropy(model(shift(xtr[idx], g)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(xte).argmax(1).numpy() == yte).mean())
    print(f"teacher: {sum(p.numel() for p in model.parameters())} parameters, test accuracy {acc:.4f}")
    torch.onnx.export(
        model, (xte[:2],), str(OUT), input_names=["image"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False, verbose=False,
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
