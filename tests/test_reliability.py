"""Reliability: a matrix of bad inputs through the CLI, full disks, kills at random points, and fuzzing.

Every bad input must end with exit code 2, one line on stderr, no traceback, and nothing already
written damaged. BAD_INPUTS below is the whole matrix; README quotes its size.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from conftest import TEACHER, invoke
from test_errors import assert_user_error

from edgedistill.data import load_dataset
from edgedistill.errors import EdgeDistillError
from edgedistill.teacher import OnnxTeacher, inspect_model, load_onnx

DIGITS_TEACHER = TEACHER.read_bytes()


def _onnx(path, nodes, inputs, outputs, inits=(), opset=17):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)), opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def teacher_file(tmp, kind):
    """A teacher file that is wrong in one way."""
    p = tmp / f"{kind}.onnx"
    if kind == "missing":
        return p
    if kind == "dangling-link":
        p.symlink_to(tmp / "gone.onnx")
    elif kind == "folder":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(DIGITS_TEACHER[: len(DIGITS_TEACHER) // 2])
    elif kind == "not-onnx":
        p.write_bytes(b"PK\x03\x04 this is a zip file, not a model" * 20)
    elif kind == "fails-checker":
        _onnx(p, [helper.make_node("Relu", ["nowhere"], ["y"])], [_vi("x", ["b", 4])], [_vi("y", ["b", 4])])
    elif kind in ("external-missing", "external-outside"):
        w = onnx.numpy_helper.from_array(np.ones((4, 3), np.float32), "W")  # raw data, so it can go external
        model = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g", [_vi("x", ["b", 4])],
                                                    [_vi("y", ["b", 3])], [w]), opset_imports=[helper.make_opsetid("", 17)])
        onnx.save_model(model, str(p), save_as_external_data=True, location=f"{kind}.data", size_threshold=0)
        if kind == "external-missing":
            (tmp / f"{kind}.data").unlink()
        else:
            m = onnx.load(str(p), load_external_data=False)
            m.graph.initializer[0].external_data[0].value = "../../etc/passwd"
            onnx.save(m, str(p))
    return p


def data_file(tmp, kind):
    """A data file that is wrong in one way (for the 64-feature digits teacher)."""
    p = tmp / f"{kind}.npz"
    rng = np.random.default_rng(0)
    arrays = {
        "no-x": {"inputs": rng.random((20, 64))},
        "rows-mismatch": {"x": rng.random((20, 64)), "y": np.zeros(19, np.int64)},
        "text": {"x": np.array([["a"] * 64] * 20)},
        "nan": {"x": np.where(rng.random((20, 64)) > 0.9, np.nan, 1.0)},
        "inf": {"x": np.full((20, 64), np.inf)},
        "label-out-of-range": {"x": rng.random((40, 64)), "y": np.full(40, 12)},
        "negative-label": {"x": rng.random((40, 64)), "y": np.full(40, -1)},
        "empty": {"x": np.zeros((0, 64))},
        "wrong-shape": {"x": rng.random((40, 10))},
        "bad-split": {"x": rng.random((40, 64)), "split": np.full(40, 7)},
    }
    if kind == "not-npz":
        p = tmp / "data.txt"
        p.write_text("1,2,3\n")
    elif kind == "corrupt-npz":
        p.write_bytes(os.urandom(500))
    elif kind == "missing":
        pass
    else:
        np.savez(p, **arrays[kind])
    return p


def device_file(tmp, kind):
    p = tmp / f"{kind}.yaml"
    p.write_text({
        "bad-yaml": "name: x\nproviders: [[CPUExecutionProvider, {}]\n",
        "unknown-key": "providers: [[CPUExecutionProvider, {}]]\nturbo: true\n",
        "bad-providers": "providers: CPUExecutionProvider\n",
        "bad-session": "providers: [[CPUExecutionProvider, {}]]\nsession: {intra_op_num_threads: -3}\n",
    }[kind])
    return p


def _narrow_teacher(tmp):
    """A 3-output teacher for the 64-feature data: its outputs do not fit a 10-class student."""
    w = helper.make_tensor("W", TensorProto.FLOAT, [64, 3], np.ones(192, np.float32))
    return _onnx(tmp / "narrow.onnx", [helper.make_node("MatMul", ["x", "W"], ["y"])], [_vi("x", ["b", 64])], [_vi("y", ["b", 3])], [w])


def _raising_module(tmp):
    """A user's student module that raises while it is imported."""
    p = tmp / "bad_student.py"
    p.write_text("raise ImportError('needs a package that is not installed')\n")
    return p


