"""Student → ONNX: export, metadata, parity check against PyTorch, optional dynamic int8 quantization.

Writes ``student.onnx`` (+ ``student.int8.onnx``) and ``convert.json`` into the output folder. Each
file appears under its final name only once it passed its checks; a model that fails parity is kept
as ``student.rejected.onnx`` for inspection and no ``convert.json`` is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import pathlib
import time
import warnings
from typing import Any, Literal

import numpy as np

from . import __version__
from ._io import atomic_path, ensure_out_dir, write_json
from .data import fit_to_input, load_dataset
from .errors import EdgeDistillError

Quantize = Literal["none", "dynamic"]
METADATA_PREFIX = "edgedistill."


@dataclasses.dataclass
class Parity:
    samples: int
    max_abs_diff: float
    max_rel_diff: float
    top1_agreement: float
    atol: float
    rtol: float
    passed: bool

    def summary(self) -> str:
        return (f"max abs diff {self.max_abs_diff:.3g}, max rel diff {self.max_rel_diff:.3g}, "
                f"top-1 agreement {self.top1_agreement:.4f} on {self.samples} inputs (atol {self.atol:g}, rtol {self.rtol:g})")


@dataclasses.dataclass
class ConvertResult:
    out_dir: str
    onnx: str
    exporter: str
    exporter_note: str | None
    opset: int
    parity: Parity
    size_bytes: int
    int8: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = 1
        d["edgedistill_version"] = __version__
        return d


def convert(
    *,
    run: str | os.PathLike[str],
    out: str | os.PathLike[str],
    quantize: Quantize = "none",
    data: str | None = None,
    opset: int = 18,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    log=print,
) -> ConvertResult:
    """Export the student of distill run ``run`` to ``out/student.onnx`` and verify it.

    ``data`` overrides the dataset recorded in the run (its validation split feeds the parity check).
    """
    from .distill import load_student

    if quantize not in ("none", "dynamic"):
        raise EdgeDistillError(f"unknown --quantize {quantize!r}; choose none or dynamic")
    model, spec = load_student(run)
    out_dir = ensure_out_dir(out)
    x_val = _validation_inputs(data or spec["data"], spec)

    final = out_dir / "student.onnx"
    rejected = out_dir / "student.rejected.onnx"
    with atomic_path(final, suffix=".onnx") as tmp:
        exporter, note = export_onnx(model, spec, tmp, opset=opset)
        _add_metadata(tmp, spec)
        parity = check_parity(model, tmp, x_val, atol=atol, rtol=rtol)
        if not parity.passed:
            os.replace(tmp, rejected)
            raise EdgeDistillError(f"ONNX output differs from PyTorch: {parity.summary()}; the export is kept as {rejected} for inspection")
    rejected.unlink(missing_ok=True)
    log(f"exported {final} with the {exporter} exporter (opset {opset}); parity: {parity.summary()}")

    int8 = None
    if quantize == "dynamic":
        int8 = _quantize_dynamic(final, out_dir / "student.int8.onnx", x_val, spec)
        log(f"quantized {int8['path']} (dynamic int8): {int8['size_bytes']:,} bytes vs {final.stat().st_size:,}, "
            f"top-1 agreement with fp32 {int8['agreement_with_fp32']:.4f}")
    result = ConvertResult(
        out_dir=str(out_dir), onnx=str(final), exporter=exporter, exporter_note=note, opset=opset,
        parity=parity, size_bytes=final.stat().st_size, int8=int8,
    )
    write_json(out_dir / "convert.json", result.to_json())
    return result


def _validation_inputs(data: str, spec: dict[str, Any]) -> np.ndarray:
    ds = load_dataset(data)
    x, _ = ds.part("val")
    if len(x) == 0:
        x, _ = ds.part("train")
    return fit_to_input(x, tuple(spec["input"]["shape"]), np.dtype(np.float32), what="student")


def export_onnx(model, spec: dict[str, Any], path: pathlib.Path, *, opset: int) -> tuple[str, str | None]:
    """Export with the dynamo exporter, falling back to the TorchScript one; returns (exporter, why it fell back)."""
    import torch

    in_name, out_name = spec["input"]["name"], spec["output"]["name"]
    example = (torch.zeros((2, *spec["input"]["shape"][1:]), dtype=torch.float32),)
    quiet = _Quiet()
    try:
        with quiet:
            torch.onnx.export(
                model, example, str(path), input_names=[in_name], output_names=[out_name], opset_version=opset,
                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False, verbose=False,
            )
        return "dynamo", None
    except Exception as e:  # any exporter failure: record it and try the other exporter
        reason = f"dynamo exporter failed ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''})"
    try:
        with quiet:
            torch.onnx.export(
                model, example, str(path), input_names=[in_name], output_names=[out_name], opset_version=opset,
                dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}}, dynamo=False,
            )
    except Exception as e:
        raise EdgeDistillError(f"cannot export the student to ONNX: {reason}; TorchScript exporter failed ({type(e).__name__}: {e})") from None
    return "torchscript", reason


class _Quiet(contextlib.AbstractContextManager):
    """Silence the exporters' progress prints, warnings and log lines; errors still raise."""

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        self._disabled = logging.root.manager.disable
        logging.disable(logging.WARNING)  # torch.onnx and onnxruntime.quantization log advice at WARNING
        return self

    def __exit__(self, *exc):
        logging.disable(self._disabled)
        self._stack.close()
        return False


