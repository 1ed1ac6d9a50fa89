"""``decompose``: a student derived from the teacher's own graph by low-rank factorisation (the seed's idea).

The teacher ONNX graph is rebuilt as a PyTorch module that runs its nodes in order. Every Gemm,
MatMul and Conv weight W (out × in·k·k) is factorised by SVD, W ≈ (U·√S)(√S·Vᵀ) at rank r, into two
smaller layers initialised from those factors (a Linear pair, or a k×k Conv to r channels followed by
a 1×1 Conv), so the student starts close to the teacher and is then fine-tuned by distillation.
The rank is ``rank_ratio`` of the full rank, or the smallest that keeps ``energy`` of the squared
singular values. A layer is kept dense (still initialised from the teacher) when factorising would
not make it smaller. A trailing Softmax/LogSoftmax is dropped: students output logits.

Supported ops: Conv, BatchNormalization, Relu, LeakyRelu, Sigmoid, Tanh, Clip, MaxPool, AveragePool,
GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Add, Mul, Identity, Dropout, Constant. Others are
refused with the list of what was found.
"""

from __future__ import annotations

import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EdgeDistillError
from . import register_student

SUPPORTED = {"Conv", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "MaxPool", "AveragePool",
             "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Mul", "Identity", "Dropout", "Constant"}


def choose_rank(s: np.ndarray, rank_ratio: float, energy: float | None) -> int:
    """Rank to keep for singular values ``s`` (descending)."""
    if energy is not None:
        cum = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-30)
        return int(min(len(s), np.searchsorted(cum, energy) + 1))
    return max(1, int(round(rank_ratio * len(s))))


