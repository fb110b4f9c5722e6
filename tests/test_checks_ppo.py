"""Tests for `ppo_edu.checks.ppo`: right implementations written independently of the library
pass; every classic wrong implementation fails (seed part C's trainer details)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ppo_edu.checks import (
    check_explained_variance,
    check_gaussian_log_prob,
    check_linear_anneal,
    check_normalize_advantages,
)

# --------------------------------------------------------------------------- right answers


def right_normalize(a):
    n = a.shape[0]
    mean = sum(a.tolist()) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in a.tolist()) / (n - 1))
    return torch.tensor([(x - mean) / (std + 1e-8) for x in a.tolist()])


def right_explained_variance(values, returns):
    resid = returns - values
    return 1.0 - resid.var() / returns.var()


def right_gaussian_log_prob(mean, log_std, actions):
    dist = torch.distributions.Normal(mean, log_std.exp())
    return dist.log_prob(actions).sum(-1)


def right_linear_anneal(start, iteration, num_iterations):
    return start * (num_iterations - iteration) / num_iterations


@pytest.mark.parametrize("checker, fn", [
    (check_normalize_advantages, right_normalize),
    (check_explained_variance, right_explained_variance),
    (check_gaussian_log_prob, right_gaussian_log_prob),
    (check_linear_anneal, right_linear_anneal),
])
def test_right_implementations_pass(checker, fn, capsys) -> None:
    """Part C details: independent correct implementations pass."""
    assert checker(fn) is True
    assert "PASSED" in capsys.readouterr().out


# --------------------------------------------------------------------------- wrong answers

WRONG = [
    (check_normalize_advantages, lambda a: (a - a.mean()) / a.std(unbiased=False), "population"),
    (check_normalize_advantages, lambda a: a / (a.std() + 1e-8), "mean is not subtracted"),
    (check_normalize_advantages, lambda a: a - a.mean(), "only subtract"),
    (check_normalize_advantages, lambda a: (a - a.mean()) / a.std(), "eps"),  # NaN when constant
    (check_normalize_advantages, lambda a: (a - a.mean()) / (a.var() + 1e-8), "variance"),
    (check_explained_variance, lambda v, r: 1 - np.var(r - v) / np.var(v), "swapped"),
    (check_explained_variance, lambda v, r: np.var(r - v) / np.var(r), "unexplained"),
    (check_explained_variance, lambda v, r: 1 - np.mean((r - v) ** 2) / np.var(r), "squared"),
    (check_explained_variance, lambda v, r: max(0.0, 1 - np.var(r - v) / np.var(r)), "clipped"),
    (check_gaussian_log_prob,
     lambda m, s, a: (-0.5 * ((a - m) / s.exp()) ** 2 - s).sum(-1), "constant"),
    (check_gaussian_log_prob,
     lambda m, s, a: (-0.5 * ((a - m) / s.exp()) ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1),
     "log sigma"),
    (check_gaussian_log_prob,
     lambda m, s, a: torch.distributions.Normal(m, s.exp()).log_prob(a).mean(-1), "mean over"),
    (check_gaussian_log_prob,
     lambda m, s, a: torch.distributions.Normal(m, s.exp()).log_prob(a.clamp(-2, 2)).sum(-1),
     "clipped"),
    (check_gaussian_log_prob,
     lambda m, s, a: torch.distributions.Normal(m, s).log_prob(a).sum(-1),
     "standard deviation itself"),
    (check_gaussian_log_prob, lambda m, s, a: (a - m).sum(-1), "-log(sigma)"),
    (check_linear_anneal, lambda s, i, n: s * (1 - (i + 1) / n), "counted from 1"),
    (check_linear_anneal, lambda s, i, n: s * i / n, "increases"),
    (check_linear_anneal, lambda s, i, n: s, "half the start value"),
]


@pytest.mark.parametrize("checker, fn, words", WRONG)
def test_wrong_implementations_are_caught(checker, fn, words, capsys) -> None:
    """Part C details: each classic mistake fails, and the report names it or hints at it."""
    assert checker(fn) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and words in out


def test_checker_survives_an_exception(capsys) -> None:
    """A student's function that raises is reported, never re-raised."""
    def broken(a):
        raise RuntimeError("oops")
    assert check_normalize_advantages(broken) is False
    assert "RuntimeError" in capsys.readouterr().out
