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
from .data import fit_to_input, load_dataset, split_inputs
from .devices import load_device
from .errors import EdgeDistillError
from .teacher import OnnxTeacher, inspect_model, inspect_ort_format, random_array

SCHEMA_VERSION = 2
GENERATED = "generated (random normal floats, random small integers, random booleans)"


@dataclasses.dataclass
class ProfileResult:
    """What ``profile`` measured. ``timing``/``memory`` are those of the first batch size in ``batches``."""

    model: dict[str, Any]
    device: dict[str, Any]
    host: dict[str, Any]
    settings: dict[str, Any]
    timing: dict[str, Any]
    memory: dict[str, Any]
    accuracy: dict[str, Any]
    batches: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ops: dict[str, Any] = dataclasses.field(default_factory=dict)
    parity: dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    edgedistill_version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProfileResult:
        missing = [k for k in ("model", "device", "host", "settings", "timing", "memory", "accuracy") if k not in d]
        if missing:
            raise EdgeDistillError(f"not an edgedistill profile.json: missing {', '.join(missing)}")
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def parse_shapes(items: list[str] | tuple[str, ...] | None) -> dict[str, list[int]]:
    """``["x=1x3x224x224"]`` → ``{"x": [1, 3, 224, 224]}``."""
    shapes: dict[str, list[int]] = {}
    for item in items or ():
        name, sep, dims = item.partition("=")
        try:
            values = [int(d) for d in dims.lower().split("x")]
        except ValueError:
            values = []
        if not sep or not name or not values or any(v < 1 for v in values):
            raise EdgeDistillError(f"--shape {item!r} is not NAME=DxDx... with positive sizes (e.g. --shape image=1x3x224x224)")
        shapes[name] = values
    return shapes


