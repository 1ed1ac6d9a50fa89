"""Render results as Markdown. Formatting only: every number comes from a result object."""

from __future__ import annotations

from collections.abc import Sequence

from .profile import ProfileResult

NOT_MEASURED = "not measured"


def _pct(v: float | None) -> str:
    return NOT_MEASURED if v is None else f"{100 * v:.2f} %"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def profile_markdown(r: ProfileResult) -> str:
    t, m, a, d, h = r.timing, r.memory, r.accuracy, r.device, r.host
    lines = []
    if d.get("fallback_to_cpu"):
        lines.append(f"> **Measured on CPU as a fallback**: {d['providers'][0][0]} is not in this onnxruntime build. These are not {d['name']} figures.\n")
    lines += [
        f"# Profile: {r.model['name']} on {d['name']}",
        "",
        f"{d['description']}  ",
        f"Host: {h['processor']} ({h['machine']}), {h['platform']}, onnxruntime {h['onnxruntime']}, "
        f"providers active: {', '.join(d['providers_active'])}",
        "",
        "## Model",
        "",
        "| size | parameters | weight bytes | opsets |",
        "|---:|---:|---:|---|",
        f"| {_size(r.model['size_bytes'])} | {r.model['parameters']:,} | {_size(r.model['parameter_bytes'])} | "
        + ", ".join(f"{k} {v}" for k, v in r.model["opsets"].items()) + " |",
        "",
        f"## Latency (batch {r.settings['batch_size']}, {t['runs']} timed runs over {t['total_s']:.2f} s after {t['warmup_runs']} warm-up runs)",
        "",
        "| session create | first run | mean | std | min | p50 | p90 | p95 | p99 | max | throughput |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {t['session_create_ms']:.1f} ms | {t['first_run_ms']:.3f} ms | {t['mean_ms']:.4f} ms | {t['std_ms']:.4f} ms | "
        f"{t['min_ms']:.4f} ms | {t['p50_ms']:.4f} ms | {t['p90_ms']:.4f} ms | {t['p95_ms']:.4f} ms | {t['p99_ms']:.4f} ms | "
        f"{t['max_ms']:.4f} ms | {t['throughput_samples_per_s']:,.0f} samples/s |",
        "",
        "## Memory (resident set of the measuring process)",
        "",
    ]
    if "not_measured" in m:
        lines.append(f"{NOT_MEASURED}: {m['not_measured']}")
    else:
        lines += [
            "| before session | added by session creation | peak added by inference | peak |",
            "|---:|---:|---:|---:|",
            f"| {m['rss_before_mb']:.1f} MiB | {m['session_added_mb']:.1f} MiB | {m['inference_peak_added_mb']:.1f} MiB | {m['peak_rss_mb']:.1f} MiB |",
        ]
    lines += ["", "## Accuracy", ""]
    if "not_measured" in a:
        lines.append(f"{NOT_MEASURED}: {a['not_measured']}")
    else:
        kl = a.get("kl_to_teacher")
        lines += [
            f"On the {a['split']} split of {a['data']} ({a['samples']} samples).",
            "",
            "| top-1 | agreement with teacher | KL(teacher ‖ model) |",
            "|---:|---:|---:|",
            f"| {_pct(a.get('top1'))} | {_pct(a.get('teacher_agreement'))} | {NOT_MEASURED if kl is None else f'{kl:.4f}'} |",
        ]
    lines += ["", f"_edgedistill {r.edgedistill_version}, profile schema {r.schema_version}._", ""]
    return "\n".join(lines)


def comparison_rows(results: Sequence[tuple[str, ProfileResult]]) -> list[dict[str, object]]:
    """One row per model; speed-up is against the first result's p50."""
    base = results[0][1].timing["p50_ms"]
    rows = []
    for label, r in results:
        rows.append({
            "model": label, "parameters": r.model["parameters"], "size_bytes": r.model["size_bytes"],
            "p50_ms": r.timing["p50_ms"], "p90_ms": r.timing["p90_ms"], "p99_ms": r.timing["p99_ms"],
            "throughput": r.timing["throughput_samples_per_s"], "top1": r.accuracy.get("top1"),
            "teacher_agreement": r.accuracy.get("teacher_agreement"), "speedup": base / r.timing["p50_ms"],
            "fallback": r.device.get("fallback_to_cpu", False),
        })
    return rows


def comparison_markdown(results: Sequence[tuple[str, ProfileResult]], *, title: str = "Comparison") -> str:
    rows = comparison_rows(results)
    first = results[0][1]
    lines = [
        f"# {title}",
        "",
        f"Device {first.device['name']} ({first.host['processor']}), batch {first.settings['batch_size']}, "
        f"onnxruntime {first.host['onnxruntime']}. Accuracy on the test split; speed-up is p50 against {rows[0]['model']}.",
        "",
        "| model | parameters | size | p50 | p90 | p99 | throughput | test top-1 | agreement with teacher | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']}{' (CPU fallback)' if row['fallback'] else ''} | {row['parameters']:,} | {_size(row['size_bytes'])} | "
            f"{row['p50_ms']:.4f} ms | {row['p90_ms']:.4f} ms | {row['p99_ms']:.4f} ms | {row['throughput']:,.0f}/s | "
            f"{_pct(row['top1'])} | {_pct(row['teacher_agreement'])} | {row['speedup']:.2f}x |"
        )
    return "\n".join(lines) + "\n"
