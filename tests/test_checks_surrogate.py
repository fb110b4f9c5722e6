"""Tests for `ppo_edu.checks.surrogate`: the right L^CLIP passes (seed B.5), every classic wrong
implementation is caught and named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppo_edu.checks import check_clipped_objective, check_cpi_objective
from ppo_edu.checks.surrogate import WRONG_CPI_IMPLEMENTATIONS, WRONG_IMPLEMENTATIONS


def student_right(logp_new, logp_old, advantages, clip_eps):
    """A correct L^CLIP written independently of the library (seed B.5)."""
    ratio = torch.exp(logp_new - logp_old)
    g = torch.where(advantages >= 0, (1 + clip_eps) * advantages, (1 - clip_eps) * advantages)
    return torch.minimum(ratio * advantages, g).mean()


def student_right_numpy_style(logp_new, logp_old, advantages, clip_eps):
    """Also correct: clip with torch.clamp, per-sample min via torch.min(a, b)."""
    ratio = (logp_new - logp_old).exp()
    surr1 = ratio * advantages
    surr2 = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return torch.min(surr1, surr2).mean()


@pytest.mark.parametrize("fn", [student_right, student_right_numpy_style])
def test_right_implementations_pass(fn, capsys):
    """Seed B.5: correct implementations (two equivalent forms) pass."""
    assert check_clipped_objective(fn) is True
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize(("description", "wrong_fn"), WRONG_IMPLEMENTATIONS)
def test_each_classic_mistake_is_caught_and_named(description, wrong_fn, capsys):
    """Seed B.5/B.6: every classic wrong L^CLIP fails, and the report names the mistake."""
    assert check_clipped_objective(wrong_fn) is False
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert description in out


def test_required_mistakes_are_in_the_list():
    """Seed B.5: the issue's four classic mistakes are among the diagnosed ones."""
    text = " ".join(description for description, _ in WRONG_IMPLEMENTATIONS)
    for needle in ("max instead of min", "advantage is clipped", "exp(logp_old - logp_new)",
                   "sign is flipped"):
        assert needle in text


def test_other_wrong_answers_are_caught(capsys):
    """Seed B.5: answers matching no named mistake still fail: a numpy result without gradient, a
    per-sample vector, a function that raises, something that is not a function."""

    def numpy_student(ln, lo, a, e):
        r = np.exp(ln.detach().numpy() - lo.numpy())
        return float(np.mean(np.minimum(r * a.numpy(), np.clip(r, 1 - e, 1 + e) * a.numpy())))

    def per_sample(ln, lo, a, e):
        r = torch.exp(ln - lo)
        return torch.minimum(r * a, torch.clamp(r, 1 - e, 1 + e) * a)

    def raises(ln, lo, a, e):
        raise RuntimeError("not implemented")

    def off_by_a_bit(ln, lo, a, e):
        return student_right(ln, lo, a, e) + 1e-3

    for fn in (numpy_student, per_sample, raises, off_by_a_bit, "not a function"):
        assert check_clipped_objective(fn) is False
    out = capsys.readouterr().out
    assert "raised RuntimeError" in out
    assert "expected shape ()" in out


def test_student_cannot_spoil_the_inputs():
    """Seed B.5: a student function that modifies its inputs in place still gets judged on fresh
    copies."""

    def mutating(ln, lo, a, e):
        value = student_right(ln, lo, a, e)
        lo.add_(1.0)  # after use; autograd does not need logp_old
        return value

    assert check_clipped_objective(mutating) is True


def student_cpi(logp_new, logp_old, advantages):
    """A correct L^CPI (seed B.4)."""
    return (torch.exp(logp_new - logp_old) * advantages).mean()


def test_cpi_right_implementation_passes(capsys):
    """Seed B.4: a correct L^CPI passes."""
    assert check_cpi_objective(student_cpi) is True
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize(("description", "wrong_fn"), WRONG_CPI_IMPLEMENTATIONS)
def test_each_cpi_mistake_is_caught_and_named(description, wrong_fn, capsys):
    """Seed B.4: every classic wrong L^CPI fails, and the report names the mistake."""
    assert check_cpi_objective(wrong_fn) is False
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert description in out


def test_cpi_checker_rejects_the_clipped_objective_and_non_functions():
    """Seed B.4: L^CLIP is not L^CPI (ratios outside the range); a non-function fails cleanly."""
    assert check_cpi_objective(lambda ln, lo, a: student_right(ln, lo, a, 0.2)) is False
    assert check_cpi_objective(None) is False