def profile(
    *,
    model: str | os.PathLike[str],
    device: str = "cpu",
    data: str | None = None,
    teacher: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    batch_size: int | list[int] = 1,
    shapes: dict[str, list[int]] | None = None,
    warmup_runs: int = 10,
    warmup_seconds: float = 0.5,
    runs: int = 100,
    min_seconds: float = 2.0,
    threads: int | None = None,
    graph_optimization: str | None = None,
    ep_options: dict[str, str] | None = None,
    iobinding: str = "auto",
    op_profile_runs: int = 20,
    allow_fallback: bool = False,
    remote: str | None = None,
    remote_python: str = "python3",
    ssh_config: str | None = None,
    html: bool = True,
    progress: bool = True,
    log=print,
) -> ProfileResult:
    """Measure ``model`` on ``device``; write ``profile.json``, ``profile.md`` and ``profile.html`` into ``out`` if given.

    ``batch_size`` may be a list (a sweep: one fresh measuring process per size). ``shapes`` fixes
    symbolic input dimensions for generated inputs (``{"x": [1, 3, 224, 224]}``); the batch
    dimension is then set by ``batch_size``. ``iobinding`` is ``auto`` (on for GPU providers), ``on`` or
    ``off``. ``op_profile_runs`` = 0 skips the per-op profile. ``ep_options`` are merged over the
    options the device file gives its first execution provider. ``remote`` (``user@host[:port]``)
    runs the measurement on that machine over SSH with ``remote_python``; ``ssh_config`` is passed
    to ssh as ``-F``.
    """
    batches = [batch_size] if isinstance(batch_size, int) else list(batch_size)
    if not batches or min(batches) < 1 or runs < 1 or warmup_runs < 0 or min_seconds < 0 or warmup_seconds < 0 or op_profile_runs < 0:
        raise EdgeDistillError("--batch sizes and --runs must be ≥ 1 and the warm-up / minimum times and --op-profile-runs ≥ 0")
    if iobinding not in ("auto", "on", "off"):
        raise EdgeDistillError(f"--iobinding must be auto, on or off, not {iobinding!r}")
    info = inspect_ort_format(model) if str(model).endswith(".ort") else inspect_model(model)
    dev = load_device(device)
    board = None
    if remote is not None:
        from .remote import parse_remote, probe

        if dev.runtime != "onnxruntime":
            raise EdgeDistillError(f"device {dev.name!r} runs in a browser here; --remote runs onnxruntime devices on a board")
        board = parse_remote(remote, python=remote_python, ssh_config=ssh_config)
        log(f"checking {remote_python} and onnxruntime on {board.label}")
        found = probe(board)
        providers, fallback = dev.runtime_providers(allow_fallback=allow_fallback, remote={**found, "label": board.label})
    else:
        providers, fallback = dev.runtime_providers(allow_fallback=allow_fallback)
    if ep_options and not fallback:
        providers = [(providers[0][0], {**providers[0][1], **ep_options}), *providers[1:]]
    session = dict(dev.session)
    if threads is not None:
        session["intra_op_num_threads"] = threads
    if graph_optimization is not None:
        session["graph_optimization_level"] = graph_optimization
    out_dir = ensure_out_dir(out) if out is not None else None

    x_eval = y_eval = x_raw = None
    if data is not None:
        ds = load_dataset(data)
        xs, y_eval = split_inputs(ds, "test", info.inputs)
        if len(xs[0]) == 0:
            raise EdgeDistillError(f"{data} has no test rows; give an .npz whose 'split' marks some rows 2 (test)")
        # One array, or one per input (model order); the teacher gets the same rows (refitted to its one
        # input, or by name).
        x_eval = xs[0] if len(xs) == 1 else xs
        x_raw = xs[0] if len(xs) == 1 else {i.name: a for i, a in zip(info.inputs, xs)}

    sweep: list[dict[str, Any]] = []
    measured: dict[str, Any] = {}
    outputs = None
    parity: dict[str, Any] = {}
    for i, b in enumerate(batches):
        feed = _feed(info.inputs, b, x_eval, shapes or {})
        log(f"profiling {pathlib.Path(model).name} on {dev.name} ({providers[0][0]}{', CPU fallback' if fallback else ''}), batch {b}")
        if dev.runtime == "onnxruntime-web":
            m, out_b, parity_b = _measure_browser(model, info, providers, feed, x_eval if i == 0 else None, warmup_runs, warmup_seconds,
                                                  runs, min_seconds, check=i == 0)
            parity = parity_b if i == 0 else parity
        elif board is not None:
            from .remote import measure_remote

            spec = protocol_spec(providers=providers, session=session, allow_fallback=fallback, warmup_runs=warmup_runs,
                                 warmup_seconds=warmup_seconds, runs=runs, min_seconds=min_seconds, iobinding=iobinding,
                                 op_profile_runs=op_profile_runs if i == 0 else 0)
            m, out_b = measure_remote(board, model, spec=spec, feed=feed, eval_x=x_eval if i == 0 else None)
        else:
            m, out_b = measure_in_child(
                model, providers=providers, session=session, feed=feed, eval_x=x_eval if i == 0 else None, allow_fallback=fallback,
                warmup_runs=warmup_runs, warmup_seconds=warmup_seconds, runs=runs, min_seconds=min_seconds, progress=progress,
                iobinding=iobinding, op_profile_runs=op_profile_runs if i == 0 else 0, what=f"{pathlib.Path(model).name} on {dev.name}",
            )
        if i == 0:
            measured, outputs = m, (out_b if x_eval is not None else None)
        sweep.append({"batch_size": b, "input_shapes": {k: list(v.shape) for k, v in feed.items()}, "timing": m["timing"], "memory": m["memory"]})

    accuracy = _accuracy(outputs, y_eval, x_raw, data, teacher, info.metadata)
    first_feed_shapes = sweep[0]["input_shapes"]
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
            "batch_sizes": batches, "batch_size": batches[0], "warmup_runs": warmup_runs, "warmup_seconds": warmup_seconds,
            "runs": runs, "min_seconds": min_seconds, "session": session, "providers": [[n, o] for n, o in providers],
            "iobinding": iobinding,
            "op_profile_runs": op_profile_runs, "inputs": ("test split of " + data) if data else GENERATED,
            "input_shapes": first_feed_shapes,
        },
        timing=sweep[0]["timing"],
        memory=sweep[0]["memory"],
        accuracy=accuracy,
        batches=sweep,
        ops=measured.get("ops", {}),
        parity=parity,
    )
    if out_dir is not None:
        from .report import profile_html, profile_markdown

        write_json(out_dir / "profile.json", result.to_json())
        write_text(out_dir / "profile.md", profile_markdown(result))
        if html:
            write_text(out_dir / "profile.html", profile_html(result))
    return result


