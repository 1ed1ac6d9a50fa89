"""The distillation loop, top to bottom: resolve the config, run the teacher (cached), build the
student, train with the KD loss, evaluate each epoch, checkpoint each epoch, write the run folder.

Run folder (every file written atomically):
    config.yaml           the fully resolved configuration
    student.pt            final weights (``torch.load(..., weights_only=True)``)
    student.json          how to rebuild the student and feed it
    metrics.jsonl         one line per epoch
    checkpoints/last.pt   resume state: model, optimiser, scheduler, RNG, epoch
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from ._io import atomic_path, ensure_out_dir, raise_if_no_space, write_json, write_text
from .cache import teacher_outputs
from .data import Dataset, fit_to_input, load_dataset
from .errors import EdgeDistillError, Interrupted
from .losses import distillation_loss, teacher_log_probs
from .students import create_student, student_defaults
from .teacher import OnnxTeacher

# ----------------------------------------------------------------------------- defaults
DEFAULTS: dict[str, Any] = {
    "teacher": None,  # path to the teacher .onnx
    "data": "builtin:digits",
    "student": "mlp",
    "student_args": {},
    "labels": False,  # mix hard-label CE into the loss (labels are always used for *evaluation* when present)
    "epochs": 100,
    "batch_size": 64,
    "lr": 1e-2,
    "weight_decay": 1e-4,
    "temperature": 4.0,
    "alpha": 0.5,  # weight of CE when labels are used
    "seed": 0,
    "threads": None,  # torch intra-op threads; None keeps torch's default
    "cache_dir": None,
    "teacher_output": None,  # which teacher output to distill (default: the first float output)
    "teacher_kind": None,  # override the detected meaning of that output
}


@dataclasses.dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    val_agreement: float | None  # top-1 agreement with the teacher on the validation split (classifiers)
    val_kl: float | None  # KL(teacher ‖ student) at T=1 on the validation split (classifiers)
    val_accuracy: float | None  # against labels, when the data has them (classifiers)
    lr: float
    seconds: float
    val_mse: float | None = None  # mean squared error to the teacher (regression / embedding teachers)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        if self.val_mse is not None:
            return f"loss {self.train_loss:.4f}  val_mse {self.val_mse:.5g}"
        acc = "" if self.val_accuracy is None else f"  val_acc {self.val_accuracy:.4f}"
        return f"loss {self.train_loss:.4f}  val_agree {self.val_agreement:.4f}  val_kl {self.val_kl:.4f}{acc}"


@dataclasses.dataclass
class DistillResult:
    run_dir: str
    student: str
    student_parameters: int
    teacher_parameters: int
    epochs_run: int
    final: EpochMetrics | None
    teacher_cache_hit: bool
    resumed_from_epoch: int

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["final"] = self.final.to_json() if self.final else None
        return d


# ----------------------------------------------------------------------------- entry point
def distill(
    *,
    out: str | os.PathLike[str],
    teacher: str | os.PathLike[str] | None = None,
    data: str = DEFAULTS["data"],
    student: str = DEFAULTS["student"],
    student_args: dict[str, Any] | None = None,
    labels: bool = DEFAULTS["labels"],
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = DEFAULTS["lr"],
    weight_decay: float = DEFAULTS["weight_decay"],
    temperature: float = DEFAULTS["temperature"],
    alpha: float = DEFAULTS["alpha"],
    seed: int = DEFAULTS["seed"],
    threads: int | None = DEFAULTS["threads"],
    cache_dir: str | os.PathLike[str] | None = None,
    teacher_output: str | None = None,
    teacher_kind: str | None = None,
    resume: bool = False,
    log_every: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> DistillResult:
    """Distill ``teacher`` into a new ``student`` on ``data``; write the run folder ``out``.

    With ``resume=True`` the run continues from ``out/checkpoints/last.pt`` with the configuration
    stored in ``out/config.yaml`` (the other arguments are ignored). ``log_every`` prints every Nth
    epoch (default: about ten lines per run, always the last); metrics.jsonl has every epoch.
    """
    run = pathlib.Path(out)
    if resume:
        cfg = _load_config(run)
        log(f"resuming {run} with its stored configuration")
    else:
        if teacher is None:
            raise EdgeDistillError("no teacher given; pass --teacher path/to/teacher.onnx")
        cfg = dict(
            teacher=str(teacher), data=data, student=student, student_args=dict(student_args or {}),
            labels=labels, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            temperature=temperature, alpha=alpha, seed=seed, threads=threads,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
            teacher_output=teacher_output, teacher_kind=teacher_kind,
        )
        _validate(cfg)
        if (run / "checkpoints" / "last.pt").exists():
            raise EdgeDistillError(f"{run} already holds a distillation run; continue it with --resume or choose a new -o folder")
    ensure_out_dir(run)

    # ------------------------------------------------------------------------- setup
    torch.manual_seed(cfg["seed"])
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))

    # ------------------------------------------------------------------------- data + teacher pass
    t = OnnxTeacher(cfg["teacher"], output=cfg["teacher_output"], kind=cfg["teacher_kind"])
    if len(t.inputs) != 1:
        raise EdgeDistillError(f"teacher {t.path.name} has {len(t.inputs)} inputs ({', '.join(i.name for i in t.inputs)}); "
                               "the built-in students take one input, so a multi-input teacher cannot be distilled yet")
    ds = load_dataset(cfg["data"])
    log(f"teacher {t.path.name}: input {t.input.name} {list(t.input.shape)}, output {t.output.name}; {t.batch_mode}")
    log(f"data {ds.describe()}")
    if cfg["labels"] and ds.y is None:
        raise EdgeDistillError(f"--labels asked for but {ds.source} has no 'y'; drop --labels to distill from the teacher alone")
    xtr, ytr = ds.part("train")
    xva, yva = ds.part("val")
    if len(xva) == 0:
        xva, yva = xtr, ytr  # tiny data: validate on the training inputs rather than on nothing
    xtr = fit_to_input(xtr, t.input.shape, np.dtype(t.input.dtype), what="teacher")
    xva = fit_to_input(xva, t.input.shape, np.dtype(t.input.dtype), what="teacher")
    ttr, hit_tr = teacher_outputs(t, xtr, cache_dir=cfg["cache_dir"], progress=progress, desc="teacher pass (train)")
    tva, hit_va = teacher_outputs(t, xva, cache_dir=cfg["cache_dir"], progress=progress, desc="teacher pass (val)")
    log(f"teacher outputs {'from cache' if hit_tr and hit_va else 'computed and cached'}: {len(ttr)} train, {len(tva)} val")
    kind = t.kind_from(np.asarray(ttr[:256]))
    log(f"teacher output {t.output.name} is read as {kind}" + (" (set with --teacher-kind)" if cfg["teacher_kind"] else ""))
    if kind != "regression":
        _check_labels(ytr, ttr.shape[-1], ds.source)
    elif cfg["labels"]:
        raise EdgeDistillError("--labels mixes class labels into the loss, but the teacher output is a regression/embedding; drop --labels")

    # ------------------------------------------------------------------------- student
    input_shape = tuple(int(d) for d in xtr.shape[1:])
    num_outputs = int(np.prod(ttr.shape[1:])) if ttr.ndim > 1 else 1
    model = create_student(cfg["student"], input_shape=input_shape, num_outputs=num_outputs, **cfg["student_args"])
    n_student = sum(p.numel() for p in model.parameters())
    n_teacher = _teacher_params(t)
    log(f"student {cfg['student']}: {n_student:,} parameters vs teacher {n_teacher:,} ({n_teacher / max(n_student, 1):.1f}x fewer)")

    # ------------------------------------------------------------------------- optimiser + schedule
    steps_per_epoch = math.ceil(len(xtr) / cfg["batch_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg["epochs"] * steps_per_epoch))
    shuffle = torch.Generator().manual_seed(cfg["seed"])

    start_epoch = 0
    ckpt_path = run / "checkpoints" / "last.pt"
    if resume:
        if not ckpt_path.exists():
            raise EdgeDistillError(f"{ckpt_path} not found; nothing to resume (start a new run without --resume)")
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        shuffle.set_state(ckpt["shuffle_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        start_epoch = int(ckpt["epoch"])
        _truncate_metrics(run / "metrics.jsonl", start_epoch)
        log(f"resumed at epoch {start_epoch}/{cfg['epochs']}")
    else:
        write_text(run / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        (run / "metrics.jsonl").unlink(missing_ok=True)

    # ------------------------------------------------------------------------- training loop
    x_t = torch.from_numpy(np.array(xtr))  # copies: the cache is a read-only memmap
    t_t = torch.from_numpy(np.array(ttr).reshape(len(ttr), -1))
    y_t = torch.from_numpy(ytr) if (cfg["labels"] and ytr is not None) else None
    final: EpochMetrics | None = None
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg["epochs"], initial=start_epoch, desc="distill", unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in range(start_epoch, cfg["epochs"]):
            t0 = time.perf_counter()
            model.train()
            total, seen = 0.0, 0
            for idx in torch.randperm(len(x_t), generator=shuffle).split(cfg["batch_size"]):
                logits = model(x_t[idx])
                loss = distillation_loss(
                    logits, t_t[idx], None if y_t is None else y_t[idx],
                    temperature=cfg["temperature"], alpha=cfg["alpha"], kind=kind,
                )
                if not torch.isfinite(loss):
                    raise EdgeDistillError(
                        f"loss became {loss.item()} at epoch {epoch + 1}; lower --lr (now {cfg['lr']}) and --resume "
                        f"from the last good checkpoint in {ckpt_path}"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            final = _evaluate(model, xva, tva, yva, kind, epoch + 1, total / seen, opt.param_groups[0]["lr"], time.perf_counter() - t0)
            # Metrics first, checkpoint second: a kill between the two leaves a metrics line newer than the
            # checkpoint, which --resume drops and recomputes; the other order would lose that epoch's line.
            try:
                with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(final.to_json()) + "\n")
            except OSError as e:
                raise_if_no_space(run / "metrics.jsonl", e)
                raise
            _save_checkpoint(ckpt_path, model, opt, sched, shuffle, epoch + 1)
            bar.update(1)
            bar.set_postfix(loss=f"{final.train_loss:.4f}")
            every = log_every or max(1, cfg["epochs"] // 10)
            if (epoch + 1) % every == 0 or epoch + 1 == cfg["epochs"] or epoch == start_epoch:
                log(f"epoch {epoch + 1:3d}/{cfg['epochs']}  {final.summary()}")
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(f"interrupted; the last finished epoch is saved in {ckpt_path}; continue with: edgedistill distill --resume -o {run}") from None
    bar.close()

    # ------------------------------------------------------------------------- artifacts
    with atomic_path(run / "student.pt", suffix=".pt") as tmp:
        torch.save(model.state_dict(), tmp)
    spec = _student_spec(cfg, t, ds, input_shape, num_outputs, kind)
    write_json(run / "student.json", spec)
    return DistillResult(
        run_dir=str(run), student=cfg["student"], student_parameters=n_student, teacher_parameters=n_teacher,
        epochs_run=cfg["epochs"] - start_epoch, final=final, teacher_cache_hit=hit_tr and hit_va,
        resumed_from_epoch=start_epoch,
    )


# ----------------------------------------------------------------------------- helpers
def _validate(cfg: dict[str, Any]) -> None:
    for key in ("epochs", "batch_size"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise EdgeDistillError(f"--{key.replace('_', '-')} must be a positive integer, got {cfg[key]!r}")
    if not cfg["lr"] > 0:
        raise EdgeDistillError(f"--lr must be positive, got {cfg['lr']}")
    if not cfg["temperature"] > 0:
        raise EdgeDistillError(f"--temperature must be positive, got {cfg['temperature']}")
    if not 0.0 <= cfg["alpha"] <= 1.0:
        raise EdgeDistillError(f"--alpha must be in [0, 1], got {cfg['alpha']}")


def _load_config(run: pathlib.Path) -> dict[str, Any]:
    path = run / "config.yaml"
    if not path.exists():
        raise EdgeDistillError(f"{path} not found; --resume needs the folder of an earlier distill run")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise EdgeDistillError(f"{path} is not valid YAML ({e.__class__.__name__}); it may have been edited by hand") from None
    unknown = set(cfg or {}) - set(DEFAULTS)
    if not isinstance(cfg, dict) or unknown:
        raise EdgeDistillError(f"{path} has unknown keys {sorted(unknown)}; it was not written by this version of edgedistill")
    return {**DEFAULTS, **cfg}


def _check_labels(y: np.ndarray | None, num_outputs: int, source: str) -> None:
    if y is not None and len(y) and int(y.max()) >= num_outputs:
        raise EdgeDistillError(f"{source} has label {int(y.max())} but the teacher has {num_outputs} outputs; labels must be 0..{num_outputs - 1}")


def _teacher_params(t: OnnxTeacher) -> int:
    from .teacher import count_parameters

    return count_parameters(t.model)[0]


@torch.no_grad()
def _evaluate(model, x, t_out, y, kind, epoch, train_loss, lr, seconds) -> EpochMetrics:
    model.eval()
    logits = model(torch.from_numpy(np.ascontiguousarray(x)))
    t = torch.from_numpy(np.array(t_out).reshape(len(t_out), -1))
    if kind == "regression":
        mse = torch.nn.functional.mse_loss(logits, t.reshape(logits.shape)).item()
        return EpochMetrics(epoch, float(train_loss), None, None, None, float(lr), float(seconds), val_mse=float(mse))
    t_logp = teacher_log_probs(t, kind, 1.0)
    s_logp = torch.log_softmax(logits, -1)
    kl = torch.nn.functional.kl_div(s_logp, t_logp, reduction="batchmean", log_target=True).item()
    pred = logits.argmax(-1).numpy()
    agree = float(np.mean(pred == t_out.argmax(-1)))
    acc = float(np.mean(pred == y)) if y is not None else None
    return EpochMetrics(epoch, float(train_loss), agree, float(kl), acc, float(lr), float(seconds))


def _save_checkpoint(path: pathlib.Path, model, opt, sched, shuffle: torch.Generator, epoch: int) -> None:
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
        "shuffle_rng": shuffle.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch,
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def _truncate_metrics(path: pathlib.Path, epochs: int) -> None:
    """Keep the metrics of the epochs the checkpoint holds; drop any written after it."""
    if not path.exists():
        return
    kept = []
    for ln in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(ln).get("epoch", 0) <= epochs:
                kept.append(ln)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
    write_text(path, "".join(ln + "\n" for ln in kept))


def _student_spec(cfg: dict[str, Any], t: OnnxTeacher, ds: Dataset, input_shape, num_outputs: int, kind: str) -> dict[str, Any]:
    kwargs = {**student_defaults(cfg["student"]), **cfg["student_args"]}
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return {
        "format_version": 1,
        "edgedistill_version": __version__,
        "family": cfg["student"],
        "kwargs": kwargs,
        "input": {"name": t.input.name, "shape": [None, *input_shape], "dtype": "float32"},
        "output": {"name": t.output.name, "size": num_outputs, "kind": "regression" if kind == "regression" else "logits"},
        "preprocessing": ds.preprocessing.to_json(),
        "class_names": ds.class_names or [str(i) for i in range(num_outputs)],
        "teacher": {"path": str(pathlib.Path(cfg["teacher"]).resolve()), "sha256": t.sha256, "output": t.output.name, "output_kind": kind},
        "data": cfg["data"],
    }


def load_student(run: str | os.PathLike[str]):
    """Rebuild a trained student from a run folder: returns (torch module in eval mode, student.json dict)."""
    run = pathlib.Path(run)
    spec_path, weights = run / "student.json", run / "student.pt"
    for p in (spec_path, weights):
        if not p.exists():
            raise EdgeDistillError(f"{p} not found; give the folder of a finished distill run (it holds student.json and student.pt)")
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EdgeDistillError(f"{spec_path} is not valid JSON ({e.msg}); re-run distill") from None
    model = create_student(spec["family"], input_shape=tuple(spec["input"]["shape"][1:]), num_outputs=spec["output"]["size"], **spec["kwargs"])
    try:
        state = torch.load(weights, weights_only=True)
        model.load_state_dict(state)
    except Exception as e:
        raise EdgeDistillError(f"cannot load weights {weights} ({type(e).__name__}); re-run distill") from None
    model.eval()
    return model, spec
