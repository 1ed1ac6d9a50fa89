"""Student registry: ``@register_student`` stores a factory under its own name, ``create_student`` builds one.

Every factory takes the keyword-only ``input_shape`` (per-sample, without batch) and
``num_outputs`` (from the teacher's signature) plus its own size knobs with visible defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import EdgeDistillError

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_student(fn: Callable[..., Any]) -> Callable[..., Any]:
    _REGISTRY[fn.__name__] = fn
    return fn


def list_students() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def create_student(name: str, *, input_shape: tuple[int, ...], num_outputs: int, **kwargs: Any):
    """Build a registered student; ``None`` kwargs are dropped so unset flags keep the defaults."""
    _load_families()
    if name not in _REGISTRY:
        raise EdgeDistillError(f"unknown student {name!r}; known students: {', '.join(sorted(_REGISTRY))}")
    fn = _REGISTRY[name]
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    allowed = set(inspect.signature(fn).parameters) - {"input_shape", "num_outputs"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise EdgeDistillError(f"student {name!r} has no option {', '.join(unknown)}; its options are {', '.join(sorted(allowed))}")
    return fn(input_shape=tuple(input_shape), num_outputs=num_outputs, **kwargs)


def student_defaults(name: str) -> dict[str, Any]:
    _load_families()
    sig = inspect.signature(_REGISTRY[name])
    return {k: p.default for k, p in sig.parameters.items() if k not in ("input_shape", "num_outputs")}


def _load_families() -> None:
    from . import cnn, mlp  # noqa: F401  (registration happens on import)
