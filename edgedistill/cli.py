"""``edgedistill`` command line: parse, call one API function, print. No logic lives here.

Heavy libraries load inside the commands, so ``edgedistill --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import __version__


def _echo(msg: str = "") -> None:
    """Print above any live progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(msg, file=sys.stdout)


def _parse_student_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    import yaml

    from .errors import EdgeDistillError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EdgeDistillError(f"--student-arg {pair!r} is not key=value (e.g. --student-arg hidden=64,32)")
        try:
            items = [yaml.safe_load(v) for v in value.split(",")] if "," in value and not value.startswith("[") else yaml.safe_load(value)
        except yaml.YAMLError:
            raise EdgeDistillError(f"--student-arg {pair!r}: cannot read the value {value!r}") from None
        out[key.replace("-", "_")] = items
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgedistill")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """Distill an ONNX teacher into a small student, convert it for edge targets, profile it.

    \b
    edgedistill demo                                   the whole pipeline on built-in digits
    edgedistill inspect teacher.onnx                   what a model file holds
    edgedistill distill --teacher T.onnx -o run/       teacher → PyTorch student
    edgedistill convert run/ -o out/ --quantize dynamic
    edgedistill profile out/student.onnx --device cpu --data builtin:digits -o prof/
    edgedistill report prof/profile.json prof-teacher/profile.json -o compare.html
    """
    ctx.obj = {"progress": not quiet}


@main.command("inspect")
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--intermediates", is_flag=True, help="List every intermediate tensor (candidates for feature distillation).")
def inspect_cmd(model: str, as_json: bool, intermediates: bool) -> None:
    """Show MODEL's inputs/outputs, opsets, op counts, parameters, MACs and what its output means."""
    from .teacher import inspect_model

    info = inspect_model(model)
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2))
        return
    click.echo(f"{info.path}  ({info.size_bytes:,} bytes, IR {info.ir_version}, producer {info.producer or 'unknown'})")
    click.echo("opsets:  " + ", ".join(f"{k} {v}" for k, v in info.opsets.items()))
    for title, specs in (("inputs", info.inputs), ("outputs", info.outputs)):
        click.echo(f"{title}:")
        for s in specs:
            dims = ", ".join("?" if d is None else str(d) for d in s.shape)
            click.echo(f"  {s.name:<24} {s.dtype:<10} [{dims}]")
    click.echo(f"parameters: {info.parameters:,} ({info.parameter_bytes:,} bytes)")
    click.echo(f"MACs per sample (Conv/Gemm/MatMul, estimated): {'unknown' if info.macs is None else f'{info.macs:,}'}")
    click.echo(f"output: {info.output_kind_guess}")
    click.echo("ops:     " + ", ".join(f"{op} {n}" for op, n in info.op_counts.items()))
    if info.external_data:
        click.echo("external data: " + ", ".join(info.external_data))
    shown = info.intermediates if intermediates else info.intermediates[:8]
    click.echo(f"intermediate tensors: {len(info.intermediates)}" + ("" if intermediates or len(info.intermediates) <= 8 else " (first 8; --intermediates for all)"))
    for t in shown:
        shape = "?" if t["shape"] is None else "[" + ", ".join("?" if d is None else str(d) for d in t["shape"]) + "]"
        click.echo(f"  {t['name']:<40} {t['op_type']:<14} {t['dtype'] or '?':<8} {shape}")
    if info.metadata:
        click.echo("metadata:")
        for k, v in info.metadata.items():
            click.echo(f"  {k} = {v}")


def _weights(spec: str | None, option: str, default: float = 1.0) -> dict[str, float]:
    """``kd`` / ``kd:1,cosine:0.5`` / ``noise=0.05,mixup=0.2`` → {name: weight}."""
    from .errors import EdgeDistillError

    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.replace("=", ":").partition(":")
        try:
            out[name.strip()] = float(value) if sep else default
        except ValueError:
            raise EdgeDistillError(f"{option} {spec!r}: {value!r} is not a number") from None
    return out


@main.command()
@click.option("--teacher", "-t", type=click.Path(), help="Teacher ONNX file.")
@click.option("--data", "-d", default="builtin:digits", show_default=True,
              help="builtin:digits, .npz (x, optional y and split), .npy, .csv (label column y/label) or a folder of class folders of images.")
@click.option("--student", "-s", default="mlp", show_default=True,
              help="mlp, cnn, mobilenet, transformer, decompose, or your own: path/to/file.py:Factory or package.module:Factory (runs your code).")