# (case id, argv builder taking (tmp, run_dir, converted), expected fragment of the one-line error)
BAD_INPUTS = [
    *[(f"teacher-{k}", lambda t, r, c, k=k: ["distill", "--teacher", teacher_file(t, k), "-o", t / "out"], frag) for k, frag in [
        ("missing", "does not exist"), ("dangling-link", "does not exist"), ("folder", "is a folder"), ("empty", "is empty"),
        ("truncated", "not a readable ONNX model"), ("not-onnx", "not a readable ONNX model"), ("fails-checker", "fails the ONNX checker"),
        ("external-missing", "external data file that is missing"), ("external-outside", "outside its folder"),
    ]],
    *[(f"data-{k}", lambda t, r, c, k=k: ["distill", "--teacher", TEACHER, "--data", data_file(t, k), "-o", t / "out"], frag) for k, frag in [
        ("missing", "does not exist"), ("not-npz", "is not an .npz file"), ("corrupt-npz", "cannot read"), ("no-x", "has no array 'x'"),
        ("rows-mismatch", "one integer label per row"), ("text", "inputs must be numeric"), ("nan", "NaN or Inf"), ("inf", "NaN or Inf"),
        ("label-out-of-range", "labels must be 0..9"), ("negative-label", "negative labels"), ("empty", "'x' is empty"),
        ("wrong-shape", "(64 values per sample)"), ("bad-split", "'split' must hold"),
    ]],
    ("profile-teacher-does-not-fit", lambda t, r, c: ["profile", c / "student.onnx", "--data", "builtin:digits", "--teacher", _narrow_teacher(t)],
     "does not match the model's"),
    ("profile-unknown-device", lambda t, r, c: ["profile", c / "student.onnx", "--device", "toaster"], "unknown device 'toaster'"),
    *[(f"device-{k}", lambda t, r, c, k=k: ["profile", c / "student.onnx", "--device", device_file(t, k)], frag) for k, frag in [
        ("bad-yaml", "not valid YAML"), ("unknown-key", "unknown key(s) turbo"), ("bad-providers", "'providers' must be a list"),
        ("bad-session", "intra_op_num_threads must be a whole number"),
    ]],
    ("profile-missing-ep", lambda t, r, c: ["profile", c / "student.onnx", "--device", "cuda"], "onnxruntime-gpu"),
    ("out-unwritable", lambda t, r, c: ["convert", r, "-o", "/proc/edgedistill-out"], "cannot write to output folder"),
    ("out-is-a-file", lambda t, r, c: ["convert", r, "-o", t / "keep.txt"], "is a file"),
    ("convert-not-a-run", lambda t, r, c: ["convert", t, "-o", t / "out"], "student.json not found"),
    ("convert-bad-calibration", lambda t, r, c: ["convert", r, "-o", t / "out", "--quantize", "static", "--calib", data_file(t, "wrong-shape")],
     "calibration data"),
    ("resume-nothing", lambda t, r, c: ["distill", "--resume", "-o", t / "fresh"], "config.yaml not found"),
    ("report-not-json", lambda t, r, c: ["report", t / "keep.txt", "-o", t / "c.md"], "is not JSON"),
    ("student-unknown", lambda t, r, c: ["distill", "--teacher", TEACHER, "--student", "resnet", "-o", t / "out"], "known students"),
    ("student-module-raises", lambda t, r, c: ["distill", "--teacher", TEACHER, "--student", f"{_raising_module(t)}:Net", "-o", t / "out"],
     "importing your student module"),
]


@pytest.mark.parametrize("case, argv, fragment", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input(case, argv, fragment, tmp_path, run_dir, converted):
    (tmp_path / "keep.txt").write_text("written before")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("written before")
    run_before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert_user_error(invoke(*argv(tmp_path, run_dir, converted)), fragment)
    assert (tmp_path / "keep.txt").read_text() == "written before" and (out / "keep.txt").read_text() == "written before"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"], "no partial output left behind"
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == run_before


def _cli(args, *, limit_bytes=None, env=None):
    def limit():
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, "-m", "edgedistill", "-q", *map(str, args)], capture_output=True, text=True,
                          preexec_fn=limit, env={**os.environ, **(env or {})}, timeout=300)


