"""The student the benchmarks compare: the default label-free mlp distilled from the shipped teacher."""

from __future__ import annotations

import edgedistill as ed
from edgedistill.demo import builtin_teacher


def quiet(*_: object) -> None:
    pass


def default_student(folder: str, **convert_options):
    """Distill the default student into ``folder``/run and convert it into ``folder``/student."""
    ed.distill(teacher=builtin_teacher(), out=f"{folder}/run", progress=False, log=quiet)
    return ed.convert(source=f"{folder}/run", out=f"{folder}/student", latency=False, log=quiet, **convert_options)
