"""Render results as Markdown and self-contained HTML. Formatting only: every number comes from a result.

The HTML pages carry their data as JSON inside the page and draw their charts as inline SVG with a
few lines of plain JavaScript: no network, no libraries, one file to attach to a ticket.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .profile import ProfileResult

NOT_MEASURED = "not measured"


def _pct(v: float | None) -> str:
    return NOT_MEASURED if v is None else f"{100 * v:.2f} %"


def _count(n: int | None) -> str:
    return NOT_MEASURED if n is None else f"{n:,}"


def _size(n: int | None) -> str:
    if n is None:
        return NOT_MEASURED
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def _ms(v: float) -> str:
    return f"{v:.4f} ms" if v < 10 else f"{v:.2f} ms"


def _fallback_line(r: ProfileResult) -> str | None:
    d = r.device
    if d.get("fallback_to_cpu"):
        return f"Measured on CPU as a fallback: {d['providers'][0][0]} is not in this onnxruntime build. These are not {d['name']} figures."
    return None


# ----------------------------------------------------------------------------- one profile
def profile_markdown(r: ProfileResult) -> str:
    t, m, a, d, h = r.timing, r.memory, r.accuracy, r.device, r.host
    lines = []
    if _fallback_line(r):
        lines.append(f"> **{_fallback_line(r)}**\n")
    lines += [
        f"# Profile: {r.model['name']} on {d['name']}",
        "",
        f"{d['description']}  ",
        f"Host: {h['processor']} ({h['machine']}), {h['platform']}, "
        + (f"{h['browser']}, {h['onnxruntime']}, " if "browser" in h else f"onnxruntime {h['onnxruntime']}, ")
        + f"providers active: {', '.join(d['providers_active'])}",
        "",
        "## Model",
        "",
        "| size | parameters | weight bytes | opsets |",
        "|---:|---:|---:|---|",
        f"| {_size(r.model['size_bytes'])} | {_count(r.model['parameters'])} | {_size(r.model['parameter_bytes'])} | "
        + ", ".join(f"{k} {v}" for k, v in r.model["opsets"].items()) + " |",
        "",
        f"## Latency ({r.settings['inputs']})",
        "",
        f"Warm-up ≥ {r.settings['warmup_runs']} runs and ≥ {r.settings['warmup_seconds']} s, then timed runs until "
        f"≥ {r.settings['runs']} runs and ≥ {r.settings['min_seconds']} s; each batch size in a fresh process.",
        "",
        "| batch | runs | session create | first run | mean | std | min | p50 | p90 | p95 | p99 | max | throughput |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in r.batches or [{"batch_size": r.settings.get("batch_size", 1), "timing": t}]:
        bt = b["timing"]
        lines.append(
            f"| {b['batch_size']} | {bt['runs']} | {bt['session_create_ms']:.1f} ms | {_ms(bt['first_run_ms'])} | {_ms(bt['mean_ms'])} | "
            f"{_ms(bt['std_ms'])} | {_ms(bt['min_ms'])} | {_ms(bt['p50_ms'])} | {_ms(bt['p90_ms'])} | {_ms(bt['p95_ms'])} | "
            f"{_ms(bt['p99_ms'])} | {_ms(bt['max_ms'])} | {bt['throughput_samples_per_s']:,.0f} samples/s |"
        )
    lines += ["", "## Memory (resident set of the measuring process)", ""]
    if "not_measured" in m:
        lines.append(f"{NOT_MEASURED}: {m['not_measured']}")
    else:
        lines += [
            "| before session | added by session creation | peak added by inference | peak |",
            "|---:|---:|---:|---:|",
            f"| {m['rss_before_mb']:.1f} MiB | {m['session_added_mb']:.1f} MiB | {m['inference_peak_added_mb']:.1f} MiB | {m['peak_rss_mb']:.1f} MiB |",
        ]
    lines += ["", "## Time per operator (onnxruntime profiler, separate runs)", ""]
    ops = r.ops or {}
    if "by_op_type" not in ops:
        lines.append(f"{NOT_MEASURED}: {ops.get('not_measured', 'not requested')}")
    else:
        lines += [
            f"Kernel time {_ms(ops['kernel_ms_per_run'])} per run, mean of {ops['runs']} profiled runs at batch {r.batches[0]['batch_size'] if r.batches else 1}.",
            "",
            "| op type | nodes | time per run | share | execution providers |",
            "|---|---:|---:|---:|---|",
        ]
        lines += [f"| {o['op_type']} | {o['nodes']} | {_ms(o['ms_per_run'])} | {100 * o['share']:.1f} % | {', '.join(o['providers'])} |" for o in ops["by_op_type"]]
        lines += ["", "| execution provider | nodes | time per run | share |", "|---|---:|---:|---:|"]
        lines += [f"| {o['provider']} | {o['nodes']} | {_ms(o['ms_per_run'])} | {100 * o['share']:.1f} % |" for o in ops["by_provider"]]
        lines += ["", "| slowest nodes | op type | provider | time per run | share |", "|---|---|---|---:|---:|"]
        lines += [f"| {o['node']} | {o['op_type']} | {o['provider']} | {_ms(o['ms_per_run'])} | {100 * o['share']:.1f} % |" for o in ops["by_node"][:10]]
    if r.parity:
        pa = r.parity
        agree = "" if pa.get("top1_agreement") is None else f", top-1 agreement {_pct(pa['top1_agreement'])}"
        lines += ["", "## Outputs vs onnxruntime in Python", "",
                  f"Max abs difference {pa['max_abs_diff']:.3g} over {pa['samples']} inputs{agree} ({pa['reference']})."]
    lines += ["", "## Accuracy", ""]
    if "not_measured" in a:
        lines.append(f"{NOT_MEASURED}: {a['not_measured']}")
    else:
        kl, mse = a.get("kl_to_teacher"), a.get("mse_to_teacher")
        lines += [
            f"On the {a['split']} split of {a['data']} ({a['samples']} samples).",
            "",
            "| top-1 | agreement with teacher | KL(teacher ‖ model) | MSE to teacher |",
            "|---:|---:|---:|---:|",
            f"| {_pct(a.get('top1'))} | {_pct(a.get('teacher_agreement'))} | {NOT_MEASURED if kl is None else f'{kl:.4f}'} | "
            f"{NOT_MEASURED if mse is None else f'{mse:.4g}'} |",
        ]
    lines += ["", f"_edgedistill {r.edgedistill_version}, profile schema {r.schema_version}._", ""]
    return "\n".join(lines)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums}
td,th{border:1px solid #dde;padding:.25rem .55rem;text-align:right}th{background:#f3f5fa}td:first-child,th:first-child{text-align:left}
.warn{background:#fff3cd;border:1px solid #e0c060;padding:.6rem 1rem;font-weight:600}
.muted{color:#667}svg{background:#fbfcfe;border:1px solid #e3e6ef;margin:.5rem 0}
svg text{font:11px system-ui,sans-serif;fill:#334}.bar{fill:#4a78c2}.front{fill:#d9534f}.pt{fill:#4a78c2}
"""

