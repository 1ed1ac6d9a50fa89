"""examples/web: the student runs in real headless Chromium with onnxruntime-web and agrees with Python."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from browser import chromium
from conftest import ROOT

from edgedistill.data import load_dataset
from edgedistill.runtime import Predictor

WEB = ROOT / "examples" / "web"
sys.path.insert(0, str(WEB))
import prepare  # noqa: E402
import serve  # noqa: E402


def _need(path, what):
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing; `make test` installs it")
        pytest.skip(f"{what} is missing (make test installs it)")


def test_browser_classifies_test_digits_like_python(converted, tmp_path):
    _need(WEB / "node_modules" / "onnxruntime-web", "examples/web/node_modules (npm ci in examples/web)")
    browser = chromium()
    root = tmp_path / "site"
    root.mkdir()
    for name in ("index.html", "edgedistill-web.js"):
        shutil.copy(WEB / name, root / name)
    (root / "node_modules").symlink_to(WEB / "node_modules")
    prepare.prepare(converted / "student.onnx", root / "model")

    ds = load_dataset("builtin:digits")
    x = ds.x[ds.split == 2][:60].astype(float)
    (tmp_path / "rows.json").write_text(json.dumps(x.tolist()))
    server, url = serve.start(root)
    try:
        proc = subprocess.run(["node", str(WEB / "selftest.mjs"), url + "index.html", str(tmp_path / "rows.json")],
                              capture_output=True, text=True, timeout=180, env={**os.environ, "CHROMIUM": browser}, cwd=WEB)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["status"].startswith("model loaded in")
    python = Predictor(converted / "student.onnx").predict(x)
    assert result["labels"] == list(python)
    assert np.mean(np.array(result["labels"]).astype(int) == ds.y[ds.split == 2][:60]) > 0.9
