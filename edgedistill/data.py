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
    """``builtin:digits``; an .npz (``x`` or inputs named after the model's, optional ``y`` and ``split``);
    an .npy (inputs only); a .csv (a header row; a ``y`` or ``label`` column holds labels, a ``split``
    column the split, every other column is a feature); or a folder of class folders of images
    (needs Pillow)."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in BUILTINS:
            raise EdgeDistillError(f"unknown built-in dataset {name!r}; known: {', '.join('builtin:' + b for b in BUILTINS)}")
        return _load_digits()
    path = pathlib.Path(spec)
    if not path.exists():
        raise EdgeDistillError(f"data file {path} does not exist; give builtin:digits or a path to an .npz file")
    if path.is_dir():
        return _load_image_folder(path)
    if path.suffix == ".npy":
        return _load_npy(path)
    if path.suffix == ".csv":
        return _load_csv(path)
    if path.suffix != ".npz":
        raise EdgeDistillError(f"data file {path} is not an .npz file (nor .npy, .csv or an image folder); "
                               "save your inputs with numpy.savez(path, x=..., y=...)")
    return _load_npz(path)


def _checked(path: pathlib.Path, x: np.ndarray, y: np.ndarray | None, split: np.ndarray | None, pre: Preprocessing,
             class_names: list[str] | None = None) -> Dataset:
    if x.ndim < 1 or len(x) == 0:
        raise EdgeDistillError(f"{path}: no samples; it needs one row per sample")
    if x.dtype.kind not in "biuf":
        raise EdgeDistillError(f"{path}: inputs have dtype {x.dtype}; inputs must be numeric")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise EdgeDistillError(f"{path}: inputs hold {int(np.sum(~np.isfinite(x)))} NaN or Inf values; clean or impute them first")
    if y is not None and y.min() < 0:
        raise EdgeDistillError(f"{path}: negative labels; labels must be class indices 0..K-1")
    split = default_split(len(x), y) if split is None else split
    return Dataset(str(path), x, y, split.astype(np.uint8), pre, class_names)


def _load_npy(path: pathlib.Path) -> Dataset:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise EdgeDistillError(f"cannot read {path} as .npy ({e}); write it with numpy.save(path, x)") from None
    return _checked(path, x, None, None, Preprocessing())


def _load_csv(path: pathlib.Path) -> Dataset:
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise EdgeDistillError(f"cannot read {path} as CSV ({e})") from None
    if len(rows) < 2:
        raise EdgeDistillError(f"{path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    try:
        table = np.asarray([[float(v) for v in r] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as e:
        raise EdgeDistillError(f"{path} holds a value that is not a number ({e}); every column must be numeric") from None
    if table.ndim != 2 or table.shape[1] != len(header):
        raise EdgeDistillError(f"{path}: rows do not all have the {len(header)} columns of the header")
    label_col = next((i for i, h in enumerate(header) if h.lower() in ("y", "label")), None)
    split_col = next((i for i, h in enumerate(header) if h.lower() == "split"), None)
    features = [i for i in range(len(header)) if i not in (label_col, split_col)]
    y = None
    if label_col is not None:
        y = table[:, label_col]
        if not np.all(y == np.round(y)):
            raise EdgeDistillError(f"{path}: column {header[label_col]!r} must hold integer class labels")
        y = y.astype(np.int64)
    split = table[:, split_col].astype(np.int64) if split_col is not None else None
    if split is not None and not np.isin(split, [0, 1, 2]).all():
        raise EdgeDistillError(f"{path}: column 'split' must hold 0 (train), 1 (val) or 2 (test)")
    return _checked(path, table[:, features].astype(np.float32), y, split, Preprocessing())


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".webp")


def _load_image_folder(path: pathlib.Path) -> Dataset:
    """``folder/<class>/<image>``: classes are the sub-folders in sorted order; images become (C, H, W)
    arrays of 0..255 (C = 1 when every image is grayscale, else 3), resized to the first image's size."""
    try:
        from PIL import Image
    except ImportError:
        raise EdgeDistillError("reading an image folder needs Pillow: pip install 'edgedistill[images]'") from None
    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    files = [(c, f) for c in classes for f in sorted((path / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise EdgeDistillError(f"{path} holds no images in class folders; lay it out as {path}/<class>/<image>.png")
    images = []
    for _, f in files:
        try:
            images.append(Image.open(f))
        except (OSError, ValueError) as e:
            raise EdgeDistillError(f"cannot read image {f} ({e})") from None
    gray = all(im.mode in ("L", "1", "I;16", "I") for im in images)
    size = images[0].size
    arrays = [np.asarray(im.convert("L" if gray else "RGB").resize(size), dtype=np.uint8) for im in images]
    x = np.stack(arrays)[:, None] if gray else np.stack(arrays).transpose(0, 3, 1, 2)
    y = np.asarray([classes.index(c) for c, _ in files], dtype=np.int64)
    return _checked(path, x, y, None, Preprocessing(mean=0.0, std=255.0), class_names=classes)


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


def split_inputs(ds: Dataset, which: Split, specs, *, what: str = "model") -> tuple[list[np.ndarray], np.ndarray | None]:
    """One split of ``ds`` as a model's inputs, in the model's input order, each fitted to its shape and
    dtype; ``specs`` are the model's inputs (``.name``, ``.shape``, ``.dtype``). Several inputs are
    matched to the npz arrays by name, else by position. Returns (arrays, labels)."""
    if len(specs) == 1:
        x, y = ds.part(which)
        return [fit_to_input(x, specs[0].shape, np.dtype(specs[0].dtype), what=what)], y
    y = None if ds.y is None else ds.y[ds.split == _SPLIT_CODES[which]]
    arrays = ds.part_inputs(which)
    names = [sp.name for sp in specs]
    if set(names) <= set(arrays):
        chosen = [arrays[n] for n in names]
    elif len(arrays) == len(names):
        chosen = list(arrays.values())
    else:
        raise EdgeDistillError(f"{ds.source} holds arrays {', '.join(arrays)} but the {what} has inputs {', '.join(names)}; "
                               "store one array per input in the npz, named after the inputs")
    return [fit_to_input(a, sp.shape, np.dtype(sp.dtype), what=f"{what} ({sp.name})") for a, sp in zip(chosen, specs)], y


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("batch" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape)) + "]"


def array_sha256(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(json.dumps([str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()
