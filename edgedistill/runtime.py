"""edgedistill.runtime — run a converted student in an app with onnxruntime and numpy only.

This file stands alone: copy it into an app (it imports nothing from edgedistill, nor torch)::

    from runtime import Predictor          # or: from edgedistill.runtime import Predictor
    p = Predictor("student.onnx")           # .onnx or .ort
    p.predict(raw_rows)                     # -> array of class names
    p.predict_proba(raw_rows)               # -> (n, classes) probabilities
    p.run({"image": batch})                 # -> {"logits": ...}, inputs fed as they are

The model's ``metadata_props`` (written by ``edgedistill convert``) say how raw inputs become model
inputs (``edgedistill.preprocessing``), the class names and whether the output is logits; a model
without them is used as it is (identity preprocessing, classes "0".."K-1").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

__all__ = ["DEVICES", "Predictor", "PredictorError"]

# The run settings of edgedistill's device files (devices/*.yaml), so an app needs no YAML parser.
# tests/test_runtime.py checks that this table and the files agree.
DEVICES: dict[str, dict[str, Any]] = {
    "cpu": {"providers": [["CPUExecutionProvider", {}]], "session": {"graph_optimization_level": "all"}},
    "cpu-1t": {"providers": [["CPUExecutionProvider", {}]],
               "session": {"intra_op_num_threads": 1, "inter_op_num_threads": 1, "graph_optimization_level": "all", "execution_mode": "sequential"}},
    "cuda": {"providers": [["CUDAExecutionProvider", {"device_id": 0, "arena_extend_strategy": "kNextPowerOfTwo", "cudnn_conv_algo_search": "EXHAUSTIVE"}],
                           ["CPUExecutionProvider", {}]], "session": {"graph_optimization_level": "all"}},
    "tensorrt": {"providers": [["TensorrtExecutionProvider", {"device_id": 0, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                                              "trt_engine_cache_path": ".trt-cache"}],
                               ["CUDAExecutionProvider", {"device_id": 0}], ["CPUExecutionProvider", {}]],
                 "session": {"graph_optimization_level": "basic"}},
    "arm64-xnnpack": {"providers": [["XnnpackExecutionProvider", {"intra_op_num_threads": 4}], ["CPUExecutionProvider", {}]],
                      "session": {"intra_op_num_threads": 1, "graph_optimization_level": "all"}},
    "android-nnapi": {"providers": [["NnapiExecutionProvider", {}], ["CPUExecutionProvider", {}]],
                      "session": {"intra_op_num_threads": 4, "graph_optimization_level": "all"}},
    "ios-coreml": {"providers": [["CoreMLExecutionProvider", {"ModelFormat": "MLProgram"}], ["CPUExecutionProvider", {}]],
                   "session": {"intra_op_num_threads": 2, "graph_optimization_level": "all"}},
    "qnn-htp": {"providers": [["QNNExecutionProvider", {"backend_path": "libQnnHtp.so"}], ["CPUExecutionProvider", {}]],
                "session": {"graph_optimization_level": "basic"}},
}
_LEVELS = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
           "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
           "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


class PredictorError(ValueError):
    """Wrong input or model for a Predictor, with the expected signature in the message."""


class Predictor:
    """A converted student (``.onnx`` or ``.ort``) ready to classify raw inputs.

    ``device`` is a device name from :data:`DEVICES` (``"cpu"``, ``"cuda"``, ``"android-nnapi"``, ...) or
    a mapping with ``providers`` and ``session`` like the device files. A device whose execution
    provider this onnxruntime build lacks is an error, never a silent CPU fallback. ``threads``
    overrides the intra-op thread count. ``batch_size`` bounds each ``session.run`` of large inputs.
    """

    def __init__(self, path: str | os.PathLike[str], device: str | Mapping[str, Any] = "cpu", *, threads: int | None = None,
                 batch_size: int = 256) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise PredictorError(f"model file {path} does not exist")
        cfg = _device(device)
        providers = [(name, dict(opts)) for name, opts in cfg["providers"]]
        missing = [name for name, _ in providers if name not in ort.get_available_providers()]
        if missing:
            raise PredictorError(f"{', '.join(missing)} not in this onnxruntime {ort.__version__} build "
                                 f"(available: {', '.join(ort.get_available_providers())}); install the matching onnxruntime package or use device='cpu'")
        opts = ort.SessionOptions()
        session = dict(cfg.get("session") or {})
        if threads is not None:
            session["intra_op_num_threads"] = threads
        for key in ("intra_op_num_threads", "inter_op_num_threads"):
            if session.get(key) is not None:
                setattr(opts, key, int(session[key]))
        if session.get("graph_optimization_level") is not None:
            opts.graph_optimization_level = _LEVELS[session["graph_optimization_level"]]
        if session.get("execution_mode") == "parallel":
            opts.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        try:
            self.session = ort.InferenceSession(path, opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise PredictorError(f"onnxruntime cannot load {path}: {str(e).strip().splitlines()[0]}") from None
        self.path, self.batch_size = path, int(batch_size)
        meta = self.session.get_modelmeta().custom_metadata_map
        pre = json.loads(meta.get("edgedistill.preprocessing", "{}"))
        self.mean, self.std = float(pre.get("mean", 0.0)), float(pre.get("std", 1.0))
        self.output_kind = meta.get("edgedistill.output_kind", "logits")
        self.inputs = [(i.name, [d if isinstance(d, int) else None for d in i.shape], _DTYPES.get(i.type)) for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        width = self.session.get_outputs()[0].shape[-1]
        names = json.loads(meta["edgedistill.class_names"]) if "edgedistill.class_names" in meta else None
        self.class_names = np.asarray(names if names is not None else [str(i) for i in range(width if isinstance(width, int) else 0)])

    # ------------------------------------------------------------------ signature
    def signature(self) -> str:
        """The inputs as text, e.g. ``image: float32[batch, 1, 8, 8]``."""
        parts = []
        for name, shape, dtype in self.inputs:
            dims = ", ".join("batch" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape))
            parts.append(f"{name}: {np.dtype(dtype).name if dtype else '?'}[{dims}]")
        return "; ".join(parts)

    # ------------------------------------------------------------------ API
    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on model inputs exactly as given (no preprocessing); returns every output by name."""
        want = {name for name, _, _ in self.inputs}
        if set(feed) != want:
            raise PredictorError(f"inputs {sorted(feed)} do not match the model's {self.signature()}")
        arrays = {}
        for name, shape, dtype in self.inputs:
            a = np.asarray(feed[name])
            if dtype is not None and a.dtype != dtype:
                if not np.can_cast(a.dtype, dtype, casting="same_kind"):
                    raise PredictorError(f"input {name} has dtype {a.dtype}; the model expects {self.signature()}")
                a = a.astype(dtype)
            if a.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, a.shape)):
                raise PredictorError(f"input {name} has shape {list(a.shape)}; the model expects {self.signature()}")
            arrays[name] = a
        outs = self.session.run(None, arrays)
        return dict(zip(self.outputs, outs))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities for raw input rows (preprocessing from the model's metadata applied)."""
        if len(self.inputs) != 1:
            raise PredictorError(f"predict_proba feeds models with one input; this one has {self.signature()}; use run()")
        name, shape, dtype = self.inputs[0]
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0:
            raise PredictorError(f"no input rows given; the model expects {self.signature()}")
        if not np.issubdtype(x.dtype, np.number):
            raise PredictorError(f"inputs have dtype {x.dtype}; the model expects numbers ({self.signature()})")
        x = ((x.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std))
        rows = _fit(x, shape, self.signature()).astype(dtype or np.float32)
        fixed = shape[0] if shape and isinstance(shape[0], int) else None
        step = fixed or self.batch_size
        out = []
        for i in range(0, len(rows), step):
            chunk = rows[i : i + step]
            real = len(chunk)
            if fixed and real < fixed:  # fixed-shape (mobile) models: pad the last chunk
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - real, axis=0)])
            out.append(np.asarray(self.session.run(None, {name: chunk})[0])[:real])
        y = np.concatenate(out).astype(np.float64)
        if self.output_kind == "probabilities":
            return y
        if self.output_kind == "log_probabilities":
            return np.exp(y)
        y = y - y.max(axis=-1, keepdims=True)
        e = np.exp(y)
        return e / e.sum(axis=-1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class names for raw input rows."""
        idx = self.predict_proba(x).argmax(axis=-1)
        return self.class_names[idx] if len(self.class_names) else idx


def _device(device: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(device, Mapping):
        if "providers" not in device:
            raise PredictorError("a device mapping needs 'providers', e.g. {'providers': [['CPUExecutionProvider', {}]]}")
        return device
    if device not in DEVICES:
        raise PredictorError(f"unknown device {device!r}; known: {', '.join(DEVICES)} (or pass a mapping with 'providers')")
    return DEVICES[device]


def _fit(x: np.ndarray, shape: list[int | None], signature: str) -> np.ndarray:
    """Rows of ``x`` reshaped to the model input when their element counts agree."""
    want = shape[1:]
    if x.ndim == 1 and len(want) >= 1:
        x = x[None, ...] if all(d is not None for d in want) and x.size == int(np.prod(want)) else x
    if any(d is None for d in want):
        if x.ndim - 1 == len(want) and all(d is None or d == s for d, s in zip(want, x.shape[1:])):
            return x
        raise PredictorError(f"inputs have rows of shape {list(x.shape[1:])}; the model expects {signature}")
    per_row, need = int(np.prod(x.shape[1:])), int(np.prod(want)) if want else 1
    if per_row != need:
        raise PredictorError(f"inputs have rows of shape {list(x.shape[1:])} ({per_row} values); the model expects {signature} ({need} values per row)")
    return x.reshape((len(x), *want))
