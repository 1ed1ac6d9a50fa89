"""Teacher import: real-world ONNX files made by the real exporters (torch, skl2onnx), run for real."""

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from conftest import invoke
from test_errors import assert_user_error

from edgedistill.cache import teacher_outputs
from edgedistill.data import fit_to_input, load_dataset
from edgedistill.errors import EdgeDistillError
from edgedistill.teacher import OnnxTeacher, auto_batch_size, inspect_model


def _export(module, args, path, **kw):
    """The TorchScript exporter, as older tools and vendors used it (fixed shapes unless told otherwise)."""
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=17, **kw)
    return path


def _digits(split="val"):
    x, y = load_dataset("builtin:digits").part(split)
    return x.astype(np.float32), y


class MLP(torch.nn.Module):
    def __init__(self, flatten_to_batch_one=False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.one = torch.nn.Linear(64, 32), torch.nn.Linear(32, 10), flatten_to_batch_one

    def forward(self, x):
        x = x.view(1, -1) if self.one else x  # a hard-coded batch of 1, as naive exports have
        return self.fc2(torch.relu(self.fc1(x)))


def test_fixed_batch_one_is_made_symbolic_when_the_graph_allows(tmp_path):
    path = _export(MLP(), (torch.zeros(1, 64),), tmp_path / "b1.onnx", input_names=["x"], output_names=["logits"])
    assert inspect_model(path).inputs[0].shape == (1, 64)
    t = OnnxTeacher(path)
    assert t.batch_mode.startswith("batch dimension made symbolic") and t.fixed_batch is None
    x, _ = _digits()
    out = t.run(x, progress=False)
    with torch.no_grad():
        assert np.allclose(out, MLP()(torch.from_numpy(x)).numpy(), atol=1e-5)


def test_fixed_batch_that_the_graph_pins_runs_in_chunks(tmp_path):
    path = _export(MLP(flatten_to_batch_one=True), (torch.zeros(1, 64),), tmp_path / "pinned.onnx", input_names=["x"], output_names=["logits"])
    t = OnnxTeacher(path)
    assert t.batch_mode == "chunks of 1 (the graph fixes its batch size)" and t.fixed_batch == 1
    x, _ = _digits()
    out = t.run(x[:37], progress=False)
    with torch.no_grad():
        ref = torch.cat([MLP(True)(torch.from_numpy(r[None])) for r in x[:37]]).numpy()
    assert out.shape == (37, 10) and np.allclose(out, ref, atol=1e-5)


class TwoInTwoOut(torch.nn.Module):
    """Token ids (int64) and a bool mask in; logits and a pooled embedding out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head = torch.nn.Embedding(20, 8), torch.nn.Linear(8, 3)

    def forward(self, ids, mask):
        h = self.emb(ids) * mask.unsqueeze(-1).float()
        pooled = h.sum(1) / mask.float().sum(1, keepdim=True).clamp_min(1)
        return self.head(pooled), pooled


def test_several_inputs_and_outputs_by_name_or_position(tmp_path):
    ids, mask = torch.randint(0, 20, (2, 6)), torch.ones(2, 6, dtype=torch.bool)
    path = _export(TwoInTwoOut(), (ids, mask), tmp_path / "two.onnx", input_names=["ids", "mask"], output_names=["logits", "pooled"],
                   dynamic_axes={"ids": {0: "batch"}, "mask": {0: "batch"}, "logits": {0: "batch"}, "pooled": {0: "batch"}})
    t = OnnxTeacher(path)
    assert [i.dtype for i in t.inputs] == ["int64", "bool"] and t.output.name == "logits"
    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 20, (50, 6)), "mask": rng.random((50, 6)) > 0.3}
    by_name = t.run(data, progress=False)
    by_position = t.run({"a": data["ids"], "b": data["mask"]}, progress=False)
    assert by_name.shape == (50, 3) and np.array_equal(by_name, by_position)
    with torch.no_grad():
        assert np.allclose(by_name, TwoInTwoOut()(torch.from_numpy(data["ids"]), torch.from_numpy(data["mask"]))[0].numpy(), atol=1e-5)
    pooled = OnnxTeacher(path, output="pooled")
    assert pooled.run(data, progress=False).shape == (50, 8) and pooled.output_kind == "logits"
    with pytest.raises(EdgeDistillError, match="do not match the teacher inputs ids, mask"):
        t.run({"ids": data["ids"]}, progress=False)
    # The npz route: arrays named after the inputs travel together through load_dataset.
    np.savez(tmp_path / "tokens.npz", ids=data["ids"], mask=data["mask"])
    part = load_dataset(str(tmp_path / "tokens.npz")).part_inputs("train")
    assert set(part) == {"ids", "mask"} and part["ids"].dtype == np.int64 and t.run(part, progress=False).shape == (35, 3)
    # distill takes both (the mlp student joins them; tests/test_engine.py covers the whole pipeline).
    res = invoke("distill", "--teacher", path, "--data", tmp_path / "tokens.npz", "--epochs", "2", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert [i["dtype"] for i in json.loads((tmp_path / "run" / "student.json").read_text())["inputs"]] == ["int64", "bool"]
    assert_user_error(invoke("distill", "--teacher", path, "--teacher-output", "nope", "-o", tmp_path / "r2"), "no output 'nope'")


def test_float16_inputs(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT), helper.make_node("MatMul", ["xf", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [helper.make_tensor("W", TensorProto.FLOAT, [64, 10], np.random.default_rng(0).standard_normal(640).astype(np.float32))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "half.onnx"))
    t = OnnxTeacher(tmp_path / "half.onnx")
    x, _ = _digits()
    assert t.input.dtype == "float16"
    out = t.run(fit_to_input(x, t.input.shape, np.dtype(t.input.dtype)), progress=False)
    assert out.dtype == np.float32 and out.shape == (len(x), 10)


def test_external_data_and_a_missing_data_file(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    path = tmp_path / "ext" / "model.onnx"
    path.parent.mkdir()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, 64),), str(path), dynamo=True, external_data=True, verbose=False,
                          input_names=["x"], output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
    data_files = [p for p in path.parent.iterdir() if p.name != "model.onnx"]
    assert data_files, "the exporter wrote external data"
    info = inspect_model(path)
    assert info.external_data and info.parameters == 64 * 256 + 256 + 256 * 10 + 10
    x, _ = _digits()
    with torch.no_grad():
        assert np.allclose(OnnxTeacher(path).run(x, progress=False), module(torch.from_numpy(x)).numpy(), atol=1e-5)
    for f in data_files:
        f.rename(tmp_path / f.name)
    assert_user_error(invoke("inspect", path), "external data file that is missing", f"expected {data_files[0]}")
    # A location that climbs out of the model's folder is refused, not followed.
    m = onnx.load(str(path), load_external_data=False)
    for init in m.graph.initializer:
        for e in init.external_data:
            if e.key == "location":
                e.value = "../" + e.value
    onnx.save(m, str(path))
    assert_user_error(invoke("inspect", path), "outside its folder", "refusing to read it")


def test_scikit_learn_classifiers_with_zipmap_become_dense_probabilities(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = _digits("train")
    xv, _ = _digits("val")
    for model in (LogisticRegression(max_iter=300), RandomForestClassifier(n_estimators=20, random_state=0)):
        model.fit(x, y)
        path = tmp_path / f"{type(model).__name__}.onnx"
        path.write_bytes(skl2onnx.to_onnx(model, x[:1]).SerializeToString())
        info = inspect_model(path)
        assert "ai.onnx.ml" in info.opsets and info.output_kind_guess is not None
        t = OnnxTeacher(path)
        assert t.output.name == "output_probability" and t.output_kind == "probabilities" and t.num_outputs == 10
        out = t.run(xv, progress=False)
        assert np.allclose(out, model.predict_proba(xv), atol=1e-4) and np.allclose(out.sum(1), 1, atol=1e-4)
    # Label-free distillation from the forest: KD uses the log of its probabilities.
    res = invoke("distill", "--teacher", path, "--epochs", "20", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    assert "is read as probabilities" in res.output
    final = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["val_agreement"] > 0.8


class Head(torch.nn.Module):
    def __init__(self, last):
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.last = torch.nn.Linear(64, 10), last

    def forward(self, x):
        z = self.fc(x)
        return {"softmax": torch.softmax(z, -1), "logsoftmax": torch.log_softmax(z, -1), "none": z}[self.last]


def test_output_kinds_are_detected_and_can_be_overridden(tmp_path):
    kinds = {}
    for last in ("softmax", "logsoftmax", "none"):
        path = _export(Head(last), (torch.zeros(2, 64),), tmp_path / f"{last}.onnx", input_names=["x"], output_names=["y"],
                       dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
        kinds[last] = OnnxTeacher(path).output_kind
    assert kinds == {"softmax": "probabilities", "logsoftmax": "log_probabilities", "none": "logits"}
    # Rows that sum to 1 are probabilities even without a trailing Softmax in the graph.
    t = OnnxTeacher(tmp_path / "none.onnx")
    assert t.kind_from(np.full((4, 10), 0.1, np.float32)) == "probabilities"
    assert t.kind_from(np.random.default_rng(0).standard_normal((4, 10))) == "logits"
    assert OnnxTeacher(tmp_path / "none.onnx", kind="regression").output_kind == "regression"
    with pytest.raises(EdgeDistillError, match="unknown --teacher-kind"):
        OnnxTeacher(tmp_path / "none.onnx", kind="scores")


def test_regression_and_embedding_teachers_are_distilled_with_mse(tmp_path):
    torch.manual_seed(0)
    reg = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    path = _export(reg, (torch.zeros(2, 64),), tmp_path / "reg.onnx", input_names=["x"], output_names=["value"],
                   dynamic_axes={"x": {0: "b"}, "value": {0: "b"}})
    assert OnnxTeacher(path).output_kind == "regression"
    res = invoke("distill", "--teacher", path, "--epochs", "15", "-o", tmp_path / "run")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["val_mse"] < lines[0]["val_mse"] and lines[-1]["val_agreement"] is None
    assert json.loads((tmp_path / "run" / "student.json").read_text())["teacher"]["output_kind"] == "regression"
    # An embedding teacher (16 wide, no softmax) is distilled with MSE when told so.
    emb = _export(torch.nn.Linear(64, 16), (torch.zeros(2, 64),), tmp_path / "emb.onnx", input_names=["x"], output_names=["e"],
                  dynamic_axes={"x": {0: "b"}, "e": {0: "b"}})
    res = invoke("distill", "--teacher", emb, "--teacher-kind", "regression", "--epochs", "5", "-o", tmp_path / "run2")
    assert res.exit_code == 0, res.output and "val_mse" in res.output


def test_intermediate_tensors_are_listed_and_exposed_without_changing_the_output(teacher):
    info = inspect_model(teacher)
    names = {t["name"]: t for t in info.intermediates}
    assert names["relu_2"]["shape"][1:] == [128] and names["max_pool2d"]["op_type"] == "MaxPool"
    x = fit_to_input(_digits()[0], (None, 1, 8, 8), np.dtype(np.float32))
    plain = OnnxTeacher(teacher).run(x, progress=False)
    out, feats = OnnxTeacher(teacher, extra_outputs=["relu_2", "max_pool2d"]).run(x, progress=False, extra=True)
    assert np.array_equal(out, plain)
    assert feats["relu_2"].shape == (len(x), 128) and feats["max_pool2d"].shape == (len(x), 64, 4, 4)
    with pytest.raises(EdgeDistillError, match="no intermediate tensor nope"):
        OnnxTeacher(teacher, extra_outputs=["nope"])
    res = invoke("inspect", teacher, "--intermediates")
    assert "relu_2" in res.output and "MACs per sample" in res.output and "1,330,432" in res.output


def test_opset_newer_than_onnxruntime_supports(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 30)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "new.onnx"))
    res = invoke("distill", "--teacher", tmp_path / "new.onnx", "-o", tmp_path / "r")
    assert_user_error(res, "ai.onnx opset 30, newer than onnxruntime", "upgrade onnxruntime", "re-export with opset")


def test_auto_batch_size_and_cache_on_a_fixed_batch_teacher(tmp_path):
    assert auto_batch_size({"x": np.zeros((10, 64), np.float32)}) == 1024
    assert auto_batch_size({"x": np.zeros((10, 3, 224, 224), np.float32)}) == 27
    path = _export(MLP(flatten_to_batch_one=True), (torch.zeros(1, 64),), tmp_path / "pinned.onnx", input_names=["x"], output_names=["y"])
    x, _ = _digits()
    t = OnnxTeacher(path)
    a, hit1 = teacher_outputs(t, x, cache_dir=tmp_path / "c", progress=False)
    b, hit2 = teacher_outputs(OnnxTeacher(path), x, cache_dir=tmp_path / "c", progress=False)
    assert (hit1, hit2) == (False, True) and np.array_equal(np.asarray(a), np.asarray(b))


def _big_model(folder, batch="batch"):
    """A 2.15 GB embedding table in external data, written the way exporters write large tensors
    (the file is sparse, so it costs little disk), feeding Gather -> ReduceMean -> MatMul."""
    from onnx import numpy_helper

    rows = 2**31 // (64 * 4) + 4096
    head = np.random.default_rng(0).standard_normal((1000, 64)).astype(np.float32)
    with open(folder / "big.onnx.data", "wb") as f:
        f.write(head.tobytes())
        f.truncate(rows * 64 * 4)
    table = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[rows, 64], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "big.onnx.data"), ("offset", "0"), ("length", str(rows * 64 * 4))):
        table.external_data.add(key=k, value=v)
    proj = np.random.default_rng(1).standard_normal((64, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["W", "ids"], ["e"]), helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["m", "H"], ["logits"])], "big",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [batch, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])], [table, numpy_helper.from_array(proj, "H")])
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "big.onnx"))
    return folder / "big.onnx", head, proj


def test_models_over_2_gb(tmp_path):
    path, head, proj = _big_model(tmp_path)
    assert (tmp_path / "big.onnx.data").stat().st_size > 2**31
    info = inspect_model(path)
    assert info.parameters > 2**29 and info.external_data == [str(tmp_path / "big.onnx.data")]
    ids = np.random.default_rng(0).integers(0, 1000, (100, 4))
    out = OnnxTeacher(path).run(ids, progress=False)
    assert np.allclose(out, head[ids].mean(1) @ proj, atol=1e-4)
    # Batch fixed at 1 in a model too big for one protobuf: it runs in chunks, and says why.
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    path, _, _ = _big_model(fixed, batch=1)
    t = OnnxTeacher(path)
    assert t.batch_mode.startswith("chunks of 1 (the model is over 2 GB")
    assert np.allclose(t.run(ids[:5], progress=False), head[ids[:5]].mean(1) @ proj, atol=1e-4)
