"""Tests of `ppo_edu.tabular`, the exact oracle, against independent computations.

Oracles: hand formulas (the random walk), iterative policy evaluation, finite differences and
torch autograd through the linear solve, forward propagation of state distributions with
truncated sums (a second implementation of every closed form), and Monte-Carlo averages of
sampled episodes within a CLT bound (fixed seeds, generous z stated in each test).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppo_edu.tabular import (
    Episode,
    TabularMDP,
    action_values,
    advantage_function,
    discounted_visitation,
    expected_gae_gradient,
    gae_gradient_estimate,
    gae_gradient_samples,
    mc_z_scores,
    objective,
    policy_gradient,
    random_mdp,
    random_walk,
    sample_episodes,
    score_function,
    softmax_policy,
    state_values,
    uniform_policy,
)

GAMMAS = [0.0, 0.9, 1.0]
LAMS = [0.0, 0.3, 0.9, 0.95, 1.0]


def _logits(mdp: TabularMDP, seed: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).normal(size=(mdp.n_states, mdp.n_actions))


def _wrong_critic(mdp: TabularMDP, pi: np.ndarray, seed: int, size: float = 0.5) -> np.ndarray:
    V = state_values(mdp, pi)
    noise = np.random.default_rng(seed).normal(size=mdp.n_states) * size
    return np.where(mdp.terminal, 0.0, V + noise)


def _mdps() -> list[TabularMDP]:
    return [random_walk(5, 1.0), random_walk(4, 0.9), random_mdp(4, 3, 0.9, seed=1),
            random_mdp(3, 2, 1.0, seed=2), random_mdp(5, 2, 0.0, seed=3)]


# ----------------------------------------------------------------------- hand-worked numbers


@pytest.mark.parametrize("n", [1, 2, 5, 7, 19])
def test_random_walk_values_hand_formula(n: int) -> None:
    """Seed A.0' (terminal value 0): the random walk under the uniform policy, gamma = 1, has
    V(i) = i/(n+1) for the i-th non-terminal state and 0 at both terminal ends."""
    mdp = random_walk(n, gamma=1.0)
    V = state_values(mdp, uniform_policy(mdp))
    expected = np.r_[0.0, np.arange(1, n + 1) / (n + 1), 0.0]
    np.testing.assert_allclose(V, expected, atol=1e-12)
    assert mdp.terminal[0] and mdp.terminal[n + 1] and not mdp.terminal[1 : n + 1].any()


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_random_walk_visits_hand_formula(n: int) -> None:
    """Seed A.0' (episode up to the terminal state): with gamma = 1, discounted_visitation is the
    expected number of visits, which for the fair walk from the start i0 is the Green's function
    2 min(i0, j) (n + 1 - max(i0, j)) / (n + 1); the total is the expected length i0 (n+1-i0)."""
    mdp = random_walk(n, gamma=1.0)
    i0 = (n + 1) // 2
    d = discounted_visitation(mdp, uniform_policy(mdp))
    j = np.arange(1, n + 1)
    green = 2 * np.minimum(i0, j) * (n + 1 - np.maximum(i0, j)) / (n + 1)
    np.testing.assert_allclose(d, np.r_[0.0, green, 0.0], atol=1e-12)
    np.testing.assert_allclose(d.sum(), i0 * (n + 1 - i0), atol=1e-12)


def test_gamma_zero_is_one_step() -> None:
    """Seed A.0 with gamma = 0: V = r_pi, d = mu, and the gradient is mu(s) pi(b|s) (R - r_pi)."""
    mdp = random_mdp(4, 3, 0.0, seed=5)
    theta = _logits(mdp, 0)
    pi = softmax_policy(theta)
    r_pi = (pi * mdp.R).sum(axis=1)
    np.testing.assert_allclose(state_values(mdp, pi), np.where(mdp.terminal, 0.0, r_pi))
    np.testing.assert_allclose(discounted_visitation(mdp, pi), mdp.initial)
    np.testing.assert_allclose(policy_gradient(mdp, theta),
                               mdp.initial[:, None] * pi * (mdp.R - r_pi[:, None]), atol=1e-14)


# ----------------------------------------------------------------------- exact values


def _iterative_evaluation(mdp: TabularMDP, pi: np.ndarray, sweeps: int = 3000) -> np.ndarray:
    V = np.zeros(mdp.n_states)
    for _ in range(sweeps):
        V = (pi * (mdp.R + mdp.gamma * mdp.P @ V)).sum(axis=1)
        V[mdp.terminal] = 0.0
    return V


@pytest.mark.parametrize("mdp", _mdps(), ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_state_values_against_iterative_evaluation(mdp: TabularMDP) -> None:
    """Seed A.0/A.0' (V^pi, the expected return, terminal value 0): the linear solve equals
    iterative policy evaluation, gamma = 1 included; Q and A are consistent with V."""
    pi = softmax_policy(_logits(mdp, 11))
    V = state_values(mdp, pi)
    np.testing.assert_allclose(V, _iterative_evaluation(mdp, pi), atol=1e-10)
    Q = action_values(mdp, pi)
    np.testing.assert_allclose((pi * Q).sum(axis=1), V, atol=1e-12)
    np.testing.assert_allclose(Q, mdp.R + mdp.gamma * mdp.P @ V, atol=1e-12)
    Adv = advantage_function(mdp, pi)
    np.testing.assert_allclose(Adv, Q - V[:, None], atol=1e-12)
    np.testing.assert_allclose((pi * Adv).sum(axis=1), 0.0, atol=1e-12)
    assert np.all(V[mdp.terminal] == 0.0)


def _state_distributions(mdp: TabularMDP, pi: np.ndarray, horizon: int) -> np.ndarray:
    """P(s_t = s and the episode has not ended before t), t = 0..horizon-1, shape (H, S)."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    out = np.zeros((horizon, mdp.n_states))
    p = mdp.initial.copy()
    for t in range(horizon):
        p = np.where(mdp.terminal, 0.0, p)
        out[t] = p
        p = p @ P_pi
    return out


