"""Student registry: ``@register_student`` stores a factory under its own name, ``create_student`` builds one.

Every factory takes the keyword-only ``input_shape`` (per-sample, without batch) and
``num_outputs`` (from the teacher's signature), optionally ``input_dtype``, plus its own size knobs
with visible defaults. A factory that also takes ``input_shapes`` (and optionally ``input_dtypes``)
can serve teachers with several inputs: its module's ``forward`` takes one tensor per input.
A name with a colon is a user's own student: ``path/to/file.py:Factory`` or
``package.module:Factory`` (a class or a function returning an ``nn.Module``). Importing it runs the
user's code; edgedistill only does so when the user names it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pathlib
from collections.abc import Callable
from typing import Any

from ..errors import EdgeDistillError

_REGISTRY: dict[str, Callable[..., Any]] = {}
_PROVIDED = ("input_shape", "num_outputs", "input_dtype", "input_shapes", "input_dtypes")


def register_student(fn: Callable[..., Any]) -> Callable[..., Any]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_students() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def resolve_student(name: str) -> Callable[..., Any]:
    """The factory for a registered name or a user's ``file.py:Name`` / ``module:Name``."""
    _load_families()
    if ":" not in name:
        if name not in _REGISTRY:
            raise EdgeDistillError(f"unknown student {name!r}; known students: {', '.join(sorted(_REGISTRY))} "
                                   "(or your own as path/to/file.py:Factory)")
        return _REGISTRY[name]
    source, _, attr = name.rpartition(":")
    try:
        if source.endswith(".py"):
            path = pathlib.Path(source)
            if not path.is_file():
                raise EdgeDistillError(f"student file {path} does not exist")
            spec = importlib.util.spec_from_file_location(f"edgedistill_user_student_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            assert spec.loader is not None
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(source)
    except EdgeDistillError:
        raise
    except Exception as e:  # the user's module raised while importing: say so, without our traceback
        raise EdgeDistillError(f"importing your student module {source} failed: {type(e).__name__}: {e}; fix that module") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise EdgeDistillError(f"{source} has no class or function {attr!r}")
    return fn


def create_student(name: str, *, input_shape: tuple[int, ...], num_outputs: int, input_dtype: str = "float32",
                   input_shapes: list | None = None, input_dtypes: list[str] | None = None, **kwargs: Any):
    """Build a student; ``None`` kwargs are dropped so unset flags keep the defaults.

    A teacher with several inputs gives ``input_shapes`` / ``input_dtypes`` (one per input, in order);
    only factories that take ``input_shapes`` build such students, whose ``forward`` then takes one
    tensor per input."""
    import torch

    fn = resolve_student(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    allowed = set(params) - set(_PROVIDED)
    unknown = sorted(set(kwargs) - allowed) if not takes_any else []
    if unknown:
        raise EdgeDistillError(f"student {name!r} has no option {', '.join(unknown)}; its options are {', '.join(sorted(allowed)) or 'none'}")
    provided: dict[str, Any] = {"input_shape": tuple(input_shape), "num_outputs": num_outputs, "input_dtype": input_dtype}
    if input_shapes is not None and len(input_shapes) > 1:
        if "input_shapes" not in params and not takes_any:
            raise EdgeDistillError(
                f"student {name!r} takes one input, but the teacher has {len(input_shapes)}; use --student mlp (it flattens and "
                "joins them) or your own student whose factory takes input_shapes and whose forward takes one tensor per input")
        provided |= {"input_shapes": [tuple(sh) for sh in input_shapes], "input_dtypes": list(input_dtypes or [])}
    call = {k: v for k, v in provided.items() if k in params or takes_any}
    try:
        model = fn(**call, **kwargs)
    except EdgeDistillError:
        raise
    except Exception as e:
        if ":" not in name:
            raise
        raise EdgeDistillError(f"your student {name} raised {type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise EdgeDistillError(f"student {name} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def widths(value: Any, option: str) -> list[int]:
    """A size knob that lists widths, given as one number (``hidden=64``) or several (``hidden=64,32``)."""
    items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        out = [int(v) for v in items]
    except (TypeError, ValueError):
        out = []
    if not out or any(v < 1 for v in out):
        raise EdgeDistillError(f"{option}={value!r} is not a width or a list of widths; give e.g. {option}=64 or {option}=64,32")
    return out


def student_defaults(name: str) -> dict[str, Any]:
    fn = resolve_student(name)
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in sig.parameters.items()
            if k not in _PROVIDED and p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}


def _load_families() -> None:
    from . import cnn, decompose, mlp, mobilenet, transformer  # noqa: F401  (registration happens on import)
