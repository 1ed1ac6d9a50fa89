"""Student (or any ONNX) → verified, optimised files for a target.

Steps, each optional and each recorded in ``convert.json`` with what it did and what it cost or saved:

1. export      torch.onnx (dynamo exporter, TorchScript fallback with the reason), dynamic batch,
               the teacher's input/output names, edgedistill metadata in ``metadata_props``
2. parity      PyTorch vs onnxruntime on real validation inputs; past tolerance: exit 2, the file
               kept as ``<name>.rejected.onnx``
3. optimize    onnxruntime offline graph optimisation (level recorded), shape inference, onnx.checker
4. quantize    dynamic int8, static int8 QDQ (calibrated on real data, via ``quant_pre_process``),
               fp16; each followed by accuracy, agreement with fp32 and teacher, and latency on this host
5. mobile      fixed input shapes, ORT format with its required-operators config, NNAPI / CoreML
               usability summary

Everything is built in a staging folder inside ``out`` and moved to its final name only when the
whole conversion succeeded, so a failed conversion never leaves files that look valid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import json
import logging
import os
import pathlib
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from . import __version__
from ._io import ensure_out_dir, raise_if_no_space, write_json
from .cache import n_rows
from .data import fit_to_input, load_dataset, split_inputs
from .errors import EdgeDistillError

QuantMethod = Literal["dynamic", "static", "fp16"]
QUANT_METHODS = ("dynamic", "static", "fp16")
OptimizeLevel = Literal["none", "basic", "extended", "all"]
CalibMethod = Literal["minmax", "entropy", "percentile"]
Format = Literal["onnx", "ort"]
METADATA_PREFIX = "edgedistill."
SUFFIX = {"dynamic": ".int8", "static": ".qdq", "fp16": ".fp16"}
# Providers of phones and ARM boards: ORT-format files for them are converted for ARM.
MOBILE_EPS = {"NnapiExecutionProvider", "CoreMLExecutionProvider", "XnnpackExecutionProvider", "QNNExecutionProvider"}
# Convert-time latency: a shorter budget than `profile`, same protocol, batch 1, this host's CPU.
LATENCY = {"warmup_runs": 10, "warmup_seconds": 0.2, "runs": 50, "min_seconds": 0.5}


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
    source: str
    onnx: str  # the fp32 model
    ship: str  # the file the recipe produces for the target
    files: dict[str, str]  # role -> path
    steps: list[dict[str, Any]]
    parity: Parity | None
    settings: dict[str, Any]

    def step(self, name: str, method: str | None = None) -> dict[str, Any] | None:
        for s in self.steps:
            if s["step"] == name and (method is None or s.get("method") == method):
                return s
        return None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {"schema_version": 2, "edgedistill_version": __version__, **d}


# ----------------------------------------------------------------------------- entry point
def convert(
    *,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    device: str | None = None,
    quantize: Sequence[str] | str | None = None,
    optimize: OptimizeLevel | None = None,
    calib: str | None = None,
    calib_method: CalibMethod | None = None,
    calib_samples: int | None = None,
    per_channel: bool | None = None,
    fixed_shape: bool | None = None,
    fixed_batch: int = 1,
    format: Format | None = None,  # noqa: A002  (the device files' key)
    data: str | None = None,
    teacher: str | os.PathLike[str] | None = None,
    opset: int = 18,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    latency: bool = True,
    log=print,
) -> ConvertResult:
    """Convert ``source`` (a distill run folder, its student.json/student.pt, or any .onnx) into ``out``.

    ``device`` takes the recipe from that device file's ``convert:`` section; any argument given
    explicitly (not ``None``) overrides it. ``quantize`` lists methods (``dynamic``, ``static``,
    ``fp16``; ``none`` for none); the first one listed makes the file shipped to the target.
    ``data`` gives the validation inputs for parity and accuracy (default: the run's data),
    ``calib`` the calibration inputs for static quantization (default: the training split of ``data``).
    """
    dev = None
    if device is not None:
        from .devices import load_device

        dev = load_device(device)
    recipe = dict(dev.convert) if dev else {}
    methods = _methods(quantize if quantize is not None else recipe.get("quantize", "none"))
    settings = {
        "device": device,
        "quantize": methods,
        "optimize": optimize or recipe.get("optimize", "basic"),
        "calib": calib,
        "calib_method": calib_method or recipe.get("calib_method", "minmax"),
        "calib_samples": calib_samples or 512,
        "per_channel": recipe.get("per_channel", True) if per_channel is None else per_channel,
        "fixed_shape": recipe.get("fixed_shape", False) if fixed_shape is None else fixed_shape,
        "fixed_batch": fixed_batch,
        "format": format or recipe.get("format", "onnx"),
        "opset": opset, "atol": atol, "rtol": rtol,
    }
    _check_settings(settings)
    src = _resolve_source(source)
    out_dir = ensure_out_dir(out)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        result = _convert(src, out_dir, staging, settings, data=data, teacher=teacher, latency=latency, dev=dev, log=log)
        for role, name in list(result.files.items()):
            os.replace(staging / name, out_dir / name)
            result.files[role] = str(out_dir / name)
        result.onnx, result.ship = result.files["fp32"], str(out_dir / pathlib.Path(result.ship).name)
        write_json(out_dir / "convert.json", result.to_json())
        return result
    except _Rejected as r:
        os.replace(r.path, out_dir / r.path.name)
        raise EdgeDistillError(f"{r.message}; the file is kept as {out_dir / r.path.name} for inspection") from None
    except Exception as e:
        raise_if_no_space(out_dir / "convert.json", e)  # exporters and ORT tools report full disks in their own words
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Rejected(Exception):
    def __init__(self, path: pathlib.Path, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


@dataclasses.dataclass
class _Source:
    kind: Literal["run", "onnx"]
    path: pathlib.Path
    base: str  # file stem of the outputs


def _resolve_source(source: str | os.PathLike[str]) -> _Source:
    p = pathlib.Path(source)
    if p.is_file() and p.name in ("student.json", "student.pt"):
        p = p.parent
    if p.is_dir():
        if not (p / "student.json").exists():
            raise EdgeDistillError(f"{p / 'student.json'} not found; give a distill run folder, its student.json, or an .onnx file")
        return _Source("run", p, "student")
    if p.suffix == ".onnx" or p.is_file():
        if not p.exists():
            raise EdgeDistillError(f"{p} does not exist; give a distill run folder, its student.json, or an .onnx file")
        return _Source("onnx", p, p.stem)
    raise EdgeDistillError(f"{p} does not exist; give a distill run folder, its student.json, or an .onnx file")


def _methods(value: Sequence[str] | str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    methods: list[str] = []
    for item in items:
        for m in str(item).split(","):
            m = m.strip()
            if m in ("", "none"):
                continue
            if m not in QUANT_METHODS:
                raise EdgeDistillError(f"unknown quantization {m!r}; choose from none, {', '.join(QUANT_METHODS)}")
            if m not in methods:
                methods.append(m)
    return methods


def _check_settings(s: dict[str, Any]) -> None:
    if s["optimize"] not in ("none", "basic", "extended", "all"):
        raise EdgeDistillError(f"unknown optimization level {s['optimize']!r}; choose none, basic, extended or all")
    if s["calib_method"] not in ("minmax", "entropy", "percentile"):
        raise EdgeDistillError(f"unknown calibration method {s['calib_method']!r}; choose minmax, entropy or percentile")
    if s["format"] not in ("onnx", "ort"):
        raise EdgeDistillError(f"unknown format {s['format']!r}; choose onnx or ort")
    if s["fixed_batch"] < 1 or s["calib_samples"] < 1:
        raise EdgeDistillError("--fixed-batch and --calib-samples must be ≥ 1")


# ----------------------------------------------------------------------------- the steps
def _convert(src: _Source, out_dir, staging: pathlib.Path, s: dict[str, Any], *, data, teacher, latency, dev, log) -> ConvertResult:
    steps: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    base = src.base
    fp32 = staging / f"{base}.onnx"
    parity = None

    # 1 + 2. export and parity (run folders), or take the ONNX file as it is
    if src.kind == "run":
        from .distill import load_student

        model, spec = load_student(src.path)
        data = data or spec["data"]
        teacher = teacher if teacher is not None else spec["teacher"]["path"]
        t0 = time.perf_counter()
        exporter, note = export_onnx(model, spec, fp32, opset=s["opset"])
        _add_metadata(fp32, spec)
        steps.append({"step": "export", "exporter": exporter, "fallback_reason": note, "opset": s["opset"],
                      "dynamic_batch": True, "seconds": time.perf_counter() - t0, "size_bytes": fp32.stat().st_size})
        x_val, y_val = _eval_inputs(data, fp32)
        parity = check_parity(model, fp32, x_val, atol=s["atol"], rtol=s["rtol"])
        steps.append({"step": "parity", **dataclasses.asdict(parity)})
        if not parity.passed:
            rejected = staging / f"{base}.rejected.onnx"
            os.replace(fp32, rejected)
            raise _Rejected(rejected, f"ONNX output differs from PyTorch: {parity.summary()}")
        log(f"exported {base}.onnx with the {exporter} exporter (opset {s['opset']}); parity: {parity.summary()}")
    else:
        from .teacher import load_onnx

        load_onnx(src.path, what="model")
        shutil.copyfile(src.path, fp32)
        x_val, y_val = _eval_inputs(data, fp32) if data else (None, None)
        steps.append({"step": "export", "exporter": "none (ONNX input copied)", "source": str(src.path), "size_bytes": fp32.stat().st_size})

    # 3. offline graph optimisation, shape inference, checker
    if s["optimize"] != "none":
        steps.append(_optimize(fp32, s["optimize"]))
        if src.kind == "run":
            again = check_parity(model, fp32, x_val, atol=s["atol"], rtol=s["rtol"])
            steps[-1]["parity_after"] = dataclasses.asdict(again)
            if not again.passed:
                rejected = staging / f"{base}.rejected.onnx"
                os.replace(fp32, rejected)
                raise _Rejected(rejected, f"graph optimisation ({s['optimize']}) changed the outputs: {again.summary()}")
        log(f"optimized {base}.onnx at level {s['optimize']}: {steps[-1]['nodes_before']} → {steps[-1]['nodes_after']} nodes")
    files["fp32"] = fp32.name

    # reference figures for the quantized variants
    t_out = _teacher_outputs(teacher, x_val)
    ref, ref_out = _evaluate(fp32, x_val, y_val, t_out, None, latency)
    steps.append({"step": "evaluate", "model": fp32.name, **ref})

    # 4. quantization
    ship = fp32
    for i, method in enumerate(s["quantize"]):
        target = staging / f"{base}{SUFFIX[method]}.onnx"
        t0 = time.perf_counter()
        if method == "fp16":
            _to_fp16(fp32, target)
            details: dict[str, Any] = {"keep_io_types": True}
        else:
            if x_val is None:
                raise EdgeDistillError(f"--quantize {method} on an .onnx file needs --data so its accuracy can be checked")
            details = _quantize_int8(fp32, target, method, s, calib_x=_calib_inputs(s, data, fp32) if method == "static" else None)
        seconds = time.perf_counter() - t0
        ev, _ = _evaluate(target, x_val, y_val, t_out, ref_out, latency)
        if ev.get("non_finite"):
            raise EdgeDistillError(f"the {method} model produces NaN or Inf on {ev['non_finite']} output values; "
                                   f"its value range does not fit {'fp16' if method == 'fp16' else 'int8'}; convert without --quantize {method}")
        step = {"step": "quantize", "method": method, "file": target.name, **details, "seconds": seconds,
                "size_bytes": target.stat().st_size, "size_ratio_vs_fp32": target.stat().st_size / fp32.stat().st_size, **ev}
        if latency and ev.get("p50_ms") and ref.get("p50_ms"):
            step["speedup_vs_fp32"] = ref["p50_ms"] / ev["p50_ms"]
            step["slower_than_fp32"] = ev["p50_ms"] > ref["p50_ms"]
        steps.append(step)
        files[method] = target.name
        log(_quant_line(step, ref))
        if i == 0:
            ship = target

    # 5. mobile: fixed shapes, ORT format, usability check
    if s["fixed_shape"]:
        fixed = staging / f"{ship.stem}.fixed.onnx"
        steps.append(_fix_shapes(ship, fixed, s["fixed_batch"]))
        files["fixed"] = fixed.name
        ship = fixed
        log(f"fixed input shapes of {fixed.name}: {steps[-1]['inputs']}")
    ep = _USABILITY_KEY.get(dev.primary) if dev else None  # NNAPI or CoreML: the checker has a verdict for it
    if s["format"] == "ort" or ep:
        steps.append(_mobile_check(ship))
        log(_mobile_line(steps[-1]))
        if ep and steps[-1][ep]["verdict"] == "NO":
            r = steps[-1][ep]
            log(f"WARNING: {dev.name} will run most of {ship.name} on its CPU fallback ({r['supported_nodes']}/{r['nodes']} nodes "
                f"on the accelerator in {r['partitions']} partition(s); unsupported: {', '.join(r['unsupported_ops']) or 'dynamic shapes'})")
    if s["format"] == "ort":
        step = _to_ort(ship, staging, arm=dev is not None and dev.primary in MOBILE_EPS)
        steps.append(step)
        files["ort"], files["ort_config"] = step["file"], step["required_operators_config"]
        ship = staging / step["file"]
        log(f"wrote {step['file']} (ORT format) and {step['required_operators_config']} for a reduced build")

    return ConvertResult(out_dir=str(out_dir), source=str(src.path), onnx=str(fp32), ship=str(ship), files=files,
                         steps=steps, parity=parity, settings=s)


def _quant_line(step: dict[str, Any], ref: dict[str, Any]) -> str:
    parts = [f"quantized {step['file']} ({step['method']}): {step['size_bytes']:,} bytes ({100 * step['size_ratio_vs_fp32']:.0f} % of fp32)"]
    if step.get("agreement_with_fp32") is not None:
        parts.append(f"agreement with fp32 {step['agreement_with_fp32']:.4f}")
    if step.get("accuracy") is not None:
        parts.append(f"accuracy {step['accuracy']:.4f} (fp32 {ref['accuracy']:.4f})")
    if "p50_ms" in step and "p50_ms" in ref:
        parts.append(f"p50 {step['p50_ms']:.4f} ms vs fp32 {ref['p50_ms']:.4f} ms")
    line = ", ".join(parts)
    if step.get("slower_than_fp32"):
        line += f"\n  SLOWER: the {step['method']} model is slower than fp32 on this host ({step['speedup_vs_fp32']:.2f}x); ship fp32 here unless size matters more"
    return line


# ----------------------------------------------------------------------------- data
# Model inputs travel as a dict {input name: array} in the model's input order (one entry for most models).
Feed = dict[str, np.ndarray]


def _eval_inputs(data: str | None, model_path: pathlib.Path) -> tuple[Feed | None, np.ndarray | None]:
    if data is None:
        return None, None
    ds = load_dataset(data)
    specs = _input_specs(model_path)
    xs, y = split_inputs(ds, "val", specs)
    if len(xs[0]) == 0:
        xs, y = split_inputs(ds, "train", specs)
    return {sp.name: x for sp, x in zip(specs, xs)}, y


def _calib_inputs(s: dict[str, Any], data: str | None, model_path: pathlib.Path) -> Feed:
    spec_src = s.get("calib") or data
    if spec_src is None:
        raise EdgeDistillError("static quantization needs calibration inputs; give --calib builtin:digits or an .npz")
    specs = _input_specs(model_path)
    xs, _ = split_inputs(load_dataset(spec_src), "train", specs, what="model (calibration data)")
    return {sp.name: x[: s["calib_samples"]] for sp, x in zip(specs, xs)}


def _input_specs(model_path: pathlib.Path):
    """The inputs of a model file, read from its graph alone (no checker, no shape inference)."""
    import onnx

    from .teacher import TensorSpec, _dims, _ONNX_TO_NP

    model = onnx.load(str(model_path), load_external_data=False)
    init = {i.name for i in model.graph.initializer}
    return [TensorSpec(i.name, _dims(i), np.dtype(_ONNX_TO_NP.get(i.type.tensor_type.elem_type, np.float32)).name)
            for i in model.graph.input if i.name not in init]


def _teacher_outputs(teacher, x: Feed | None) -> np.ndarray | None:
    if teacher is None or x is None or not pathlib.Path(teacher).exists():
        return None
    from .teacher import OnnxTeacher

    t = OnnxTeacher(teacher)
    if len(t.inputs) > 1:
        return t.run(x, progress=False)
    return t.run(fit_to_input(next(iter(x.values())), t.input.shape, np.dtype(t.input.dtype), what="teacher"), progress=False)


def _evaluate(path: pathlib.Path, x: Feed | None, y, t_out, ref: np.ndarray | None, latency: bool) -> tuple[dict[str, Any], np.ndarray | None]:
    """Accuracy, agreement (with the fp32 outputs ``ref`` and the teacher) and this host's p50 of one
    model file; returns the figures and the model's outputs on ``x``."""
    ev: dict[str, Any] = {}
    out = None
    if x is not None:
        out = _ort_run(path, x)
        if not np.all(np.isfinite(out)):
            return {"non_finite": int(np.sum(~np.isfinite(out)))}, out
        pred = out.argmax(-1)
        ev["accuracy"] = float(np.mean(pred == y)) if y is not None else None
        ev["teacher_agreement"] = float(np.mean(pred == t_out.argmax(-1))) if t_out is not None else None
        if ref is not None:
            ev["agreement_with_fp32"] = float(np.mean(pred == ref.argmax(-1)))
            ev["max_abs_diff_vs_fp32"] = float(np.abs(out.astype(np.float64) - ref).max())
        ev["samples"] = n_rows(x)
    if latency:
        ev.update(_latency(path, x))
    return ev, out


def _latency(path: pathlib.Path, x: Feed | None) -> dict[str, Any]:
    from .profile import measure_in_child
    from .teacher import random_array

    specs = _input_specs(path)
    if x is not None:
        feed = {k: v[:1] for k, v in x.items()}
    elif any(d is None for sp in specs for d in sp.shape[1:]):
        return {"latency": "not measured: symbolic input dimensions and no --data"}
    else:
        rng = np.random.default_rng(0)
        feed = {sp.name: random_array(np.dtype(sp.dtype), (1, *sp.shape[1:]), rng) for sp in specs}
    measured, _ = measure_in_child(path, providers=[("CPUExecutionProvider", {})], session={}, feed=feed, **LATENCY)
    return {"p50_ms": measured["timing"]["p50_ms"], "p90_ms": measured["timing"]["p90_ms"], "latency_runs": measured["timing"]["runs"]}


def _ort_run(path: pathlib.Path | str, x: Feed | np.ndarray, batch: int = 256) -> np.ndarray:
    """The first output over ``x`` (a feed dict, or one array for a one-input model), in batches."""
    from .teacher import ort_session

    sess = ort_session(path)
    if not isinstance(x, dict):
        x = {sess.get_inputs()[0].name: x}
    n = n_rows(x)
    return np.concatenate([np.asarray(sess.run(None, {k: v[i : i + batch] for k, v in x.items()})[0]) for i in range(0, n, batch)])


# ----------------------------------------------------------------------------- export + parity
def export_onnx(model, spec: dict[str, Any], path: pathlib.Path, *, opset: int) -> tuple[str, str | None]:
    """Export with the dynamo exporter, falling back to the TorchScript one; returns (exporter, why it fell back)."""
    import torch

    out_name = spec["output"]["name"]
    several = spec.get("inputs") or []
    if len(several) > 1:  # a multi-input student takes the teacher's inputs with their own dtypes
        names = [i["name"] for i in several]
        example = tuple(torch.zeros((2, *i["shape"][1:]), dtype=getattr(torch, i["dtype"])) for i in several)
    else:
        names = [spec["input"]["name"]]
        example = (torch.zeros((2, *spec["input"]["shape"][1:]), dtype=torch.float32),)
    batch = torch.export.Dim("batch")
    dynamic = tuple({0: batch} for _ in names)
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        params = []
    if len(names) > 1 and any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        dynamic = (dynamic,)  # forward(*inputs): torch.export sees one argument, a tuple
    try:
        with _Quiet():
            torch.onnx.export(
                model, example, str(path), input_names=names, output_names=[out_name], opset_version=opset,
                dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False,
            )
        return "dynamo", None
    except Exception as e:  # any exporter failure: record it and try the other exporter
        raise_if_no_space(path, e)
        reason = f"dynamo exporter failed ({type(e).__name__}: {_first_line(e)})"
    try:
        with _Quiet():
            torch.onnx.export(
                model, example, str(path), input_names=names, output_names=[out_name], opset_version=opset,
                dynamic_axes={**{n: {0: "batch"} for n in names}, out_name: {0: "batch"}}, dynamo=False,
            )
    except Exception as e:
        raise_if_no_space(path, e)
        raise EdgeDistillError(f"cannot export the student to ONNX: {reason}; the TorchScript exporter failed too ({type(e).__name__}: {_first_line(e)})") from None
    return "torchscript", reason


def _first_line(e: BaseException) -> str:
    """The most telling line of an exception: its innermost cause's first line, without colour codes."""
    import re

    while e.__cause__ is not None:
        e = e.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


class _Quiet(contextlib.AbstractContextManager):
    """Silence the exporters' and onnxruntime tools' prints, warnings and log lines; errors still raise."""

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


def check_parity(model, onnx_path: pathlib.Path | str, x: Feed | np.ndarray, *, atol: float = 1e-4, rtol: float = 1e-3) -> Parity:
    """Compare PyTorch and onnxruntime outputs on real inputs ``x`` (one array, or a feed dict in the
    model's input order)."""
    import torch

    xs = list(x.values()) if isinstance(x, dict) else [x]
    with torch.no_grad():
        ref = model(*[torch.from_numpy(np.ascontiguousarray(a)) for a in xs]).numpy()
    got = _ort_run(onnx_path, x)
    n = len(xs[0])
    if got.shape != ref.shape:
        return Parity(n, float("inf"), float("inf"), 0.0, atol, rtol, False)
    diff = np.abs(got - ref)
    rel = diff / np.maximum(np.abs(ref), 1e-12)
    agree = float(np.mean(got.argmax(-1) == ref.argmax(-1))) if ref.ndim > 1 else 1.0
    passed = bool(np.all(diff <= atol + rtol * np.abs(ref)))
    return Parity(n, float(diff.max()), float(rel.max()), agree, atol, rtol, passed)


# ----------------------------------------------------------------------------- optimise, quantize
def _optimize(path: pathlib.Path, level: str) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    from ._measure import GRAPH_LEVELS
    from .teacher import ort_session

    before = onnx.load(str(path))
    tmp = path.with_name(path.stem + ".opt.onnx")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = GRAPH_LEVELS[level]
    opts.optimized_model_filepath = str(tmp)
    t0 = time.perf_counter()
    ort_session(path, opts)
    after = onnx.load(str(tmp))
    # onnxruntime imports every domain it knows when it saves a graph: keep the ones the nodes use.
    used = {n.domain or "" for n in after.graph.node} | {""}
    keep = [o for o in after.opset_import if (o.domain or "") in used or (o.domain == "ai.onnx")]
    del after.opset_import[:]
    after.opset_import.extend(keep)
    # onnxruntime drops the model's metadata when it saves the optimised graph: carry it over.
    del after.metadata_props[:]
    after.metadata_props.extend(before.metadata_props)
    after.producer_name, after.producer_version = before.producer_name, before.producer_version
    after = onnx.shape_inference.infer_shapes(after)
    onnx.checker.check_model(after)
    onnx.save(after, str(path))
    tmp.unlink()
    note = None
    if level in ("extended", "all"):
        note = (f"level {level} may fuse operators into onnxruntime-specific kernels (com.microsoft domain) or a "
                "CPU-specific layout: ship this file only to targets running the same onnxruntime build and EP")
    return {"step": "optimize", "level": level, "nodes_before": len(before.graph.node), "nodes_after": len(after.graph.node),
            "size_bytes": path.stat().st_size, "seconds": time.perf_counter() - t0, "shape_inference": True,
            "checker": "passed", "hardware_specific_note": note}


def _quantize_int8(fp32: pathlib.Path, target: pathlib.Path, method: str, s: dict[str, Any], calib_x: Feed | None) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = target.with_name(target.stem + ".pre.onnx")
    try:
        with _Quiet():
            quant_pre_process(str(fp32), str(pre))
            if method == "dynamic":
                quantize_dynamic(str(pre), str(target), weight_type=QuantType.QInt8, per_channel=s["per_channel"])
                return {"weight_type": "int8", "activations": "quantized per call (dynamic)", "per_channel": s["per_channel"], "pre_process": True}
            batches = [{k: v[i : i + 32] for k, v in calib_x.items()} for i in range(0, n_rows(calib_x), 32)]

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self._it = iter(batches)

                def get_next(self):
                    return next(self._it, None)

            methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}
            quantize_static(
                str(pre), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=s["per_channel"],
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=methods[s["calib_method"]],
            )
    except EdgeDistillError:
        raise
    except Exception as e:
        raise EdgeDistillError(f"{method} quantization failed: {type(e).__name__}: {_first_line(e)}") from None
    finally:
        pre.unlink(missing_ok=True)
        for leftover in target.parent.glob("augmented_model*.onnx"):
            leftover.unlink()
    return {"format": "QDQ", "weight_type": "int8", "activation_type": "uint8", "per_channel": s["per_channel"],
            "calibration": {"method": s["calib_method"], "samples": n_rows(calib_x)}, "pre_process": True}


