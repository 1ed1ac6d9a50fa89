"""convert: quantization variants, device recipes, ORT format, any-ONNX input, and its failure paths."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from conftest import invoke
from test_errors import assert_user_error

from edgedistill.convert import export_onnx
from edgedistill.errors import EdgeDistillError


def _step(report, name, method=None):
    return next(s for s in report["steps"] if s["step"] == name and (method is None or s.get("method") == method))


def test_all_quantization_methods_are_measured_side_by_side(run_dir, tmp_path):
    out = tmp_path / "q"
    res = invoke("convert", run_dir, "-o", out, "--quantize", "dynamic,static", "--quantize", "fp16", "--calib-method", "entropy")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "convert.json").read_text())
    fp32 = _step(report, "evaluate")
    assert fp32["accuracy"] > 0.85 and fp32["p50_ms"] > 0
    for method, name in (("dynamic", "student.int8.onnx"), ("static", "student.qdq.onnx"), ("fp16", "student.fp16.onnx")):
        step = _step(report, "quantize", method)
        assert step["file"] == name and (out / name).is_file()
        assert step["size_bytes"] < fp32.get("size_bytes", (out / "student.onnx").stat().st_size)
        assert step["agreement_with_fp32"] >= 0.95 and abs(step["accuracy"] - fp32["accuracy"]) < 0.05
        assert step["teacher_agreement"] > 0.85 and step["p50_ms"] > 0
        assert step["slower_than_fp32"] == (step["p50_ms"] > fp32["p50_ms"])
        if step["slower_than_fp32"]:
            assert f"SLOWER: the {method} model is slower than fp32" in res.output
    static = _step(report, "quantize", "static")
    assert static["format"] == "QDQ" and static["calibration"] == {"method": "entropy", "samples": 512}
    ops = {n.op_type for n in onnx.load(str(out / "student.qdq.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fp16_types = {i.data_type for i in onnx.load(str(out / "student.fp16.onnx")).graph.initializer}
    assert TensorProto.FLOAT16 in fp16_types
    assert report["ship"].endswith("student.int8.onnx")  # the first method listed is shipped
    # Quantized files count the same weights as fp32 (scales and zero points are not parameters).
    from edgedistill.teacher import inspect_model

    assert {inspect_model(out / n).parameters for n in ("student.onnx", "student.int8.onnx", "student.qdq.onnx", "student.fp16.onnx")} == {2410}


def test_device_recipe_gives_fixed_shapes_ort_format_and_mobile_check(run_dir, tmp_path):
    out = tmp_path / "android"
    res = invoke("convert", run_dir / "student.json", "-o", out, "--device", "android-nnapi", "--no-latency")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "convert.json").read_text())
    assert report["settings"]["quantize"] == ["static"] and report["settings"]["fixed_shape"] is True
    assert _step(report, "fixed_shape")["inputs"] == {"image": [1, 1, 8, 8]}
    ort_file = out / "student.qdq.fixed.ort"
    assert report["ship"] == str(ort_file) and ort_file.is_file()
    sess = ort.InferenceSession(str(ort_file), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"image": np.zeros((1, 1, 8, 8), np.float32)})[0]
    assert y.shape == (1, 10)
    config = (out / "student.qdq.fixed.required_operators.config").read_text()
    assert "ai.onnx" in config and "QuantizeLinear" in config
    mobile = _step(report, "mobile_check")
    assert mobile["nnapi"]["nodes"] > 0 and mobile["nnapi"]["verdict"] in ("YES", "MAYBE", "NO")
    assert 0 < mobile["nnapi"]["coverage"] <= 1 and mobile["nnapi"]["partitions"] >= 1
    assert _step(report, "ort_format")["target_platform"] == "arm"


def test_explicit_flags_override_the_device_recipe(run_dir, tmp_path):
    out = tmp_path / "o"
    res = invoke("convert", run_dir, "-o", out, "--device", "android-nnapi", "--quantize", "none", "--format", "onnx",
                 "--dynamic-shape", "--no-latency")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["convert.json", "student.onnx"]


def test_any_onnx_file_can_be_quantized(teacher, tmp_path):
    out = tmp_path / "t"
    res = invoke("convert", teacher, "-o", out, "--quantize", "dynamic", "--data", "builtin:digits", "--no-latency")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "convert.json").read_text())
    assert report["parity"] is None and _step(report, "export")["exporter"].startswith("none")
    step = _step(report, "quantize", "dynamic")
    assert (out / "teacher.int8.onnx").is_file() and step["size_ratio_vs_fp32"] < 0.5 and step["agreement_with_fp32"] > 0.95
    assert teacher.read_bytes() == (teacher.parent / "teacher.onnx").read_bytes()  # the input is untouched


def _fragile_model(path, x):
    """y = sqrt(x @ W - b) with b just under x @ W: finite in fp32, NaN once int8 weights move x @ W by a hair."""
    from onnx import numpy_helper

    w = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    h = (x[:1] @ w)[0]
    b = (h - np.abs(h) * 1e-6).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Sub", ["h", "b"], ["d"]), helper.make_node("Sqrt", ["d"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_non_finite_quantized_outputs_are_refused_and_nothing_is_left(tmp_path):
    x = np.repeat(np.random.default_rng(1).standard_normal((1, 16)).astype(np.float32), 40, axis=0)
    _fragile_model(tmp_path / "fragile.onnx", x)
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(40, np.int64))
    out = tmp_path / "o"
    res = invoke("convert", tmp_path / "fragile.onnx", "-o", out, "--quantize", "dynamic", "--data", tmp_path / "d.npz", "--no-latency")
    assert_user_error(res, "dynamic model produces NaN or Inf", "convert without --quantize dynamic")
    assert list(out.iterdir()) == [], "a failed conversion leaves no file that looks valid"


def test_calibration_data_that_does_not_fit(run_dir, tmp_path):
    np.savez(tmp_path / "calib.npz", x=np.zeros((30, 5), np.float32))
    out = tmp_path / "o"
    res = invoke("convert", run_dir, "-o", out, "--quantize", "static", "--calib", tmp_path / "calib.npz", "--no-latency")
    assert_user_error(res, "calibration data", "expects [batch, 1, 8, 8]")
    assert list(out.iterdir()) == []


def test_unknown_quantization_and_source(run_dir, tmp_path):
    assert_user_error(invoke("convert", run_dir, "-o", tmp_path / "o", "--quantize", "int4"), "unknown quantization 'int4'")
    assert_user_error(invoke("convert", tmp_path / "missing.onnx", "-o", tmp_path / "o"), "does not exist")


def test_export_failure_is_a_clear_error(tmp_path):
    class NotExportable(torch.nn.Module):
        def forward(self, x):  # eigenvalues have no ONNX operator in either exporter
            return torch.linalg.eigvals(x.reshape(-1, 2, 2)).real.reshape(x.shape[0], -1)

    spec = {"input": {"name": "x", "shape": [None, 4]}, "output": {"name": "y"}}
    with pytest.raises(EdgeDistillError, match=r"cannot export the student to ONNX: dynamo exporter failed .*linalg_eig.*TorchScript exporter failed too"):
        export_onnx(NotExportable(), spec, tmp_path / "m.onnx", opset=18)


def test_an_op_this_onnxruntime_cannot_run_is_a_clear_error(tmp_path):
    from onnx_models import custom_op_model

    custom_op_model(tmp_path / "custom.onnx")
    np.savez(tmp_path / "d.npz", x=np.ones((20, 4), np.float32))
    out = tmp_path / "o"
    res = invoke("convert", tmp_path / "custom.onnx", "-o", out, "--data", tmp_path / "d.npz", "--quantize", "dynamic")
    assert_user_error(res, "cannot load custom.onnx", "operator Frobnicate of domain com.example is not implemented", "custom-op library")
    assert list(out.iterdir()) == []
    assert_user_error(invoke("profile", tmp_path / "custom.onnx"), "operator Frobnicate of domain com.example")


def test_ios_recipe_warns_when_coreml_would_split_the_graph(run_dir, tmp_path):
    # A QDQ model is split into many CoreML partitions: the console says the phone will mostly use its CPU.
    res = invoke("convert", run_dir, "-o", tmp_path / "ios", "--device", "ios-coreml", "--quantize", "static", "--no-latency")
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "ios" / "convert.json").read_text())
    coreml = _step(report, "mobile_check")["coreml_mlprogram"]
    if coreml["verdict"] == "NO":
        assert "WARNING: ios-coreml will run most of" in res.output
    assert (tmp_path / "ios" / "student.qdq.fixed.ort").is_file()
