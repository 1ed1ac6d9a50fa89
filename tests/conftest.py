"""Shared fixtures: the shipped teacher, and one real distill + convert run reused by many tests."""

from __future__ import annotations

import os
import pathlib
import tempfile

import pytest
from click.testing import CliRunner

# Keep the teacher-output cache of the test session out of the user's ~/.cache.
os.environ.setdefault("EDGEDISTILL_CACHE", tempfile.mkdtemp(prefix="edgedistill-test-cache-"))

from edgedistill.cli import main  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEACHER = ROOT / "examples" / "digits" / "teacher.onnx"


def invoke(*args: str):
    """Run the CLI in-process; returns click's Result (exit_code, output, stderr)."""
    return CliRunner().invoke(main, ["-q", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="session")
def teacher() -> pathlib.Path:
    return TEACHER


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> pathlib.Path:
    """A short label-free distillation of the shipped teacher (30 epochs of the mlp student)."""
    out = tmp_path_factory.mktemp("run") / "run"
    res = invoke("distill", "--teacher", TEACHER, "--data", "builtin:digits", "--student", "mlp", "--epochs", "30", "-o", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def converted(run_dir, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("conv") / "out"
    res = invoke("convert", run_dir, "-o", out, "--quantize", "dynamic")
    assert res.exit_code == 0, res.output
    return out
