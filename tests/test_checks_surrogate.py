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


def _r(ln, lo):
    return torch.exp(ln - lo)


# more wrong answers a student might write, outside the named list (seed B.5)
MORE_WRONG = {
    "the product r A is clipped": lambda ln, lo, a, e: torch.minimum(
        _r(ln, lo) * a, torch.clamp(_r(ln, lo) * a, 1 - e, 1 + e)).mean(),
    "the ratio is detached in the clipped term only (half the gradient at ties)":
        lambda ln, lo, a, e: torch.minimum(
            _r(ln, lo) * a, torch.clamp(_r(ln, lo).detach(), 1 - e, 1 + e) * a).mean(),
    "one global min over all terms": lambda ln, lo, a, e: torch.min(torch.stack(
        [_r(ln, lo) * a, torch.clamp(_r(ln, lo), 1 - e, 1 + e) * a])),
    "clip_eps hard-coded to 0.2": lambda ln, lo, a, e: torch.minimum(
        _r(ln, lo) * a, torch.clamp(_r(ln, lo), 0.8, 1.2) * a).mean(),
    "the log-ratio is clipped to [-eps, eps]": lambda ln, lo, a, e: torch.minimum(
        _r(ln, lo) * a, torch.exp(torch.clamp(ln - lo, -e, e)) * a).mean(),
    "exp(logp_new) - exp(logp_old) as the ratio": lambda ln, lo, a, e: torch.minimum(
        (ln.exp() - lo.exp()) * a, torch.clamp(ln.exp() - lo.exp(), 1 - e, 1 + e) * a).mean(),
    "the advantages are normalized inside": lambda ln, lo, a, e: (lambda an: torch.minimum(
        _r(ln, lo) * an, torch.clamp(_r(ln, lo), 1 - e, 1 + e) * an).mean())(
        (a - a.mean()) / (a.std() + 1e-8) if a.numel() > 1 else a),
    "the clipped term where A > 0, the unclipped where A < 0": lambda ln, lo, a, e: torch.where(
        a > 0, torch.clamp(_r(ln, lo), 1 - e, 1 + e) * a, _r(ln, lo) * a).mean(),
    "logp_old ignored": lambda ln, lo, a, e: torch.minimum(
        ln.exp() * a, torch.clamp(ln.exp(), 1 - e, 1 + e) * a).mean(),
}


@pytest.mark.parametrize("name", list(MORE_WRONG))
def test_more_student_mistakes_are_caught(name, capsys):
    """Seed B.5: wrong answers outside the named list fail too (value or gradient differs)."""
    assert check_clipped_objective(MORE_WRONG[name]) is False
    assert "FAILED" in capsys.readouterr().out


def test_equivalent_forms_pass(capsys):
    """Seed B.5: equivalent correct forms pass: the ratio as exp(logp_new) / exp(logp_old), the
    float32 computation, and sum / N instead of mean."""
    forms = [
        lambda ln, lo, a, e: (lambda r: torch.minimum(r * a, torch.clamp(r, 1 - e, 1 + e) * a)
                              .mean())(ln.exp() / lo.exp()),
        lambda ln, lo, a, e: student_right(ln.float(), lo.float(), a.float(), e),
        lambda ln, lo, a, e: torch.minimum(_r(ln, lo) * a, torch.clamp(_r(ln, lo), 1 - e, 1 + e)
                                           * a).sum() / a.numel(),
    ]
    for fn in forms:
        assert check_clipped_objective(fn) is True
