"""Datasets: the built-in digits set and .npz files, with a fixed split and a recorded preprocessing.

A `Dataset` holds raw inputs ``x`` (one row per sample), optional integer labels ``y`` and a split
vector (0 = train, 1 = val, 2 = test). `Preprocessing` says how raw inputs become model inputs; it
is recorded in ``student.json`` and in the ONNX metadata so every later stage applies the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import zipfile
from typing import Literal

import numpy as np

from .errors import EdgeDistillError

Split = Literal["train", "val", "test"]
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
ASSETS = pathlib.Path(__file__).resolve().parent / "_assets"
BUILTINS = ("digits",)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """model_input = (raw - mean) / std, applied element-wise; identity by default."""

    mean: float = 0.0
    std: float = 1.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.mean == 0.0 and self.std == 1.0:
            return np.asarray(x)  # identity keeps integer token ids and boolean masks as they are
        x = np.asarray(x, dtype=np.float32)
        return ((x - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_json(cls, d: dict[str, float] | None) -> Preprocessing:
        d = d or {}
        return cls(mean=float(d.get("mean", 0.0)), std=float(d.get("std", 1.0)))


@dataclasses.dataclass
class Dataset:
    source: str
    x: np.ndarray
    y: np.ndarray | None
    split: np.ndarray
    preprocessing: Preprocessing
    class_names: list[str] | None = None
    inputs: dict[str, np.ndarray] | None = None  # several named input arrays (multi-input models); x is the first

    def part_inputs(self, which: Split) -> dict[str, np.ndarray]:
        """Every input array of one split, by its npz key (preprocessing applies to float arrays)."""
        mask = self.split == _SPLIT_CODES[which]
        arrays = self.inputs or {"x": self.x}
        return {k: (self.preprocessing.apply(v[mask]) if np.issubdtype(v.dtype, np.floating) else v[mask]) for k, v in arrays.items()}

    def part(self, which: Split) -> tuple[np.ndarray, np.ndarray | None]:
        """Preprocessed inputs (float32) and labels of one split."""
        mask = self.split == _SPLIT_CODES[which]
        x = self.preprocessing.apply(self.x[mask])
        y = None if self.y is None else self.y[mask]
        return x, y

    def describe(self) -> str:
        counts = ", ".join(f"{k} {int(np.sum(self.split == v))}" for k, v in _SPLIT_CODES.items())
        labels = "labelled" if self.y is not None else "unlabelled"
        return f"{self.source}: {len(self.x)} samples of shape {tuple(self.x.shape[1:])}, {labels} ({counts})"


def load_dataset(spec: str) -> Dataset:
    """``builtin:digits`` or a path to an .npz file (``x``, optional ``y`` and ``split``)."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in BUILTINS:
            raise EdgeDistillError(f"unknown built-in dataset {name!r}; known: {', '.join('builtin:' + b for b in BUILTINS)}")
        return _load_digits()
    path = pathlib.Path(spec)
    if not path.exists():
        raise EdgeDistillError(f"data file {path} does not exist; give builtin:digits or a path to an .npz file")
    if path.suffix != ".npz":
        raise EdgeDistillError(f"data file {path} is not an .npz file; save your inputs with numpy.savez(path, x=..., y=...)")
    return _load_npz(path)


def _load_digits() -> Dataset:
    with np.load(ASSETS / "digits.npz") as z:
        x, y, split = z["x"], z["y"].astype(np.int64), z["split"]
    # Pixels are counts in 0..16: scale to 0..1.
    return Dataset("builtin:digits", x, y, split, Preprocessing(mean=0.0, std=16.0), [str(i) for i in range(10)])