def _measure_browser(model, info, providers, feed, x_eval, warmup_runs, warmup_seconds, runs, min_seconds, *, check: bool):
    """One batch size in headless Chromium; with ``check``, its outputs checked against onnxruntime in Python."""
    from .browser import measure_in_browser
    from .teacher import ort_session

    if len(feed) != 1 or next(iter(feed.values())).dtype != np.float32:
        raise EdgeDistillError(f"browser profiling feeds models with one float32 input; {pathlib.Path(model).name} has {', '.join(t.name + ' ' + t.dtype for t in info.inputs)}")
    x = next(iter(feed.values()))
    ref_inputs = x_eval if x_eval is not None else x
    threads = int(providers[0][1].get("threads", 1))
    m, out = measure_in_browser(model, threads=threads, feed=x, eval_x=ref_inputs, warmup_runs=warmup_runs,
                                warmup_seconds=warmup_seconds, runs=runs, min_seconds=min_seconds)
    if not check:
        return m, None, {}
    sess = ort_session(model)
    ref = np.concatenate([np.asarray(sess.run(None, {info.inputs[0].name: ref_inputs[i : i + 256]})[0]) for i in range(0, len(ref_inputs), 256)])
    ref = ref.reshape(len(ref_inputs), -1)
    parity = {"reference": "onnxruntime (Python, CPU) on the same inputs", "samples": int(len(ref_inputs)),
              "max_abs_diff": float(np.abs(out.astype(np.float64) - ref).max()),
              "top1_agreement": float(np.mean(out.argmax(-1) == ref.argmax(-1))) if ref.shape[1] > 1 else None}
    return m, out.reshape(ref.shape) if x_eval is not None else None, parity