def _add_metadata(path: pathlib.Path, spec: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    meta = {
        "version": __version__,
        "student": spec["family"],
        "preprocessing": json.dumps(spec["preprocessing"]),
        "class_names": json.dumps(spec["class_names"]),
        "output_kind": spec["output"]["kind"],
        "teacher_sha256": spec["teacher"]["sha256"],
    }
    existing = {p.key for p in model.metadata_props}
    for key, value in meta.items():
        if METADATA_PREFIX + key not in existing:
            model.metadata_props.add(key=METADATA_PREFIX + key, value=value)
    model.producer_name, model.producer_version = "edgedistill", __version__
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _ort_run(path: pathlib.Path | str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    return np.asarray(y)


def check_parity(model, onnx_path: pathlib.Path | str, x: np.ndarray, *, atol: float = 1e-4, rtol: float = 1e-3) -> Parity:
    """Compare PyTorch and onnxruntime outputs on real inputs ``x``."""
    import torch

    with torch.no_grad():
        ref = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    got = _ort_run(onnx_path, x)
    if got.shape != ref.shape:
        return Parity(len(x), float("inf"), float("inf"), 0.0, atol, rtol, False)
    diff = np.abs(got - ref)
    rel = diff / np.maximum(np.abs(ref), 1e-12)
    agree = float(np.mean(got.argmax(-1) == ref.argmax(-1))) if ref.ndim > 1 else 1.0
    passed = bool(np.all(diff <= atol + rtol * np.abs(ref)))
    return Parity(len(x), float(diff.max()), float(rel.max()), agree, atol, rtol, passed)


def _quantize_dynamic(fp32: pathlib.Path, final: pathlib.Path, x: np.ndarray, spec: dict[str, Any]) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    with atomic_path(final, suffix=".onnx") as tmp:
        with _Quiet():
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        y8, y32 = _ort_run(tmp, x), _ort_run(fp32, x)
        if not np.all(np.isfinite(y8)):
            raise EdgeDistillError("the int8 model produces NaN or Inf on the validation inputs; convert without --quantize")
    return {
        "path": str(final),
        "method": "dynamic",
        "weight_type": "int8",
        "size_bytes": final.stat().st_size,
        "size_ratio_vs_fp32": final.stat().st_size / fp32.stat().st_size,
        "agreement_with_fp32": float(np.mean(y8.argmax(-1) == y32.argmax(-1))),
        "max_abs_diff_vs_fp32": float(np.abs(y8 - y32).max()),
        "samples": len(x),
        "seconds": time.perf_counter() - t0,
    }