def _load_npz(path: pathlib.Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise EdgeDistillError(f"cannot read {path} as .npz ({e}); write it with numpy.savez(path, x=..., y=...)") from None
    for k, v in arrays.items():
        if v.ndim < 1:
            raise EdgeDistillError(f"{path}: {k!r} is a single value, not rows; store one row per sample")
    named = {k: v for k, v in arrays.items() if k not in ("y", "split")}
    if not named:
        raise EdgeDistillError(f"{path} has no input arrays (keys: {', '.join(sorted(arrays)) or 'none'}); store the inputs under the key x")
    if "x" not in arrays and len(named) == 1:
        raise EdgeDistillError(f"{path} has no array 'x' (keys: {', '.join(sorted(arrays))}); store the inputs under the key x")
    x = arrays["x"] if "x" in arrays else next(iter(named.values()))
    for k, v in named.items():
        if v.dtype.kind not in "biuf":
            raise EdgeDistillError(f"{path}: {k!r} has dtype {v.dtype}; inputs must be numeric")
        if len(v) != len(x):
            raise EdgeDistillError(f"{path}: input array {k!r} has {len(v) if v.ndim else 0} rows but {next(iter(named))!r} has {len(x)}; every input needs one row per sample")
        if np.issubdtype(v.dtype, np.floating) and not np.all(np.isfinite(v)):
            raise EdgeDistillError(f"{path}: {k!r} holds {int(np.sum(~np.isfinite(v)))} NaN or Inf values; clean or impute them first")
    if x.ndim < 1 or len(x) == 0:
        raise EdgeDistillError(f"{path}: 'x' is empty; it needs one row per sample")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise EdgeDistillError(f"{path}: 'x' has dtype {x.dtype}; inputs must be numeric")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise EdgeDistillError(f"{path}: 'x' holds {bad} NaN or Inf values; clean or impute them first")
    y = arrays.get("y")
    if y is not None:
        if len(y) != len(x) or y.ndim != 1:
            raise EdgeDistillError(f"{path}: 'y' has shape {y.shape} but 'x' has {len(x)} rows; 'y' must be one integer label per row")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise EdgeDistillError(f"{path}: 'y' has dtype {y.dtype}; labels must be integer class indices")
        if y.min() < 0:
            raise EdgeDistillError(f"{path}: 'y' holds negative labels; labels must be class indices 0..K-1")
        y = y.astype(np.int64)
    split = arrays.get("split")
    if split is None:
        split = default_split(len(x), y)
    elif split.shape != (len(x),) or not np.isin(split, [0, 1, 2]).all():
        raise EdgeDistillError(f"{path}: 'split' must hold one of 0 (train), 1 (val), 2 (test) per row of 'x'")
    if not np.any(split == 0):
        raise EdgeDistillError(f"{path}: no training rows ({len(x)} samples); give more samples or a 'split' with 0s")
    return Dataset(str(path), x, y, split.astype(np.uint8), Preprocessing(), inputs=named if len(named) > 1 else None)


def default_split(n: int, y: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """A deterministic 70/10/20 train/val/test split, stratified by label when labels exist."""
    rng = np.random.default_rng(seed)
    split = np.zeros(n, dtype=np.uint8)
    groups = [np.arange(n)] if y is None else [np.flatnonzero(y == c) for c in np.unique(y)]
    for idx in groups:
        idx = rng.permutation(idx)
        n_test, n_val = int(round(0.2 * len(idx))), int(round(0.1 * len(idx)))
        if len(idx) >= 3:
            n_test, n_val = max(n_test, 1), max(n_val, 1)
        split[idx[:n_test]] = 2
        split[idx[n_test : n_test + n_val]] = 1
    return split


def fit_to_input(x: np.ndarray, shape: tuple[int | None, ...], dtype: np.dtype, *, what: str = "model") -> np.ndarray:
    """Reshape rows of ``x`` to a model input of ``shape`` (batch first) when element counts agree.

    ``shape`` has ``None`` for symbolic dimensions; only the batch dimension may be symbolic here.
    """
    want = tuple(shape[1:])
    if any(d is None for d in want):
        # Only the batch may be free; any other free dim takes the data's size as it is.
        if len(want) == x.ndim - 1 and all(w is None or w == d for w, d in zip(want, x.shape[1:])):
            return x.astype(dtype, copy=False)
        raise EdgeDistillError(
            f"data rows have shape {tuple(x.shape[1:])} but the {what} input expects {_fmt(shape)}; "
            "reshape the data to match"
        )
    per_row = int(np.prod(x.shape[1:], dtype=np.int64))
    need = int(np.prod(want, dtype=np.int64)) if want else 1
    if per_row != need:
        raise EdgeDistillError(
            f"data rows have shape {tuple(x.shape[1:])} ({per_row} values) but the {what} input expects "
            f"{_fmt(shape)} ({need} values per sample); give data that fits the {what}'s input"
        )
    return x.reshape((len(x), *want)).astype(dtype, copy=False)


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("batch" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + "]"


def array_sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(json.dumps([str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()
