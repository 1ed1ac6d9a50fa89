"""Device files: how to run (and later, how to convert for) a target.

A device file is YAML with the keys ``name``, ``description``, ``providers`` (a list of
``[ExecutionProviderName, {options}]``, first = the one being measured), ``session`` (onnxruntime
session options) and optionally ``convert`` and ``notes``. Files are looked up in the package's
device folder, or given as a path. A device whose first EP is not in this onnxruntime build is
refused with what to install; it is never silently measured on another EP.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import yaml

from .errors import EdgeDistillError

KEYS = {"name", "description", "runtime", "providers", "session", "convert", "notes"}
RUNTIMES = ("onnxruntime", "onnxruntime-web")
CONVERT_KEYS = {"quantize", "optimize", "calib_method", "per_channel", "fixed_shape", "format"}

# What to install (or where to run) for each execution provider this build may lack.
INSTALL_HINTS = {
    "CUDAExecutionProvider": "install onnxruntime-gpu (pip install 'edgedistill[gpu]') on a machine with an NVIDIA GPU and CUDA",
    "TensorrtExecutionProvider": "install onnxruntime-gpu with TensorRT libraries on a machine with an NVIDIA GPU",
    "NnapiExecutionProvider": "NNAPI exists only in onnxruntime's Android build; run the model on the phone with onnxruntime-android",
    "CoreMLExecutionProvider": "CoreML exists only in onnxruntime on macOS/iOS; profile on a Mac or in an iOS app",
    "XnnpackExecutionProvider": "XNNPACK is in onnxruntime's mobile and ARM builds; profile on the board itself",
    "QNNExecutionProvider": "install onnxruntime-qnn on a Snapdragon device (Windows on ARM or Android) and profile there",
    "DmlExecutionProvider": "install onnxruntime-directml on Windows",
    "OpenVINOExecutionProvider": "install onnxruntime-openvino on an Intel machine",
}


def device_dirs() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).resolve().parent
    return [d for d in (here / "_devices", here.parent / "devices") if d.is_dir()]


@dataclasses.dataclass
class Device:
    name: str
    description: str
    providers: list[tuple[str, dict[str, Any]]]
    session: dict[str, Any]
    convert: dict[str, Any]
    notes: str | None
    path: str
    runtime: str = "onnxruntime"  # or "onnxruntime-web": measured in headless Chromium

    @property
    def primary(self) -> str:
        return self.providers[0][0]

    def missing_providers(self, available: list[str] | None = None) -> list[str]:
        """Execution providers of this device that ``available`` (default: this onnxruntime build) lacks."""
        if self.runtime == "onnxruntime-web":
            return []
        if available is None:
            import onnxruntime as ort

            available = ort.get_available_providers()
        return [p for p, _ in self.providers if p not in set(available)]

    def availability(self, remote: dict[str, Any] | None = None) -> tuple[bool, str]:
        """(can run here, or on the probed ``remote``; one line saying why or why not)."""
        if remote is not None:
            missing = self.missing_providers(remote["providers"])
            if not missing:
                return True, "available"
            return False, (f"{', '.join(missing)}, which onnxruntime {remote['onnxruntime']} on {remote['label']} lacks "
                           f"(it has {', '.join(remote['providers'])}); install an onnxruntime build with it on the board")
        if self.runtime == "onnxruntime-web":
            from .browser import missing_requirements

            needs = missing_requirements()
            return (not needs), ("available" if not needs else "needs " + "; ".join(needs))
        missing = self.missing_providers()
        if not missing:
            return True, "available"
        import onnxruntime as ort

        hint = INSTALL_HINTS.get(missing[0], "install an onnxruntime build that includes it")
        return False, f"{', '.join(missing)} not in this onnxruntime {ort.__version__} build; {hint}"

    def runtime_providers(self, *, allow_fallback: bool = False, remote: dict[str, Any] | None = None) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
        """Providers to create the session with (here, or on the probed ``remote``), and whether this is a CPU fallback."""
        ok, why = self.availability(remote)
        if ok:
            return self.providers, False
        if self.runtime == "onnxruntime-web":
            raise EdgeDistillError(f"device {self.name!r} {why}")
        if allow_fallback:
            return [("CPUExecutionProvider", {})], True
        route = "" if remote is not None else ", or profile on the target itself with --remote user@board"
        raise EdgeDistillError(
            f"device {self.name!r} needs {why}{route}; --allow-fallback measures on CPU instead (the report says so)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "runtime": self.runtime, "providers": [[p, o] for p, o in self.providers],
            "session": self.session, "convert": self.convert, "path": self.path,
        }


def load_device(name_or_path: str | pathlib.Path) -> Device:
    """A device by name (``cpu``) or by path to a YAML file."""
    s = str(name_or_path)
    path = pathlib.Path(s)
    if not (s.endswith((".yaml", ".yml")) or path.is_file()):
        matches = [d / f"{s}.yaml" for d in device_dirs() if (d / f"{s}.yaml").is_file()]
        if not matches:
            known = ", ".join(d.name for d in list_devices())
            raise EdgeDistillError(f"unknown device {s!r}; known devices: {known} (or give a path to a .yaml device file)")
        path = matches[0]
    if not path.is_file():
        raise EdgeDistillError(f"device file {path} does not exist")
    return _parse(path)


def _parse(path: pathlib.Path) -> Device:
    from ._measure import session_options

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise EdgeDistillError(f"device file {path} is not valid YAML{at}; fix its syntax") from None
    if not isinstance(raw, dict):
        raise EdgeDistillError(f"device file {path} must be a YAML mapping with keys {', '.join(sorted(KEYS))}")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise EdgeDistillError(f"device file {path} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    providers = raw.get("providers")
    ok = isinstance(providers, list) and providers and all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], dict) for p in providers
    )
    if not ok:
        raise EdgeDistillError(f"device file {path}: 'providers' must be a list like [[CPUExecutionProvider, {{}}]]")
    runtime = raw.get("runtime", "onnxruntime")
    if runtime not in RUNTIMES:
        raise EdgeDistillError(f"device file {path}: runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    session = raw.get("session") or {}
    try:
        session_options(session)
    except ValueError as e:
        raise EdgeDistillError(f"device file {path}: {e}") from None
    convert = raw.get("convert") or {}
    bad = sorted(set(convert) - CONVERT_KEYS)
    if bad:
        raise EdgeDistillError(f"device file {path}: unknown convert key(s) {', '.join(bad)}; allowed: {', '.join(sorted(CONVERT_KEYS))}")
    return Device(
        name=str(raw.get("name") or path.stem), description=str(raw.get("description") or ""),
        providers=[(p, dict(o)) for p, o in providers], session=session, convert=convert,
        notes=raw.get("notes"), path=str(path), runtime=runtime,
    )


def list_devices() -> list[Device]:
    seen: dict[str, Device] = {}
    for d in device_dirs():
        for f in sorted(d.glob("*.yaml")):
            if f.stem not in seen:
                seen[f.stem] = _parse(f)
    return list(seen.values())
