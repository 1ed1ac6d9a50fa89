"""The main job on built-in material: shipped digits teacher → label-free distillation → convert
(fp32 and dynamic int8) → profile all three on the CPU → one comparison table."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
from typing import Any

from ._io import ensure_out_dir, write_json, write_text
from .errors import EdgeDistillError
from .report import comparison_markdown, comparison_rows


def builtin_teacher() -> pathlib.Path:
    """The shipped digits teacher: inside the installed package, or in the source checkout's examples/."""
    here = pathlib.Path(__file__).resolve().parent
    for p in (here / "_assets" / "digits_teacher.onnx", here.parent / "examples" / "digits" / "teacher.onnx"):
        if p.is_file():
            return p
    raise EdgeDistillError("the built-in digits teacher is missing from this installation; reinstall edgedistill")


@dataclasses.dataclass
class DemoResult:
    out_dir: str
    report: str
    rows: list[dict[str, Any]]
    checks: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def demo(
    *,
    out: str | os.PathLike[str] = "demo-out",
    epochs: int = 100,
    runs: int = 100,
    min_seconds: float = 2.0,
    device: str = "cpu",
    progress: bool = True,
    log=print,
) -> DemoResult:
    from .convert import convert
    from .distill import distill
    from .profile import profile

    out_dir = ensure_out_dir(out)
    teacher = builtin_teacher()
    run = out_dir / "run"
    if (run / "config.yaml").exists():
        shutil.rmtree(run)  # the demo owns this sub-folder: each demo starts a fresh run

    log(f"[1/3] distill: {teacher.name} → mlp student on builtin:digits, no labels")
    dist = distill(teacher=teacher, data="builtin:digits", student="mlp", labels=False, epochs=epochs, out=run, progress=progress, log=log)
    log(f"[2/3] convert: {run} → ONNX fp32 + dynamic int8")
    conv = convert(source=run, out=out_dir / "student", quantize="dynamic", latency=False, log=log)
    log(f"[3/3] profile on {device}: teacher, student fp32, student int8")
    models = [("teacher (CNN)", teacher), ("student fp32 (MLP)", pathlib.Path(conv.onnx))]
    if "dynamic" in conv.files:
        models.append(("student int8 (MLP)", pathlib.Path(conv.files["dynamic"])))
    results = []
    for (label, path), slug in zip(models, ("teacher", "student", "student_int8")):
        results.append((label, profile(
            model=path, device=device, data="builtin:digits", teacher=teacher, out=out_dir / "profiles" / slug,
            runs=runs, min_seconds=min_seconds, progress=progress, log=log,
        )))

    table = comparison_markdown(results, title="edgedistill demo: digits teacher vs label-free student")
    rows = comparison_rows(results)
    t, s = rows[0], rows[1]
    checks = {
        "parameters_ratio": {"value": t["parameters"] / s["parameters"], "target": ">= 20", "pass": t["parameters"] >= 20 * s["parameters"]},
        "accuracy_vs_teacher": {"value": s["top1"] / t["top1"], "target": ">= 0.95", "pass": s["top1"] >= 0.95 * t["top1"]},
        "p50_lower_than_teacher": {"value": s["p50_ms"] / t["p50_ms"], "target": "< 1", "pass": s["p50_ms"] < t["p50_ms"]},
    }
    summary = [
        "",
        f"Label-free student: {checks['parameters_ratio']['value']:.1f}x fewer parameters, "
        f"{100 * checks['accuracy_vs_teacher']['value']:.1f} % of the teacher's test accuracy, "
        f"p50 {s['p50_ms']:.4f} ms vs {t['p50_ms']:.4f} ms ({s['speedup']:.1f}x faster).",
        f"Distilled in {dist.epochs_run} epochs without labels; parity fp32 ONNX vs PyTorch max abs diff {conv.parity.max_abs_diff:.2g}."
        if conv.parity else "",
    ]
    if len(rows) > 2 and rows[2]["p50_ms"] > s["p50_ms"]:
        summary.append(
            f"Note: dynamic int8 is slower than fp32 on this CPU (p50 {rows[2]['p50_ms']:.4f} ms vs {s['p50_ms']:.4f} ms): "
            "for a model this small the per-call activation quantization costs more than the int8 matmuls save."
        )
    report = table + "\n".join(summary) + "\n"
    write_text(out_dir / "report.md", report)
    write_json(out_dir / "demo.json", {"rows": rows, "checks": checks})
    log("")
    log(report)
    log(f"wrote {out_dir / 'report.md'} (profiles in {out_dir / 'profiles'})")
    return DemoResult(str(out_dir), str(out_dir / "report.md"), rows, checks)