_CHART_JS = r"""
(function(){
  const NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("edgedistill-data").textContent);
  function el(tag, attrs, parent, text){ const e=document.createElementNS(NS,tag); for(const k in attrs) e.setAttribute(k,attrs[k]); if(text!==undefined) e.textContent=text; if(parent) parent.appendChild(e); return e; }
  function fmt(v){ return v < 10 ? v.toFixed(4) : v.toFixed(2); }
  // Horizontal bars: rows [{label, value, note}]
  function hbars(svg, rows, unit){
    const W=+svg.getAttribute("width"), rowH=22, left=230, right=150, max=Math.max(...rows.map(r=>r.value), 1e-12);
    svg.setAttribute("height", rows.length*rowH+10);
    rows.forEach((r,i)=>{
      const y=5+i*rowH, w=Math.max(1,(W-left-right)*r.value/max);
      el("text",{x:left-6,y:y+14,"text-anchor":"end"},svg,r.label);
      el("rect",{x:left,y:y+3,width:w,height:rowH-8,class:"bar"},svg).appendChild(el("title",{},null,r.label+": "+fmt(r.value)+" "+unit));
      el("text",{x:left+w+6,y:y+14},svg,fmt(r.value)+" "+unit+(r.note?"  "+r.note:""));
    });
  }
  const hist = document.getElementById("latency-hist");
  if (hist && data.histogram){
    const e=data.histogram.edges_ms, c=data.histogram.counts, W=+hist.getAttribute("width"), H=+hist.getAttribute("height");
    const L=50,B=30,T=10, max=Math.max(...c,1), bw=(W-L-10)/c.length;
    c.forEach((n,i)=>{ const h=(H-B-T)*n/max; el("rect",{x:L+i*bw+1,y:H-B-h,width:Math.max(1,bw-2),height:h,class:"bar"},hist).appendChild(el("title",{},null,fmt(e[i])+"–"+fmt(e[i+1])+" ms: "+n+" runs")); });
    el("line",{x1:L,y1:H-B,x2:W-10,y2:H-B,stroke:"#889"},hist);
    el("text",{x:L,y:H-10},hist,fmt(e[0])+" ms"); el("text",{x:W-10,y:H-10,"text-anchor":"end"},hist,fmt(e[e.length-1])+" ms");
    el("text",{x:L-6,y:T+10,"text-anchor":"end"},hist,String(max)); el("text",{x:L-6,y:H-B,"text-anchor":"end"},hist,"0");
  }
  const ops = document.getElementById("op-bars");
  if (ops && data.ops) hbars(ops, data.ops.map(o=>({label:o.op_type+" ×"+o.nodes, value:o.ms_per_run, note:(100*o.share).toFixed(1)+" %"})), "ms");
  const eps = document.getElementById("ep-bars");
  if (eps && data.providers) hbars(eps, data.providers.map(o=>({label:o.provider+" ("+o.nodes+" nodes)", value:o.ms_per_run, note:(100*o.share).toFixed(1)+" %"})), "ms");
  const pareto = document.getElementById("pareto");
  if (pareto && data.points){
    const W=+pareto.getAttribute("width"), H=+pareto.getAttribute("height"), L=60,B=40,T=15,R=20, pts=data.points;
    const xs=pts.map(p=>p.p50_ms), ys=pts.map(p=>p.top1);
    const x0=0, x1=Math.max(...xs)*1.1, y0=Math.min(...ys)-0.01, y1=Math.min(1, Math.max(...ys)+0.005);
    const X=v=>L+(W-L-R)*(v-x0)/(x1-x0), Y=v=>H-B-(H-B-T)*(v-y0)/((y1-y0)||1);
    el("line",{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:"#889"},pareto); el("line",{x1:L,y1:T,x2:L,y2:H-B,stroke:"#889"},pareto);
    el("text",{x:(L+W-R)/2,y:H-8,"text-anchor":"middle"},pareto,"p50 latency (ms) →");
    el("text",{x:14,y:(T+H-B)/2,transform:"rotate(-90 14 "+(T+H-B)/2+")","text-anchor":"middle"},pareto,"test top-1 →");
    el("text",{x:L,y:H-B+14},pareto,fmt(x0)); el("text",{x:W-R,y:H-B+14,"text-anchor":"end"},pareto,fmt(x1));
    el("text",{x:L-4,y:Y(y0),"text-anchor":"end"},pareto,(100*y0).toFixed(1)+"%"); el("text",{x:L-4,y:Y(y1)+4,"text-anchor":"end"},pareto,(100*y1).toFixed(1)+"%");
    const front=pts.filter(p=>p.front).sort((a,b)=>a.p50_ms-b.p50_ms);
    if(front.length>1) el("polyline",{points:front.map(p=>X(p.p50_ms)+","+Y(p.top1)).join(" "),fill:"none",stroke:"#d9534f","stroke-dasharray":"4 3"},pareto);
    pts.forEach(p=>{ el("circle",{cx:X(p.p50_ms),cy:Y(p.top1),r:6,class:p.front?"front":"pt"},pareto).appendChild(el("title",{},null,p.label)); el("text",{x:X(p.p50_ms)+9,y:Y(p.top1)-8},pareto,p.label); });
  }
  document.body.dataset.rendered = "ok";
})();
"""


