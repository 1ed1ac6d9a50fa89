"""edgedistill: distill an ONNX teacher into a small student, convert it for edge targets, profile it.

The heavy API (torch, onnx) loads on first use, so ``import edgedistill`` stays light::

    import edgedistill as ed
    run = ed.distill(teacher="teacher.onnx", data="builtin:digits", student="mlp", out="run/")
    conv = ed.convert(source="run/", out="out/", quantize="dynamic")
    prof = ed.profile(model="out/student.onnx", device="cpu", data="builtin:digits", out="prof/")
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_LAZY = {
    "OnnxTeacher": ("teacher", "OnnxTeacher"),
    "Teacher": ("teacher", "OnnxTeacher"),
    "inspect_model": ("teacher", "inspect_model"),
    "load_dataset": ("data", "load_dataset"),
    "distill": ("distill", "distill"),
    "load_student": ("distill", "load_student"),
    "convert": ("convert", "convert"),
    "profile": ("profile", "profile"),
    "load_device": ("devices", "load_device"),
    "list_devices": ("devices", "list_devices"),
    "demo": ("demo", "demo"),
    "create_student": ("students", "create_student"),
    "list_students": ("students", "list_students"),
    "register_student": ("students", "register_student"),
    "EdgeDistillError": ("errors", "EdgeDistillError"),
    "DistillResult": ("distill", "DistillResult"),
    "ConvertResult": ("convert", "ConvertResult"),
    "ProfileResult": ("profile", "ProfileResult"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'edgedistill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Keep ``edgedistill.distill`` (and convert, profile, demo) the API function.

    Importing a submodule makes Python set it as an attribute of the package, which would hide the
    function of the same name; this refuses that one assignment so the lazy ``__getattr__`` above
    keeps answering. The modules stay importable as ``from edgedistill.distill import ...``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
