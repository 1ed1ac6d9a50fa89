"""Teacher-output cache: one memory-mapped .npy per (teacher, data, output, preprocessing).

The key hashes the teacher file's content, the exact model inputs (so data and preprocessing
changes invalidate it) and the output name. Files are written atomically, so an interrupted pass
leaves nothing that looks valid and the next run simply redoes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import numpy as np

from ._io import atomic_path
from .data import array_sha256
from .errors import EdgeDistillError
from .teacher import OnnxTeacher


def default_cache_dir() -> pathlib.Path:
    env = os.environ.get("EDGEDISTILL_CACHE")
    if env:
        return pathlib.Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "edgedistill"


def cache_key(teacher_sha256: str, inputs_sha256: str, output: str) -> str:
    blob = json.dumps({"teacher": teacher_sha256, "inputs": inputs_sha256, "output": output, "v": 1})
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


Inputs = np.ndarray | dict[str, np.ndarray]  # one array, or one per input of a multi-input teacher


def n_rows(x: Inputs) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take_rows(x: Inputs, rows) -> Inputs:
    return {k: v[rows] for k, v in x.items()} if isinstance(x, dict) else x[rows]


def inputs_sha256(x: Inputs) -> str:
    if not isinstance(x, dict):
        return array_sha256(x)
    return array_sha256(np.frombuffer(json.dumps(list(x)).encode(), np.uint8), *x.values())


def cache_path(teacher: OnnxTeacher, x: Inputs, cache_dir: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Where the teacher's outputs on ``x`` are cached."""
    folder = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{cache_key(teacher.sha256, inputs_sha256(x), teacher.output.name)}.npy"


def teacher_outputs(
    teacher: OnnxTeacher,
    x: Inputs,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    desc: str = "teacher pass",
) -> tuple[np.ndarray, bool]:
    """The teacher's chosen output on ``x``, from the cache when present. Returns (outputs, cache_hit)."""
    path = cache_path(teacher, x, cache_dir)
    folder = path.parent
    if path.exists():
        try:
            cached = np.load(path, mmap_mode="r")
            if cached.shape[0] == n_rows(x):
                return cached, True
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and overwrite it
    out = teacher.run(x, progress=progress, desc=desc)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, out)
    except (OSError, EdgeDistillError):
        pass  # a cache that cannot be written (even for lack of space) costs speed, never correctness
    return out, False
