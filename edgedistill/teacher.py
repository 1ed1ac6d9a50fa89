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

OutputKind = Literal["logits", "probabilities", "log_probabilities"]

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


def ort_session(path: str | os.PathLike[str], options=None, *, providers=("CPUExecutionProvider",)):
    """An onnxruntime session; a model this build cannot run (unknown op, newer opset) is a one-line user error."""
    import onnxruntime as ort

    from ._measure import ort_error_message

    try:
        return ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as e:
        raise EdgeDistillError(
            f"onnxruntime {ort.__version__} cannot load {pathlib.Path(path).name}: {ort_error_message(e)}; "
            "the model needs an onnxruntime build (or custom-op library) that implements it"
        ) from None


class OnnxTeacher:
    """An ONNX model run with onnxruntime on the CPU (the teacher pass is offline work)."""

    def __init__(self, path: str | os.PathLike[str], *, output: str | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = pathlib.Path(path)
        self.model = load_onnx(self.path, what="teacher")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort_session(self.path, opts)
        self.inputs = [_spec_from_ort(a) for a in self.session.get_inputs()]
        self.outputs = [_spec_from_ort(a) for a in self.session.get_outputs()]
        if len(self.inputs) != 1:
            names = ", ".join(i.name for i in self.inputs)
            raise EdgeDistillError(f"teacher {self.path.name} has {len(self.inputs)} inputs ({names}); edgedistill feeds models with one input")
        float_outputs = [o for o in self.outputs if o.dtype in ("float32", "float16", "float64")]
        if output is None:
            if not float_outputs:
                raise EdgeDistillError(f"teacher {self.path.name} has no float output to distill from (outputs: {', '.join(o.name for o in self.outputs)})")
            self.output = float_outputs[0]
        else:
            match = [o for o in self.outputs if o.name == output]
            if not match:
                raise EdgeDistillError(f"teacher has no output {output!r}; its outputs are {', '.join(o.name for o in self.outputs)}")
            self.output = match[0]
        self._sha256: str | None = None

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
        last = self.output.shape[-1] if self.output.shape else None
        if last is None:
            x = np.zeros((1, *[d or 1 for d in self.input.shape[1:]]), dtype=self.input.dtype)
            last = int(self.run(x, progress=False).shape[-1])
        return int(last)

    @property
    def output_kind(self) -> OutputKind:
        """What the distilled output means, read from the op that produces it."""
        producer = {o: n.op_type for n in self.model.graph.node for o in n.output}.get(self.output.name)
        if producer == "Softmax":
            return "probabilities"
        if producer == "LogSoftmax":
            return "log_probabilities"
        return "logits"

    @property
    def fixed_batch(self) -> int | None:
        b = self.input.shape[0] if self.input.shape else None
        return b if isinstance(b, int) and b > 0 else None

    def run(self, x: np.ndarray, *, batch_size: int = 256, progress: bool = True, desc: str = "teacher pass") -> np.ndarray:
        """Run the teacher over ``x`` (already fitted to its input) in batches; return the chosen output."""
        from tqdm.auto import tqdm

        n = len(x)
        step = self.fixed_batch or batch_size
        out: np.ndarray | None = None
        with tqdm(total=n, desc=desc, unit="sample", disable=not progress, leave=False) as bar:
            for start in range(0, n, step):
                chunk = x[start : start + step]
                real = len(chunk)
                if self.fixed_batch and real < step:  # a fixed-batch graph: pad the last chunk
                    pad = np.repeat(chunk[-1:], step - real, axis=0)
                    chunk = np.concatenate([chunk, pad])
                try:
                    (y,) = self.session.run([self.output.name], {self.input.name: chunk})
                except Exception as e:
                    msg = str(e).strip().splitlines()[0]
                    raise EdgeDistillError(f"teacher failed on inputs of shape {chunk.shape}: {msg}") from None
                y = np.asarray(y)[:real]
                if out is None:
                    out = np.empty((n, *y.shape[1:]), dtype=np.float32)
                out[start : start + real] = y
                bar.update(real)
        assert out is not None
        if not np.all(np.isfinite(out)):
            raise EdgeDistillError(f"teacher produced NaN or Inf on {int(np.sum(~np.isfinite(out)))} values; check the inputs and preprocessing")
        return out


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
    parameters: int
    parameter_bytes: int
    metadata: dict[str, str]

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
        metadata={p.key: p.value for p in model.metadata_props},
    )
