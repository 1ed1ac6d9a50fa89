"""edgedistill.runtime: a torch-free Predictor for .onnx and .ort students."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import ROOT, invoke

from edgedistill.data import load_dataset
from edgedistill.runtime import DEVICES, Predictor, PredictorError


@pytest.fixture(scope="module")
def digits_test():
    ds = load_dataset("builtin:digits")
    mask = ds.split == 2
    return ds.x[mask], ds.y[mask]  # raw pixel counts 0..16, as an app would have them


def test_runtime_imports_only_onnxruntime_and_numpy():
    code = ("import sys, edgedistill.runtime; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'click', 'yaml', 'tqdm', 'onnx') "
            "or (m.startswith('edgedistill.') and m != 'edgedistill.runtime')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_predictor_classifies_raw_digits_with_metadata_preprocessing(converted, digits_test):
    x, y = digits_test
    p = Predictor(converted / "student.onnx")
    assert p.signature() == "image: float32[batch, 1, 8, 8]"
    assert (p.mean, p.std) == (0.0, 16.0) and list(p.class_names) == [str(i) for i in range(10)]
    labels = p.predict(x)
    assert labels.dtype.kind == "U" and np.mean(labels.astype(int) == y) > 0.9
    proba = p.predict_proba(x)
    assert proba.shape == (len(x), 10) and np.allclose(proba.sum(1), 1.0)
    # Same answers as running the session by hand on preprocessed inputs.
    logits = p.run({"image": (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)})["logits"]
    assert np.array_equal(logits.argmax(1), proba.argmax(1))
    # Batching of large inputs changes nothing.
    small = Predictor(converted / "student.onnx", batch_size=7)
    assert np.array_equal(small.predict(x), labels)
    assert p.predict(x[0]).shape == (1,)  # one raw row is one sample


def test_predictor_runs_fixed_shape_ort_files(run_dir, digits_test, tmp_path):
    res = invoke("convert", run_dir, "-o", tmp_path / "m", "--device", "android-nnapi", "--no-latency")
    assert res.exit_code == 0, res.output
    x, y = digits_test
    p = Predictor(tmp_path / "m" / "student.qdq.fixed.ort", device="cpu")
    assert p.inputs[0][1] == [1, 1, 8, 8]
    labels = p.predict(x[:25])  # 25 rows through a batch-1 model
    assert len(labels) == 25 and np.mean(labels.astype(int) == y[:25]) > 0.8


def test_vendored_copy_works_without_edgedistill(converted, digits_test, tmp_path):
    shutil.copy(ROOT / "edgedistill" / "runtime.py", tmp_path / "runtime.py")
    x, _ = digits_test
    np.save(tmp_path / "x.npy", x[:20])
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import numpy as np, runtime; "
            f"print(list(runtime.Predictor({str(converted / 'student.onnx')!r}).predict(np.load({str(tmp_path / 'x.npy')!r}))))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == list(Predictor(converted / "student.onnx").predict(x[:20]))


def test_predictor_errors_name_the_expected_signature(converted):
    p = Predictor(converted / "student.onnx")
    with pytest.raises(PredictorError, match=r"rows of shape \[10\] \(10 values\); the model expects image: float32\[batch, 1, 8, 8\]"):
        p.predict(np.zeros((3, 10)))
    with pytest.raises(PredictorError, match="dtype <U1; the model expects numbers"):
        p.predict(np.array([["a"] * 64]))
    with pytest.raises(PredictorError, match=r"input image has shape \[2, 64\]; the model expects image"):
        p.run({"image": np.zeros((2, 64), np.float32)})
    with pytest.raises(PredictorError, match=r"inputs \['x'\] do not match"):
        p.run({"x": np.zeros((2, 1, 8, 8), np.float32)})
    with pytest.raises(PredictorError, match="unknown device 'tpu'"):
        Predictor(converted / "student.onnx", device="tpu")
    with pytest.raises(PredictorError, match="CUDAExecutionProvider not in this onnxruntime"):
        Predictor(converted / "student.onnx", device="cuda")
    with pytest.raises(PredictorError, match="does not exist"):
        Predictor(converted / "nope.onnx")


def test_device_table_matches_the_device_files():
    files = {f.stem: yaml.safe_load(f.read_text()) for f in (ROOT / "devices").glob("*.yaml")}
    files = {k: d for k, d in files.items() if d.get("runtime", "onnxruntime") == "onnxruntime"}  # browser devices run onnxruntime-web
    assert set(files) == set(DEVICES)
    for name, d in files.items():
        assert DEVICES[name] == {"providers": d["providers"], "session": d["session"]}, name


def test_python_app_example(converted, digits_test, tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    x, y = digits_test
    np.savez(tmp_path / "digits.npz", x=x[:40], y=y[:40])
    app = ROOT / "examples" / "python_app" / "classify.py"
    out = subprocess.run([sys.executable, str(app), str(converted / "student.onnx"), "--npz", str(tmp_path / "digits.npz")],
                         capture_output=True, text=True, check=True).stdout
    assert "accuracy" in out and len([line for line in out.splitlines() if line.startswith("sample")]) == 40
    # A 32x32 black-on-white PNG of a test digit, as a phone photo or a drawing would be.
    i = int(np.flatnonzero(y == 3)[0])
    img = 255 - np.kron(x[i].reshape(8, 8) * (255 // 16), np.ones((4, 4))).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "three.png")
    out = subprocess.run([sys.executable, str(app), str(converted / "student.onnx"), str(tmp_path / "three.png"), "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result[0]["file"].endswith("three.png") and result[0]["label"] == Predictor(converted / "student.onnx").predict(x[i])[0]
