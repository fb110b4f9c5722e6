"""Tests of `ppo_edu.advantages`: every identity of seed part A (A.0 to A.7).

Each identity is checked against an independent computation written from the seed's formula
(a direct double sum, the closed form after telescoping, ...), on hand-worked numbers and on
random trajectories from hypothesis (lengths 1 to 50, gamma and lam anywhere in [0, 1] with
both ends included).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppo_edu.advantages import (
    compute_gae,
    discounted_returns,
    gae,
    lambda_weighted_advantage,
    lambda_weights,
    n_step_advantage,
    td_errors,
)

# ---------------------------------------------------------------------------------------------
# Strategies: a trajectory is (rewards (T,), values (T+1,)); gamma and lam include both ends.
# ---------------------------------------------------------------------------------------------

unit = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
open_unit = st.floats(0.01, 0.99)


@st.composite
def trajectories(draw, min_len: int = 1, max_len: int = 50):
    T = draw(st.integers(min_len, max_len))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=T) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    values = rng.normal(size=T + 1)
    if draw(st.booleans()):  # a terminated episode: V(s_T) = 0 (seed A.0')
        values[-1] = 0.0
    return rewards, values


def direct_n_step(rewards, values, gamma, n):
    """A_t^n by the definition of seed A.1, with delta_k = 0 for k >= T (A.0').

    A_t^n = sum_{k=t}^{min(t+n, T)-1} gamma^(k-t) delta_k, each delta_k from its definition (A.0).
    """
    T = len(rewards)
    out = np.zeros(T)
    for t in range(T):
        for k in range(t, min(t + n, T)):
            delta_k = gamma * values[k + 1] + rewards[k] - values[k]
            out[t] += gamma ** (k - t) * delta_k
    return out


def closed_form_n_step(rewards, values, gamma, n):
    """Seed eq. 1: A_t^n = gamma^m V(s_{t+m}) - V(s_t) + sum_{k<m} gamma^k r(t+k), m = min(n, T-t).

    Past the end of the episode the extended trajectory's TD errors vanish, so the sum stops at
    m = min(n, T - t) steps and s_{t+m} = s_T at most.
    """
    T = len(rewards)
    out = np.zeros(T)
    for t in range(T):
        m = min(n, T - t)
        out[t] = (gamma**m * values[t + m] - values[t]
                  + sum(gamma**k * rewards[t + k] for k in range(m)))
    return out


def direct_gae_sum(rewards, values, gamma, lam):
    """Seed eq. 4: A_t^GAE = sum_{n>=0} (gamma lam)^n delta_{t+n}, summed term by term."""
    delta = [gamma * values[k + 1] + rewards[k] - values[k] for k in range(len(rewards))]
    T = len(rewards)
    return np.array([sum((gamma * lam) ** n * delta[t + n] for n in range(T - t))
                     for t in range(T)])


# ---------------------------------------------------------------------------------------------
# Hand-worked cases
# ---------------------------------------------------------------------------------------------


def test_td_errors_hand_worked():
    """Seed A.0: delta_k = gamma V(s_{k+1}) + r(k) - V(s_k), worked by hand."""
    rewards = [1.0, 0.0, 2.0]
    values = [0.5, 1.0, -1.0, 0.0]  # terminated: V(s_3) = 0
    # delta_0 = 0.9*1 + 1 - 0.5 = 1.4; delta_1 = 0.9*(-1) + 0 - 1 = -1.9; delta_2 = 0 + 2 + 1 = 3
    np.testing.assert_allclose(td_errors(rewards, values, 0.9), [1.4, -1.9, 3.0])


def test_gae_hand_worked():
    """Seed A.5: the recursion on the deltas above, gamma = 0.9, lam = 0.5 (gamma lam = 0.45)."""
    rewards = [1.0, 0.0, 2.0]
    values = [0.5, 1.0, -1.0, 0.0]
    a2 = 3.0
    a1 = -1.9 + 0.45 * a2  # -0.55
    a0 = 1.4 + 0.45 * a1  # 1.1525
    np.testing.assert_allclose(gae(rewards, values, 0.9, 0.5), [a0, a1, a2])


def test_discounted_returns_hand_worked():
    """Seed A.6, the Monte-Carlo return G_t = r(t) + gamma G_{t+1}, by hand.

    Rewards 1, 2, 3 with gamma = 0.5, without and with a bootstrap of 8.
    """
    np.testing.assert_allclose(discounted_returns([1.0, 2.0, 3.0], 0.5), [2.75, 3.5, 3.0])
    np.testing.assert_allclose(discounted_returns([1.0, 2.0, 3.0], 0.5, bootstrap=8.0),
                               [3.75, 5.5, 7.0])


def test_n_step_hand_worked():
    """Seed A.1 and eq. 1 by hand: A_0^2 = gamma^2 V(s_2) - V(s_0) + r(0) + gamma r(1)."""
    rewards = [1.0, 2.0, 3.0]
    values = [4.0, 5.0, 6.0, 7.0]  # truncated: V(s_3) = 7 kept
    g = 0.5
    expected = [
        g**2 * 6.0 - 4.0 + 1.0 + g * 2.0,  # t = 0: two full steps
        g**2 * 7.0 - 5.0 + 2.0 + g * 3.0,  # t = 1: two steps, bootstrap V(s_3)
        g**1 * 7.0 - 6.0 + 3.0,  # t = 2: only one step is left
    ]
    np.testing.assert_allclose(n_step_advantage(rewards, values, g, 2), expected)


def test_truncation_keeps_bootstrap_termination_drops_it():
    """Seed A.0' precisely: a time limit keeps V(s_T); a terminal state has value 0.

    Same rewards and values along the way; only the last entry of `values` differs. The last TD
    error differs by exactly gamma * V(s_T), and GAE at step t by (gamma lam)^(T-1-t) gamma V(s_T).
    """
    rewards = np.array([1.0, 1.0, 1.0, 1.0])
    v_inside = np.array([3.0, 2.5, 2.0, 1.5])
    v_T = 10.0
    gamma, lam = 0.9, 0.8
    truncated = np.append(v_inside, v_T)
    terminated = np.append(v_inside, 0.0)
    d_trunc = td_errors(rewards, truncated, gamma)
    d_term = td_errors(rewards, terminated, gamma)
    np.testing.assert_allclose(d_trunc[:-1], d_term[:-1])
    np.testing.assert_allclose(d_trunc[-1] - d_term[-1], gamma * v_T)
    diff = gae(rewards, truncated, gamma, lam) - gae(rewards, terminated, gamma, lam)
    T = len(rewards)
    np.testing.assert_allclose(diff, [(gamma * lam) ** (T - 1 - t) * gamma * v_T for t in range(T)])
    # compute_gae encodes the same difference through the two flags:
    next_v = np.append(v_inside[1:], v_T)
    flags = np.zeros(T, dtype=bool)
    last = flags.copy()
    last[-1] = True
    adv_trunc, _ = compute_gae(rewards, v_inside, next_v, flags, last, gamma, lam)
    adv_term, _ = compute_gae(rewards, v_inside, next_v, last, flags, gamma, lam)
    np.testing.assert_allclose(adv_trunc, gae(rewards, truncated, gamma, lam))
    np.testing.assert_allclose(adv_term, gae(rewards, terminated, gamma, lam))


def test_length_one_episode():
    """A.0-A.6 on an episode of one step: every estimator is the single TD error."""
    r, v = [2.0], [0.5, 3.0]
    for lam in (0.0, 0.3, 1.0):
        for gamma in (0.0, 0.9, 1.0):
            d = 2.0 + gamma * 3.0 - 0.5
            np.testing.assert_allclose(gae(r, v, gamma, lam), [d])
            np.testing.assert_allclose(lambda_weighted_advantage(r, v, gamma, lam), [d])
            np.testing.assert_allclose(n_step_advantage(r, v, gamma, 5), [d])


# ---------------------------------------------------------------------------------------------
# Identities of part A on random trajectories
# ---------------------------------------------------------------------------------------------


@given(trajectories(), unit)
def test_td_errors_definition(traj, gamma):
    """Seed A.0: each delta_k computed from its definition, one by one."""
    r, v = traj
    expected = [gamma * v[k + 1] + r[k] - v[k] for k in range(len(r))]
    np.testing.assert_allclose(td_errors(r, v, gamma), expected, rtol=1e-12, atol=1e-12)


@given(trajectories(), unit, st.integers(1, 60))
def test_n_step_definition_equals_telescoped_form(traj, gamma, n):
    """Seed A.1, eq. 1: sum_k gamma^k delta_{t+k} == gamma^n V(s_{t+n}) - V(s_t) + sum gamma^k r."""
    r, v = traj
    lib = n_step_advantage(r, v, gamma, n)
    np.testing.assert_allclose(lib, direct_n_step(r, v, gamma, n), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lib, closed_form_n_step(r, v, gamma, n), rtol=1e-9, atol=1e-9)


@given(trajectories(), unit)
def test_one_step_advantage_is_td_error(traj, gamma):
    """Seed A.1 with n = 1: A_t^1 = delta_t."""
    r, v = traj
    np.testing.assert_allclose(n_step_advantage(r, v, gamma, 1), td_errors(r, v, gamma),
                               rtol=1e-12, atol=1e-12)


@given(trajectories(), unit)
def test_long_n_step_is_monte_carlo_minus_baseline(traj, gamma):
    """Seed A.1 with n >= T: A_t^n = G_t (bootstrapped by values[T]) - V(s_t)."""
    r, v = traj
    expected = discounted_returns(r, gamma, bootstrap=v[-1]) - v[:-1]
    np.testing.assert_allclose(n_step_advantage(r, v, gamma, len(r)), expected,
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(n_step_advantage(r, v, gamma, len(r) + 7), expected,
                               rtol=1e-9, atol=1e-9)


@given(unit, st.integers(1, 60))
def test_lambda_weights_sum_to_one(lam, N):
    """Seed A.4: w_n = (1 - lam) lam^(n-1) >= 0, consecutive ratio lam, sum 1 (tail included)."""
    w = lambda_weights(lam, N)
    assert w.shape == (N,)
    assert np.all(w >= 0.0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)
    for n in range(1, N - 1):  # the geometric part, before the tail
        np.testing.assert_allclose(w[n - 1], (1 - lam) * lam ** (n - 1), rtol=1e-12, atol=1e-15)
        if 0.0 < lam < 1.0 and lam**n > 1e-300:  # (no underflow to 0)
            np.testing.assert_allclose(w[n] / w[n - 1], lam, rtol=1e-9)


@given(open_unit)
def test_infinite_geometric_series_sums_to_one(lam):
    """Seed A.4: (1 - lam) sum_{n>=1} lam^(n-1) = 1 for 0 < lam < 1 (partial sums 1 - lam^N)."""
    N = 5000
    w = (1 - lam) * lam ** np.arange(N)
    np.testing.assert_allclose(np.cumsum(w)[[9, 99]], 1 - lam ** np.array([10, 100]), rtol=1e-9)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-9)
    # ... and the tail weight of `lambda_weights` is exactly what the truncated series leaves out:
    np.testing.assert_allclose(lambda_weights(lam, 10)[-1], 1 - w[:9].sum(), rtol=1e-9, atol=1e-15)


@given(trajectories(), unit, unit)
def test_lambda_weighted_definition_equals_gae(traj, gamma, lam):
    """Seed eq. 3 = eq. 4 (A.5): the lambda-weighted n-step mixture equals the GAE recursion."""
    r, v = traj
    np.testing.assert_allclose(lambda_weighted_advantage(r, v, gamma, lam), gae(r, v, gamma, lam),
                               rtol=1e-8, atol=1e-8)


@given(trajectories(), unit, unit)
def test_gae_recursion_equals_discounted_td_sum(traj, gamma, lam):
    """Seed eq. 4 (A.5): the backward recursion equals sum_n (gamma lam)^n delta_{t+n}."""
    r, v = traj
    np.testing.assert_allclose(gae(r, v, gamma, lam), direct_gae_sum(r, v, gamma, lam),
                               rtol=1e-9, atol=1e-9)


@given(trajectories(), open_unit, open_unit)
def test_collapse_of_weighted_sum(traj, gamma, lam):
    """Seed A.5, the middle line: sum_n lam^(n-1) A_t^n = sum_n lam^n/(1-lam) gamma^n delta_{t+n}.

    For a finite episode the infinite sums are exact once the n-step terms stop changing; the
    left side is summed to a horizon long enough that the remaining geometric tail is below
    1e-12 relative, and compared with the right side summed over the episode's TD errors.
    """
    r, v = traj
    T = len(r)
    delta = td_errors(r, v, gamma)
    n_max = T + int(np.ceil(np.log(1e-13) / np.log(lam)))
    A = {n: n_step_advantage(r, v, gamma, n) for n in range(1, T + 1)}
    left = sum(lam ** (n - 1) * A[min(n, T)] for n in range(1, n_max + 1))
    right = np.array([sum(lam**n / (1 - lam) * gamma**n * delta[t + n] for n in range(T - t))
                      for t in range(T)])
    scale = 1.0 + np.abs(right).max() / (1 - lam)
    np.testing.assert_allclose(left, right, rtol=1e-8, atol=1e-8 * scale)
    np.testing.assert_allclose((1 - lam) * right, gae(r, v, gamma, lam), rtol=1e-8,
                               atol=1e-8 * scale)


@given(trajectories(), unit)
def test_lambda_zero_is_td_error(traj, gamma):
    """Seed A.6: lam = 0 gives A_t^GAE = delta_t (one-step actor-critic)."""
    r, v = traj
    np.testing.assert_allclose(gae(r, v, gamma, 0.0), td_errors(r, v, gamma), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(lambda_weighted_advantage(r, v, gamma, 0.0), td_errors(r, v, gamma),
                               rtol=1e-12, atol=1e-12)


@given(trajectories(), unit)
def test_lambda_one_is_monte_carlo_minus_baseline(traj, gamma):
    """Seed A.6: lam = 1 gives A_t^GAE = sum_k gamma^k r(t+k) - V(s_t) (REINFORCE with baseline).

    With a bootstrap value: G_t includes gamma^(T-t) V(s_T); it is 0 for a terminated episode.
    """
    r, v = traj
    mc = discounted_returns(r, gamma, bootstrap=v[-1]) - v[:-1]
    np.testing.assert_allclose(gae(r, v, gamma, 1.0), mc, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lambda_weighted_advantage(r, v, gamma, 1.0), mc, rtol=1e-9,
                               atol=1e-9)


@given(trajectories(), open_unit, open_unit)
def test_bias_variance_expansion(traj, gamma, lam):
    """Seed A.7: sum_n (lam gamma)^n delta_{t+n}
    = sum_{n>=1} (lam gamma)^n [(1/lam - 1) V(s_{t+n}) + r(t+n)] - V(s_t) + r(t).

    Stated, as in the seed, for a trajectory extended past its terminal state (A.0'): here
    values[T] = 0 and every term with t + n > T vanishes. (With a truncation bootstrap the
    library's convention delta_k = 0 for k >= T is not a zero-value extension, so the identity
    is checked in the seed's setting only.)
    """
    r, v = traj
    v = v.copy()
    v[-1] = 0.0
    T = len(r)
    for t in range(T):
        rhs = -v[t] + r[t]
        for n in range(1, T - t + 1):  # past s_T every term is 0
            v_tn = v[t + n]
            r_tn = r[t + n] if t + n < T else 0.0
            rhs += (lam * gamma) ** n * ((1 / lam - 1) * v_tn + r_tn)
        np.testing.assert_allclose(gae(r, v, gamma, lam)[t], rhs, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# compute_gae: batches of several episodes per column, as the trainer stores them
# ---------------------------------------------------------------------------------------------


@st.composite
def rollouts(draw):
    """A (T, N) rollout: each column is a stream of episodes, each ended by a termination or a
    truncation, and the column cut at the end of the rollout (which bootstraps, like truncation).
    """
    T = draw(st.integers(1, 40))
    N = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = np.empty((T, N))
    next_values[:-1] = values[1:]
    next_values[-1] = rng.normal(size=N)
    ends = rng.random((T, N)) < draw(st.sampled_from([0.0, 0.1, 0.3, 1.0]))
    kind = rng.random((T, N)) < 0.5
    terminated = ends & kind
    truncated = ends & ~kind
    # Where an episode ended, the next stored state is a reset state: the real final
    # observation's value differs from values[t + 1].
    next_values[ends] = rng.normal(size=int(ends.sum()))
    return rewards, values, next_values, terminated, truncated


@given(rollouts(), unit, unit)
@settings(max_examples=150)
def test_compute_gae_equals_gae_episode_by_episode(rollout, gamma, lam):
    """Seed A.5 + A.0' + C.2: compute_gae on a (T, N) batch equals `gae` on each episode segment,
    with values[T] = 0 for a termination and V(final obs) for a truncation or the rollout's end;
    returns = advantages + values."""
    rewards, values, next_values, terminated, truncated = rollout
    adv, ret = compute_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    T, N = rewards.shape
    assert adv.shape == ret.shape == (T, N)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-12, atol=1e-12)
    for j in range(N):
        start = 0
        for t in range(T):
            if terminated[t, j] or truncated[t, j] or t == T - 1:
                bootstrap = 0.0 if terminated[t, j] else next_values[t, j]
                seg_values = np.append(values[start : t + 1, j], bootstrap)
                expected = gae(rewards[start : t + 1, j], seg_values, gamma, lam)
                np.testing.assert_allclose(adv[start : t + 1, j], expected, rtol=1e-9, atol=1e-9)
                start = t + 1
    # The 1-D form equals the first column.
    adv1, ret1 = compute_gae(rewards[:, 0], values[:, 0], next_values[:, 0], terminated[:, 0],
                             truncated[:, 0], gamma, lam)
    np.testing.assert_allclose(adv1, adv[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ret1, ret[:, 0], rtol=1e-12, atol=1e-12)


def test_compute_gae_both_flags_means_terminated():
    """Seed A.0': with both flags set the state is terminal: no bootstrap."""
    adv, _ = compute_gae([1.0], [0.5], [100.0], [True], [True], 0.9, 0.9)
    np.testing.assert_allclose(adv, [0.5])


# ---------------------------------------------------------------------------------------------
# Bad input: a ValueError that names the argument
# ---------------------------------------------------------------------------------------------

R3, V4 = np.ones(3), np.ones(4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: td_errors(R3, np.ones(3), 0.9), "values must have length"),
        (lambda: td_errors(R3, np.ones(5), 0.9), "values must have length"),
        (lambda: td_errors(np.ones((3, 1)), V4, 0.9), "rewards must be 1-D"),
        (lambda: td_errors(R3, np.ones((4, 1)), 0.9), "values must be 1-D"),
        (lambda: td_errors([], [0.0], 0.9), "rewards must hold at least one step"),
        (lambda: td_errors(R3, V4, 1.5), "gamma must be in"),
        (lambda: td_errors(R3, V4, -0.1), "gamma must be in"),
        (lambda: td_errors(R3, V4, float("nan")), "gamma must be in"),
        (lambda: td_errors(R3, V4, "high"), "gamma must be a number"),
        (lambda: td_errors([1.0, np.nan, 0.0], V4, 0.9), "rewards must be finite"),
        (lambda: td_errors(R3, [0.0, 1.0, np.inf, 0.0], 0.9), "values must be finite"),
        (lambda: gae(R3, V4, 0.9, 1.01), "lam must be in"),
        (lambda: gae(R3, V4, 0.9, float("nan")), "lam must be in"),
        (lambda: gae(R3, np.ones(3), 0.9, 0.9), "values must have length"),
        (lambda: lambda_weighted_advantage(R3, V4, 0.9, -1), "lam must be in"),
        (lambda: n_step_advantage(R3, V4, 0.9, 0), "n must be an integer >= 1"),
        (lambda: n_step_advantage(R3, V4, 0.9, 1.5), "n must be an integer >= 1"),
        (lambda: n_step_advantage(R3, V4, 0.9, True), "n must be an integer >= 1"),
        (lambda: lambda_weights(0.5, 0), "n_terms must be an integer >= 1"),
        (lambda: discounted_returns(R3, 2.0), "gamma must be in"),
        (lambda: discounted_returns(R3, 0.9, bootstrap=np.nan), "bootstrap must be finite"),
        (lambda: discounted_returns(np.ones((2, 2)), 0.9), "rewards must be 1-D"),
    ],
)
def test_bad_input_single_trajectory(call, match):
    """Seed A.0-A.6 functions: bad input is a ValueError that names the argument."""
    with pytest.raises(ValueError, match=match):
        call()


def _batch(T=4, N=2):
    z = np.zeros((T, N))
    return dict(rewards=z, values=z, next_values=z, terminated=z.astype(bool),
                truncated=z.astype(bool), gamma=0.99, lam=0.95)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(values=np.zeros((4, 3))), r"values must have shape \(4, 2\)"),
        (dict(values=np.zeros(4)), r"values must have shape \(4, 2\)"),
        (dict(next_values=np.zeros((5, 2))), r"next_values must have shape \(4, 2\)"),
        (dict(terminated=np.zeros((4, 1), dtype=bool)), r"terminated must have shape \(4, 2\)"),
        (dict(truncated=np.zeros(4, dtype=bool)), r"truncated must have shape \(4, 2\)"),
        (dict(terminated=np.full((4, 2), 0.5)), "terminated must hold booleans"),
        (dict(rewards=np.zeros((4, 2, 1))), "rewards must be 1-D or 2-D"),
        (dict(rewards=np.full((4, 2), np.nan)), "rewards must be finite"),
        (dict(next_values=np.full((4, 2), np.inf)), "next_values must be finite"),
        (dict(gamma=1.2), "gamma must be in"),
        (dict(lam=-0.5), "lam must be in"),
    ],
)
def test_bad_input_compute_gae(override, match):
    """Seed A.5/C.2, compute_gae: mismatched shapes, non-boolean flags, NaN/inf and out-of-range
    gamma/lam give a ValueError naming the argument (no silent broadcasting)."""
    kwargs = _batch() | override
    with pytest.raises(ValueError, match=match):
        compute_gae(**kwargs)
