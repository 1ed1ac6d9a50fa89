"""Headless Chromium for the tests: load a page, return its DOM after scripts ran and its console lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
]


def chromium() -> str:
    path = os.environ.get("EDGEDISTILL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs Debian's chromium")
        pytest.skip("chromium is not installed (make test installs it)")
    return path


def render(url: str) -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console messages)."""
    with tempfile.TemporaryDirectory(prefix="edgedistill-chromium-") as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, console
