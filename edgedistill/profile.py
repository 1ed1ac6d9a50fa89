"""Profile an ONNX model on a device: measured latency, memory, accuracy and teacher agreement.

The timing runs in a fresh child process (`edgedistill._measure`) with the device file's providers
and session options. Accuracy is computed on the test split of ``data`` (never used in training),
agreement on the same inputs against ``teacher``. Every figure in the result was measured in this
call; what could not be measured is marked "not measured".
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from . import __version__
from ._io import ensure_out_dir, sha256_file, write_json, write_text
from .data import fit_to_input, load_dataset
from .devices import load_device
from .errors import EdgeDistillError
from .teacher import OnnxTeacher, inspect_model

SCHEMA_VERSION = 1


@dataclasses.dataclass
class ProfileResult:
    model: dict[str, Any]
    device: dict[str, Any]
    host: dict[str, Any]
    settings: dict[str, Any]
    timing: dict[str, Any]
    memory: dict[str, Any]
    accuracy: dict[str, Any]
    schema_version: int = SCHEMA_VERSION
    edgedistill_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProfileResult:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def profile(
    *,
    model: str | os.PathLike[str],
    device: str = "cpu",
    data: str | None = None,
    teacher: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 1,
    warmup_runs: int = 10,
    warmup_seconds: float = 0.5,
    runs: int = 100,
    min_seconds: float = 2.0,
    threads: int | None = None,
    allow_fallback: bool = False,
    progress: bool = True,
    log=print,
) -> ProfileResult:
    """Measure ``model`` on ``device``; write ``profile.json`` and ``profile.md`` into ``out`` if given."""
    if batch_size < 1 or runs < 1 or warmup_runs < 0 or min_seconds < 0 or warmup_seconds < 0:
        raise EdgeDistillError("--batch and --runs must be ≥ 1 and the warm-up / minimum times ≥ 0")
    info = inspect_model(model)
    dev = load_device(device)
    providers, fallback = dev.runtime_providers(allow_fallback=allow_fallback)
    session = dict(dev.session)
    if threads is not None:
        session["intra_op_num_threads"] = threads
    out_dir = ensure_out_dir(out) if out is not None else None
    if len(info.inputs) != 1:
        raise EdgeDistillError(f"{model} has {len(info.inputs)} inputs; profile feeds models with one input")
    spec_in = info.inputs[0]
    in_dtype = np.dtype(spec_in.dtype)

    x_eval = y_eval = None
    if data is not None:
        ds = load_dataset(data)
        x_raw, y_eval = ds.part("test")
        if len(x_raw) == 0:
            raise EdgeDistillError(f"{data} has no test rows; give an .npz whose 'split' marks some rows 2 (test)")
        x_eval = fit_to_input(x_raw, spec_in.shape, in_dtype, what="model")
        feed = np.resize(x_eval, (batch_size, *x_eval.shape[1:])).astype(in_dtype)  # real samples, repeated if few
    else:
        if any(d is None for d in spec_in.shape[1:]):
            raise EdgeDistillError(f"input {spec_in.name} has symbolic dimensions {list(spec_in.shape)}; give --data so real inputs fix them")
        rng = np.random.default_rng(0)
        feed = rng.standard_normal((batch_size, *spec_in.shape[1:])).astype(in_dtype)

    log(f"profiling {pathlib.Path(model).name} on {dev.name} ({providers[0][0]}{', CPU fallback' if fallback else ''}), batch {batch_size}")
    measured, outputs = measure_in_child(
        model, providers=providers, session=session, feed={spec_in.name: feed}, eval_x=x_eval, allow_fallback=fallback,
        warmup_runs=warmup_runs, warmup_seconds=warmup_seconds, runs=runs, min_seconds=min_seconds, progress=progress,
        what=f"{pathlib.Path(model).name} on {dev.name}",
    )

    accuracy = _accuracy(outputs, y_eval, x_raw if data is not None else None, data, teacher, info.metadata)
    result = ProfileResult(
        model={
            "path": str(model), "name": pathlib.Path(model).name, "size_bytes": info.size_bytes,
            "parameters": info.parameters, "parameter_bytes": info.parameter_bytes, "sha256": sha256_file(model),
            "opsets": info.opsets,
        },
        device={
            **dev.to_json(), "providers_active": measured["providers_active"], "fallback_to_cpu": fallback,
        },
        host=measured["host"],
        settings={
            "batch_size": batch_size, "warmup_runs": warmup_runs, "warmup_seconds": warmup_seconds, "runs": runs,
            "min_seconds": min_seconds, "session": session, "inputs": "test split of " + data if data else "random normal",
            "input_shape": list(feed.shape), "input_dtype": str(feed.dtype),
        },
        timing=measured["timing"],
        memory=measured["memory"],
        accuracy=accuracy,
    )
    if out_dir is not None:
        from .report import profile_markdown

        write_json(out_dir / "profile.json", result.to_json())
        write_text(out_dir / "profile.md", profile_markdown(result))
    return result


def measure_in_child(
    model: str | os.PathLike[str],
    *,
    providers: list[tuple[str, dict[str, Any]]],
    session: dict[str, Any],
    feed: dict[str, np.ndarray],
    eval_x: np.ndarray | None = None,
    allow_fallback: bool = False,
    warmup_runs: int = 10,
    warmup_seconds: float = 0.5,
    runs: int = 100,
    min_seconds: float = 2.0,
    progress: bool = False,
    what: str = "the model",
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run the measurement protocol (`edgedistill._measure`) in a fresh process; returns (figures, eval outputs)."""
    with tempfile.TemporaryDirectory(prefix="edgedistill-measure-") as tmp:
        tmpd = pathlib.Path(tmp)
        np.savez(tmpd / "feed.npz", **feed)
        spec = {
            "model": str(pathlib.Path(model).resolve()), "providers": [[p, o] for p, o in providers], "session": session,
            "allow_fallback": allow_fallback, "feed": str(tmpd / "feed.npz"), "warmup_runs": warmup_runs,
            "warmup_seconds": warmup_seconds, "runs": runs, "min_seconds": min_seconds, "progress": progress,
        }
        if eval_x is not None:
            np.savez(tmpd / "eval.npz", x=eval_x)
            spec.update(eval=str(tmpd / "eval.npz"), eval_out=str(tmpd / "eval_out.npy"))
        (tmpd / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "edgedistill._measure", str(tmpd / "spec.json"), str(tmpd / "result.json")],
            stdout=subprocess.PIPE, stderr=None if progress else subprocess.PIPE, text=True,
        )
        result_path = tmpd / "result.json"
        if not result_path.exists():
            tail = (proc.stderr or "").strip().splitlines()[-1:] if proc.stderr else []
            raise EdgeDistillError(f"the measuring process died (exit {proc.returncode}{': ' + tail[0] if tail else ''}); the model may crash onnxruntime")
        measured = json.loads(result_path.read_text(encoding="utf-8"))
        if "error" in measured:
            raise EdgeDistillError(f"measuring {what} failed: {measured['error']}")
        outputs = np.load(tmpd / "eval_out.npy") if eval_x is not None else None
    return measured, outputs


