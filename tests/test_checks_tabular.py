"""Tests for `ppo_edu.checks.tabular`: right implementations of the policy gradient (seed A.2)
and of the expected GAE gradient (seed eq. 5) pass; every classic mistake is caught and named."""

from __future__ import annotations

import numpy as np
import pytest

from ppo_edu.checks import check_expected_gae_gradient, check_policy_gradient
from ppo_edu.checks.tabular import EXPECTED_GAE_GRADIENT_MISTAKES, POLICY_GRADIENT_MISTAKES
from ppo_edu.tabular import TabularMDP


def _softmax(theta: np.ndarray) -> np.ndarray:
    e = np.exp(theta - theta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def student_policy_gradient(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    """Seed A.2, written independently: d(s) pi(b|s) A(s, b) from dense solves."""
    pi = _softmax(theta)
    nt = (~mdp.terminal).astype(float)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P) * nt[:, None]
    M = np.eye(len(nt)) - mdp.gamma * P_pi
    V = np.linalg.solve(M, (pi * mdp.R).sum(axis=1) * nt)
    d = np.linalg.solve(M.T, mdp.initial) * nt
    Q = mdp.R + mdp.gamma * mdp.P @ V
    return d[:, None] * pi * (Q - V[:, None])


def student_expected_gae_gradient(mdp, theta, values, gamma, lam):
    """Seed eq. 5, by a truncated series of 400 matrix powers over t and n."""
    pi = _softmax(theta)
    nt = (~mdp.terminal).astype(float)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P) * nt[:, None]
    delta = mdp.R + gamma * mdp.P @ values - values[:, None]
    delta_pi = (pi * delta).sum(axis=1)
    tail, vec = np.zeros(len(nt)), delta_pi.copy()
    for n in range(400):
        tail += (gamma * lam) ** n * vec
        vec = P_pi @ vec
    G = delta + gamma * lam * mdp.P @ tail
    nu, p = np.zeros(len(nt)), mdp.initial * nt
    for t in range(400):
        nu += gamma ** t * p
        p = (p @ P_pi) * nt
    return nu[:, None] * pi * (G - (pi * G).sum(axis=1, keepdims=True))


def test_right_policy_gradient_passes(capsys) -> None:
    """Seed A.2: an independent correct policy gradient passes."""
    assert check_policy_gradient(student_policy_gradient) is True
    assert "PASSED" in capsys.readouterr().out


def test_right_expected_gae_gradient_passes(capsys) -> None:
    """Seed eq. 5: a truncated-series implementation passes."""
    assert check_expected_gae_gradient(student_expected_gae_gradient) is True
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("description", list(POLICY_GRADIENT_MISTAKES))
def test_policy_gradient_mistakes_caught(description: str, capsys) -> None:
    """Seed A.2: every classic wrong policy gradient fails and is named."""
    assert check_policy_gradient(POLICY_GRADIENT_MISTAKES[description]) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and description in out


@pytest.mark.parametrize("description", list(EXPECTED_GAE_GRADIENT_MISTAKES))
def test_expected_gae_gradient_mistakes_caught(description: str, capsys) -> None:
    """Seed eq. 5 / B.7: every classic wrong expected GAE gradient fails and is named."""
    assert check_expected_gae_gradient(EXPECTED_GAE_GRADIENT_MISTAKES[description]) is False
    out = capsys.readouterr().out
    assert "FAILED" in out and description in out


def test_other_wrong_answers_caught(capsys) -> None:
    """Seed A.2: a wrong shape, an exception and a non-function all fail without raising."""
    assert check_policy_gradient(lambda m, th: student_policy_gradient(m, th)[:, :1]) is False
    assert check_policy_gradient(lambda m, th: 1 / 0) is False
    assert check_expected_gae_gradient("not a function") is False  # type: ignore[arg-type]
    assert capsys.readouterr().out.count("FAILED") == 3
