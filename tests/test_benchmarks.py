"""Every benchmark script runs (with small sizes) and prints its comparison, so README's commands keep working."""

import subprocess
import sys

import pytest

from conftest import ROOT

CASES = [
    ("teacher_vs_student.py", ["--rounds", "1", "--batches", "1", "--min-seconds", "0.05"], "teacher/student p50"),
    ("quantization.py", ["--min-seconds", "0.05"], "static int8"),
    ("profile_fidelity.py", ["--rounds", "1", "--runs", "50"], "bare loop p50"),
    ("teacher_pass.py", ["--samples", "3000", "--rounds", "1"], "ratio"),
    ("distill_quality.py", ["--seeds", "0", "--students", "mlp", "--grid", "batch_size=16"], "KD ahead by"),
    ("distill_speed.py", ["--samples", "3000", "--epochs", "1"], "naive, teacher on every batch"),
]


@pytest.mark.parametrize("script, args, expect", CASES, ids=[c[0] for c in CASES])
def test_benchmark_runs(script, args, expect):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expect in proc.stdout
