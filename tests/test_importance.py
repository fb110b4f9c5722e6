"""Tests for `ppo_edu.importance` (seed B.2-B.4 on the exact tabular oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ppo_edu.importance import (
    expected_split_gradient,
    is_gradient_estimate,
    mean_kl,
    split_is_gradient_estimate,
    step_ratios,
    surrogate_gradient,
    surrogate_objective,
    trajectory_probability,
    trajectory_ratio,
)
from ppo_edu.surrogate import approx_kl
from ppo_edu.tabular import (
    advantage_function,
    discounted_visitation,
    objective,
    policy_gradient,
    random_mdp,
    random_walk,
    sample_episodes,
    softmax_policy,
    state_values,
)


def _setup(seed: int = 2, step: float = 0.5, n_states: int = 3, n_actions: int = 2):
    mdp = random_mdp(n_states, n_actions, 0.9, seed=seed)
    rng = np.random.default_rng(seed)
    theta_old = rng.normal(size=(mdp.n_states, mdp.n_actions))
    theta_new = theta_old + step * rng.normal(size=theta_old.shape)
    return mdp, theta_old, theta_new


def test_trajectory_ratio_is_the_ratio_of_trajectory_probabilities():
    """Seed B.2: P_theta(tau) / P_old(tau) = prod_t r_t: initial state and transitions cancel."""
    mdp, theta_old, theta_new = _setup(n_states=4, n_actions=3)
    episodes = sample_episodes(mdp, softmax_policy(theta_old), 50, np.random.default_rng(0))
    for ep in episodes:
        p_new = trajectory_probability(mdp, softmax_policy(theta_new), ep)
        p_old = trajectory_probability(mdp, softmax_policy(theta_old), ep)
        assert trajectory_ratio(theta_new, theta_old, ep) == pytest.approx(p_new / p_old,
                                                                           rel=1e-10)
        assert trajectory_ratio(theta_old, theta_old, ep) == 1.0


def test_trajectory_probability_by_hand():
    """Seed B.2, by hand: random walk with 3 states, uniform policy: the episode 2 -> 3 -> 4
    (right, right) has probability 1/4 (start in state 2 for sure, two coin flips,
    deterministic moves)."""
    from ppo_edu.tabular import Episode

    mdp = random_walk(3)
    ep = Episode(np.array([2, 3, 4]), np.array([1, 1]), np.array([0.0, 1.0]))
    assert trajectory_probability(mdp, np.full((5, 2), 0.5), ep) == pytest.approx(0.25)


def test_split_with_both_products_is_the_trajectory_estimator():
    """Seed B.3 is an exact rewrite of B.2: keeping both products gives, episode by episode, the
    same number as the trajectory IS estimator with lam = 1."""
    mdp, theta_old, theta_new = _setup()
    values = state_values(mdp, softmax_policy(theta_old))
    for ep in sample_episodes(mdp, softmax_policy(theta_old), 30, np.random.default_rng(1)):
        np.testing.assert_allclose(
            split_is_gradient_estimate(mdp, theta_new, theta_old, values, ep, True, True),
            is_gradient_estimate(mdp, theta_new, theta_old, values, ep, lam=1.0),
            rtol=1e-10, atol=1e-13)


def test_split_expectations_in_closed_form():
    """Seed B.3/B.4: both products kept gives grad J(theta) exactly; neither gives grad L^CPI; at
    theta = theta_old all four are grad J."""
    mdp, theta_old, theta_new = _setup(n_states=4, n_actions=3)
    np.testing.assert_allclose(expected_split_gradient(mdp, theta_new, theta_old, True, True),
                               policy_gradient(mdp, theta_new), atol=1e-12)
    np.testing.assert_allclose(expected_split_gradient(mdp, theta_new, theta_old, False, False),
                               surrogate_gradient(mdp, theta_new, theta_old), atol=1e-15)
    for kp in (True, False):
        for kf in (True, False):
            np.testing.assert_allclose(
                expected_split_gradient(mdp, theta_old, theta_old, kp, kf),
                policy_gradient(mdp, theta_old), atol=1e-12)


@pytest.mark.parametrize(("keep_past", "keep_future"),
                         [(True, True), (True, False), (False, True), (False, False)])
def test_split_estimators_against_their_expectations(keep_past, keep_future):
    """Seed B.3/B.4: each sampled split estimator (episodes of pi_old) averages to its closed form
    (Monte Carlo, 4000 episodes, |z| < 5 per component)."""
    mdp, theta_old, theta_new = _setup()
    values = state_values(mdp, softmax_policy(theta_old))
    episodes = sample_episodes(mdp, softmax_policy(theta_old), 4000, np.random.default_rng(3))
    samples = np.stack([split_is_gradient_estimate(mdp, theta_new, theta_old, values, ep,
                                                   keep_past, keep_future) for ep in episodes])
    exact = expected_split_gradient(mdp, theta_new, theta_old, keep_past, keep_future)
    se = samples.std(axis=0, ddof=1) / math.sqrt(len(episodes))
    live = se > 0
    assert np.all(np.abs(samples.mean(axis=0) - exact)[~live] < 1e-12)
    assert np.abs((samples.mean(axis=0) - exact)[live] / se[live]).max() < 5.0


def test_surrogate_gradient_against_finite_differences_and_autograd():
    """Seed B.4: surrogate_gradient is the gradient of surrogate_objective (central finite
    differences, and torch autograd of the same sum written independently)."""
    mdp, theta_old, theta_new = _setup(n_states=4, n_actions=3)
    grad = surrogate_gradient(mdp, theta_new, theta_old)
    h = 1e-6
    fd = np.zeros_like(theta_new)
    for idx in np.ndindex(*theta_new.shape):
        e = np.zeros_like(theta_new)
        e[idx] = h
        fd[idx] = (surrogate_objective(mdp, theta_new + e, theta_old)
                   - surrogate_objective(mdp, theta_new - e, theta_old)) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    pi_old = softmax_policy(theta_old)
    d_old = torch.as_tensor(discounted_visitation(mdp, pi_old))
    adv_old = torch.as_tensor(advantage_function(mdp, pi_old))
    theta = torch.tensor(theta_new, requires_grad=True)
    value = (d_old[:, None] * torch.softmax(theta, dim=1) * adv_old).sum()
    (auto,) = torch.autograd.grad(value, theta)
    np.testing.assert_allclose(grad, auto.numpy(), atol=1e-12)
    assert value.item() == pytest.approx(surrogate_objective(mdp, theta_new, theta_old))


def test_surrogate_is_first_order_in_the_performance_difference():
    """Seed B.4: L^CPI(theta_old) = 0, and J(theta) - J(theta_old) - L^CPI(theta) = O(|step|^2)
    (the performance-difference identity with the old state distribution)."""
    mdp, theta_old, theta_new = _setup(n_states=4, n_actions=3)
    assert surrogate_objective(mdp, theta_old, theta_old) == pytest.approx(0.0, abs=1e-14)
    direction = theta_new - theta_old
    gaps = []
    for step in (0.1, 0.05, 0.025):
        theta = theta_old + step * direction
        gaps.append(objective(mdp, theta) - objective(mdp, theta_old)
                    - surrogate_objective(mdp, theta, theta_old))
    assert abs(gaps[1] / gaps[0] - 0.25) < 0.05 and abs(gaps[2] / gaps[1] - 0.25) < 0.05


def test_mean_kl_and_approx_kl():
    """Seed B.4/B.5: mean_kl is 0 at theta_old, positive elsewhere, and approx_kl (k3) on a
    sampled batch of pi_old estimates it (Monte Carlo over 4000 episodes, |z| < 5)."""
    mdp, theta_old, theta_new = _setup()
    assert mean_kl(mdp, theta_old, theta_old) == 0.0
    exact = mean_kl(mdp, theta_old, theta_new)
    assert exact > 0
    episodes = sample_episodes(mdp, softmax_policy(theta_old), 4000, np.random.default_rng(5))
    logp_new = np.concatenate([np.log(softmax_policy(theta_new)[ep.states[:-1], ep.actions])
                               for ep in episodes])
    logp_old = np.concatenate([np.log(softmax_policy(theta_old)[ep.states[:-1], ep.actions])
                               for ep in episodes])
    est = approx_kl(torch.as_tensor(logp_new), torch.as_tensor(logp_old)).item()
    log_r = logp_new - logp_old
    terms = np.expm1(log_r) - log_r
    # the samples of one episode are correlated: use the per-episode sums for the error bar
    lengths = np.array([ep.length for ep in episodes])
    per_episode = np.add.reduceat(terms, np.concatenate(([0], np.cumsum(lengths)[:-1])))
    se = per_episode.std(ddof=1) / math.sqrt(len(episodes)) / lengths.mean()
    assert abs(est - exact) < 5 * se + 0.01 * exact
    ratios = step_ratios(theta_new, theta_old, episodes[0])
    np.testing.assert_allclose(np.log(ratios), log_r[: episodes[0].length], rtol=1e-12)


def test_bad_logits_are_rejected():
    """Seed B.2-B.4 helpers: logits of the wrong shape or with NaN are a ValueError naming the
    argument."""
    mdp, theta_old, theta_new = _setup()
    with pytest.raises(ValueError, match="logits_new must have shape"):
        surrogate_gradient(mdp, theta_new[:-1], theta_old)
    with pytest.raises(ValueError, match="logits_old must be finite"):
        surrogate_objective(mdp, theta_new, np.full_like(theta_old, np.nan))