def _feed(inputs, batch: int, x_eval: np.ndarray | None, shapes: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Inputs for the timed runs: real samples (repeated if fewer than ``batch``) or generated ones."""
    if x_eval is not None:
        xs = x_eval if isinstance(x_eval, list) else [x_eval]
        return {t.name: np.resize(a, (batch, *a.shape[1:])).astype(a.dtype) for t, a in zip(inputs, xs)}
    unknown = sorted(set(shapes) - {t.name for t in inputs})
    if unknown:
        raise EdgeDistillError(f"--shape names {', '.join(unknown)}, but the model's inputs are {', '.join(t.name for t in inputs)}")
    rng = np.random.default_rng(0)
    feed = {}
    for t in inputs:
        dims = list(shapes.get(t.name, t.shape))
        if len(dims) != len(t.shape):
            raise EdgeDistillError(f"--shape {t.name} has {len(dims)} dimensions but the input has {len(t.shape)} ({list(t.shape)})")
        dims[0] = batch if dims else batch
        if any(d is None for d in dims[1:]):
            raise EdgeDistillError(
                f"input {t.name} has symbolic dimensions {['?' if d is None else d for d in t.shape]}; "
                f"give --shape {t.name}={'x'.join(str(d or 1) for d in t.shape)} (or --data) to fix them"
            )
        try:
            arr = random_array(t.dtype, dims, rng)
        except TypeError:
            arr = None
        if arr is None:
            raise EdgeDistillError(f"input {t.name} has type {t.dtype}, which profile cannot generate; give --data")
        feed[t.name] = arr
    return feed


def protocol_spec(*, providers, session, allow_fallback, warmup_runs, warmup_seconds, runs, min_seconds, iobinding, op_profile_runs) -> dict[str, Any]:
    """The settings `_measure.measure` reads, wherever it runs (child process here, or on a board)."""
    return {
        "providers": [[p, o] for p, o in providers], "session": session, "allow_fallback": allow_fallback,
        "warmup_runs": warmup_runs, "warmup_seconds": warmup_seconds, "runs": runs, "min_seconds": min_seconds,
        "iobinding": iobinding, "op_profile_runs": op_profile_runs,
    }


def measure_in_child(
    model: str | os.PathLike[str],
    *,
    providers: list[tuple[str, dict[str, Any]]],
    session: dict[str, Any],
    feed: dict[str, np.ndarray],
    eval_x: np.ndarray | list[np.ndarray] | None = None,
    allow_fallback: bool = False,
    warmup_runs: int = 10,
    warmup_seconds: float = 0.5,
    runs: int = 100,
    min_seconds: float = 2.0,
    progress: bool = False,
    iobinding: str = "auto",
    op_profile_runs: int = 0,
    what: str = "the model",
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run the measurement protocol (`edgedistill._measure`) in a fresh process; returns (figures, eval outputs)."""
    with tempfile.TemporaryDirectory(prefix="edgedistill-measure-") as tmp:
        tmpd = pathlib.Path(tmp)
        np.savez(tmpd / "feed.npz", **feed)
        spec = {
            **protocol_spec(providers=providers, session=session, allow_fallback=allow_fallback, warmup_runs=warmup_runs,
                            warmup_seconds=warmup_seconds, runs=runs, min_seconds=min_seconds, iobinding=iobinding,
                            op_profile_runs=op_profile_runs),
            "model": str(pathlib.Path(model).resolve()), "feed": str(tmpd / "feed.npz"), "progress": progress,
        }
        if eval_x is not None:
            from ._measure import eval_arrays

            np.savez(tmpd / "eval.npz", **eval_arrays(eval_x))
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
            from .teacher import load_hint

            raise EdgeDistillError(f"measuring {what} failed: {load_hint(measured['error']) or measured['error']}")
        outputs = np.load(tmpd / "eval_out.npy") if eval_x is not None else None
    return measured, outputs


def _accuracy(outputs, labels, x_raw, data, teacher, metadata: dict[str, str]) -> dict[str, Any]:
    if outputs is None:
        return {"not_measured": "no --data given"}
    acc: dict[str, Any] = {"data": data, "split": "test", "samples": int(len(outputs))}
    classifier = outputs.ndim == 2 and outputs.shape[1] > 1
    pred = outputs.argmax(-1) if classifier else None
    acc["top1"] = float(np.mean(pred == labels)) if labels is not None and pred is not None else None
    if labels is None:
        acc["top1_note"] = "not measured: the data has no labels"
    if teacher is None:
        acc["teacher_agreement"] = None
        acc["teacher_note"] = "not measured: no --teacher given"
        return acc
    t = OnnxTeacher(teacher)
    t_out = t.run(x_raw if isinstance(x_raw, dict) else fit_to_input(x_raw, t.input.shape, np.dtype(t.input.dtype), what="teacher"),
                  progress=False)
    if t_out.shape != outputs.shape:
        raise EdgeDistillError(f"teacher output shape {t_out.shape[1:]} does not match the model's {outputs.shape[1:]}; profile against the teacher it was distilled from")
    acc["teacher"] = str(teacher)
    if classifier:
        acc["teacher_agreement"] = float(np.mean(pred == t_out.argmax(-1)))
        acc["kl_to_teacher"] = _kl(t_out, t.output_kind, outputs, metadata.get("edgedistill.output_kind", "logits"))
    else:  # regression or embedding outputs: no classes to agree on
        acc["teacher_agreement"] = None
        acc["mse_to_teacher"] = float(np.mean((outputs.astype(np.float64) - t_out) ** 2))
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