@click.option("--student-arg", "student_args", multiple=True, metavar="KEY=VALUE", help="Student size knob, repeatable (e.g. hidden=64,32).")
@click.option("--labels/--no-labels", default=False, show_default=True, help="Mix hard-label cross-entropy into the loss (needs y).")
@click.option("--loss", "loss", default="kd", show_default=True, help="Weighted terms: kd, mse, cosine (e.g. kd:1,cosine:0.5).")
@click.option("--hint", default=None, metavar="TENSOR", help="Feature distillation on this teacher intermediate tensor (see inspect --intermediates).")
@click.option("--hint-weight", type=float, default=0.1, show_default=True)
@click.option("--blockwise", default=None, metavar="T1,T2,...", help="decompose only: pre-train block by block up to these teacher tensors.")
@click.option("--block-epochs", type=int, default=5, show_default=True)
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimiser steps.")
@click.option("--stop-at-loss", type=float, default=None, help="Stop when an epoch's training loss is at or below this.")
@click.option("--patience", type=int, default=None, help="Stop after this many epochs without a better validation score.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=1e-2, show_default=True, help="AdamW learning rate (cosine schedule).")
@click.option("--temperature", "-T", type=float, default=4.0, show_default=True, help="KD softmax temperature.")
@click.option("--alpha", type=float, default=0.5, show_default=True, help="Weight of the label loss when --labels.")
@click.option("--augment", default=None, metavar="noise=STD,mixup=ALPHA", help="Online teacher mode: augment each batch; the teacher labels it in a background thread.")
@click.option("--augment-fn", default=None, metavar="FILE.py:FUNC", help="Online teacher mode with your own fn(x, rng) -> x (runs your code).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache-dir", type=click.Path(), default=None, help="Teacher-output cache [default: ~/.cache/edgedistill or $EDGEDISTILL_CACHE].")
@click.option("--teacher-output", default=None, help="Teacher output to distill [default: the first float output].")
@click.option("--teacher-kind", type=click.Choice(["logits", "probabilities", "log_probabilities", "regression"]), default=None,
              help="What that output is [default: detected].")
@click.option("--log-every", type=int, default=None, help="Print every Nth epoch [default: about ten lines].")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last checkpoint, with its stored config.")
@click.option("-o", "--out", required=True, type=click.Path(), help="Run folder to write.")
@click.pass_obj
def distill(obj: dict[str, Any], out: str, student_args: tuple[str, ...], loss: str, blockwise: str | None, augment: str | None, **kw: Any) -> None:
    """Train a small PyTorch student to reproduce the teacher's outputs (label-free by default).

    \b
    Multi-GPU / multi-node: torchrun --nproc-per-node 2 -m edgedistill distill ...
    """
    from .distill import distill as run_distill

    res = run_distill(out=out, student_args=_parse_student_args(student_args), losses=_weights(loss, "--loss"),
                      blockwise=[b for b in (blockwise or "").split(",") if b], augment=_weights(augment, "--augment", 0.0),
                      progress=obj["progress"], log=_echo, **kw)
    f = res.final
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        click.echo(f"wrote {out}/student.pt and student.json: {res.student_parameters:,} parameters" + ("" if f is None else f"; {f.summary()}"))


@main.command()
@click.argument("source", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(), help="Output folder for the model files and convert.json.")
@click.option("--device", default=None, help="Take the recipe from this device file's convert: section; flags override it.")
@click.option("--quantize", multiple=True, metavar="METHOD", help="none, dynamic, static, fp16; repeat or comma-separate. The first is shipped.")
@click.option("--optimize", type=click.Choice(["none", "basic", "extended", "all"]), default=None, help="onnxruntime offline graph optimisation [default: basic].")
@click.option("--calib", default=None, help="Calibration data for static int8 (its train split) [default: the run's data].")
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default=None, help="[default: minmax]")
@click.option("--calib-samples", type=int, default=None, help="Calibration samples [default: 512].")
@click.option("--per-channel/--per-tensor", default=None, help="int8 weight granularity [default: per channel].")
@click.option("--fixed-shape/--dynamic-shape", default=None, help="Fix input shapes (mobile EPs want them).")
@click.option("--fixed-batch", type=int, default=1, show_default=True, help="Batch size used by --fixed-shape.")
@click.option("--format", "format", type=click.Choice(["onnx", "ort"]), default=None, help="ort also writes the ORT-format file and its required-operators config.")
@click.option("--data", default=None, help="Validation data for parity and accuracy [default: the run's data].")
@click.option("--teacher", type=click.Path(), default=None, help="Teacher ONNX for agreement [default: the run's teacher].")
@click.option("--opset", type=int, default=18, show_default=True)
@click.option("--atol", type=float, default=1e-4, show_default=True, help="Parity tolerance (absolute).")
@click.option("--rtol", type=float, default=1e-3, show_default=True, help="Parity tolerance (relative).")
@click.option("--latency/--no-latency", default=True, show_default=True, help="Measure p50 of each variant on this host.")
def convert(quantize: tuple[str, ...], **kw: Any) -> None:
    """Convert SOURCE (a distill run folder, its student.json, or any .onnx) into verified files for a target.

    \b
    edgedistill convert runs/mlp -o out/ --quantize dynamic,static,fp16
    edgedistill convert runs/mlp -o out-android/ --device android-nnapi
    edgedistill convert teacher.onnx -o out/ --quantize static --data builtin:digits
    """
    from .convert import convert as run_convert

    res = run_convert(quantize=list(quantize) if quantize else None, log=_echo, **kw)
    click.echo(f"ship {res.ship}; wrote {res.out_dir}/convert.json")


