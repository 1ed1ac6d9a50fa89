"""Measure a model in a real browser: onnxruntime-web (WebAssembly) in headless Chromium.

Reuses the web example's own files (``examples/web``): ``edgedistill-web.js`` loads the model exactly
as the example app does, ``measure.html`` runs the same protocol as ``edgedistill._measure``,
``serve.py`` serves them on 127.0.0.1 with COOP/COEP headers (full-resolution timers, threads) and
``measure.mjs`` drives Chromium through playwright-core. onnxruntime-web and playwright-core come from
npm, pinned by that folder's package-lock.json (``make web-deps``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import pathlib
import shutil
import subprocess
import tempfile
from typing import Any

import numpy as np

from ._measure import _cpu_name, _histogram, _percentiles
from .errors import EdgeDistillError


def web_dir() -> pathlib.Path:
    """The web example folder: $EDGEDISTILL_WEB_DIR, the source checkout's examples/web, or the packaged copy."""
    env = os.environ.get("EDGEDISTILL_WEB_DIR")
    if env:
        return pathlib.Path(env)
    here = pathlib.Path(__file__).resolve().parent
    for d in (here.parent / "examples" / "web", here / "_web"):
        if (d / "edgedistill-web.js").is_file():
            return d
    return here.parent / "examples" / "web"


def chromium_path() -> str | None:
    env = os.environ.get("EDGEDISTILL_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_requirements() -> list[str]:
    """What is missing to measure in the browser, each with how to install it."""
    missing = []
    if chromium_path() is None:
        missing.append("Chromium (apt-get install chromium, or point EDGEDISTILL_CHROMIUM at a chromium binary)")
    if shutil.which("node") is None:
        missing.append("Node.js (apt-get install nodejs npm)")
    modules = web_dir() / "node_modules"
    if not (modules / "onnxruntime-web" / "dist" / "ort.min.js").is_file() or not (modules / "playwright-core").is_dir():
        missing.append(f"onnxruntime-web and playwright-core from npm in {web_dir()} (make web-deps, i.e. npm ci there)")
    return missing


def _load(name: str):
    """Import one of the web example's Python helpers (prepare.py, serve.py) from its folder."""
    path = web_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_edgedistill_web_{name}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _web_error(text: str) -> str:
    """onnxruntime-web's message without its error-code preamble and C++ source location."""
    import re

    text = text.split("ERROR_MESSAGE:", 1)[-1].strip()
    return re.sub(r"^/\S+ .*?\)\s+(?=[A-Z])", "", text)


def measure_in_browser(
    model: str | os.PathLike[str],
    *,
    threads: int,
    feed: np.ndarray,
    eval_x: np.ndarray,
    warmup_runs: int,
    warmup_seconds: float,
    runs: int,
    min_seconds: float,
    timeout_s: float = 300.0,
) -> tuple[dict[str, Any], np.ndarray]:
    """The profile protocol in headless Chromium. Returns (figures shaped like _measure's, outputs on eval_x)."""
    missing = missing_requirements()
    if missing:
        raise EdgeDistillError("browser profiling needs " + "; ".join(missing))
    web = web_dir()
    with tempfile.TemporaryDirectory(prefix="edgedistill-browser-") as tmp:
        root = pathlib.Path(tmp)
        for name in ("measure.html", "edgedistill-web.js"):
            shutil.copy(web / name, root / name)
        (root / "node_modules").symlink_to(web / "node_modules")
        model_file = json.loads((_load("prepare").prepare(model, root / "model") / "meta.json").read_text())["model_file"]
        np.ascontiguousarray(feed, dtype=np.float32).tofile(root / "feed.bin")
        np.ascontiguousarray(eval_x, dtype=np.float32).tofile(root / "eval.bin")
        spec = {
            "model": f"model/{model_file}", "meta": "model/meta.json", "threads": threads,
            "feed": "feed.bin", "feed_shape": list(feed.shape), "eval": "eval.bin", "eval_shape": list(eval_x.shape), "eval_batch": 64,
            "warmup_runs": warmup_runs, "warmup_seconds": warmup_seconds, "runs": runs, "min_seconds": min_seconds,
        }
        (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        server, url = _load("serve").start(root)
        try:
            proc = subprocess.run(
                ["node", str(web / "measure.mjs"), url + "measure.html", str(timeout_s)], cwd=web, capture_output=True, text=True,
                timeout=timeout_s + 60, env={**os.environ, "CHROMIUM": chromium_path() or ""},
            )
        except subprocess.TimeoutExpired:
            raise EdgeDistillError(f"the browser did not finish measuring {pathlib.Path(model).name} within {timeout_s:.0f} s") from None
        finally:
            server.shutdown()
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeDistillError(f"headless Chromium failed while measuring {pathlib.Path(model).name}: {tail}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in r:
        raise EdgeDistillError(f"onnxruntime-web cannot run {pathlib.Path(model).name}: {_web_error(r['error'])}")
    ms = np.asarray(r["times_ms"], dtype=np.float64)
    timing = {
        "session_create_ms": r["session_create_ms"], "first_run_ms": r["first_run_ms"], "warmup_runs": r["warmup_runs"],
        "runs": len(ms), "total_s": r["total_s"], **_percentiles(ms),
        "throughput_samples_per_s": feed.shape[0] * len(ms) / float(ms.sum() / 1e3), "iobinding": False, "histogram": _histogram(ms),
        "timer": "performance.now() in a cross-origin isolated page" if r["cross_origin_isolated"] else "performance.now() (coarsened: page not isolated)",
    }
    outputs = np.asarray(r["outputs"], dtype=np.float32).reshape(len(eval_x), -1)
    measured = {
        "timing": timing,
        "memory": {"not_measured": "a web page cannot see the WebAssembly heap's resident memory"},
        "ops": {"not_measured": "onnxruntime-web's per-op profiler is not read"},
        "providers_active": [f"wasm ({r['threads']} thread{'s' if r['threads'] != 1 else ''})"],
        "host": {
            "platform": r["user_agent"], "machine": platform.machine(), "processor": _cpu_name(),
            "onnxruntime": f"onnxruntime-web {r['onnxruntime_web']}", "browser": f"Chromium {r['browser_version']}",
            "cross_origin_isolated": r["cross_origin_isolated"], "hardware_concurrency": r["hardware_concurrency"],
            "console_errors": r["console_errors"], "available_providers": ["wasm"],
        },
    }
    return measured, outputs