def _factors(w2d: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(w2d.astype(np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (root[:, None] * vt[:rank]).astype(np.float32)


def _linear(w: np.ndarray, b: np.ndarray | None, rank_ratio: float, energy: float | None) -> tuple[nn.Module, dict]:
    """A Linear for weight ``w`` (out, in), factorised when that makes it smaller."""
    out_f, in_f = w.shape
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    r = choose_rank(s, rank_ratio, energy)
    if r * (out_f + in_f) >= out_f * in_f:
        layer = nn.Linear(in_f, out_f, bias=b is not None)
        layer.weight.data = torch.from_numpy(w.astype(np.float32).copy())
        if b is not None:
            layer.bias.data = torch.from_numpy(b.astype(np.float32).copy())
        return layer, {"shape": [out_f, in_f], "rank": min(out_f, in_f), "factorised": False}
    a, bt = _factors(w, r)
    first, second = nn.Linear(in_f, r, bias=False), nn.Linear(r, out_f, bias=b is not None)
    first.weight.data, second.weight.data = torch.from_numpy(bt), torch.from_numpy(a)
    if b is not None:
        second.bias.data = torch.from_numpy(b.astype(np.float32).copy())
    return nn.Sequential(first, second), {"shape": [out_f, in_f], "rank": r, "factorised": True}


class _BatchNorm(nn.Module):
    """BatchNormalization over dim 1 of any rank, from the teacher's scale, bias, mean and variance."""

    def __init__(self, scale, bias, mean, var, eps: float, momentum: float) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.from_numpy(scale.copy())), nn.Parameter(torch.from_numpy(bias.copy()))
        self.register_buffer("running_mean", torch.from_numpy(mean.copy()))
        self.register_buffer("running_var", torch.from_numpy(var.copy()))
        self.eps, self.momentum = eps, 1.0 - momentum

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps)


class GraphStudent(nn.Module):
    """The teacher graph as PyTorch, with factorised weights. ``forward`` runs the nodes in order."""

    def __init__(self, model_path: str, output: str | None, rank_ratio: float, energy: float | None) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        from ..teacher import load_onnx

        model = load_onnx(model_path, what="teacher")
        if any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer):
            model = onnx.load(model_path)
        nodes = list(model.graph.node)
        unsupported = sorted({n.op_type for n in nodes} - SUPPORTED - {"Softmax", "LogSoftmax"})
        if unsupported:
            raise EdgeDistillError(f"decompose cannot rebuild ops {', '.join(unsupported)} of {pathlib.Path(model_path).name}; "
                                   f"it supports {', '.join(sorted(SUPPORTED))} (use another --student)")
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        init_names = set(self.consts)
        self.input_name = next(i.name for i in model.graph.input if i.name not in init_names)
        self.output_name = output or model.graph.output[0].name
        producer = {o: n for n in nodes for o in n.output}
        # A trailing Softmax/LogSoftmax makes probabilities; the student outputs the logits before it.
        tail = producer.get(self.output_name)
        if tail is not None and tail.op_type in ("Softmax", "LogSoftmax"):
            self.output_name = tail.input[0]
        if any(n.op_type in ("Softmax", "LogSoftmax") and n is not tail for n in nodes):
            raise EdgeDistillError("decompose supports Softmax/LogSoftmax only as the last op of the teacher")
        self.steps: list[tuple] = []
        self.layers = nn.ModuleDict()
        self.report: list[dict] = []
        for k, n in enumerate(nodes):
            self.steps.append(self._build(k, n, rank_ratio, energy))

    def _attr(self, n, name, default=None):
        from onnx import helper

        for a in n.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def _build(self, k: int, n, rank_ratio: float, energy: float | None):
        key = f"n{k}"
        op = n.op_type
        if op == "Constant":
            from onnx import numpy_helper

            self.consts[n.output[0]] = numpy_helper.to_array(self._attr(n, "value"))
            return ("const", n)
        if op == "Conv":
            w = self.consts[n.input[1]]
            b = self.consts[n.input[2]] if len(n.input) > 2 and n.input[2] else None
            if w.ndim != 4:
                raise EdgeDistillError(f"decompose supports 2-D Conv only; node {n.name} has a {w.ndim - 2}-D kernel")
            pads = list(self._attr(n, "pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:]:
                raise EdgeDistillError(f"decompose supports symmetric Conv padding only (node {n.name} has {pads})")
            if self._attr(n, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise EdgeDistillError(f"decompose does not support auto_pad (node {n.name}); re-export with explicit pads")
            stride, dil, group = tuple(self._attr(n, "strides", [1, 1])), tuple(self._attr(n, "dilations", [1, 1])), self._attr(n, "group", 1)
            cout, cin_g, kh, kw = w.shape
            w2d = w.reshape(cout, -1)
            r = choose_rank(np.linalg.svd(w2d.astype(np.float64), compute_uv=False), rank_ratio, energy)
            if group == 1 and r * (cin_g * kh * kw + cout) < w.size:
                a, bt = _factors(w2d, r)
                first = nn.Conv2d(cin_g, r, (kh, kw), stride, tuple(pads[:2]), dil, bias=False)
                second = nn.Conv2d(r, cout, 1, bias=b is not None)
                first.weight.data = torch.from_numpy(bt.reshape(r, cin_g, kh, kw))
                second.weight.data = torch.from_numpy(a.reshape(cout, r, 1, 1))
                if b is not None:
                    second.bias.data = torch.from_numpy(b.astype(np.float32).copy())
                self.layers[key] = nn.Sequential(first, second)
                self.report.append({"node": n.name, "op": "Conv", "shape": list(w.shape), "rank": r, "factorised": True})
            else:
                conv = nn.Conv2d(cin_g * group, cout, (kh, kw), stride, tuple(pads[:2]), dil, group, bias=b is not None)
                conv.weight.data = torch.from_numpy(w.astype(np.float32).copy())
                if b is not None:
                    conv.bias.data = torch.from_numpy(b.astype(np.float32).copy())
                self.layers[key] = conv
                self.report.append({"node": n.name, "op": "Conv", "shape": list(w.shape), "rank": min(cout, w2d.shape[1]), "factorised": False})
            return ("layer", n, key)
        if op == "Gemm":
            if self._attr(n, "transA", 0):
                raise EdgeDistillError(f"decompose does not support Gemm with transA (node {n.name})")
            w = self.consts[n.input[1]] * self._attr(n, "alpha", 1.0)
            w = w if self._attr(n, "transB", 0) else w.T
            b = self.consts[n.input[2]] * self._attr(n, "beta", 1.0) if len(n.input) > 2 and n.input[2] else None
            self.layers[key], info = _linear(w, b, rank_ratio, energy)
            self.report.append({"node": n.name, "op": "Gemm", **info})
            return ("layer", n, key)
        if op == "MatMul":
            if n.input[1] not in self.consts:
                raise EdgeDistillError(f"decompose needs MatMul weights to be initializers (node {n.name} multiplies two activations)")
            self.layers[key], info = _linear(self.consts[n.input[1]].T, None, rank_ratio, energy)
            self.report.append({"node": n.name, "op": "MatMul", **info})
            return ("layer", n, key)
        if op == "BatchNormalization":
            scale, bias, mean, var = (self.consts[i].astype(np.float32) for i in n.input[1:5])
            self.layers[key] = _BatchNorm(scale, bias, mean, var, self._attr(n, "epsilon", 1e-5), self._attr(n, "momentum", 0.9))
            return ("layer", n, key)
        if op in ("Add", "Mul"):
            const = [i for i in n.input if i in self.consts]
            if const and self.consts[const[0]].dtype == np.float32:
                self.layers[key] = _ConstParam(self.consts[const[0]])
            return ("binary", n, key)
        return ("op", n)

    def run_nodes(self, env: dict, start: int = 0, stop: int | None = None) -> dict:
        """Run steps ``start``..``stop`` on the tensors in ``env`` (names → tensors); returns env."""
        for step in self.steps[start:stop]:
            kind, n = step[0], step[1]
            if kind == "const":
                continue
            x = env[n.input[0]] if n.input[0] in env else None
            op = n.op_type
            if kind == "layer":
                env[n.output[0]] = self.layers[step[2]](x)
            elif kind == "binary":
                a, b = n.input[0], n.input[1]
                key = step[2]
                left = env[a] if a in env else self.layers[key].value
                right = env[b] if b in env else self.layers[key].value
                env[n.output[0]] = left + right if op == "Add" else left * right
            elif op == "Relu":
                env[n.output[0]] = F.relu(x)
            elif op == "LeakyRelu":
                env[n.output[0]] = F.leaky_relu(x, self._attr(n, "alpha", 0.01))
            elif op == "Sigmoid":
                env[n.output[0]] = torch.sigmoid(x)
            elif op == "Tanh":
                env[n.output[0]] = torch.tanh(x)
            elif op == "Clip":
                lo = float(self.consts[n.input[1]]) if len(n.input) > 1 and n.input[1] in self.consts else self._attr(n, "min", None)
                hi = float(self.consts[n.input[2]]) if len(n.input) > 2 and n.input[2] in self.consts else self._attr(n, "max", None)
                env[n.output[0]] = torch.clamp(x, lo, hi)
            elif op in ("Identity", "Dropout"):
                env[n.output[0]] = x
            elif op in ("MaxPool", "AveragePool"):
                k = tuple(self._attr(n, "kernel_shape"))
                s = tuple(self._attr(n, "strides", k))
                pads = list(self._attr(n, "pads", [0] * 2 * len(k)))
                ceil = bool(self._attr(n, "ceil_mode", 0))
                if op == "MaxPool":
                    env[n.output[0]] = F.max_pool2d(x, k, s, tuple(pads[: len(k)]), ceil_mode=ceil)
                else:
                    env[n.output[0]] = F.avg_pool2d(x, k, s, tuple(pads[: len(k)]), ceil_mode=ceil,
                                                    count_include_pad=bool(self._attr(n, "count_include_pad", 0)))
            elif op == "GlobalAveragePool":
                env[n.output[0]] = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
            elif op == "Flatten":
                axis = self._attr(n, "axis", 1)
                env[n.output[0]] = x.reshape(*x.shape[:axis], -1) if axis > 0 else x.reshape(1, -1)
            elif op == "Reshape":
                # The batch dimension is kept whatever the teacher was exported with (often a fixed 1).
                shape = [int(d) for d in self.consts[n.input[1]]]
                env[n.output[0]] = x.reshape([x.shape[0], *[x.shape[i] if d == 0 else d for i, d in enumerate(shape) if i > 0]])
            elif op in ("Softmax", "LogSoftmax"):
                continue
            else:  # pragma: no cover - guarded by SUPPORTED
                raise EdgeDistillError(f"decompose cannot run {op}")
        return env

    def forward(self, x):
        return self.run_nodes({self.input_name: x})[self.output_name]

    def step_range(self, start_tensor: str | None, stop_tensor: str) -> tuple[int, int]:
        """Step indices from just after ``start_tensor`` is produced (None: the input) up to ``stop_tensor``."""
        produced = {o: i for i, s in enumerate(self.steps) for o in s[1].output}
        if stop_tensor not in produced:
            raise EdgeDistillError(f"the teacher graph has no tensor {stop_tensor!r} to cut at; list them with edgedistill inspect --intermediates")
        start = 0 if start_tensor is None else produced[start_tensor] + 1
        return start, produced[stop_tensor] + 1


class _ConstParam(nn.Module):
    """A float constant of the teacher (a bias added by Add, a scale by Mul), trainable in the student."""

    def __init__(self, value: np.ndarray) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.from_numpy(np.array(value, dtype=np.float32)))


@register_student
def decompose(*, input_shape: tuple[int, ...], num_outputs: int, teacher: str = "", output: str | None = None,
              rank_ratio: float = 0.25, energy: float | None = None) -> nn.Module:
    """Low-rank copy of ``teacher`` (filled in by distill); ``rank_ratio`` of each layer's rank, or the rank
    keeping ``energy`` (0..1) of its squared singular values."""
    if not teacher:
        raise EdgeDistillError("student 'decompose' needs the teacher's path (distill fills it in)")
    if energy is not None and not 0 < energy <= 1:
        raise EdgeDistillError(f"--student-arg energy must be in (0, 1], got {energy}")
    if not 0 < rank_ratio <= 1:
        raise EdgeDistillError(f"--student-arg rank_ratio must be in (0, 1], got {rank_ratio}")
    model = GraphStudent(teacher, output, rank_ratio, energy)
    with torch.no_grad():
        out = model.eval()(torch.zeros((2, *input_shape)))
    if math.prod(out.shape[1:]) != num_outputs:
        raise EdgeDistillError(f"decompose rebuilt an output of shape {tuple(out.shape[1:])} but the teacher output has {num_outputs} values")
    return model.train()