@main.command()
@click.argument("model", type=click.Path())
@click.option("--device", default="cpu", show_default=True, help="Device name (see `edgedistill devices`) or a device .yaml file.")
@click.option("--data", default=None, help="builtin:digits or .npz: real inputs, accuracy on its test split.")
@click.option("--teacher", type=click.Path(), default=None, help="Teacher ONNX: report agreement and KL (or MSE) with it.")
@click.option("-o", "--out", type=click.Path(), default=None, help="Folder for profile.json, profile.md and profile.html.")
@click.option("--batch", "batch", default="1", show_default=True, help="Batch size, or a comma list to sweep (1,8,32).")
@click.option("--shape", "shapes", multiple=True, metavar="NAME=DxD...", help="Fix an input's symbolic dimensions for generated inputs.")
@click.option("--runs", type=int, default=100, show_default=True, help="Minimum number of timed runs.")
@click.option("--min-seconds", type=float, default=2.0, show_default=True, help="Minimum total time of the timed runs.")
@click.option("--warmup-runs", type=int, default=10, show_default=True)
@click.option("--warmup-seconds", type=float, default=0.5, show_default=True)
@click.option("--threads", type=int, default=None, help="Override the device's intra-op threads.")
@click.option("--graph-optimization", type=click.Choice(["disable", "basic", "extended", "all"]), default=None, help="Override the device's level.")
@click.option("--ep-option", "ep_options", multiple=True, metavar="KEY=VALUE", help="Override an option of the device's first execution provider.")
@click.option("--iobinding", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True, help="auto: on for GPU providers.")
@click.option("--op-profile-runs", type=int, default=20, show_default=True, help="Runs of the separate per-op profile (0: skip).")
@click.option("--allow-fallback", is_flag=True, help="Measure on CPU if the device's EP is missing (the report says so).")
@click.option("--remote", default=None, metavar="USER@HOST[:PORT]", help="Measure on this machine over SSH (system ssh, ~/.ssh/config applies).")
@click.option("--remote-python", default="python3", show_default=True, help="The Python on the remote machine (needs onnxruntime and numpy).")
@click.option("--ssh-config", type=click.Path(), default=None, help="An ssh_config file for --remote (ssh -F).")
@click.option("--html/--no-html", default=True, show_default=True, help="Also write profile.html.")
@click.pass_obj
def profile(obj: dict[str, Any], batch: str, shapes: tuple[str, ...], ep_options: tuple[str, ...], **kw: Any) -> None:
    """Measure MODEL's latency, memory, per-op time and accuracy on a device, in a fresh process."""
    from .errors import EdgeDistillError
    from .profile import parse_shapes
    from .profile import profile as run_profile
    from .report import profile_markdown

    try:
        batches = [int(b) for b in batch.split(",")]
    except ValueError:
        raise EdgeDistillError(f"--batch {batch!r} is not a size or a comma list of sizes (e.g. 1,8,32)") from None
    options = {}
    for item in ep_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EdgeDistillError(f"--ep-option {item!r} is not KEY=VALUE (e.g. --ep-option device_id=1)")
        options[key] = value
    res = run_profile(batch_size=batches, shapes=parse_shapes(shapes), ep_options=options, progress=obj["progress"], log=_echo, **kw)
    click.echo(profile_markdown(res))
    if kw["out"]:
        click.echo(f"wrote {kw['out']}/profile.json, profile.md" + (" and profile.html" if kw["html"] else ""))


@main.command()
@click.argument("profiles", nargs=-1, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(), help="compare.md or compare.html.")
@click.option("--label", "labels", multiple=True, help="Row label per profile, in order [default: model @ device].")
@click.option("--title", default="Comparison", show_default=True)
def report(profiles: tuple[str, ...], out: str, labels: tuple[str, ...], title: str) -> None:
    """Compare profile.json files side by side: size, p50, p90, accuracy, speed-up, Pareto front."""
    from .report import compare_files

    rows = compare_files(profiles, out, labels=labels or None, title=title)
    front = [str(r["model"]) for r in rows if r["front"]]
    click.echo(f"wrote {out}: {len(rows)} models" + (f"; Pareto front: {', '.join(front)}" if front else ""))


@main.command()
def devices() -> None:
    """List the device files and whether each can run on this host."""
    from .devices import list_devices

    for d in list_devices():
        ok, why = d.availability()
        click.echo(f"{d.name:<10} {'yes' if ok else 'no ':<4} {d.description}")
        if not ok:
            click.echo(f"{'':<15}{why}")


@main.command()
@click.option("-o", "--out", default="demo-out", show_default=True, type=click.Path())
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--min-seconds", type=float, default=2.0, show_default=True, help="Minimum timed seconds per profiled model.")
@click.pass_obj
def demo(obj: dict[str, Any], out: str, epochs: int, min_seconds: float) -> None:
    """The whole pipeline on the built-in digits teacher and data, ending in a comparison table."""
    from .demo import demo as run_demo

    run_demo(out=out, epochs=epochs, min_seconds=min_seconds, progress=obj["progress"], log=_echo)


if __name__ == "__main__":  # pragma: no cover
    main()
