"""User errors: one line, exit code 2, no traceback, nothing already written damaged."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, invoke


def assert_user_error(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    text = res.stderr.strip()  # the error is one line on stderr; progress lines may precede it on stdout
    assert len(text.splitlines()) == 1 and text.startswith("Error: "), text
    for f in fragments:
        assert f in text, (f, text)


def test_missing_teacher_file(tmp_path):
    assert_user_error(invoke("distill", "--teacher", tmp_path / "nope.onnx", "-o", tmp_path / "r"), "does not exist")


def test_corrupt_onnx_files(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(os.urandom(2048))
    assert_user_error(invoke("inspect", tmp_path / "junk.onnx"), "not a readable ONNX model")
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert_user_error(invoke("inspect", tmp_path / "empty.onnx"), "is empty")
    good = (ROOT / "examples" / "digits" / "teacher.onnx").read_bytes()
    (tmp_path / "truncated.onnx").write_bytes(good[: len(good) // 3])
    assert_user_error(invoke("distill", "--teacher", tmp_path / "truncated.onnx", "-o", tmp_path / "r"), "truncated.onnx")


def test_data_that_does_not_fit_the_teacher(teacher, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 10), np.float32))
    assert_user_error(
        invoke("distill", "--teacher", teacher, "--data", tmp_path / "d.npz", "-o", tmp_path / "r"),
        "(10 values)", "expects [batch, 1, 8, 8] (64 values per sample)",
    )


def test_missing_and_unknown_data(teacher, tmp_path):
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", tmp_path / "x.npz", "-o", tmp_path / "r"), "does not exist")
    assert_user_error(invoke("distill", "--teacher", teacher, "--data", "builtin:mnist", "-o", tmp_path / "r"), "builtin:digits")


def test_unknown_student_and_bad_student_arg(teacher, tmp_path):
    assert_user_error(invoke("distill", "--teacher", teacher, "--student", "resnet", "-o", tmp_path / "r"), "known students: cnn, decompose, mlp, mobilenet, transformer")
    assert_user_error(invoke("distill", "--teacher", teacher, "--student-arg", "depth=3", "-o", tmp_path / "r2"), "no option depth")


def test_unknown_device_and_missing_execution_provider(converted):
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", "toaster"), "unknown device 'toaster'", "cpu")
    res = invoke("profile", converted / "student.onnx", "--device", "cuda")
    assert_user_error(res, "CUDAExecutionProvider not in this onnxruntime", "onnxruntime-gpu", "--allow-fallback")


def test_allow_fallback_measures_on_cpu_and_says_so_first(converted, tmp_path):
    res = invoke("profile", converted / "student.onnx", "--device", "cuda", "--allow-fallback", "-o", tmp_path / "p",
                 "--runs", "10", "--min-seconds", "0", "--warmup-seconds", "0")
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["device"]["fallback_to_cpu"] and prof["device"]["providers_active"] == ["CPUExecutionProvider"]
    first = (tmp_path / "p" / "profile.md").read_text().splitlines()[0]
    assert "fallback" in first.lower() and "CUDAExecutionProvider" in first


def test_bad_device_files(converted, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\nproviders: [[CPUExecutionProvider, {}]\n")
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", tmp_path / "bad.yaml"), "not valid YAML")
    (tmp_path / "keys.yaml").write_text("name: x\nproviders: [[CPUExecutionProvider, {}]]\nturbo: true\n")
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", tmp_path / "keys.yaml"), "unknown key(s) turbo")
    (tmp_path / "sess.yaml").write_text("providers: [[CPUExecutionProvider, {}]]\nsession: {graph_optimization_level: max}\n")
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", tmp_path / "sess.yaml"), "graph_optimization_level")


def test_devices_lists_what_runs_here():
    res = invoke("devices")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert any(line.startswith("cpu ") and " yes " in line for line in lines)
    assert any(line.startswith("cuda ") and " no " in line for line in lines)
    assert "onnxruntime-gpu" in res.output


def test_output_folder_that_is_a_file(teacher, tmp_path):
    (tmp_path / "f").write_text("keep me")
    assert_user_error(invoke("distill", "--teacher", teacher, "-o", tmp_path / "f"), "is a file")
    assert (tmp_path / "f").read_text() == "keep me"


def test_convert_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke("convert", tmp_path / "empty", "-o", tmp_path / "o"), "student.json not found")


def test_distill_refuses_to_overwrite_a_run_and_leaves_it_intact(run_dir, teacher):
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert_user_error(invoke("distill", "--teacher", teacher, "-o", run_dir), "already holds a distillation run", "--resume")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_profile_data_that_does_not_fit_the_model(converted, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 3), np.float32))
    assert_user_error(invoke("profile", converted / "student.onnx", "--data", tmp_path / "d.npz"), "expects [batch, 1, 8, 8]")


def test_sigint_during_distillation_then_resume_gives_the_same_weights(teacher, tmp_path):
    """A real interruption: Ctrl-C to a distilling subprocess after its first checkpoint, then --resume."""
    args = ["--teacher", str(teacher), "--epochs", "25", "--batch-size", "8", "--seed", "3"]
    ref = invoke("distill", *args, "-o", tmp_path / "ref")
    assert ref.exit_code == 0, ref.output

    run = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "edgedistill", "-q", "distill", *args, "-o", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == 130, out
    assert "--resume" in out and "Traceback" not in out
    stopped_at = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert 1 <= stopped_at < 25

    res = invoke("distill", "--resume", "-o", run)
    assert res.exit_code == 0, res.output
    a = torch.load(tmp_path / "ref" / "student.pt", weights_only=True)
    b = torch.load(run / "student.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 26))
