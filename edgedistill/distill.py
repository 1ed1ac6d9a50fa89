"""The distillation loop, top to bottom: resolve the config, run the teacher (cached), build the
student, optionally pre-train it block by block, train with the distillation losses, evaluate each
epoch, checkpoint each epoch, write the run folder.

Run folder (every file written atomically, by rank 0 only under torchrun):
    config.yaml           the fully resolved configuration
    student.pt            final weights (``torch.load(..., weights_only=True)``)
    student.json          how to rebuild the student and feed it
    metrics.jsonl         one line per epoch
    checkpoints/last.pt   resume state: model, optimiser, scheduler, RNG, epoch, early-stop state
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from ._io import atomic_path, ensure_out_dir, raise_if_no_space, write_json, write_text
from .cache import n_rows, take_rows, teacher_outputs
from .data import Dataset, load_dataset, split_inputs
from .errors import EdgeDistillError, Interrupted
from .losses import LOSSES, combined_loss, hint_loss, kd_backward_fast, kd_targets, teacher_log_probs
from .students import create_student, student_defaults
from .teacher import OnnxTeacher, count_parameters, estimate_macs

# ----------------------------------------------------------------------------- defaults
DEFAULTS: dict[str, Any] = {
    "teacher": None,  # path to the teacher .onnx
    "data": "builtin:digits",
    "student": "mlp",  # a registered name, or path/to/file.py:Factory / package.module:Factory
    "student_args": {},
    "labels": False,  # mix hard-label CE into the loss (labels are always used for *evaluation* when present)
    "losses": {"kd": 1.0},  # weighted terms: kd, mse, cosine
    "hint": None,  # teacher intermediate tensor for a hint (feature) loss
    "hint_weight": 0.1,
    "blockwise": [],  # teacher tensors to cut at for block-by-block pre-training (decompose students)
    "block_epochs": 5,
    "epochs": 100,
    "max_steps": None,  # stop after this many optimiser steps
    "stop_at_loss": None,  # stop when an epoch's training loss is at or below this
    "patience": None,  # stop after this many epochs without a better validation score
    "batch_size": 64,
    "lr": 1e-2,
    "weight_decay": 1e-4,
    "temperature": 4.0,
    "alpha": 0.5,  # weight of CE when labels are used
    "augment": {},  # online teacher mode: noise (std), mixup (Beta alpha)
    "augment_fn": None,  # path/to/file.py:function(x, rng) -> x, applied to each batch in online mode
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
    step: int = 0
    train_seconds: float = 0.0  # the optimisation steps alone, without evaluation

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def score(self) -> float:
        """Higher is better: agreement for classifiers, −MSE for regression."""
        return -self.val_mse if self.val_mse is not None else float(self.val_agreement)

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
    student_macs: int | None
    teacher_macs: int | None
    epochs_run: int
    final: EpochMetrics | None
    teacher_cache_hit: bool
    resumed_from_epoch: int
    stopped_because: str

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
    losses: dict[str, float] | None = None,
    hint: str | None = None,
    hint_weight: float = DEFAULTS["hint_weight"],
    blockwise: list[str] | None = None,
    block_epochs: int = DEFAULTS["block_epochs"],
    epochs: int = DEFAULTS["epochs"],
    max_steps: int | None = None,
    stop_at_loss: float | None = None,
    patience: int | None = None,
    batch_size: int = DEFAULTS["batch_size"],
    lr: float = DEFAULTS["lr"],
    weight_decay: float = DEFAULTS["weight_decay"],
    temperature: float = DEFAULTS["temperature"],
    alpha: float = DEFAULTS["alpha"],
    augment: dict[str, float] | None = None,
    augment_fn: str | None = None,
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
    Under ``torchrun`` (WORLD_SIZE > 1) training is data-parallel and only rank 0 writes.
    """
    run = pathlib.Path(out)
    dist = _Dist.from_env()
    if not dist.main:
        log = _silent  # noqa: F811  (only rank 0 talks)
        progress = False
    if resume:
        cfg = _load_config(run)
        log(f"resuming {run} with its stored configuration")
    else:
        if teacher is None:
            raise EdgeDistillError("no teacher given; pass --teacher path/to/teacher.onnx")
        cfg = dict(
            teacher=str(teacher), data=data, student=_student_name(student), student_args=dict(student_args or {}),
            labels=labels, losses=dict(losses or DEFAULTS["losses"]), hint=hint, hint_weight=hint_weight,
            blockwise=list(blockwise or []), block_epochs=block_epochs, epochs=epochs, max_steps=max_steps,
            stop_at_loss=stop_at_loss, patience=patience, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            temperature=temperature, alpha=alpha, augment=dict(augment or {}), augment_fn=augment_fn, seed=seed, threads=threads,
            cache_dir=str(cache_dir) if cache_dir is not None else None, teacher_output=teacher_output, teacher_kind=teacher_kind,
        )
        _validate(cfg)
        if (run / "checkpoints" / "last.pt").exists():
            raise EdgeDistillError(f"{run} already holds a distillation run; continue it with --resume or choose a new -o folder")
    if dist.main:
        ensure_out_dir(run)

    # ------------------------------------------------------------------------- setup
    torch.manual_seed(cfg["seed"])
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))

    # ------------------------------------------------------------------------- data + teacher pass
    t = OnnxTeacher(cfg["teacher"], output=cfg["teacher_output"], kind=cfg["teacher_kind"])
    multi = len(t.inputs) > 1
    if multi:
        single_only = [flag for flag, on in (("--hint", cfg["hint"]), ("--blockwise", cfg["blockwise"]),
                                             ("--augment/--augment-fn", cfg["augment"] or cfg["augment_fn"])) if on]
        if single_only:
            raise EdgeDistillError(f"teacher {t.path.name} has {len(t.inputs)} inputs ({', '.join(i.name for i in t.inputs)}); "
                                   f"{', '.join(single_only)} work with one-input teachers only; drop them")
    ds = load_dataset(cfg["data"])
    inputs_text = ", ".join(f"{i.name} {list(i.shape)}" for i in t.inputs)
    log(f"teacher {t.path.name}: input{'s' if multi else ''} {inputs_text}, output {t.output.name}; {t.batch_mode}")
    log(f"data {ds.describe()}")
    if cfg["labels"] and ds.y is None:
        raise EdgeDistillError(f"--labels asked for but {ds.source} has no 'y'; drop --labels to distill from the teacher alone")
    # Every input of the teacher, in its order, fitted to its shape and dtype (one array for most teachers).
    xs_tr, ytr = split_inputs(ds, "train", t.inputs, what="teacher")
    xs_va, yva = split_inputs(ds, "val", t.inputs, what="teacher")
    if len(xs_va[0]) == 0:
        xs_va, yva = xs_tr, ytr  # tiny data: validate on the training inputs rather than on nothing
    xtr, xva = xs_tr[0], xs_va[0]  # what the one-input features (hint, blockwise, online mode) use
    def teacher_feed(xs: list[np.ndarray]):  # the teacher takes one array, or several by name
        return {i.name: a for i, a in zip(t.inputs, xs)} if multi else xs[0]

    ttr, hit_tr = dist.teacher_outputs(t, teacher_feed(xs_tr), cache_dir=cfg["cache_dir"], progress=progress, desc="teacher pass (train)")
    tva, hit_va = dist.teacher_outputs(t, teacher_feed(xs_va), cache_dir=cfg["cache_dir"], progress=progress, desc="teacher pass (val)")
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
    if cfg["student"] == "decompose":
        cfg["student_args"] = {"teacher": str(pathlib.Path(cfg["teacher"]).resolve()), "output": t.output.name, **cfg["student_args"]}
    several = {"input_shapes": [list(a.shape[1:]) for a in xs_tr], "input_dtypes": [i.dtype for i in t.inputs]} if multi else {}
    model = create_student(cfg["student"], input_shape=input_shape, num_outputs=num_outputs, input_dtype=t.input.dtype, **several,
                           **cfg["student_args"])
    n_student, n_teacher = sum(p.numel() for p in model.parameters()), count_parameters(t.model)[0]
    macs_student, macs_teacher = torch_macs(model, [a[:1] for a in xs_tr]), estimate_macs(t.model)
    log(f"student {cfg['student']}: {n_student:,} parameters vs teacher {n_teacher:,} ({n_teacher / max(n_student, 1):.1f}x fewer); "
        f"MACs per sample {_fmt_macs(macs_student)} vs {_fmt_macs(macs_teacher)}")

    # hint (feature) loss: the student's penultimate features, projected onto a teacher tensor
    hint_tr = None
    projection: torch.nn.Module | None = None
    if cfg["hint"]:
        ft = OnnxTeacher(cfg["teacher"], output=cfg["teacher_output"], extra_outputs=[cfg["hint"]])
        hint_tr = ft.run(xtr, progress=progress, desc="teacher hint (train)", extra=True)[1][cfg["hint"]].reshape(len(xtr), -1)
        feat_dim = _penultimate(model, torch.from_numpy(np.array(xtr[:2])))[1].flatten(1).shape[1]
        projection = torch.nn.Identity() if feat_dim == hint_tr.shape[1] else torch.nn.Linear(feat_dim, hint_tr.shape[1])
        log(f"hint on {cfg['hint']} ({hint_tr.shape[1]} values per sample) from the student's {feat_dim} penultimate features"
            + ("" if isinstance(projection, torch.nn.Identity) else " through a learned projection"))
    params = [*model.parameters(), *(projection.parameters() if projection is not None else [])]

    # ------------------------------------------------------------------------- optimiser + schedule
    steps_per_epoch = math.ceil(len(xtr) / cfg["batch_size"])
    total_steps = cfg["epochs"] * steps_per_epoch if not cfg["max_steps"] else min(cfg["max_steps"], cfg["epochs"] * steps_per_epoch)
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps))
    shuffle = torch.Generator().manual_seed(cfg["seed"])

    start_epoch, step, best, bad_epochs, stopped = 0, 0, -math.inf, 0, ""
    ckpt_path = run / "checkpoints" / "last.pt"
    if resume:
        if not ckpt_path.exists():
            raise EdgeDistillError(f"{ckpt_path} not found; nothing to resume (start a new run without --resume)")
        ckpt = torch.load(ckpt_path, weights_only=True)
        model.load_state_dict(ckpt["model"])
        if projection is not None and ckpt.get("projection") is not None:
            projection.load_state_dict(ckpt["projection"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        shuffle.set_state(ckpt["shuffle_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        start_epoch, step = int(ckpt["epoch"]), int(ckpt.get("step", 0))
        best, bad_epochs, stopped = float(ckpt.get("best", -math.inf)), int(ckpt.get("bad_epochs", 0)), str(ckpt.get("stopped", ""))
        if dist.main:
            _truncate_metrics(run / "metrics.jsonl", start_epoch)
        log(f"resumed at epoch {start_epoch}/{cfg['epochs']}" + (f" (the run had stopped: {stopped})" if stopped else ""))
    else:
        if dist.main:
            write_text(run / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
            (run / "metrics.jsonl").unlink(missing_ok=True)
        if cfg["blockwise"]:
            _blockwise(model, cfg, xtr, progress, log)

    # ------------------------------------------------------------------------- training loop
    train_model = dist.wrap(model)
    x_ts = [torch.from_numpy(np.array(a)) for a in xs_tr]  # copies (the arrays may be read-only)
    t_t = torch.from_numpy(np.array(ttr).reshape(len(ttr), -1))
    y_t = torch.from_numpy(ytr) if (cfg["labels"] and ytr is not None) else None
    h_t = torch.from_numpy(np.ascontiguousarray(hint_tr, dtype=np.float32)) if hint_tr is not None else None
    online = _Online(t, xtr, cfg) if (cfg["augment"] or cfg["augment_fn"]) else None
    # The common case, KD alone on cached outputs, uses targets computed once and the closed-form gradient
    # (kd_backward_fast): a step then costs what a supervised step costs; the teacher-entropy constant of
    # KL is added to the epoch's loss once instead of every step.
    fast = set(cfg["losses"]) == {"kd"} and y_t is None and hint_tr is None and online is None and kind != "regression"
    if fast:
        kd_probs, kd_negent = kd_targets(t_t, kind, cfg["temperature"])
        kd_weight, temperature = cfg["losses"]["kd"], cfg["temperature"]
    final: EpochMetrics | None = None
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg["epochs"], initial=start_epoch, desc="distill", unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in range(start_epoch, cfg["epochs"]):
            if stopped:
                break
            t0 = time.perf_counter()
            train_model.train()
            total, seen, seen_idx = 0.0, 0, []
            batches = torch.randperm(len(xtr), generator=shuffle).split(cfg["batch_size"])
            if online:
                source = ((idx, [xb], tb) for idx, xb, tb in online.epoch(batches, epoch))
            elif fast:  # targets are gathered from kd_probs inside the step
                source = ((idx, [x[idx] for x in x_ts], None) for idx in batches)
            else:
                source = ((idx, [x[idx] for x in x_ts], t_t[idx]) for idx in batches)
            for idx, xb, tb in source:  # xb: one tensor per model input
                if dist.world > 1:
                    local = dist.shard(idx)
                    idx, xb, tb = idx[local], [x[local] for x in xb], (None if tb is None else tb[local])
                yb = None if y_t is None else y_t[idx]
                opt.zero_grad(set_to_none=True)
                if fast:  # backward happens inside, from the closed-form gradient
                    value = kd_backward_fast(train_model(*xb), kd_probs[idx], temperature=temperature, weight=kd_weight)
                    seen_idx.append(idx)
                else:
                    logits, feats = _penultimate(train_model, *xb) if hint_tr is not None else (train_model(*xb), None)
                    loss = combined_loss(logits, tb, yb, weights=cfg["losses"], temperature=cfg["temperature"], alpha=cfg["alpha"], kind=kind)
                    if feats is not None:
                        loss = loss + cfg["hint_weight"] * hint_loss(feats, h_t[idx], projection)
                    loss.backward()
                    value = loss.item()
                if not math.isfinite(value):  # before the step: the weights stay those of the last good step
                    raise EdgeDistillError(
                        f"loss became {value} at epoch {epoch + 1}, step {step + 1}; lower --lr (now {cfg['lr']}) and --resume "
                        f"from the last good checkpoint in {ckpt_path}"
                    )
                opt.step()
                sched.step()
                step += 1
                total += value * len(idx)
                seen += len(idx)
                if cfg["max_steps"] and step >= cfg["max_steps"]:
                    stopped = f"reached --max-steps {cfg['max_steps']}"
                    break
            if online:
                online.close()
            if fast and seen_idx:  # the constant part of KL left out of each step, added once for the epoch's loss
                total += kd_weight * temperature**2 * kd_negent[torch.cat(seen_idx)].sum().item()
            train_seconds = time.perf_counter() - t0
            final = _evaluate(model, xs_va, tva, yva, kind, epoch + 1, total / max(seen, 1), opt.param_groups[0]["lr"], time.perf_counter() - t0)
            final.step, final.train_seconds = step, train_seconds
            if cfg["stop_at_loss"] is not None and final.train_loss <= cfg["stop_at_loss"] and not stopped:
                stopped = f"training loss {final.train_loss:.4g} reached --stop-at-loss {cfg['stop_at_loss']}"
            if final.score() > best + 1e-12:
                best, bad_epochs = final.score(), 0
            else:
                bad_epochs += 1
                if cfg["patience"] and bad_epochs >= cfg["patience"] and not stopped:
                    stopped = f"no better validation score for {cfg['patience']} epochs (--patience)"
            if dist.main:
                # Metrics first, checkpoint second: a kill between the two leaves a metrics line newer than the
                # checkpoint, which --resume drops and recomputes; the other order would lose that epoch's line.
                try:
                    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
                        f.write(json.dumps(final.to_json()) + "\n")
                except OSError as e:
                    raise_if_no_space(run / "metrics.jsonl", e)
                    raise
                _save_checkpoint(ckpt_path, model, projection, opt, sched, shuffle, epoch + 1, step, best, bad_epochs, stopped)
            dist.barrier()
            bar.update(1)
            bar.set_postfix(loss=f"{final.train_loss:.4f}")
            every = log_every or max(1, cfg["epochs"] // 10)
            if (epoch + 1) % every == 0 or epoch + 1 == cfg["epochs"] or epoch == start_epoch or stopped:
                log(f"epoch {epoch + 1:3d}/{cfg['epochs']}  {final.summary()}")
    except KeyboardInterrupt:
        bar.close()
        if online:
            online.close()
        raise Interrupted(f"interrupted; the last finished epoch is saved in {ckpt_path}; continue with: edgedistill distill --resume -o {run}") from None
    bar.close()
    if stopped:
        log(f"stopped early: {stopped}")

    # ------------------------------------------------------------------------- artifacts
    if dist.main:
        with atomic_path(run / "student.pt", suffix=".pt") as tmp:
            torch.save(model.state_dict(), tmp)
        write_json(run / "student.json", _student_spec(cfg, t, ds, [list(a.shape[1:]) for a in xs_tr], num_outputs, kind))
    dist.finish()
    return DistillResult(
        run_dir=str(run), student=cfg["student"], student_parameters=n_student, teacher_parameters=n_teacher,
        student_macs=macs_student, teacher_macs=macs_teacher, epochs_run=(final.epoch if final else start_epoch) - start_epoch,
        final=final, teacher_cache_hit=hit_tr and hit_va, resumed_from_epoch=start_epoch, stopped_because=stopped or "epochs done",
    )


# ----------------------------------------------------------------------------- helpers
def _silent(_msg: str) -> None:
    pass


def _student_name(name: str) -> str:
    """Registered names as they are; a user's ``file.py:Name`` made absolute so the run can be rebuilt anywhere."""
    source, sep, attr = name.rpartition(":")
    if sep and source.endswith(".py"):
        return f"{pathlib.Path(source).resolve()}:{attr}"
    return name


def _validate(cfg: dict[str, Any]) -> None:
    for key in ("epochs", "batch_size", "block_epochs"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise EdgeDistillError(f"--{key.replace('_', '-')} must be a positive integer, got {cfg[key]!r}")
    for key in ("max_steps", "patience"):
        if cfg[key] is not None and (not isinstance(cfg[key], int) or cfg[key] < 1):
            raise EdgeDistillError(f"--{key.replace('_', '-')} must be a positive integer, got {cfg[key]!r}")
    if not cfg["lr"] > 0:
        raise EdgeDistillError(f"--lr must be positive, got {cfg['lr']}")
    if not cfg["temperature"] > 0:
        raise EdgeDistillError(f"--temperature must be positive, got {cfg['temperature']}")
    if not 0.0 <= cfg["alpha"] <= 1.0:
        raise EdgeDistillError(f"--alpha must be in [0, 1], got {cfg['alpha']}")
    unknown = sorted(set(cfg["losses"]) - set(LOSSES))
    if unknown or not cfg["losses"] or any(not isinstance(w, (int, float)) or w < 0 for w in cfg["losses"].values()):
        raise EdgeDistillError(f"--loss takes name:weight terms from {', '.join(LOSSES)} with weights ≥ 0 (got {cfg['losses']})")
    bad = sorted(set(cfg["augment"]) - {"noise", "mixup"})
    if bad:
        raise EdgeDistillError(f"--augment knows noise=STD and mixup=ALPHA, not {', '.join(bad)}")
    if cfg["augment"].get("mixup") and cfg["labels"]:
        raise EdgeDistillError("mixup mixes inputs, so hard labels no longer apply; drop --labels (the teacher labels the mixed inputs)")
    if cfg["blockwise"] and cfg["student"] != "decompose":
        raise EdgeDistillError("--blockwise trains the student block by block against the teacher's graph; it needs --student decompose")


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


def _fmt_macs(m: int | None) -> str:
    return "unknown" if m is None else f"{m:,}"


@torch.no_grad()
def torch_macs(model: torch.nn.Module, sample: np.ndarray | list[np.ndarray]) -> int | None:
    """Multiply-accumulates of the Conv and Linear layers for one sample (one array, or one per input),
    counted with forward hooks."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Linear):
            total[0] += module.in_features * module.out_features * (output.numel() // output.shape[-1] // output.shape[0])
        elif isinstance(module, torch.nn.Conv2d):
            k = module.in_channels // module.groups * math.prod(module.kernel_size)
            total[0] += k * output[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    was = model.training
    try:
        model.eval()
        model(*[torch.from_numpy(np.array(a)) for a in (sample if isinstance(sample, list) else [sample])])
    except Exception:
        return None
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return total[0]


def _penultimate(model: torch.nn.Module, *x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, the input of the model's last Linear layer) for a hint loss."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise EdgeDistillError("a hint loss needs a student whose last layer is a Linear; use another --student or drop --hint")
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
    try:
        out = model(*x)
    finally:
        handle.remove()
    return out, captured[-1]


@torch.no_grad()
def _evaluate(model, xs, t_out, y, kind, epoch, train_loss, lr, seconds) -> EpochMetrics:
    """``xs``: the validation inputs, one array per model input."""
    was = model.training
    model.eval()
    logits = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
    model.train(was)
    t = torch.from_numpy(np.array(t_out).reshape(len(t_out), -1))
    if kind == "regression":
        mse = torch.nn.functional.mse_loss(logits, t.reshape(logits.shape)).item()
        return EpochMetrics(epoch, float(train_loss), None, None, None, float(lr), float(seconds), val_mse=float(mse))
    t_logp = teacher_log_probs(t, kind, 1.0)
    s_logp = torch.log_softmax(logits, -1)
    kl = torch.nn.functional.kl_div(s_logp, t_logp, reduction="batchmean", log_target=True).item()
    pred = logits.argmax(-1).numpy()
    agree = float(np.mean(pred == np.asarray(t_out).reshape(len(t_out), -1).argmax(-1)))
    acc = float(np.mean(pred == y)) if y is not None else None
    return EpochMetrics(epoch, float(train_loss), agree, float(kl), acc, float(lr), float(seconds))


def _save_checkpoint(path: pathlib.Path, model, projection, opt, sched, shuffle: torch.Generator, epoch: int, step: int,
                     best: float, bad_epochs: int, stopped: str) -> None:
    state = {
        "model": model.state_dict(), "projection": projection.state_dict() if projection is not None else None,
        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "shuffle_rng": shuffle.get_state(),
        "torch_rng": torch.get_rng_state(), "epoch": epoch, "step": step, "best": best, "bad_epochs": bad_epochs, "stopped": stopped,
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


# ----------------------------------------------------------------------------- blockwise pre-training
def _blockwise(model, cfg: dict[str, Any], xtr: np.ndarray, progress: bool, log) -> None:
    """The seed's sub-model procedure: cut the teacher at named tensors; train each student block to map the
    teacher's tensor at the previous cut to the teacher's tensor at its own cut (MSE)."""
    cuts = list(cfg["blockwise"])
    ft = OnnxTeacher(cfg["teacher"], output=cfg["teacher_output"], extra_outputs=cuts)
    _, feats = ft.run(xtr, progress=progress, desc="teacher cuts (blockwise)", extra=True)
    g = torch.Generator().manual_seed(cfg["seed"])
    previous = None
    for cut in cuts:
        start, stop = model.step_range(previous, cut)
        inputs = torch.from_numpy(np.array(xtr if previous is None else feats[previous]))
        target = torch.from_numpy(np.array(feats[cut], dtype=np.float32))
        in_name = model.input_name if previous is None else previous
        block_params = [p for k, p in model.layers.named_parameters() if int(k.split(".")[0][1:]) in range(start, stop)]
        if not block_params:
            log(f"blockwise: block up to {cut} has no weights; skipped")
            previous = cut
            continue
        opt = torch.optim.AdamW(block_params, lr=cfg["lr"] / 3, weight_decay=cfg["weight_decay"])
        for _ in range(cfg["block_epochs"]):
            for idx in torch.randperm(len(inputs), generator=g).split(cfg["batch_size"]):
                try:
                    out = model.run_nodes({in_name: inputs[idx]}, start, stop)[cut]
                except KeyError as e:
                    raise EdgeDistillError(f"the cut at {cut} splits a connection the block needs ({e.args[0]}); choose cuts between blocks") from None
                loss = torch.nn.functional.mse_loss(out, target[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        log(f"blockwise: block up to {cut} trained {cfg['block_epochs']} epochs, MSE {loss.item():.5g}")
        previous = cut


# ----------------------------------------------------------------------------- online teacher
class _Online:
    """Online teacher mode: each batch is augmented and labelled by the teacher in a background thread,
    so onnxruntime (which releases the GIL) runs while the student takes its step. Augmentation draws
    from a generator seeded by (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, teacher: OnnxTeacher, x: np.ndarray, cfg: dict[str, Any]) -> None:
        self.teacher, self.x, self.cfg = teacher, x, cfg
        self.fn = _load_augment_fn(cfg["augment_fn"]) if cfg["augment_fn"] else None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def _augment(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        aug = self.cfg["augment"]
        if xb.dtype.kind == "f":
            if aug.get("noise"):
                xb = xb + rng.normal(0.0, aug["noise"], size=xb.shape).astype(xb.dtype)
            if aug.get("mixup"):
                lam = rng.beta(aug["mixup"], aug["mixup"], size=(len(xb),) + (1,) * (xb.ndim - 1)).astype(xb.dtype)
                xb = lam * xb + (1 - lam) * xb[rng.permutation(len(xb))]
        if self.fn is not None:
            xb = np.asarray(self.fn(xb, rng), dtype=xb.dtype)
        return xb

    def epoch(self, batches, epoch: int):
        q: queue.Queue = queue.Queue(maxsize=4)
        rng = np.random.default_rng([self.cfg["seed"], epoch])
        self._stop.clear()

        def produce() -> None:
            try:
                for idx in batches:
                    if self._stop.is_set():
                        return
                    xb = self._augment(self.x[idx.numpy()], rng)
                    tb = self.teacher.run(xb, progress=False, batch_size=len(xb))
                    q.put((idx, torch.from_numpy(np.ascontiguousarray(xb)), torch.from_numpy(tb.reshape(len(tb), -1))))
            except BaseException as e:  # surfaced in the training thread
                q.put(e)
            q.put(None)

        self._thread = threading.Thread(target=produce, daemon=True, name="edgedistill-online-teacher")
        self._thread.start()
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def _load_augment_fn(spec: str):
    from .students import resolve_student  # same import rules as a user student: file.py:name or module:name

    return resolve_student(spec)


# ----------------------------------------------------------------------------- torchrun
class _Dist:
    """Data-parallel training under torchrun: gloo on CPU, nccl on GPU; rank 0 writes."""

    def __init__(self, world: int, rank: int) -> None:
        self.world, self.rank = world, rank
        self.main = rank == 0

    @classmethod
    def from_env(cls) -> _Dist:
        world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
        if world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(world, rank)

    def wrap(self, model):
        if self.world == 1:
            return model
        return torch.nn.parallel.DistributedDataParallel(model)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """Positions of this rank's share of a global batch (every rank draws the same permutation)."""
        return torch.arange(self.rank, len(idx), self.world)

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def finish(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()

    def teacher_outputs(self, t: OnnxTeacher, x, *, cache_dir, progress: bool, desc: str):
        """The teacher pass, cached; under torchrun each rank computes its shard of rows and rank 0 assembles the cache."""
        if self.world == 1:
            return teacher_outputs(t, x, cache_dir=cache_dir, progress=progress, desc=desc)
        from .cache import cache_path

        path = cache_path(t, x, cache_dir)
        hit = path.exists()
        if not hit:
            rows = np.arange(self.rank, n_rows(x), self.world)
            shard = t.run(take_rows(x, rows), progress=False)
            shard_path = path.with_name(f"{path.stem}.rank{self.rank}.npy")
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(shard_path, suffix=".npy") as tmp:
                np.save(tmp, shard)
            self.barrier()
            if self.main:
                full = np.empty((n_rows(x), *shard.shape[1:]), dtype=np.float32)
                for r in range(self.world):
                    rp = path.with_name(f"{path.stem}.rank{r}.npy")
                    full[np.arange(r, n_rows(x), self.world)] = np.load(rp)
                with atomic_path(path, suffix=".npy") as tmp:
                    np.save(tmp, full)
                for r in range(self.world):
                    path.with_name(f"{path.stem}.rank{r}.npy").unlink(missing_ok=True)
            self.barrier()
        return np.load(path, mmap_mode="r"), hit


# ----------------------------------------------------------------------------- spec + reload
def _student_spec(cfg: dict[str, Any], t: OnnxTeacher, ds: Dataset, input_shapes: list[list[int]], num_outputs: int, kind: str) -> dict[str, Any]:
    kwargs = {**student_defaults(cfg["student"]), **cfg["student_args"]}
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    input_shape = input_shapes[0]
    several = {"inputs": [{"name": i.name, "shape": [None, *shape], "dtype": i.dtype} for i, shape in zip(t.inputs, input_shapes)]}
    return {**(several if len(t.inputs) > 1 else {}),
        "format_version": 1,
        "edgedistill_version": __version__,
        "family": cfg["student"],
        "kwargs": kwargs,
        "input": {"name": t.input.name, "shape": [None, *input_shape], "dtype": t.input.dtype},
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
    several = spec.get("inputs") or []
    extra = {"input_shapes": [i["shape"][1:] for i in several], "input_dtypes": [i["dtype"] for i in several]} if len(several) > 1 else {}
    model = create_student(spec["family"], input_shape=tuple(spec["input"]["shape"][1:]), num_outputs=spec["output"]["size"],
                           input_dtype=spec["input"].get("dtype", "float32"), **extra, **spec["kwargs"])
    try:
        state = torch.load(weights, weights_only=True)
        model.load_state_dict(state)
    except Exception as e:
        raise EdgeDistillError(f"cannot load weights {weights} ({type(e).__name__}); re-run distill") from None
    model.eval()
    return model, spec
