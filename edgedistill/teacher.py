"""The teacher: an ONNX file run by onnxruntime, with its signature and what its output means.

`OnnxTeacher` loads a model with clear errors for the ways real files go wrong, tells the input
signature the data must fit, and runs batched over a whole dataset with a progress bar.
`inspect_model` summarises any ONNX file for ``edgedistill inspect``.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
from typing import Literal

import numpy as np

from ._io import sha256_file
from .errors import EdgeDistillError

OutputKind = Literal["logits", "probabilities", "log_probabilities", "regression"]

# ONNX TensorProto element type -> numpy dtype (the ones a teacher input/output can realistically be).
_ONNX_TO_NP = {
    1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
    9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
}
_ORT_TO_NP = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # None where the dimension is symbolic
    dtype: str  # numpy dtype name, or the ORT type string when it has no numpy twin

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def external_data_files(model, model_path: pathlib.Path) -> list[pathlib.Path]:
    """The external-data files a model refers to, resolved; refuses paths that leave the model's folder."""
    from onnx.external_data_helper import uses_external_data

    folder = model_path.resolve().parent
    files: dict[str, pathlib.Path] = {}
    tensors = list(model.graph.initializer)
    for node in model.graph.node:  # Constant nodes can hold external tensors too
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for t in tensors:
        if not uses_external_data(t):
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = (folder / location).resolve()
        if pathlib.PurePath(location).is_absolute() or folder not in target.parents:
            raise EdgeDistillError(
                f"{model_path.name} points its tensor {t.name!r} at external data {location!r} outside its folder; "
                "refusing to read it (keep the .data file next to the model)")
        files[location] = target
    return list(files.values())


def load_onnx(path: str | os.PathLike[str], *, what: str = "model"):
    """Load and check an ONNX file, turning every failure a user can cause into one clear line."""
    import onnx

    p = pathlib.Path(path)
    if not p.exists():
        raise EdgeDistillError(f"{what} file {p} does not exist; check the path")
    if p.is_dir():
        raise EdgeDistillError(f"{what} path {p} is a folder; give the path of an .onnx file")
    if p.stat().st_size == 0:
        raise EdgeDistillError(f"{what} file {p} is empty; re-export or re-download it")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends; all mean "not ONNX"
        raise EdgeDistillError(f"{what} file {p} is not a readable ONNX model ({type(e).__name__}); check it is a complete .onnx file") from None
    if not model.graph.node and not model.graph.output:
        raise EdgeDistillError(f"{what} file {p} holds no ONNX graph; check it is an .onnx file")
    for f in external_data_files(model, p):
        if not f.is_file():
            raise EdgeDistillError(f"{what} {p.name} keeps its weights in an external data file that is missing: expected {f}; "
                                   "copy it next to the model")
    try:
        onnx.checker.check_model(str(p))
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise EdgeDistillError(f"{what} file {p} fails the ONNX checker: {msg}") from None
    return model


def _dims(value_info) -> tuple[int | None, ...]:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)


def _spec_from_ort(node_arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (node_arg.shape or []))
    dtype = _ORT_TO_NP.get(node_arg.type)
    return TensorSpec(node_arg.name, shape, np.dtype(dtype).name if dtype else node_arg.type)


def load_hint(message: str) -> str | None:
    """What to do about an onnxruntime load failure, read from its message; None when it is not a known kind."""
    import re

    import onnxruntime as ort

    m = re.search(r"Opset (\d+) is under development.*?domain (\S+) is till opset (\d+)", message, re.S)
    if m:
        return (f"the model uses {m.group(2)} opset {m.group(1)}, newer than onnxruntime {ort.__version__} supports "
                f"(up to {m.group(3)}); upgrade onnxruntime (pip install -U onnxruntime) or re-export with opset {m.group(3)} or lower")
    m = re.search(r"([\w.]+):(\w+)\(-?\d+\) is not a registered function/op", message)
    if m:
        return (f"operator {m.group(2)} of domain {m.group(1)} is not implemented in onnxruntime {ort.__version__}; "
                "register its custom-op library or use an onnxruntime build that implements it")
    m = re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", message)
    if m:
        return f"the file has IR version {m.group(1)} but onnxruntime {ort.__version__} reads up to {m.group(2)}; upgrade onnxruntime"
    return None


