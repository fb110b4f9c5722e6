"""Checkers for the exercises on the exact tabular oracle (chapters "Background: the policy
gradient and the advantage" and "What lambda buys, measured exactly")."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ppo_edu.checks._harness import Case, Mistake, run_cases
from ppo_edu.tabular import (
    TabularMDP,
    advantage_function,
    discounted_visitation,
    expected_gae_gradient,
    policy_gradient,
    random_mdp,
    random_walk,
    softmax_policy,
    state_values,
)

__all__ = [
    "check_policy_gradient",
    "check_expected_gae_gradient",
    "POLICY_GRADIENT_MISTAKES",
    "EXPECTED_GAE_GRADIENT_MISTAKES",
]


def _mdp_cases() -> list[tuple[str, TabularMDP, np.ndarray, str]]:
    """(name, mdp, logits, hint) for the tabular checkers, edge discounts included."""
    rng = np.random.default_rng(7)
    out = []
    for name, mdp, hint in [
        ("the 5-state random walk, gamma = 1", random_walk(5, 1.0),
         "with gamma = 1 the visitation is the expected number of visits."),
        ("a random MDP, gamma = 0.9", random_mdp(4, 3, 0.9, seed=1),
         "weight each state by its discounted visitation d(s), not by the initial distribution."),
        ("a random MDP, gamma = 0", random_mdp(3, 2, 0.0, seed=2),
         "with gamma = 0 only the first step counts: d = the initial distribution."),
        ("a random MDP, gamma = 1", random_mdp(3, 3, 1.0, seed=3),
         "terminal states have value 0 and are never visited as a step."),
    ]:
        out.append((name, mdp, rng.normal(size=(mdp.n_states, mdp.n_actions)), hint))
    return out


def _pieces(mdp: TabularMDP, theta: np.ndarray):
    pi = softmax_policy(theta)
    return pi, discounted_visitation(mdp, pi), advantage_function(mdp, pi)


def _q_instead_of_a(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    pi, d, A = _pieces(mdp, theta)
    return d[:, None] * pi * (A + state_values(mdp, pi)[:, None])


def _initial_instead_of_d(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    pi, _, A = _pieces(mdp, theta)
    return mdp.initial[:, None] * pi * A


def _no_pi(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    _, d, A = _pieces(mdp, theta)
    return d[:, None] * A


def _visits_instead_of_d(mdp: TabularMDP, theta: np.ndarray) -> np.ndarray:
    pi, _, A = _pieces(mdp, theta)
    return discounted_visitation(mdp.with_gamma(1.0), pi)[:, None] * pi * A


#: Classic wrong policy gradients (description -> implementation), diagnosed by name.
POLICY_GRADIENT_MISTAKES: dict[str, Callable[..., np.ndarray]] = {
    "Q(s, b) is used where the advantage A(s, b) = Q(s, b) - V(s) belongs "
    "(the score 1[a = b] - pi(b|s) subtracts the mean)": _q_instead_of_a,
    "the states are weighted by the initial distribution instead of the discounted "
    "visitation d(s) = sum_t gamma^t P(s_t = s)": _initial_instead_of_d,
    "the factor pi(b|s) is missing (E_a[A(s,a) d log pi(a|s)/d theta_{s,b}] = "
    "pi(b|s) A(s,b))": _no_pi,
    "the visits are not discounted (gamma^t dropped, seed B.7)": _visits_instead_of_d,
}

#: Classic wrong expectations of the GAE gradient (description -> implementation).
EXPECTED_GAE_GRADIENT_MISTAKES: dict[str, Callable[..., np.ndarray]] = {
    "the leading gamma^t is dropped (seed B.7): the states are weighted by their "
    "undiscounted visit counts":
        lambda m, th, v, g, lam: expected_gae_gradient(m, th, v, g, lam, False),
    "you computed the exact policy gradient: either the later TD errors are discounted by "
    "gamma instead of gamma * lambda (that is lambda = 1), or the true V^pi was used instead of "
    "the given critic; both remove the critic's bias, which this expectation must keep":
        lambda m, th, v, g, lam: expected_gae_gradient(m, th, v, g, 1.0),
    "the later TD errors are dropped (only lambda = 0's delta(s, a) is kept)":
        lambda m, th, v, g, lam: expected_gae_gradient(m, th, v, g, 0.0),
}


def check_policy_gradient(student_fn: Callable[[TabularMDP, np.ndarray], np.ndarray]) -> bool:
    """Check ``student_fn(mdp, logits) -> dJ/dlogits`` (shape ``(S, A)``) against
    `ppo_edu.tabular.policy_gradient` (seed A.2, the policy gradient theorem).

    Returns True if every case passed; prints the first failing case otherwise.
    """
    mistakes = [Mistake(desc, fn) for desc, fn in POLICY_GRADIENT_MISTAKES.items()]
    cases = [Case(name, (mdp, theta), ("mdp", "logits"), policy_gradient(mdp, theta), hint)
             for name, mdp, theta, hint in _mdp_cases()]
    return run_cases(student_fn, cases, fn_name="policy_gradient", mistakes=mistakes)


def check_expected_gae_gradient(
    student_fn: Callable[[TabularMDP, np.ndarray, np.ndarray, float, float], np.ndarray],
) -> bool:
    """Check ``student_fn(mdp, logits, values, gamma, lam) -> E[g_hat]`` (shape ``(S, A)``)
    against `ppo_edu.tabular.expected_gae_gradient` with the leading ``gamma^t`` kept (seed eq. 5).

    A truncated series is accepted if it is accurate to about 1e-7 (a few hundred terms).
    Returns True if every case passed; prints the first failing case otherwise.
    """
    cases = []
    for (name, mdp, theta, hint), lam in zip(_mdp_cases(), [0.9, 0.5, 0.0, 1.0], strict=True):
        pi = softmax_policy(theta)
        V = state_values(mdp, pi)
        noise = np.random.default_rng(11).normal(size=mdp.n_states) * 0.5
        V_wrong = np.where(mdp.terminal, 0.0, V + noise)
        args = (mdp, theta, V_wrong, mdp.gamma, lam)
        cases.append(Case(f"{name}, a perturbed critic, lambda = {lam}", args,
                          ("mdp", "logits", "values", "gamma", "lam"),
                          expected_gae_gradient(*args), hint))
    mistakes = [Mistake(desc, fn) for desc, fn in EXPECTED_GAE_GRADIENT_MISTAKES.items()]
    return run_cases(student_fn, cases, fn_name="expected_gae_gradient", mistakes=mistakes,
                     rtol=1e-6, atol=1e-7)
