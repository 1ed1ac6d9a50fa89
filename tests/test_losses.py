"""KD loss against hand computations."""

import math

import numpy as np
import pytest
import torch

from edgedistill.losses import distillation_loss, kd_loss


def _softmax(z, T):
    e = np.exp(np.asarray(z, dtype=np.float64) / T)
    return e / e.sum()


def test_kd_matches_hand_computation_with_t_squared_and_batchmean():
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    T = 2.0
    # KL(p_t || p_s) per row, summed over classes, averaged over the 2 rows, times T^2.
    hand = 0.0
    for srow, trow in zip(s, t):
        ps, pt = _softmax(srow, T), _softmax(trow, T)
        hand += float(np.sum(pt * (np.log(pt) - np.log(ps))))
    hand = hand / 2 * T**2
    got = kd_loss(torch.tensor(s), torch.tensor(t), temperature=T).item()
    assert got == pytest.approx(hand, rel=1e-5)


def test_kd_is_zero_when_student_equals_teacher_and_scales_with_t_squared():
    z = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    assert kd_loss(z, z, temperature=3.0).item() == pytest.approx(0.0, abs=1e-6)
    s = torch.randn(4, 10, generator=torch.Generator().manual_seed(1))
    # batchmean: duplicating the batch leaves the loss unchanged.
    assert kd_loss(torch.cat([s, s]), torch.cat([z, z]), temperature=2.0).item() == pytest.approx(kd_loss(s, z, temperature=2.0).item(), rel=1e-6)
    # At T=1 there is no scaling: equals plain KL.
    plain = torch.nn.functional.kl_div(torch.log_softmax(s, -1), torch.softmax(z, -1), reduction="batchmean").item()
    assert kd_loss(s, z, temperature=1.0).item() == pytest.approx(plain, rel=1e-5)


def test_probability_teachers_are_not_treated_as_logits():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    probs = torch.softmax(logits, -1)
    s = torch.tensor([[0.5, 0.1, 0.2]])
    from_logits = kd_loss(s, logits, temperature=3.0, kind="logits").item()
    from_probs = kd_loss(s, probs, temperature=3.0, kind="probabilities").item()
    from_logp = kd_loss(s, torch.log(probs), temperature=3.0, kind="log_probabilities").item()
    assert from_probs == pytest.approx(from_logits, rel=1e-5)
    assert from_logp == pytest.approx(from_logits, rel=1e-5)
    # Treating probabilities as logits would give a different (wrong) value.
    assert kd_loss(s, probs, temperature=3.0, kind="logits").item() != pytest.approx(from_logits, rel=1e-3)


def test_label_mix_weights_ce_and_kd():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(s, y).item()
    kd = kd_loss(s, t, temperature=4.0).item()
    got = distillation_loss(s, t, y, temperature=4.0, alpha=0.25).item()
    assert got == pytest.approx(0.25 * ce + 0.75 * kd, rel=1e-6)
    assert distillation_loss(s, t, None, temperature=4.0).item() == pytest.approx(kd, rel=1e-6)
    assert not math.isclose(ce, kd)


def test_fast_kd_backward_matches_autograd_of_kd_loss():
    from edgedistill.losses import kd_backward_fast, kd_targets

    g = torch.Generator().manual_seed(3)
    t = torch.randn(16, 10, generator=g)
    for kind, teacher in (("logits", t), ("probabilities", torch.softmax(t, -1))):
        probs, negent = kd_targets(teacher, kind, 3.0)
        s = torch.randn(16, 10, generator=torch.Generator().manual_seed(4), requires_grad=True)
        fast = kd_backward_fast(s * 1.0, probs, temperature=3.0, weight=0.5)  # through one op, as after a model
        g_fast = s.grad.clone()
        s.grad = None
        slow = 0.5 * kd_loss(s, teacher, temperature=3.0, kind=kind)
        slow.backward()
        # the value differs from KL by the teacher's (constant) entropy term, the gradient not at all
        assert fast + 0.5 * 9.0 * negent.mean().item() == pytest.approx(slow.item(), rel=1e-5)
        assert not math.isclose(fast, slow.item(), rel_tol=1e-3)
        assert torch.allclose(g_fast, s.grad, atol=1e-6)
        assert g_fast.abs().sum() > 0