def _page(title: str, body: str, data: dict[str, Any]) -> str:
    blob = json.dumps(data).replace("</", "<\\/")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n"
        f"<script type=\"application/json\" id=\"edgedistill-data\">{blob}</script>\n<script>{_CHART_JS}</script>\n</body></html>\n"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def profile_html(r: ProfileResult) -> str:
    t, m, a, d, h = r.timing, r.memory, r.accuracy, r.device, r.host
    parts = []
    if _fallback_line(r):
        parts.append(f"<p class=\"warn\">{html.escape(_fallback_line(r))}</p>")
    parts.append(f"<h1>Profile: {html.escape(r.model['name'])} on {html.escape(d['name'])}</h1>")
    parts.append(f"<p>{html.escape(d['description'])}<br><span class=\"muted\">Host: {html.escape(h['processor'])} ({html.escape(h['machine'])}), "
                 f"{html.escape(h['platform'])}, onnxruntime {html.escape(h['onnxruntime'])}; providers active: "
                 f"{html.escape(', '.join(d['providers_active']))}</span></p>")
    parts.append("<h2>Model</h2>" + _table(["size", "parameters", "weight bytes", "opsets"], [[
        _size(r.model["size_bytes"]), f"{_count(r.model['parameters'])}", _size(r.model["parameter_bytes"]),
        ", ".join(f"{k} {v}" for k, v in r.model["opsets"].items())]]))
    rows = []
    for b in r.batches or [{"batch_size": r.settings.get("batch_size", 1), "timing": t}]:
        bt = b["timing"]
        rows.append([str(b["batch_size"]), str(bt["runs"]), f"{bt['session_create_ms']:.1f} ms", _ms(bt["first_run_ms"]), _ms(bt["mean_ms"]),
                     _ms(bt["std_ms"]), _ms(bt["min_ms"]), _ms(bt["p50_ms"]), _ms(bt["p90_ms"]), _ms(bt["p95_ms"]), _ms(bt["p99_ms"]),
                     _ms(bt["max_ms"]), f"{bt['throughput_samples_per_s']:,.0f}/s"])
    parts.append(f"<h2>Latency</h2><p class=\"muted\">Inputs: {html.escape(r.settings['inputs'])}. Warm-up ≥ {r.settings['warmup_runs']} runs and "
                 f"≥ {r.settings['warmup_seconds']} s, then timed runs until ≥ {r.settings['runs']} runs and ≥ {r.settings['min_seconds']} s.</p>")
    parts.append(_table(["batch", "runs", "session create", "first run", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "throughput"], rows))
    parts.append(f"<p>Distribution of the {t['runs']} timed runs at batch {r.settings.get('batch_size', 1)}:</p>"
                 "<svg id=\"latency-hist\" width=\"760\" height=\"240\" role=\"img\" aria-label=\"latency histogram\"></svg>")
    parts.append("<h2>Memory</h2>")
    if "not_measured" in m:
        parts.append(f"<p>{NOT_MEASURED}: {html.escape(m['not_measured'])}</p>")
    else:
        parts.append(_table(["before session", "added by session creation", "peak added by inference", "peak"], [[
            f"{m['rss_before_mb']:.1f} MiB", f"{m['session_added_mb']:.1f} MiB", f"{m['inference_peak_added_mb']:.1f} MiB", f"{m['peak_rss_mb']:.1f} MiB"]]))
    ops = r.ops or {}
    parts.append("<h2>Time per operator</h2>")
    if "by_op_type" not in ops:
        parts.append(f"<p>{NOT_MEASURED}: {html.escape(ops.get('not_measured', 'not requested'))}</p>")
    else:
        parts.append(f"<p class=\"muted\">onnxruntime profiler, {ops['runs']} separate runs; kernel time {_ms(ops['kernel_ms_per_run'])} per run.</p>"
                     "<svg id=\"op-bars\" width=\"760\" height=\"100\" role=\"img\" aria-label=\"time per op type\"></svg>"
                     "<h2>Execution provider placement</h2>"
                     "<svg id=\"ep-bars\" width=\"760\" height=\"60\" role=\"img\" aria-label=\"time per execution provider\"></svg>")
        parts.append(_table(["node", "op type", "provider", "time per run", "share"], [
            [o["node"], o["op_type"], o["provider"], _ms(o["ms_per_run"]), f"{100 * o['share']:.1f} %"] for o in ops["by_node"][:15]]))
    if r.parity:
        pa = r.parity
        parts.append("<h2>Outputs vs onnxruntime in Python</h2>" + _table(["reference", "inputs", "max abs difference", "top-1 agreement"], [[
            pa["reference"], str(pa["samples"]), f"{pa['max_abs_diff']:.3g}", _pct(pa.get("top1_agreement"))]]))
    parts.append("<h2>Accuracy</h2>")
    if "not_measured" in a:
        parts.append(f"<p>{NOT_MEASURED}: {html.escape(a['not_measured'])}</p>")
    else:
        kl, mse = a.get("kl_to_teacher"), a.get("mse_to_teacher")
        parts.append(f"<p class=\"muted\">{html.escape(a['split'])} split of {html.escape(str(a['data']))}, {a['samples']} samples.</p>")
        parts.append(_table(["top-1", "agreement with teacher", "KL(teacher ‖ model)", "MSE to teacher"], [[
            _pct(a.get("top1")), _pct(a.get("teacher_agreement")), NOT_MEASURED if kl is None else f"{kl:.4f}",
            NOT_MEASURED if mse is None else f"{mse:.4g}"]]))
    parts.append(f"<p class=\"muted\">edgedistill {html.escape(r.edgedistill_version)}, profile schema {r.schema_version}.</p>")
    data = {"histogram": t.get("histogram"), "ops": ops.get("by_op_type"), "providers": ops.get("by_provider")}
    return _page(f"Profile: {r.model['name']} on {d['name']}", "\n".join(parts), data)


