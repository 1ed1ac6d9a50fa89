"""Small ONNX models the tests build by hand."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def custom_op_model(path, *, ir_version: int | None = None):
    """y = com.example.Frobnicate(x): an operator no onnxruntime build implements."""
    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    if ir_version is not None:
        model.ir_version = ir_version
    onnx.save(model, str(path))
    return model