def test_disk_full_while_writing(run_dir, tmp_path):
    """A write that runs out of space (simulated with a file-size limit) is one line, exit 2, no half file."""
    res = _cli(["distill", "--teacher", TEACHER, "--epochs", "2", "-o", tmp_path / "run"], limit_bytes=12000,
               env={"EDGEDISTILL_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("Error: cannot write") and "File too large" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert (tmp_path / "run" / "config.yaml").is_file() and not (tmp_path / "run" / "student.pt").exists()
    assert not list((tmp_path / "run").rglob("*.tmp*")) and not list((tmp_path / "run").rglob(".*.pt*"))
    res = _cli(["convert", run_dir, "-o", tmp_path / "conv", "--no-latency"], limit_bytes=6000)
    assert res.returncode == 2 and "File too large" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert list((tmp_path / "conv").iterdir()) == []


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)


def test_sigkill_during_distillation_then_resume_gives_the_same_weights(tmp_path):
    args = ["--teacher", TEACHER, "--epochs", "20", "--batch-size", "16", "--seed", "5"]
    ref = invoke("distill", *args, "-o", tmp_path / "ref")
    assert ref.exit_code == 0, ref.output
    run, rng = tmp_path / "killed", random.Random(1234)
    kills = 0
    for _ in range(2):  # two kills at random points, each followed by --resume
        cmd = ["distill", *args, "-o", run] if not (run / "config.yaml").exists() else ["distill", "--resume", "-o", run]
        proc = subprocess.Popen([sys.executable, "-m", "edgedistill", "-q", *map(str, cmd)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(run / "checkpoints" / "last.pt", proc)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += proc.returncode == -signal.SIGKILL
    if (run / "student.pt").exists() and not kills:
        pytest.skip("both runs finished before they could be killed")
    res = invoke("distill", "--resume", "-o", run)
    assert res.exit_code == 0, res.output
    a, b = (torch.load(d / "student.pt", weights_only=True) for d in (tmp_path / "ref", run))
    assert all(torch.equal(a[k], b[k]) for k in a)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 21))


def test_sigkill_during_convert_and_teacher_pass_leaves_nothing_half_written(run_dir, tmp_path):
    rng = random.Random(99)
    out = tmp_path / "conv"
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "edgedistill", "-q", "convert", str(run_dir), "-o", str(out), "--quantize", "dynamic,static"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for f in out.glob("*.onnx"):  # whatever is under a final name is complete
            onnx.checker.check_model(str(f))
        if (out / "convert.json").exists():
            json.loads((out / "convert.json").read_text())
    res = invoke("convert", run_dir, "-o", out, "--quantize", "dynamic,static", "--no-latency")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "convert.json").read_text())["files"]["static"].endswith("student.qdq.onnx")

    # The teacher pass over a big input set, killed mid-way: the cache holds no half array.
    x = np.resize(load_dataset("builtin:digits").x, (300_000, 64)).astype(np.float32)
    np.savez(tmp_path / "big.npz", x=x)
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "edgedistill", "-q", "distill", "--teacher", str(TEACHER), "--data", str(tmp_path / "big.npz"),
                             "--epochs", "1", "-o", str(tmp_path / "r")], env={**os.environ, "EDGEDISTILL_CACHE": str(cache)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(2.0, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for f in cache.glob("*.npy") if cache.exists() else []:
        assert np.load(f, mmap_mode="r").shape[1:] == (10,)


# ----------------------------------------------------------------------------- fuzzing
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=os.environ.get("EDGEDISTILL_FUZZ_RANDOM") is None)


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_as_onnx(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fz") / "m.onnx"
    path.write_bytes(blob)
    try:
        load_onnx(path)
    except EdgeDistillError:
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(DIGITS_TEACHER) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(1, len(DIGITS_TEACHER)))
def test_fuzz_mutated_teacher(tmp_path_factory, flips, cut):
    """Bytes of a real model flipped and cut: inspect and the teacher either work or say what is wrong."""
    data = bytearray(DIGITS_TEACHER[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    path = tmp_path_factory.mktemp("fz") / "m.onnx"
    path.write_bytes(bytes(data))
    try:
        inspect_model(path)
        t = OnnxTeacher(path)
        t.run(np.zeros((2, 1, 8, 8), np.float32), progress=False)
    except EdgeDistillError:
        pass


_dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_, np.float16])


@FUZZ
@given(st.dictionaries(st.sampled_from(["x", "y", "split", "ids", "mask"]),
                       st.tuples(_dtypes, st.lists(st.integers(0, 6), min_size=0, max_size=3), st.floats(allow_nan=True, allow_infinity=True)),
                       max_size=4))
def test_fuzz_npz_data(tmp_path_factory, spec):
    with np.errstate(all="ignore"):
        arrays = {k: np.full(shape, fill if np.dtype(dt).kind == "f" else 1).astype(dt) for k, (dt, shape, fill) in spec.items()}
    path = tmp_path_factory.mktemp("fz") / "d.npz"
    np.savez(path, **arrays)
    try:
        ds = load_dataset(str(path))
        ds.part("train"), ds.part_inputs("test")
    except EdgeDistillError:
        pass