@pytest.mark.parametrize("mdp", _mdps(), ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_discounted_visitation_against_forward_sum(mdp: TabularMDP) -> None:
    """Seed A.2 (the visitation d^pi(s) = sum_t gamma^t P(s_t = s) that weights the gradient):
    the solve equals the truncated forward sum, and mu . V^pi = sum_s d(s) r_pi(s)."""
    pi = softmax_policy(_logits(mdp, 12))
    H = 600
    dist = _state_distributions(mdp, pi, H)
    d_sum = (mdp.gamma ** np.arange(H))[:, None] * dist
    d = discounted_visitation(mdp, pi)
    np.testing.assert_allclose(d, d_sum.sum(axis=0), atol=1e-9)
    r_pi = (pi * mdp.R).sum(axis=1)
    np.testing.assert_allclose(mdp.initial @ state_values(mdp, pi), d @ r_pi, atol=1e-12)


# ----------------------------------------------------------------------- the policy gradient


@pytest.mark.parametrize("mdp", _mdps(), ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_policy_gradient_against_finite_differences(mdp: TabularMDP) -> None:
    """Seed A.2 (grad J = E[sum_t gamma^t A^pi grad log pi]): the closed form
    d(s) pi(b|s) A(s, b) equals central finite differences of objective (step 1e-6)."""
    theta = _logits(mdp, 13)
    grad = policy_gradient(mdp, theta)
    fd = np.zeros_like(theta)
    h = 1e-6
    for s, a in itertools.product(range(mdp.n_states), range(mdp.n_actions)):
        e = np.zeros_like(theta)
        e[s, a] = h
        fd[s, a] = (objective(mdp, theta + e) - objective(mdp, theta - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-8)


def _torch_objective(mdp: TabularMDP, theta: torch.Tensor) -> torch.Tensor:
    """J(theta) by torch.linalg.solve on the full (S, S) system with terminal rows pinned."""
    P = torch.tensor(mdp.P)
    R = torch.tensor(mdp.R)
    pi = torch.softmax(theta, dim=1)
    nt = torch.tensor(~mdp.terminal, dtype=torch.float64)
    P_pi = torch.einsum("sa,sat->st", pi, P) * nt[:, None]
    r_pi = (pi * R).sum(dim=1) * nt
    V = torch.linalg.solve(torch.eye(mdp.n_states, dtype=torch.float64) - mdp.gamma * P_pi, r_pi)
    return torch.tensor(mdp.initial) @ V


@pytest.mark.parametrize("mdp", _mdps(), ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_policy_gradient_against_autograd(mdp: TabularMDP) -> None:
    """Seed A.2: policy_gradient equals torch autograd through the linear solve of J, and
    objective equals the torch value."""
    theta_np = _logits(mdp, 14)
    theta = torch.tensor(theta_np, requires_grad=True)
    J = _torch_objective(mdp, theta)
    J.backward()
    np.testing.assert_allclose(objective(mdp, theta_np), J.item(), atol=1e-12)
    np.testing.assert_allclose(policy_gradient(mdp, theta_np), theta.grad.numpy(), atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_baseline_identity(n_states: int, n_actions: int, seed: int) -> None:
    """Seed A.2 (the baseline is harmless): sum_a pi(a|s) grad log pi(a|s) = 0 for every state,
    with grad log pi from torch autograd of log_softmax; so the policy gradient (and the expected
    GAE gradient for any critic) sums to 0 over the actions of every state."""
    rng = np.random.default_rng(seed)
    theta = torch.tensor(rng.normal(size=(n_states, n_actions)) * 2)
    jac = torch.autograd.functional.jacobian(lambda t: torch.log_softmax(t, dim=1), theta)
    pi = torch.softmax(theta, dim=1)
    # jac[s, a, s', b] = d log pi(a|s) / d theta[s', b]
    expected_score = torch.einsum("sa,sapb->pb", pi, jac)
    np.testing.assert_allclose(expected_score.numpy(), 0.0, atol=1e-12)
    mdp = random_mdp(n_states, n_actions, 0.9, seed=seed % 1000)
    th = rng.normal(size=(mdp.n_states, mdp.n_actions))
    np.testing.assert_allclose(policy_gradient(mdp, th).sum(axis=1), 0.0, atol=1e-12)
    V = _wrong_critic(mdp, softmax_policy(th), seed)
    np.testing.assert_allclose(expected_gae_gradient(mdp, th, V, 0.9, 0.5).sum(axis=1), 0.0,
                               atol=1e-12)


# ----------------------------------------------------------------------- Monte Carlo returns


@pytest.mark.parametrize("mdp", [random_walk(5, 1.0), random_mdp(4, 3, 0.95, seed=7)],
                         ids=["walk", "random"])
def test_monte_carlo_returns_match_values(mdp: TabularMDP) -> None:
    """Seed A.0/A.0' (V^pi as an expectation): the mean discounted return of 20000 sampled
    episodes (seed 2024) is within z = 5 standard errors of J = mu . V^pi, and of V^pi(s_0) for
    each start state with probability > 0.05, and the mean length
    within z = 5 of sum_s (expected visits); rewards are R[s_t, a_t] and only s_T is terminal."""
    theta = _logits(mdp, 15, scale=0.5)
    pi = softmax_policy(theta)
    eps = sample_episodes(mdp, pi, 20_000, np.random.default_rng(2024))
    G0 = np.array([(mdp.gamma ** np.arange(e.length)) @ e.rewards for e in eps])
    z = 5.0
    assert abs(G0.mean() - objective(mdp, theta)) <= z * G0.std(ddof=1) / np.sqrt(len(G0))
    lengths = np.array([e.length for e in eps])
    visits = discounted_visitation(mdp.with_gamma(1.0), pi)
    assert abs(lengths.mean() - visits.sum()) <= z * lengths.std(ddof=1) / np.sqrt(len(eps))
    V = state_values(mdp, pi)
    for s0 in np.flatnonzero(mdp.initial > 0.05):             # per start state: V^pi(s_0)
        G_s0 = G0[np.array([e.states[0] == s0 for e in eps])]
        assert abs(G_s0.mean() - V[s0]) <= z * G_s0.std(ddof=1) / np.sqrt(len(G_s0))
    for e in eps[:200]:
        assert mdp.terminal[e.states[-1]] and not mdp.terminal[e.states[:-1]].any()
        np.testing.assert_array_equal(e.rewards, mdp.R[e.states[:-1], e.actions])


def test_sample_episodes_deterministic_and_max_steps() -> None:
    """Seed A.0' (episodes end at a terminal state, never silently cut): the same seed gives the
    same episodes; an episode longer than max_steps raises instead of being truncated."""
    mdp = random_walk(5)
    pi = uniform_policy(mdp)
    a = sample_episodes(mdp, pi, 50, np.random.default_rng(3))
    b = sample_episodes(mdp, pi, 50, np.random.default_rng(3))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.states, y.states)
        np.testing.assert_array_equal(x.actions, y.actions)
    with pytest.raises(RuntimeError, match="max_steps"):
        sample_episodes(mdp, pi, 10, np.random.default_rng(0), max_steps=2)
    with pytest.raises(ValueError, match="rng"):
        sample_episodes(mdp, pi, 10, 0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- expected GAE gradient


def _expected_gae_gradient_by_series(mdp: TabularMDP, theta: np.ndarray, V: np.ndarray,
                                     gamma: float, lam: float, weighting: bool,
                                     horizon: int = 500) -> np.ndarray:
    """Second implementation: forward distributions and truncated sums over t and n."""
    pi = softmax_policy(theta)
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)
    P_pi_nt = P_pi * (~mdp.terminal)[:, None]            # no step out of a terminal state
    delta = mdp.R + gamma * mdp.P @ V - V[:, None]
    delta_pi = (pi * delta).sum(axis=1)
    # E[A^GAE | s_t = s, a_t = a] = delta(s,a) + sum_{n>=1} (g lam)^n P[s,a] P_pi^(n-1) delta_pi
    G = delta.copy()
    vec = delta_pi.copy()
    for n in range(1, horizon):
        G += (gamma * lam) ** n * (mdp.P @ vec)
        vec = P_pi_nt @ vec
    dist = _state_distributions(mdp, pi, horizon)
    w = gamma ** np.arange(horizon) if weighting else np.ones(horizon)
    nu = (w[:, None] * dist).sum(axis=0)
    out = np.zeros_like(theta)
    for s, b in itertools.product(range(mdp.n_states), range(mdp.n_actions)):
        score_b = (np.arange(mdp.n_actions) == b) - pi[s, b]    # d log pi(a|s)/d theta[s,b]
        out[s, b] = nu[s] * (pi[s] * G[s] * score_b).sum()
    return out


@pytest.mark.parametrize("weighting", [True, False])
@pytest.mark.parametrize("lam", LAMS)
@pytest.mark.parametrize("mdp", [random_mdp(4, 3, 0.9, seed=1), random_mdp(3, 2, 1.0, seed=2),
                                 random_walk(4, 0.95)], ids=["g0.9", "g1", "walk"])
def test_expected_gae_gradient_against_series(mdp: TabularMDP, lam: float,
                                              weighting: bool) -> None:
    """Seed A.5/eq. 5 and B.7: the closed form (one linear solve) equals the truncated sums of
    matrix powers over n and over t, for a wrong critic, with and without gamma^t."""
    theta = _logits(mdp, 16)
    V = _wrong_critic(mdp, softmax_policy(theta), 17)
    got = expected_gae_gradient(mdp, theta, V, mdp.gamma, lam, weighting)
    want = _expected_gae_gradient_by_series(mdp, theta, V, mdp.gamma, lam, weighting)
    np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("mdp", _mdps(), ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_true_critic_is_unbiased_for_every_lambda(mdp: TabularMDP) -> None:
    """Seed A.2/A.3 (any mixture of n-step advantages is unbiased with the true V^pi): with
    values = V^pi, expected_gae_gradient equals policy_gradient for every lambda in [0, 1]."""
    theta = _logits(mdp, 18)
    V = state_values(mdp, softmax_policy(theta))
    grad = policy_gradient(mdp, theta)
    for lam in np.linspace(0.0, 1.0, 21):
        np.testing.assert_allclose(expected_gae_gradient(mdp, theta, V, mdp.gamma, lam), grad,
                                   atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_true_critic_unbiased_property(gamma: float, lam: float, seed: int) -> None:
    """Seed A.3 (the weights do not matter with the true critic), as a property over gamma,
    lambda and random MDPs; and the gamma argument below mdp.gamma gives the gradient of the
    gamma-discounted objective when the critic is that objective's V^pi."""
    mdp = random_mdp(3, 2, 1.0, seed=seed)
    theta = _logits(mdp, seed)
    m_g = mdp.with_gamma(gamma)
    V = state_values(m_g, softmax_policy(theta))
    np.testing.assert_allclose(expected_gae_gradient(mdp, theta, V, gamma, lam),
                               policy_gradient(m_g, theta), atol=1e-11)


@pytest.mark.parametrize("mdp", _mdps()[:4], ids=lambda m: f"S{m.n_states}g{m.gamma}")
def test_wrong_critic_biased_except_lambda_one(mdp: TabularMDP) -> None:
    """Seed A.6 (lambda = 1 is REINFORCE with a baseline, unbiased for any critic; lambda < 1
    trusts the critic): with a perturbed critic the bias is 0 at lambda = 1 and clearly non-zero
    (more than 1e-3 relative) for lambda in {0, 0.5, 0.9}."""
    theta = _logits(mdp, 19)
    V = _wrong_critic(mdp, softmax_policy(theta), 20)
    grad = policy_gradient(mdp, theta)
    np.testing.assert_allclose(expected_gae_gradient(mdp, theta, V, mdp.gamma, 1.0), grad,
                               atol=1e-12)
    for lam in [0.0, 0.5, 0.9]:
        bias = expected_gae_gradient(mdp, theta, V, mdp.gamma, lam) - grad
        assert np.linalg.norm(bias) > 1e-3 * np.linalg.norm(grad), lam


def test_dropping_gamma_t_with_true_critic() -> None:
    """Seed B.7: without gamma^t and with V = V^pi, the expectation is n(s) pi(b|s) A^pi(s, b)
    with n(s) the expected number of visits, which differs from the true gradient if gamma < 1."""
    mdp = random_mdp(4, 3, 0.8, seed=4)
    theta = _logits(mdp, 21)
    pi = softmax_policy(theta)
    V = state_values(mdp, pi)
    visits = discounted_visitation(mdp.with_gamma(1.0), pi)
    want = visits[:, None] * pi * advantage_function(mdp, pi)
    for lam in [0.0, 0.7, 1.0]:
        got = expected_gae_gradient(mdp, theta, V, mdp.gamma, lam, discount_weighting=False)
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert not np.allclose(want, policy_gradient(mdp, theta), atol=1e-3)


def test_gae_gradient_estimate_against_autograd() -> None:
    """Seed eq. 5 for one episode: gae_gradient_estimate equals torch autograd of
    sum_t w_t A_t log pi(a_t|s_t), with A_t written as the sum (gamma lam)^n delta_{t+n}."""
    mdp = random_mdp(4, 3, 0.9, seed=6)
    theta_np = _logits(mdp, 22)
    V = _wrong_critic(mdp, softmax_policy(theta_np), 23)
    eps = sample_episodes(mdp, softmax_policy(theta_np), 30, np.random.default_rng(24))
    gamma, lam = 0.9, 0.8
    for ep in eps:
        T = ep.length
        v = V[ep.states]
        delta = ep.rewards + gamma * v[1:] - v[:-1]
        A = np.array([sum((gamma * lam) ** n * delta[t + n] for n in range(T - t))
                      for t in range(T)])
        for weighting in (True, False):
            w = gamma ** np.arange(T) if weighting else np.ones(T)
            theta = torch.tensor(theta_np, requires_grad=True)
            s_t, a_t = np.array(ep.states[:-1]), np.array(ep.actions)
            logp = torch.log_softmax(theta, dim=1)[s_t, a_t]
            (torch.tensor(w * A) * logp).sum().backward()
            got = gae_gradient_estimate(mdp, theta_np, V, ep, gamma, lam, weighting)
            np.testing.assert_allclose(got, theta.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(("mdp", "lam", "weighting"), [
    (random_mdp(4, 3, 0.9, seed=1), 0.5, True),
    (random_mdp(4, 3, 0.9, seed=1), 0.0, False),
    (random_walk(5, 1.0), 0.8, True),
], ids=["random-lam0.5", "random-lam0-noweight", "walk-lam0.8"])
def test_expected_gae_gradient_against_monte_carlo(mdp: TabularMDP, lam: float,
                                                   weighting: bool) -> None:
    """Seed eq. 5 (an expectation): the mean of gae_gradient_estimate over 6000 episodes
    (seed 99) is within z = 5 standard errors of expected_gae_gradient in every component
    (z = 5 keeps a false alarm below ~1e-5 over the <= 20 components); a wrong critic is used."""
    theta = _logits(mdp, 25, scale=0.5)
    pi = softmax_policy(theta)
    V = _wrong_critic(mdp, pi, 26)
    eps = sample_episodes(mdp, pi, 6000, np.random.default_rng(99))
    G = gae_gradient_samples(mdp, theta, V, eps, mdp.gamma, lam, weighting)
    exact = expected_gae_gradient(mdp, theta, V, mdp.gamma, lam, weighting)
    se = G.std(axis=0, ddof=1) / np.sqrt(len(eps))
    z = 5.0
    assert np.all(np.abs(G.mean(axis=0) - exact) <= z * se + 1e-12)


# ----------------------------------------------------------------------- episodic structure


def test_random_mdp_every_deterministic_policy_terminates() -> None:
    """Seed A.0' (every policy terminates, so gamma = 1 is allowed): in random_mdp, for every
    deterministic policy the spectral radius of P_pi on the non-terminal states is below 1; it
    is reproducible from its seed."""
    mdp = random_mdp(3, 2, 1.0, seed=8)
    nt = ~mdp.terminal
    for actions in itertools.product(range(mdp.n_actions), repeat=mdp.n_states):
        P_pi = mdp.P[np.arange(mdp.n_states), actions][np.ix_(nt, nt)]
        assert np.max(np.abs(np.linalg.eigvals(P_pi))) < 1.0
    np.testing.assert_array_equal(random_mdp(3, 2, 1.0, seed=8).P, mdp.P)
    assert mdp.terminal[-1] and mdp.terminal.sum() == 1


def test_episodic_means_every_full_support_policy_terminates() -> None:
    """Seed A.0' (episodic, precisely): an MDP with an action that loops forever is accepted,
    because every policy giving each action a positive probability still terminates; a
    deterministic policy that takes the looping action is rejected, and one that terminates is
    accepted with its hand-computed values (the random walk, always right: V(i) = gamma^(n-i))."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0                      # action 0 in state 0: stay forever
    P[0, 1, 1] = 1.0                      # action 1 in state 0: end the episode
    P[1, :, 1] = 1.0                      # state 1 is terminal
    R = np.array([[1.0, 0.0], [0.0, 0.0]])
    mdp = TabularMDP(P, R, np.array([1.0, 0.0]), 1.0, np.array([False, True]))
    # with pi(stay) = p, V(0) = p (1 + V(0)): V(0) = p / (1 - p), the expected number of stays
    p = 0.75
    np.testing.assert_allclose(state_values(mdp, np.array([[p, 1 - p], [0.5, 0.5]]))[0],
                               p / (1 - p), atol=1e-12)
    with pytest.raises(ValueError, match="never terminates"):
        state_values(mdp, np.array([[1.0, 0.0], [0.5, 0.5]]))
    walk = random_walk(5, gamma=0.9)
    right = np.tile([0.0, 1.0], (walk.n_states, 1))
    np.testing.assert_allclose(state_values(walk, right)[1:6], 0.9 ** (5 - np.arange(1, 6)),
                               atol=1e-12)


def test_mdp_is_read_only() -> None:
    """Seed A.0' (the oracle's MDP does not change under the reader): arrays are read-only."""
    mdp = random_walk(3)
    with pytest.raises(ValueError):
        mdp.P[1, 0, 0] = 0.5


# ----------------------------------------------------------------------- bad input


def _walk_arrays() -> dict:
    m = random_walk(3)
    return {"P": np.array(m.P), "R": np.array(m.R), "initial": np.array(m.initial),
            "gamma": 1.0, "terminal": np.array(m.terminal)}


def _bad(change) -> dict:
    kw = _walk_arrays()
    change(kw)
    return kw


BAD_MDPS = {
    "row not summing to 1": (lambda kw: kw["P"].__setitem__((1, 0, 0), 0.5), "sum to 1"),
    "negative probability": (lambda kw: (kw["P"].__setitem__((1, 0, 0), -0.5),
                                         kw["P"].__setitem__((1, 0, 1), 1.5)), ">= 0"),
    "P not cubic": (lambda kw: kw.__setitem__("P", kw["P"][:, :, :4]), "shape"),
    "R shape": (lambda kw: kw.__setitem__("R", kw["R"][:, :1]), "R must have shape"),
    "initial shape": (lambda kw: kw.__setitem__("initial", kw["initial"][:3]), "initial"),
    "initial not a distribution": (lambda kw: kw["initial"].__setitem__(1, 0.5), "initial"),
    "initial on a terminal state": (lambda kw: (kw["initial"].__setitem__(2, 0.0),
                                                kw["initial"].__setitem__(0, 1.0)), "terminal"),
    "terminal not absorbing": (lambda kw: (kw["P"].__setitem__((0, 0, 0), 0.0),
                                           kw["P"].__setitem__((0, 0, 1), 1.0)), "absorbing"),
    "terminal reward": (lambda kw: kw["R"].__setitem__((4, 1), 1.0), "zero reward"),
    "no terminal state": (lambda kw: kw.__setitem__("terminal", np.zeros(5, bool)),
                          "at least one"),
    "terminal mask shape": (lambda kw: kw.__setitem__("terminal", np.zeros(4, bool)), "terminal"),
    "gamma above 1": (lambda kw: kw.__setitem__("gamma", 1.5), "gamma"),
    "gamma NaN": (lambda kw: kw.__setitem__("gamma", float("nan")), "gamma"),
    "NaN reward": (lambda kw: kw["R"].__setitem__((1, 0), np.nan), "finite"),
    "NaN probability": (lambda kw: kw["P"].__setitem__((1, 0, 0), np.nan), "finite"),
    "never terminates": (lambda kw: (kw["P"].__setitem__((2, slice(None)), 0.0),
                                     kw["P"].__setitem__((2, slice(None), 2), 1.0)),
                         "not episodic"),
}


@pytest.mark.parametrize("name", list(BAD_MDPS))
def test_bad_mdps_rejected(name: str) -> None:
    """Seed A.0' (a valid episodic MDP): every malformed MDP raises a ValueError naming the
    problem; the unmodified arrays are accepted."""
    TabularMDP(**_walk_arrays())
    change, match = BAD_MDPS[name]
    with pytest.raises(ValueError, match=match):
        TabularMDP(**_bad(change))


def test_bad_policies_values_and_episodes_rejected() -> None:
    """Seed A.0'/A.2 (inputs of the oracle): policies that are not distributions, that never
    terminate, wrong shapes and foreign episodes are all rejected with a ValueError; a critic's
    output at a terminal state is ignored (the state is worth 0 whatever it says)."""
    mdp = random_walk(3)
    pi = uniform_policy(mdp)
    theta = np.zeros((5, 2))
    V = state_values(mdp, pi)
    with pytest.raises(ValueError, match="sum to 1"):
        state_values(mdp, pi * 0.9)
    with pytest.raises(ValueError, match=">= 0"):
        state_values(mdp, np.where(np.arange(2) == 0, -0.5, 1.5) * np.ones((5, 1)))
    with pytest.raises(ValueError, match="shape"):
        state_values(mdp, pi[:, :1])
    with pytest.raises(ValueError, match="finite"):
        state_values(mdp, np.full((5, 2), np.nan))
    loop = np.array([[1, 0], [0, 1], [1, 0], [1, 0], [1, 0]], dtype=float)  # 1 -> 2 -> 1 -> ...
    loop[2] = [1.0, 0.0]
    loop[1] = [0.0, 1.0]
    with pytest.raises(ValueError, match="never terminates"):
        state_values(mdp, loop)
    with pytest.raises(ValueError, match="logits"):
        policy_gradient(mdp, np.zeros((4, 2)))
    wrong = V + 0.3 * np.arange(5)
    at_terminals = np.where(mdp.terminal, 7.0, wrong)      # garbage where the episode is over
    np.testing.assert_array_equal(expected_gae_gradient(mdp, theta, at_terminals, 1.0, 0.5),
                                  expected_gae_gradient(mdp, theta, np.where(mdp.terminal, 0.0,
                                                                              wrong), 1.0, 0.5))
    assert not np.allclose(expected_gae_gradient(mdp, theta, wrong, 1.0, 0.5),
                           expected_gae_gradient(mdp, theta, V, 1.0, 0.5))  # (a real change)
    with pytest.raises(ValueError, match="values"):
        expected_gae_gradient(mdp, theta, V[:4], 1.0, 0.5)
    with pytest.raises(ValueError, match="lam"):
        expected_gae_gradient(mdp, theta, V, 1.0, 1.5)
    with pytest.raises(ValueError, match="gamma"):
        expected_gae_gradient(mdp, theta, V, -0.1, 0.5)
    ep = Episode(np.array([2, 3]), np.array([1]), np.array([0.0]))  # does not end terminal
    with pytest.raises(ValueError, match="terminal"):
        gae_gradient_estimate(mdp, theta, V, ep, 1.0, 0.5)
    with pytest.raises(ValueError, match="T >= 1"):
        Episode(np.array([2, 3, 4]), np.array([1]), np.array([0.0]))


def test_score_function_against_autograd() -> None:
    """Seed A.2 (grad log pi, the score): score_function equals torch autograd of log_softmax
    for every (s, a), and its policy-weighted sum over actions is 0 (the baseline identity)."""
    theta_np = np.random.default_rng(27).normal(size=(4, 3)) * 2
    pi = softmax_policy(theta_np)
    for s, a in itertools.product(range(4), range(3)):
        theta = torch.tensor(theta_np, requires_grad=True)
        torch.log_softmax(theta, dim=1)[s, a].backward()
        np.testing.assert_allclose(score_function(theta_np, s, a), theta.grad.numpy(),
                                   atol=1e-14)
    for s in range(4):
        mean = sum(pi[s, a] * score_function(theta_np, s, a) for a in range(3))
        np.testing.assert_allclose(mean, 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="state"):
        score_function(theta_np, 4, 0)


def test_mc_z_scores_hand_numbers() -> None:
    """CLT bound used by the Monte-Carlo tests of seed eq. 5: samples [1, 2, 3] have mean 2 and
    standard error 1/sqrt(3), so against 1 the z-score is sqrt(3); constant samples give 0 or
    inf."""
    z = mc_z_scores(np.array([[1.0, 5.0, 5.0], [2.0, 5.0, 5.0], [3.0, 5.0, 5.0]]),
                    np.array([1.0, 5.0, 4.0]))
    np.testing.assert_allclose(z[:2], [np.sqrt(3.0), 0.0])
    assert z[2] == np.inf
    with pytest.raises(ValueError, match="samples"):
        mc_z_scores(np.ones((1, 3)), np.ones(3))


@pytest.mark.parametrize("weighting", [True, False])
@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_gae_gradient_samples_equal_single_estimates(lam: float, weighting: bool) -> None:
    """Seed eq. 5 / A.5: the batched samples (GAE from compute_gae on a padded rollout) equal
    gae_gradient_estimate episode by episode (GAE from gae), episodes of length 1 included."""
    mdp = random_mdp(3, 2, 0.9, seed=9)
    theta = _logits(mdp, 28)
    V = _wrong_critic(mdp, softmax_policy(theta), 29)
    eps = sample_episodes(mdp, softmax_policy(theta), 300, np.random.default_rng(30))
    assert min(e.length for e in eps) == 1
    batch = gae_gradient_samples(mdp, theta, V, eps, 0.9, lam, weighting)
    single = np.stack([gae_gradient_estimate(mdp, theta, V, e, 0.9, lam, weighting)
                       for e in eps])
    np.testing.assert_allclose(batch, single, atol=1e-12)