def ort_session(path_or_bytes, options=None, *, providers=("CPUExecutionProvider",), name: str | None = None):
    """An onnxruntime session; a model this build cannot run (unknown op, newer opset) is a one-line user error."""
    import onnxruntime as ort

    from ._measure import ort_error_message

    label = name or (pathlib.Path(path_or_bytes).name if not isinstance(path_or_bytes, bytes) else "the model")
    try:
        source = path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes)
        return ort.InferenceSession(source, options, providers=list(providers))
    except Exception as e:
        message = ort_error_message(e)
        hint = load_hint(message) or message + "; the model needs an onnxruntime build (or custom-op library) that implements it"
        raise EdgeDistillError(f"onnxruntime {ort.__version__} cannot load {label}: {hint}") from None


OUTPUT_KINDS = ("logits", "probabilities", "log_probabilities", "regression")
_FLOAT_TYPES = ("float32", "float16", "float64")


def _is_prob_map(spec: TensorSpec) -> bool:
    """A ZipMap output: a sequence of {class: probability} maps (scikit-learn classifiers)."""
    return spec.dtype.startswith("seq(map(") and "float" in spec.dtype


class OnnxTeacher:
    """An ONNX model run with onnxruntime on the CPU: signature, output meaning, batched runs.

    ``output`` picks the output to distill (default: the first float output, or the class
    probabilities of a scikit-learn classifier). ``kind`` overrides the detected meaning of that
    output (logits, probabilities, log_probabilities, regression). ``extra_outputs`` exposes
    intermediate tensors as additional outputs (for feature distillation) without changing the
    main output. A graph exported with a fixed batch size is made batch-symbolic when that is
    verified to give the same outputs, otherwise it runs in chunks of its batch size.
    """

    def __init__(self, path: str | os.PathLike[str], *, output: str | None = None, kind: str | None = None,
                 extra_outputs: tuple[str, ...] | list[str] = (), threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = pathlib.Path(path)
        self.model = load_onnx(self.path, what="teacher")
        if kind is not None and kind not in OUTPUT_KINDS:
            raise EdgeDistillError(f"unknown --teacher-kind {kind!r}; choose from {', '.join(OUTPUT_KINDS)}")
        self._kind_override = kind
        self._opts = ort.SessionOptions()
        if threads:
            self._opts.intra_op_num_threads = threads
        self.session = ort_session(self.path, self._opts)
        self.inputs = [_spec_from_ort(a) for a in self.session.get_inputs()]
        self.outputs = [_spec_from_ort(a) for a in self.session.get_outputs()]
        candidates = [o for o in self.outputs if o.dtype in _FLOAT_TYPES or _is_prob_map(o)]
        if output is None:
            if not candidates:
                raise EdgeDistillError(f"teacher {self.path.name} has no float output to distill from (outputs: "
                                       f"{', '.join(o.name + ' ' + o.dtype for o in self.outputs)})")
            maps = [o for o in candidates if _is_prob_map(o)]
            self.output = maps[0] if maps and all(o.dtype not in _FLOAT_TYPES for o in candidates) else candidates[0]
        else:
            match = [o for o in self.outputs if o.name == output]
            if not match:
                raise EdgeDistillError(f"teacher has no output {output!r}; its outputs are {', '.join(o.name for o in self.outputs)}")
            if match[0] not in candidates:
                raise EdgeDistillError(f"teacher output {output!r} is {match[0].dtype}, not a float tensor or class probabilities; choose another --teacher-output")
            self.output = match[0]
        self.extra_outputs = list(extra_outputs)
        self.batch_mode = "dynamic"
        self.fixed_batch: int | None = None
        self._sha256: str | None = None
        b = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        needs_rewrite = bool(self.extra_outputs) or (isinstance(b, int) and b > 0)
        if needs_rewrite:
            self._rewrite(fixed=b if isinstance(b, int) else None)

    # ------------------------------------------------------------------ graph rewrites
    def _model_bytes(self) -> bytes | None:
        """The full model as bytes (external data loaded), or None when it cannot be held as one protobuf."""
        import onnx

        if not external_data_files(self.model, self.path):
            return self.model.SerializeToString()
        total = sum(f.stat().st_size for f in external_data_files(self.model, self.path))
        if total >= 2**31 - 2**26:
            return None
        return onnx.load(str(self.path), load_external_data=True).SerializeToString()

    def _rewrite(self, fixed: int | None) -> None:
        import onnx

        blob = self._model_bytes()
        if blob is None:
            if self.extra_outputs:
                raise EdgeDistillError("exposing intermediate tensors of a model over 2 GB is not supported; distill from its outputs")
            self.batch_mode, self.fixed_batch = f"chunks of {fixed} (the model is over 2 GB, so its batch size is kept)", fixed
            return
        model = onnx.ModelProto.FromString(blob)
        if self.extra_outputs:
            shapes = {c["name"]: c for c in intermediate_tensors(self.model)}
            missing = [n for n in self.extra_outputs if n not in shapes]
            if missing:
                raise EdgeDistillError(f"teacher has no intermediate tensor {', '.join(missing)}; list them with edgedistill inspect --intermediates")
            existing = {o.name for o in model.graph.output}
            for name in self.extra_outputs:
                if name not in existing:
                    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        base = model.SerializeToString()
        self.session = ort_session(base, self._opts, name=self.path.name)
        if fixed is None:
            return
        self.fixed_batch = fixed
        self.batch_mode = f"chunks of {fixed} (the graph fixes its batch size)"
        symbolic = onnx.ModelProto.FromString(base)
        for value in [*symbolic.graph.input, *symbolic.graph.output]:
            dims = value.type.tensor_type.shape.dim
            if len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == fixed:
                dims[0].dim_param = "batch"
        del symbolic.graph.value_info[:]  # stale intermediate shapes would pin the batch again
        try:
            candidate = ort_session(symbolic.SerializeToString(), self._opts, name=self.path.name)
        except EdgeDistillError:
            return
        n = fixed + 1
        probe = self._probe_inputs(n)
        try:
            reference = self.run(probe, progress=False)  # the original graph, in chunks of its fixed batch
            (got,) = candidate.run([self.output.name], probe)[:1]
        except Exception:
            return
        got = _densify(got, self.output)
        if got.shape == reference.shape and np.allclose(got, reference, rtol=1e-4, atol=1e-5):
            self.session, self.fixed_batch = candidate, None
            self.batch_mode = f"batch dimension made symbolic (was fixed at {fixed}; verified on {n} samples)"

    def _probe_inputs(self, n: int) -> dict[str, np.ndarray]:
        """``n`` generated samples for every input (token ids and masks kept to 0/1, valid for any vocabulary)."""
        rng = np.random.default_rng(0)
        return {spec.name: random_array(spec.dtype if spec.dtype in _ORT_DTYPE_NAMES else "float32",
                                        (n, *[d or 1 for d in spec.shape[1:]]), rng, int_high=2) for spec in self.inputs}

    # ------------------------------------------------------------------ signature
    @property
    def input(self) -> TensorSpec:
        return self.inputs[0]

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    @property
    def num_outputs(self) -> int:
        """Width of the distilled output (classes, for a classifier)."""
        last = self.output.shape[-1] if self.output.shape and not _is_prob_map(self.output) else None
        if last is None:
            last = int(self.run(self._probe_inputs(1), progress=False).shape[-1])
        return int(last)

    @property
    def output_kind(self) -> str:
        """What the distilled output means: the override, else read from the op that produces it."""
        if self._kind_override:
            return self._kind_override
        producer = {o: n.op_type for n in self.model.graph.node for o in n.output}.get(self.output.name)
        if producer in ("Softmax", "ZipMap") or _is_prob_map(self.output):
            return "probabilities"
        if producer == "LogSoftmax":
            return "log_probabilities"
        if len(self.output.shape) != 2 or self.output.shape[-1] == 1:
            return "regression"
        return "logits"

    def kind_from(self, outputs: np.ndarray) -> str:
        """The output kind, refined with real outputs when the graph does not tell (rows summing to 1)."""
        kind = self.output_kind
        if self._kind_override or kind != "logits" or outputs.ndim != 2 or len(outputs) == 0:
            return kind
        rows = outputs.astype(np.float64)
        if np.all(rows >= -1e-6) and np.allclose(rows.sum(1), 1.0, atol=1e-3):
            return "probabilities"
        if np.all(rows <= 1e-6) and np.allclose(np.exp(rows).sum(1), 1.0, atol=1e-3):
            return "log_probabilities"
        return kind

    # ------------------------------------------------------------------ running
    def feed(self, x: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Model inputs by name: one array for a one-input model, or a dict matched by name, else by position."""
        names = [i.name for i in self.inputs]
        if not isinstance(x, dict):
            if len(names) != 1:
                raise EdgeDistillError(f"teacher has {len(names)} inputs ({', '.join(names)}); give one array per input (npz keys named after them)")
            return {names[0]: x}
        if set(names) <= set(x):
            return {n: x[n] for n in names}
        if len(x) == len(names):
            return dict(zip(names, x.values()))
        raise EdgeDistillError(f"data arrays {', '.join(x)} do not match the teacher inputs {', '.join(names)}; name the npz keys after the inputs")

    def run(self, x: np.ndarray | dict[str, np.ndarray], *, batch_size: int | None = None, progress: bool = True,
            desc: str = "teacher pass", extra: bool = False):
        """Run over ``x`` (fitted to the inputs) in batches; returns the chosen output (dense float32),
        and with ``extra=True`` also a dict of the exposed intermediate tensors."""
        from tqdm.auto import tqdm

        feed = self.feed(x)
        n = len(next(iter(feed.values())))
        step = self.fixed_batch or batch_size or auto_batch_size(feed)
        names = [self.output.name, *self.extra_outputs]
        out: np.ndarray | None = None
        extras: dict[str, list[np.ndarray]] = {k: [] for k in self.extra_outputs}
        with tqdm(total=n, desc=desc, unit="sample", disable=not progress, leave=False) as bar:
            for start in range(0, n, step):
                chunk = {k: v[start : start + step] for k, v in feed.items()}
                real = len(next(iter(chunk.values())))
                if self.fixed_batch and real < step:  # a fixed-batch graph: pad the last chunk
                    chunk = {k: np.concatenate([v, np.repeat(v[-1:], step - real, axis=0)]) for k, v in chunk.items()}
                try:
                    results = self.session.run(names, chunk)
                except Exception as e:
                    from ._measure import ort_error_message

                    raise EdgeDistillError(f"teacher failed on a batch of {real}: {ort_error_message(e)}") from None
                y = _densify(results[0], self.output)[:real]
                if out is None:
                    out = np.empty((n, *y.shape[1:]), dtype=np.float32)
                out[start : start + real] = y
                for k, v in zip(self.extra_outputs, results[1:]):
                    extras[k].append(np.asarray(v)[:real])
                bar.update(real)
        assert out is not None
        if not np.all(np.isfinite(out)):
            raise EdgeDistillError(f"teacher produced NaN or Inf on {int(np.sum(~np.isfinite(out)))} values; check the inputs and preprocessing")
        if extra:
            return out, {k: np.concatenate(v) for k, v in extras.items()}
        return out


def random_array(dtype: str, shape, rng: np.random.Generator, *, int_high: int = 10) -> np.ndarray:
    """Generated input of a dtype: normal floats, integers in [0, int_high), booleans; None for other kinds."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind in "iu":
        return rng.integers(0, int_high, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return None


_ORT_DTYPE_NAMES = {"float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool"}


def _densify(y, spec: TensorSpec) -> np.ndarray:
    """Tensor outputs as float32 arrays; ZipMap's list of {class: probability} as a dense matrix in class order."""
    if isinstance(y, list):
        if not y or not isinstance(y[0], dict):
            raise EdgeDistillError(f"teacher output {spec.name} is a {spec.dtype} that edgedistill cannot turn into an array; choose another --teacher-output")
        classes = sorted(y[0])
        return np.asarray([[row[c] for c in classes] for row in y], dtype=np.float32)
    return np.asarray(y, dtype=np.float32)


def auto_batch_size(feed: dict[str, np.ndarray], target_bytes: int = 16 << 20) -> int:
    """Samples per teacher batch: about 16 MiB of inputs, between 1 and 1024."""
    per_sample = sum(int(np.prod(v.shape[1:], dtype=np.int64)) * v.dtype.itemsize for v in feed.values()) or 1
    return int(max(1, min(1024, target_bytes // per_sample)))


def intermediate_tensors(model) -> list[dict[str, object]]:
    """Tensors computed inside the graph (candidates for feature distillation), with inferred shapes."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        inferred = model
    shapes = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    outputs = {o.name for o in model.graph.output}
    found = []
    for node in model.graph.node:
        for name in node.output:
            if not name or name in outputs:
                continue
            vi = shapes.get(name)
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in vi.type.tensor_type.shape.dim] if vi else None
            elem = vi.type.tensor_type.elem_type if vi else 0
            found.append({"name": name, "op_type": node.op_type, "shape": shape,
                          "dtype": np.dtype(_ONNX_TO_NP[elem]).name if elem in _ONNX_TO_NP else None})
    return found


@dataclasses.dataclass
class ModelInfo:
    path: str
    size_bytes: int
    ir_version: int
    producer: str
    opsets: dict[str, int]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    op_counts: dict[str, int]
    parameters: int | None  # None for ORT-format files, whose weights a session does not show
    parameter_bytes: int | None
    metadata: dict[str, str]
    macs: int | None = None  # multiply-accumulates per sample of Conv/Gemm/MatMul (estimate from inferred shapes)
    output_kind_guess: str | None = None
    intermediates: list[dict[str, object]] = dataclasses.field(default_factory=list)
    external_data: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        d["inputs"] = [t.to_json() for t in self.inputs]
        d["outputs"] = [t.to_json() for t in self.outputs]
        return d


def _quantization_constants(model) -> set[str]:
    """Initializers that are quantization scales or zero points, not weights."""
    names = set()
    for n in model.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            names.update(n.input[1:])
        elif n.op_type in ("MatMulInteger", "ConvInteger"):
            names.update(n.input[2:])
        elif n.op_type in ("QLinearConv", "QLinearMatMul"):
            names.update(n.input[i] for i in (1, 2, 4, 5, 6, 7) if i < len(n.input))
    names.update(i.name for i in model.graph.initializer if i.name.endswith(("_scale", "_zero_point")))
    return names


def count_parameters(model) -> tuple[int, int]:
    """(elements, bytes) of the weights: float or 8-bit initializers with more than one element,
    leaving out quantization scales and zero points, so a quantized model counts like its fp32 twin."""
    from onnx import TensorProto, helper

    weight_types = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16, TensorProto.INT8, TensorProto.UINT8}
    skip = _quantization_constants(model)
    # QDQ models keep biases as int32 tensors that a DequantizeLinear turns back into floats.
    int32_weights = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    elements = nbytes = 0
    for init in model.graph.initializer:
        n = int(np.prod(init.dims, dtype=np.int64)) if init.dims else 1
        is_weight = init.data_type in weight_types or (init.data_type == TensorProto.INT32 and init.name in int32_weights)
        if is_weight and n > 1 and init.name not in skip:
            elements += n
            nbytes += n * helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
    return elements, nbytes


def inspect_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Summarise an ONNX file: signature, opsets, op histogram, parameter count and bytes."""
    model = load_onnx(path)
    init_names = {i.name for i in model.graph.initializer}

    def spec(vi) -> TensorSpec:
        elem = vi.type.tensor_type.elem_type
        dtype = np.dtype(_ONNX_TO_NP[elem]).name if elem in _ONNX_TO_NP else f"onnx-type-{elem}"
        return TensorSpec(vi.name, _dims(vi), dtype)

    ops = collections.Counter(
        (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}") for n in model.graph.node
    )
    params, pbytes = count_parameters(model)
    p = pathlib.Path(path)
    return ModelInfo(
        path=str(path),
        size_bytes=pathlib.Path(path).stat().st_size,
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        opsets={(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        inputs=[spec(i) for i in model.graph.input if i.name not in init_names],
        outputs=[spec(o) for o in model.graph.output],
        op_counts=dict(ops.most_common()),
        parameters=params,
        parameter_bytes=pbytes,
        metadata={m.key: m.value for m in model.metadata_props},
        macs=estimate_macs(model),
        output_kind_guess=_guess_kind(model),
        intermediates=intermediate_tensors(model),
        external_data=[str(f) for f in external_data_files(model, p)],
    )


def inspect_ort_format(path: str | os.PathLike[str]) -> ModelInfo:
    """What can be read from an ORT-format (.ort) file through an onnxruntime session: its signature and
    metadata. Its weights are not visible that way, so parameters and opsets are left unmeasured."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise EdgeDistillError(f"model file {p} does not exist; check the path")
    sess = ort_session(p)
    meta = sess.get_modelmeta()
    return ModelInfo(
        path=str(p), size_bytes=p.stat().st_size, ir_version=0, producer=meta.producer_name or "", opsets={},
        inputs=[_spec_from_ort(a) for a in sess.get_inputs()], outputs=[_spec_from_ort(a) for a in sess.get_outputs()],
        op_counts={}, parameters=None, parameter_bytes=None, metadata=dict(meta.custom_metadata_map),
    )


def _guess_kind(model) -> str | None:
    """The meaning of the first output, from the op that produces it and its shape."""
    if not model.graph.output:
        return None
    out = model.graph.output[0]
    producer = {o: n.op_type for n in model.graph.node for o in n.output}.get(out.name)
    if out.type.WhichOneof("value") == "sequence_type" or producer in ("Softmax", "ZipMap"):
        return "probabilities"
    if producer == "LogSoftmax":
        return "log_probabilities"
    dims = _dims(out)
    if len(dims) != 2 or dims[-1] == 1:
        return "regression / embedding"
    return "logits (or probabilities, if rows sum to 1: the teacher pass checks)"


def estimate_macs(model) -> int | None:
    """Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul for one sample, from inferred shapes."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        return None
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for n in inferred.graph.node:
        try:
            if n.op_type in ("Conv", "ConvTranspose"):
                w, y = shapes[n.input[1]], shapes[n.output[0]]
                group = next((a.i for a in n.attribute if a.name == "group"), 1)
                per_out = int(np.prod(w[1:])) if n.op_type == "Conv" else int(np.prod(w[2:])) * w[0] // max(group, 1)
                total += int(np.prod(y[1:])) * per_out
            elif n.op_type == "Gemm":
                a, b = shapes[n.input[0]], shapes[n.input[1]]
                trans_b = next((x.i for x in n.attribute if x.name == "transB"), 0)
                total += a[-1] * (b[0] if trans_b else b[-1])
            elif n.op_type == "MatMul":
                a, b = shapes[n.input[0]], shapes[n.input[1]]
                rows = int(np.prod(a[1:-1])) if len(a) > 2 else 1
                total += rows * a[-1] * b[-1]
        except (KeyError, IndexError):
            continue
    return total
