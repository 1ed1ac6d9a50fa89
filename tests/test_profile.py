"""profile: batch sweeps, generated inputs, IOBinding, per-op time, HTML report in Chromium, and `report`."""

import json
import re

import numpy as np
import onnx
from onnx import TensorProto, helper

from browser import render
from conftest import invoke
from test_errors import assert_user_error

FAST = ["--runs", "20", "--min-seconds", "0.05", "--warmup-seconds", "0"]


def test_batch_sweep_per_op_profile_and_html(teacher, tmp_path):
    out = tmp_path / "p"
    res = invoke("profile", teacher, "--data", "builtin:digits", "--teacher", teacher, "--batch", "1,4", "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((out / "profile.json").read_text())
    assert prof["schema_version"] == 2 and [b["batch_size"] for b in prof["batches"]] == [1, 4]
    assert prof["batches"][1]["input_shapes"] == {"image": [4, 1, 8, 8]}
    assert prof["timing"] == prof["batches"][0]["timing"] and not prof["timing"]["iobinding"]
    hist = prof["timing"]["histogram"]
    assert sum(hist["counts"]) == prof["timing"]["runs"] and len(hist["edges_ms"]) == len(hist["counts"]) + 1
    ops = prof["ops"]
    assert ops["runs"] == 20 and ops["kernel_ms_per_run"] > 0
    assert {"Conv"} <= {o["op_type"] for o in ops["by_op_type"]}
    assert abs(sum(o["share"] for o in ops["by_op_type"]) - 1) < 1e-6
    assert ops["by_provider"][0]["provider"] == "CPUExecutionProvider" and ops["by_provider"][0]["nodes"] == len(ops["by_node"])
    assert prof["accuracy"]["teacher_agreement"] == 1.0 and prof["accuracy"]["kl_to_teacher"] < 1e-6

    dom, console = render((out / "profile.html").as_uri())
    assert console == [], console
    assert 'data-rendered="ok"' in dom
    bars = len(re.findall(r'<rect [^>]*class="bar"', dom))
    assert bars == len(hist["counts"]) + len(ops["by_op_type"]) + len(ops["by_provider"])
    p50 = prof["timing"]["p50_ms"]
    assert f"{p50:.4f} ms" in dom and "98.89 %" in dom and "Conv ×2" in dom


def _symbolic_model(path):
    """Two inputs of other dtypes and a symbolic feature dimension: y = float(ids) + float(mask)."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["ids"], ["a"], to=TensorProto.FLOAT), helper.make_node("Cast", ["mask"], ["b"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["a", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_generated_inputs_need_shapes_for_symbolic_dims(tmp_path):
    _symbolic_model(tmp_path / "m.onnx")
    assert_user_error(invoke("profile", tmp_path / "m.onnx", *FAST), "symbolic dimensions", "--shape ids=1x1")
    res = invoke("profile", tmp_path / "m.onnx", "--shape", "ids=1x16", "--shape", "mask=1x16", "--batch", "3", "-o", tmp_path / "p",
                 "--iobinding", "on", "--ep-option", "arena_extend_strategy=kSameAsRequested", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["settings"]["input_shapes"] == {"ids": [3, 16], "mask": [3, 16]}
    assert prof["timing"]["iobinding"] is True and prof["timing"]["runs"] >= 20
    assert prof["settings"]["providers"] == [["CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"}]]
    assert "not_measured" in prof["accuracy"]
    assert_user_error(invoke("profile", tmp_path / "m.onnx", "--shape", "tokens=1x4"), "--shape names tokens")
    assert_user_error(invoke("profile", tmp_path / "m.onnx", "--shape", "ids=1xfoo"), "is not NAME=DxDx")


def test_regression_outputs_get_mse_not_agreement(tmp_path):
    w = helper.make_tensor("W", TensorProto.FLOAT, [4, 1], [0.5, -1.0, 2.0, 0.1])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "reg.onnx"))
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32))
    res = invoke("profile", tmp_path / "reg.onnx", "--data", tmp_path / "d.npz", "--teacher", tmp_path / "reg.onnx", "-o", tmp_path / "p",
                 "--op-profile-runs", "0", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["accuracy"]["mse_to_teacher"] == 0.0 and prof["accuracy"]["teacher_agreement"] is None
    assert "not_measured" in prof["ops"]


def test_report_compares_profiles_and_marks_the_pareto_front(converted, teacher, tmp_path):
    paths = []
    for name, model in (("teacher", teacher), ("student", converted / "student.onnx"), ("int8", converted / "student.int8.onnx")):
        res = invoke("profile", model, "--data", "builtin:digits", "--teacher", teacher, "-o", tmp_path / name, "--op-profile-runs", "0", *FAST)
        assert res.exit_code == 0, res.output
        paths.append(tmp_path / name / "profile.json")
    res = invoke("report", *paths, "-o", tmp_path / "compare.md", "--label", "teacher", "--label", "student", "--label", "int8")
    assert res.exit_code == 0, res.output
    md = (tmp_path / "compare.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| teacher") or line.startswith("| student") or line.startswith("| int8")]
    assert len(rows) == 3 and rows[0].endswith("| 1.00x |")
    # The most accurate model is always on the front; the fastest model is too.
    profs = [json.loads(p.read_text()) for p in paths]
    best = max(range(3), key=lambda i: (profs[i]["accuracy"]["top1"], -profs[i]["timing"]["p50_ms"]))
    fastest = min(range(3), key=lambda i: (profs[i]["timing"]["p50_ms"], -profs[i]["accuracy"]["top1"]))
    assert "★" in rows[best] and "★" in rows[fastest]

    res = invoke("report", *[p.parent for p in paths], "-o", tmp_path / "compare.html")
    assert res.exit_code == 0, res.output
    dom, console = render((tmp_path / "compare.html").as_uri())
    assert console == [] and 'data-rendered="ok"' in dom
    assert len(re.findall(r"<circle ", dom)) == 3
    assert "student.onnx @ cpu" in dom


def test_report_errors(tmp_path):
    (tmp_path / "x.json").write_text("not json")
    assert_user_error(invoke("report", tmp_path / "x.json", "-o", tmp_path / "c.md"), "is not JSON")
    assert_user_error(invoke("report", tmp_path / "none.json", "-o", tmp_path / "c.md"), "does not exist")
    (tmp_path / "y.json").write_text("{}")
    assert_user_error(invoke("report", tmp_path / "y.json", "-o", tmp_path / "c.md"), "not an edgedistill profile.json")
    assert_user_error(invoke("report", "-o", tmp_path / "c.md"), "at least one profile.json")


def test_profile_an_ort_format_file(run_dir, teacher, tmp_path):
    assert invoke("convert", run_dir, "-o", tmp_path / "m", "--device", "android-nnapi", "--no-latency").exit_code == 0
    ort_file = tmp_path / "m" / "student.qdq.fixed.ort"
    res = invoke("profile", ort_file, "--data", "builtin:digits", "--teacher", teacher, "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["model"]["parameters"] is None and prof["model"]["size_bytes"] == ort_file.stat().st_size
    assert prof["accuracy"]["samples"] == 359 and prof["accuracy"]["top1"] > 0.85  # batch-1 model, 359 inputs: padded chunks
    assert "| not measured | not measured |" in (tmp_path / "p" / "profile.md").read_text()
