"""profile --remote: measure on another machine over SSH (here a throwaway sshd on 127.0.0.1)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import invoke
from sshd import Sshd, free_port, keygen
from test_errors import assert_user_error

FAST = ["--runs", "20", "--min-seconds", "0.1", "--warmup-seconds", "0"]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


def _remote_tmp_dirs():
    return sorted(p for p in os.listdir(os.environ.get("TMPDIR", "/tmp")) if p.startswith("edgedistill."))


def test_profile_on_a_remote_board(board, converted, teacher, tmp_path):
    before = _remote_tmp_dirs()
    res = invoke("profile", converted / "student.onnx", "--device", "cpu-1t", "--remote", "board", "--ssh-config", board.config,
                 "--remote-python", sys.executable, "--data", "builtin:digits", "--teacher", teacher, "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    prof = json.loads((tmp_path / "p" / "profile.json").read_text())
    host = prof["host"]
    assert host["remote"] == "board" and host["onnxruntime"] and host["processor"] and host["platform"] and host["python"]
    assert "CPUExecutionProvider" in host["available_providers"]
    assert prof["timing"]["runs"] >= 20 and prof["timing"]["p50_ms"] > 0
    assert prof["settings"]["session"]["intra_op_num_threads"] == 1  # the device file's settings travelled
    assert prof["accuracy"]["top1"] > 0.85 and prof["accuracy"]["teacher_agreement"] > 0.85  # outputs came back
    assert "by_op_type" in prof["ops"]
    assert _remote_tmp_dirs() == before, "the temporary folder on the board is removed"


def test_remote_profile_of_an_ort_file(board, run_dir, tmp_path):
    assert invoke("convert", run_dir, "-o", tmp_path / "m", "--device", "android-nnapi", "--no-latency").exit_code == 0
    res = invoke("profile", tmp_path / "m" / "student.qdq.fixed.ort", "--remote", "board", "--ssh-config", board.config,
                 "--remote-python", sys.executable, "--data", "builtin:digits", "-o", tmp_path / "p", *FAST)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "p" / "profile.json").read_text())["accuracy"]["top1"] > 0.85


def test_remote_address_as_user_at_host_port(board, converted, tmp_path):
    # No alias: user@127.0.0.1:port with the keys from an ssh_config that has no Host block for it.
    cfg = tmp_path / "cfg"
    cfg.write_text(f"IdentityFile {board.root / 'user_key'}\nIdentitiesOnly yes\nUserKnownHostsFile {board.root / 'known_hosts'}\n"
                   "StrictHostKeyChecking yes\nLogLevel ERROR\n")
    res = invoke("profile", converted / "student.onnx", "--remote", f"{board.user}@127.0.0.1:{board.port}", "--ssh-config", cfg,
                 "--remote-python", sys.executable, "--op-profile-runs", "0", *FAST)
    assert res.exit_code == 0, res.output


def test_device_whose_provider_the_board_lacks(board, converted):
    res = invoke("profile", converted / "student.onnx", "--device", "arm64-xnnpack", "--remote", "board", "--ssh-config", board.config,
                 "--remote-python", sys.executable)
    assert_user_error(res, "XnnpackExecutionProvider", "on board lacks", "install an onnxruntime build with it on the board")


def test_missing_onnxruntime_on_the_remote_python(board, converted, tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare_python = tmp_path / "bare" / "bin" / "python"
    res = invoke("profile", converted / "student.onnx", "--remote", "board", "--ssh-config", board.config, "--remote-python", bare_python)
    assert_user_error(res, "cannot import onnxruntime and numpy", "-m pip install onnxruntime numpy")
    res = invoke("profile", converted / "student.onnx", "--remote", "board", "--ssh-config", board.config, "--remote-python", "/no/such/python")
    assert_user_error(res, "/no/such/python does not run on board", "--remote-python")


def test_bad_host_key_is_refused(board, converted, tmp_path):
    keygen(tmp_path / "other")
    other = (tmp_path / "other.pub").read_text().split()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{board.port} {other[0]} {other[1]}\n")
    cfg = board.client_config(tmp_path / "cfg", tmp_path / "known_hosts")
    res = invoke("profile", converted / "student.onnx", "--remote", "board", "--ssh-config", cfg, "--remote-python", sys.executable)
    assert_user_error(res, "host key of board does not match your known_hosts")


def test_refused_connection(board, converted, tmp_path):
    cfg = board.client_config(tmp_path / "cfg", board.root / "known_hosts", port=free_port())
    res = invoke("profile", converted / "student.onnx", "--remote", "board", "--ssh-config", cfg)
    assert_user_error(res, "cannot connect to board: connection refused")
    assert_user_error(invoke("profile", converted / "student.onnx", "--remote", "a b"), "is not user@host[:port]")


def test_failed_authentication(board, converted, tmp_path):
    keygen(tmp_path / "stranger")
    cfg = tmp_path / "cfg"
    cfg.write_text(board.config.read_text().replace(str(board.root / "user_key"), str(tmp_path / "stranger")))
    res = invoke("profile", converted / "student.onnx", "--remote", "board", "--ssh-config", cfg)
    assert_user_error(res, "authentication to board failed", "ssh-copy-id")