def _accuracy(outputs, labels, x_raw, data, teacher, metadata: dict[str, str]) -> dict[str, Any]:
    if outputs is None:
        return {"not_measured": "no --data given"}
    acc: dict[str, Any] = {"data": data, "split": "test", "samples": int(len(outputs))}
    pred = outputs.argmax(-1) if outputs.ndim > 1 else None
    acc["top1"] = float(np.mean(pred == labels)) if labels is not None and pred is not None else None
    if labels is None:
        acc["top1_note"] = "not measured: the data has no labels"
    if teacher is None:
        acc["teacher_agreement"] = None
        acc["teacher_note"] = "not measured: no --teacher given"
        return acc
    t = OnnxTeacher(teacher)
    t_out = t.run(fit_to_input(x_raw, t.input.shape, np.dtype(t.input.dtype), what="teacher"), progress=False)
    if t_out.shape != outputs.shape:
        raise EdgeDistillError(f"teacher output shape {t_out.shape[1:]} does not match the model's {outputs.shape[1:]}; profile against the teacher it was distilled from")
    acc["teacher"] = str(teacher)
    acc["teacher_agreement"] = float(np.mean(pred == t_out.argmax(-1))) if pred is not None else None
    acc["kl_to_teacher"] = _kl(t_out, t.output_kind, outputs, metadata.get("edgedistill.output_kind", "logits"))
    return acc


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _kl(t_out: np.ndarray, t_kind: str, s_out: np.ndarray, s_kind: str) -> float:
    """KL(teacher ‖ model) at T = 1, batch mean, with each output turned into log-probabilities by its kind."""
    def logp(z, kind):
        return _log_softmax(np.log(np.clip(z, 1e-12, None)) if kind == "probabilities" else z)
    lt, ls = logp(t_out, t_kind), logp(s_out, s_kind)
    return float(np.mean(np.sum(np.exp(lt) * (lt - ls), axis=-1)))