def _to_fp16(fp32: pathlib.Path, target: pathlib.Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _Quiet():
        model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    _toposort(model.graph)  # the converter appends its input Casts after their consumers
    onnx.save(model, str(target))


def _toposort(graph) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (stable otherwise)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise EdgeDistillError("the converted graph has a cycle or an input no node produces; cannot order it")
        for n in ready:
            known.update(n.output)
        ordered += ready
        pending = [n for n in pending if all(n is not r for r in ready)]
    copies = []
    for n in ordered:  # copy before clearing: the repeated field owns its messages
        c = type(n)()
        c.CopyFrom(n)
        copies.append(c)
    del graph.node[:]
    graph.node.extend(copies)


# ----------------------------------------------------------------------------- mobile
def _fix_shapes(src: pathlib.Path, dst: pathlib.Path, batch: int) -> dict[str, Any]:
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_input_shape_fixed

    model = onnx.load(str(src))
    init = {i.name for i in model.graph.initializer}
    shapes = {}
    for inp in model.graph.input:
        if inp.name in init:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
        if any(d is None for d in dims[1:]):
            raise EdgeDistillError(f"input {inp.name} has symbolic dimensions {dims} beyond the batch; fixed shapes need them known")
        fixed = [batch, *dims[1:]]
        make_input_shape_fixed(model.graph, inp.name, fixed)
        shapes[inp.name] = fixed
    fix_output_shapes(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return {"step": "fixed_shape", "file": dst.name, "inputs": shapes, "tool": "onnxruntime.tools.onnx_model_utils.make_input_shape_fixed"}


# The usability-check entry for a device's accelerator, when onnxruntime's checker judges it.
_USABILITY_KEY = {"NnapiExecutionProvider": "nnapi", "CoreMLExecutionProvider": "coreml_mlprogram"}


def _mobile_check(path: pathlib.Path) -> dict[str, Any]:
    """NNAPI / CoreML partitioning, from onnxruntime's own mobile usability checker."""
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo

    with _Quiet():
        model = ModelProtoWithShapeInfo(path).model_with_shape_info
        dynamic_inputs, _ = uc.check_shapes(model.graph)
        checks = {
            "nnapi": uc.check_nnapi_partitions(model, require_fixed_input_sizes=True),
            "coreml_mlprogram": uc.check_coreml_partitions(model, True, "coreml_supported_mlprogram_ops.md"),
            "coreml_neuralnetwork": uc.check_coreml_partitions(model, True, "coreml_supported_neuralnetwork_ops.md"),
        }
    summary: dict[str, Any] = {"step": "mobile_check", "file": path.name, "dynamic_inputs": [str(i) for i in (dynamic_inputs or [])]}
    for ep, info in checks.items():
        summary[ep] = {
            "nodes": info.num_nodes, "supported_nodes": info.num_supported_nodes,
            "coverage": info.num_supported_nodes / info.num_nodes if info.num_nodes else 0.0,
            "partitions": info.num_partitions, "unsupported_ops": sorted(info.unsupported_ops),
            "verdict": info.suitability().name,  # YES / MAYBE / NO, onnxruntime's own thresholds
        }
    return summary


def _mobile_line(step: dict[str, Any]) -> str:
    parts = []
    for ep in ("nnapi", "coreml_mlprogram"):
        r = step[ep]
        parts.append(f"{ep}: {r['supported_nodes']}/{r['nodes']} nodes in {r['partitions']} partition(s), verdict {r['verdict']}"
                     + (f" (unsupported: {', '.join(r['unsupported_ops'])})" if r["unsupported_ops"] else ""))
    return f"mobile check of {step['file']}: " + "; ".join(parts)


def _to_ort(src: pathlib.Path, staging: pathlib.Path, *, arm: bool) -> dict[str, Any]:
    """ORT format for ``src``; ``arm`` when the target runs a phone/board provider (MOBILE_EPS)."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    import onnxruntime as ort

    work = pathlib.Path(tempfile.mkdtemp(prefix="ort-", dir=staging))
    level = os.environ.get("ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL", "all")
    try:
        with _Quiet():
            ort.set_default_logger_severity(3)  # its NCHWc warning is recorded below instead
            convert_onnx_models_to_ort(src, output_dir=work, optimization_styles=[OptimizationStyle.Fixed],
                                       target_platform="arm" if arm else "amd64")
    except Exception as e:
        raise EdgeDistillError(f"cannot convert {src.name} to ORT format: {type(e).__name__}: {_first_line(e)}") from None
    finally:
        ort.set_default_logger_severity(2)
    ort_file = work / f"{src.stem}.ort"
    config = work / f"{src.stem}.required_operators.config"
    if not ort_file.exists():
        raise EdgeDistillError(f"onnxruntime did not convert {src.name} to ORT format (an operator may be unsupported); see its output above")
    os.replace(ort_file, staging / ort_file.name)
    os.replace(config, staging / config.name)
    shutil.rmtree(work, ignore_errors=True)
    ops = [ln.strip() for ln in (staging / config.name).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return {"step": "ort_format", "file": ort_file.name, "required_operators_config": config.name,
            "optimization_style": "Fixed", "optimization_level": level, "target_platform": "arm" if arm else "amd64",
            "hardware_specific_note": None if arm else (
                "converted for amd64 at level all: the file may hold x86-specific (NCHWc) layouts; "
                "convert with an ARM device (e.g. --device android-nnapi) for phones and boards"),
            "size_bytes": (staging / ort_file.name).stat().st_size, "operator_sets": ops}
