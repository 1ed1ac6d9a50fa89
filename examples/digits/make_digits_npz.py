"""Rebuild edgedistill/_assets/digits.npz from scikit-learn's bundled copy of UCI digits.

Run once by a maintainer (needs scikit-learn, which edgedistill itself does not):

    python examples/digits/make_digits_npz.py

The file holds ``x`` (1797, 64) uint8 pixels in 0..16, ``y`` (1797,) uint8 labels and ``split``
(1797,) uint8 with 0 = train, 1 = val, 2 = test: a stratified 70/10/20 split drawn once with seed 0
and stored, so it never depends on a numpy version's random stream.
"""

from __future__ import annotations

import pathlib

import numpy as np
from sklearn.datasets import load_digits

OUT = pathlib.Path(__file__).resolve().parents[2] / "edgedistill" / "_assets" / "digits.npz"


def main() -> None:
    bunch = load_digits()
    x = bunch.data.astype(np.uint8)
    y = bunch.target.astype(np.uint8)
    rng = np.random.default_rng(0)
    split = np.zeros(len(y), dtype=np.uint8)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = round(0.2 * len(idx))
        n_val = round(0.1 * len(idx))
        split[idx[:n_test]] = 2
        split[idx[n_test : n_test + n_val]] = 1
    np.savez_compressed(OUT, x=x, y=y, split=split)
    print(f"wrote {OUT}: train {np.sum(split == 0)}, val {np.sum(split == 1)}, test {np.sum(split == 2)}")


if __name__ == "__main__":
    main()