# ----------------------------------------------------------------------------- comparisons
def comparison_rows(results: Sequence[tuple[str, ProfileResult]]) -> list[dict[str, object]]:
    """One row per model; speed-up is against the first result's p50; ``front`` marks the Pareto front."""
    base = results[0][1].timing["p50_ms"]
    rows = []
    for label, r in results:
        rows.append({
            "model": label, "parameters": r.model["parameters"], "size_bytes": r.model["size_bytes"],
            "p50_ms": r.timing["p50_ms"], "p90_ms": r.timing["p90_ms"], "p99_ms": r.timing["p99_ms"],
            "throughput": r.timing["throughput_samples_per_s"], "top1": r.accuracy.get("top1"),
            "teacher_agreement": r.accuracy.get("teacher_agreement"), "speedup": base / r.timing["p50_ms"],
            "fallback": r.device.get("fallback_to_cpu", False), "device": r.device["name"],
        })
    for row in rows:
        row["front"] = row["top1"] is not None and not any(
            o is not row and o["top1"] is not None and o["p50_ms"] <= row["p50_ms"] and o["top1"] >= row["top1"]
            and (o["p50_ms"] < row["p50_ms"] or o["top1"] > row["top1"]) for o in rows
        )
    return rows


def comparison_markdown(results: Sequence[tuple[str, ProfileResult]], *, title: str = "Comparison") -> str:
    rows = comparison_rows(results)
    first = results[0][1]
    lines = [
        f"# {title}",
        "",
        f"Device {first.device['name']} ({first.host['processor']}), batch {first.settings.get('batch_size', 1)}, "
        f"onnxruntime {first.host['onnxruntime']}. Accuracy on the test split; speed-up is p50 against {rows[0]['model']}; "
        "★ marks the latency/accuracy Pareto front.",
        "",
        "| model | parameters | size | p50 | p90 | p99 | throughput | test top-1 | agreement with teacher | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']}{' ★' if row['front'] else ''}{' (CPU fallback)' if row['fallback'] else ''} | {_count(row['parameters'])} | "
            f"{_size(row['size_bytes'])} | {_ms(row['p50_ms'])} | {_ms(row['p90_ms'])} | {_ms(row['p99_ms'])} | {row['throughput']:,.0f}/s | "
            f"{_pct(row['top1'])} | {_pct(row['teacher_agreement'])} | {row['speedup']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def comparison_html(results: Sequence[tuple[str, ProfileResult]], *, title: str = "Comparison") -> str:
    rows = comparison_rows(results)
    first = results[0][1]
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if any(r["fallback"] for r in rows):
        parts.append("<p class=\"warn\">Some rows were measured on CPU as a fallback; they are marked.</p>")
    parts.append(f"<p class=\"muted\">Host {html.escape(first.host['processor'])}, onnxruntime {html.escape(first.host['onnxruntime'])}. "
                 f"Speed-up is p50 against {html.escape(str(rows[0]['model']))}; red points are the Pareto front (nothing else is both faster and more accurate).</p>")
    parts.append(_table(
        ["model", "device", "parameters", "size", "p50", "p90", "test top-1", "agreement with teacher", "speed-up", "Pareto front"],
        [[str(r["model"]) + (" (CPU fallback)" if r["fallback"] else ""), str(r["device"]), _count(r["parameters"]), _size(r["size_bytes"]),
          _ms(r["p50_ms"]), _ms(r["p90_ms"]), _pct(r["top1"]), _pct(r["teacher_agreement"]), f"{r['speedup']:.2f}x", "yes" if r["front"] else ""]
         for r in rows]))
    points = [{"label": r["model"], "p50_ms": r["p50_ms"], "top1": r["top1"], "front": r["front"]} for r in rows if r["top1"] is not None]
    if points:
        parts.append("<h2>Latency vs accuracy</h2><svg id=\"pareto\" width=\"760\" height=\"380\" role=\"img\" aria-label=\"latency vs accuracy\"></svg>")
    else:
        parts.append(f"<p>Latency vs accuracy: {NOT_MEASURED} (no profile has accuracy; profile with --data).</p>")
    return _page(title, "\n".join(parts), {"points": points})


def compare_files(paths: Sequence[str], out: str, *, labels: Sequence[str] | None = None, title: str = "Comparison") -> list[dict[str, object]]:
    """``edgedistill report``: read profile.json files, write a side-by-side ``.md`` or ``.html``."""
    import pathlib

    from ._io import write_text
    from .errors import EdgeDistillError

    if not paths:
        raise EdgeDistillError("give at least one profile.json to report on")
    if labels and len(labels) != len(paths):
        raise EdgeDistillError(f"--label was given {len(labels)} times for {len(paths)} files; give one per file or none")
    results = []
    for i, p in enumerate(paths):
        path = pathlib.Path(p)
        if path.is_dir():
            path = path / "profile.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EdgeDistillError(f"{path} does not exist; give profile.json files written by edgedistill profile") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EdgeDistillError(f"{path} is not JSON; give profile.json files written by edgedistill profile") from None
        r = ProfileResult.from_json(d)
        results.append((labels[i] if labels else f"{r.model['name']} @ {r.device['name']}", r))
    suffix = pathlib.Path(out).suffix
    if suffix not in (".md", ".html"):
        raise EdgeDistillError(f"-o {out}: the report must end in .md or .html")
    text = comparison_html(results, title=title) if suffix == ".html" else comparison_markdown(results, title=title)
    write_text(out, text)
    return comparison_rows(results)
