"""Distillation losses.

``kd_loss`` is Hinton et al.'s soft-target loss: KL(teacher ‖ student) between temperature-softened
distributions, summed over classes, averaged over the batch ("batchmean"), times T² so that its
gradients keep their scale as T changes. Teacher outputs that are already probabilities (or
log-probabilities) are turned into log-probabilities first, never treated as logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .teacher import OutputKind


def teacher_log_probs(teacher_out: torch.Tensor, kind: OutputKind, temperature: float) -> torch.Tensor:
    """Log of the teacher's temperature-softened distribution."""
    if kind == "logits":
        scores = teacher_out
    elif kind == "probabilities":
        scores = torch.log(teacher_out.clamp_min(1e-12))
    elif kind == "log_probabilities":
        scores = teacher_out
    else:  # pragma: no cover - OutputKind is closed
        raise ValueError(kind)
    # log p_T = log_softmax(s / T): for log-probabilities s this is the tempered distribution p^(1/T) / Z.
    return F.log_softmax(scores / temperature, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_out: torch.Tensor, *, temperature: float = 4.0, kind: OutputKind = "logits") -> torch.Tensor:
    t_logp = teacher_log_probs(teacher_out, kind, temperature)
    s_logp = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(s_logp, t_logp, reduction="batchmean", log_target=True)
    return kl * temperature**2


def mse_loss(student_out: torch.Tensor, teacher_out: torch.Tensor) -> torch.Tensor:
    """The seed's formula: mean squared error between student and teacher outputs (regression, embeddings)."""
    return F.mse_loss(student_out, teacher_out.reshape(student_out.shape))


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_out: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    temperature: float = 4.0,
    alpha: float = 0.5,
    kind: OutputKind = "logits",
) -> torch.Tensor:
    """``kd`` alone without labels; with labels ``alpha * ce + (1 - alpha) * kd``. A regression or
    embedding teacher (``kind="regression"``) is matched with ``mse`` instead."""
    if kind == "regression":
        return mse_loss(student_logits, teacher_out)
    kd = kd_loss(student_logits, teacher_out, temperature=temperature, kind=kind)
    if labels is None:
        return kd
    return alpha * F.cross_entropy(student_logits, labels) + (1.0 - alpha) * kd
