"""profile --device browser-wasm: the same protocol and report, measured in headless Chromium with onnxruntime-web."""

import json
import math
import os
import shutil

import numpy as np
import onnx
import pytest

from browser import chromium
from conftest import ROOT, invoke
from test_errors import assert_user_error

FAST = ["--runs", "30", "--min-seconds", "0.2", "--warmup-seconds", "0.05"]


@pytest.fixture(scope="module", autouse=True)
def _browser_ready():
    chromium()
    if not (ROOT / "examples" / "web" / "node_modules" / "onnxruntime-web").is_dir():
        if os.environ.get("CI"):
            pytest.fail("examples/web/node_modules is missing; `make test` runs npm ci there")
        pytest.skip("examples/web/node_modules is missing (make web-deps)")


def test_browser_profile_matches_the_schema_and_python(converted, teacher, tmp_path):
    res = invoke("profile", converted / "student.onnx", "--device", "browser-wasm", "--data", "builtin:digits", "--teacher", teacher,
                 "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    t = prof["timing"]
    assert prof["schema_version"] == 2 and prof["device"]["runtime"] == "onnxruntime-web"
    assert t["runs"] >= 30 and t["total_s"] >= 0.2 and t["warmup_runs"] >= 10
    assert math.isfinite(t["p50_ms"]) and t["p50_ms"] > 0 and t["min_ms"] <= t["p50_ms"] <= t["p90_ms"] <= t["p99_ms"] <= t["max_ms"]
    assert t["session_create_ms"] > 0 and t["first_run_ms"] > 0 and sum(t["histogram"]["counts"]) == t["runs"]
    host = prof["host"]
    assert host["browser"].startswith("Chromium ") and host["onnxruntime"].startswith("onnxruntime-web 1.")
    assert host["cross_origin_isolated"] is True and host["console_errors"] == []
    assert prof["parity"]["max_abs_diff"] < 1e-4 and prof["parity"]["top1_agreement"] == 1.0 and prof["parity"]["samples"] == 359
    acc = prof["accuracy"]
    assert acc["top1"] > 0.85 and acc["teacher_agreement"] > 0.85
    assert "not_measured" in prof["memory"] and "not_measured" in prof["ops"]
    md = (tmp_path / "p" / "profile.md").read_text()
    assert "onnxruntime-web" in md and "Outputs vs onnxruntime in Python" in md


def test_browser_profiles_an_ort_format_file(converted, tmp_path):
    res = invoke("convert", converted / "student.onnx", "-o", tmp_path / "m", "--format", "ort", "--no-latency")
    assert res.exit_code == 0, res.output
    (ort_file,) = (tmp_path / "m").glob("*.ort")
    res = invoke("profile", ort_file, "--device", "browser-wasm", "--data", "builtin:digits", "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["model"]["size_bytes"] == ort_file.stat().st_size and prof["model"]["parameters"] is None
    assert prof["parity"]["max_abs_diff"] < 1e-4 and prof["parity"]["top1_agreement"] == 1.0
    assert prof["accuracy"]["samples"] == 359 and prof["accuracy"]["top1"] > 0.85


def test_multithreaded_browser_device_runs_threads_in_an_isolated_page(converted, tmp_path):
    res = invoke("profile", converted / "student.onnx", "--device", "browser-wasm-mt", "--batch", "8", "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert prof["device"]["providers_active"] == ["wasm (4 threads)"] and prof["host"]["cross_origin_isolated"] is True
    assert prof["settings"]["input_shapes"] == {"image": [8, 1, 8, 8]} and prof["parity"]["max_abs_diff"] < 1e-4


def test_missing_chromium_or_onnxruntime_web_says_what_to_install(converted, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CHROMIUM", str(tmp_path / "no-chromium"))
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", "browser-wasm"), "apt-get install chromium")
    monkeypatch.delenv("EDGEDISTILL_CHROMIUM")
    bare = tmp_path / "web"
    shutil.copytree(ROOT / "examples" / "web", bare, ignore=shutil.ignore_patterns("node_modules", "model"))
    monkeypatch.setenv("EDGEDISTILL_WEB_DIR", str(bare))
    assert_user_error(invoke("profile", converted / "student.onnx", "--device", "browser-wasm"), "onnxruntime-web", "make web-deps")
    res = invoke("devices")
    assert any(line.startswith("browser-wasm ") and " no " in line for line in res.output.splitlines())


def test_an_op_onnxruntime_web_lacks_is_a_clear_error(tmp_path):
    from onnx_models import custom_op_model

    model = custom_op_model(tmp_path / "custom.onnx", ir_version=10)
    np.savez(tmp_path / "d.npz", x=np.ones((20, 4), np.float32))
    res = invoke("profile", tmp_path / "custom.onnx", "--device", "browser-wasm", "--data", tmp_path / "d.npz", *FAST)
    assert_user_error(res, "onnxruntime-web cannot run custom.onnx", "Frobnicate")
    assert "ERROR_CODE" not in res.stderr and ".cc:" not in res.stderr
    # A file newer than onnxruntime-web reads is named as such.
    model.ir_version = 14  # onnx 1.23 writes IR 14; onnxruntime-web 1.30 reads up to 13
    onnx.save(model, str(tmp_path / "new.onnx"))
    res = invoke("profile", tmp_path / "new.onnx", "--device", "browser-wasm", "--data", tmp_path / "d.npz", *FAST)
    assert_user_error(res, "onnxruntime-web cannot run new.onnx", "IR version")
