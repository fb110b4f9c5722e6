"""Advantage estimators of seed part A: TD errors, n-step advantages, GAE.

The book's part "From TD errors to GAE" derives every function here; each chapter's check cells
compare their own arithmetic against these functions, and `tests/test_advantages.py` checks each
identity of part A on random trajectories.

Conventions for one trajectory of length ``T`` (NumPy, float64):

========== ========= ==============================================================
name       shape     meaning
========== ========= ==============================================================
rewards    ``(T,)``  ``r(t)``, the reward received after action ``a_t``
values     ``(T+1,)`` ``V(s_0), ..., V(s_T)``; ``values[T]`` is the *bootstrap* value:
                     0 if ``s_T`` is terminal (seed A.0'), ``V(s_T)`` if the episode
                     was truncated by a time limit or cut by the end of a rollout
gamma      scalar    discount factor, in [0, 1]
lam        scalar    GAE's lambda, in [0, 1]
========== ========= ==============================================================

Beyond the last step the TD errors are taken to be zero (``delta_k = 0`` for ``k >= T``). For a
terminated episode that *is* the terminal extension of seed A.0'; for a truncated one it means
that the bootstrap value ``values[T]`` stands in for everything after ``T``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ppo_edu._validate import finite_array, flag_array, positive_int, same_shape, unit_interval

__all__ = [
    "td_errors",
    "n_step_advantage",
    "lambda_weights",
    "lambda_weighted_advantage",
    "gae",
    "discounted_returns",
    "compute_gae",
]

FloatArray = NDArray[np.float64]


def _trajectory(rewards: ArrayLike, values: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate one trajectory: rewards ``(T,)`` with ``T >= 1`` and values ``(T+1,)``."""
    r = finite_array(rewards, "rewards", ndim=1)
    v = finite_array(values, "values", ndim=1)
    if r.shape[0] < 1:
        raise ValueError("rewards must hold at least one step, got an empty array")
    if v.shape[0] != r.shape[0] + 1:
        raise ValueError(
            f"values must have length len(rewards) + 1 = {r.shape[0] + 1} "
            f"(V(s_0), ..., V(s_T), the last one the bootstrap value), got {v.shape[0]}"
        )
    return r, v


def td_errors(rewards: ArrayLike, values: ArrayLike, gamma: float) -> FloatArray:
    r"""One-step TD errors (seed A.0).

    .. math:: \delta_k = \gamma V(s_{k+1}) + r(k) - V(s_k), \qquad k = 0, \dots, T-1.

    With ``values[T] = 0`` for a terminated episode this is the terminal extension of seed A.0';
    for a truncated episode ``values[T]`` must be the critic's ``V(s_T)``.

    Args:
        rewards: shape ``(T,)``, ``r(0), ..., r(T-1)``.
        values: shape ``(T+1,)``, ``V(s_0), ..., V(s_T)``.
        gamma: discount factor in [0, 1].

    Returns:
        ``delta``, shape ``(T,)``.
    """
    r, v = _trajectory(rewards, values)
    g = unit_interval(gamma, "gamma")
    return r + g * v[1:] - v[:-1]


def n_step_advantage(rewards: ArrayLike, values: ArrayLike, gamma: float, n: int) -> FloatArray:
    r"""The n-step advantage ``A_t^n`` for every ``t`` (seed A.1).

    .. math:: \hat A_t^n = \sum_{k=t}^{t+n-1} \gamma^{k-t} \delta_k
              = \gamma^n V(s_{t+n}) - V(s_t) + \sum_{k=t}^{t+n-1} \gamma^{k-t} r(k)
              \quad \text{(seed eq. 1)}

    with ``delta_k = 0`` for ``k >= T``: when ``t + n > T`` the sum stops at the last step and the
    bootstrap ``values[T]`` takes the place of ``V(s_{t+n})`` (discounted by ``gamma^(T-t)``).

    Args:
        rewards: shape ``(T,)``.
        values: shape ``(T+1,)``.
        gamma: discount factor in [0, 1].
        n: number of TD errors summed, ``n >= 1``. ``n = 1`` gives ``td_errors``; ``n >= T``
            gives the Monte-Carlo return (bootstrapped by ``values[T]``) minus ``V(s_t)``.

    Returns:
        ``A^n``, shape ``(T,)``.
    """
    r, v = _trajectory(rewards, values)
    g = unit_interval(gamma, "gamma")
    n = positive_int(n, "n")
    delta = r + g * v[1:] - v[:-1]
    T = r.shape[0]
    # Discounted partial sums from the end: S[t] = sum_{k>=t} gamma^(k-t) delta_k, S[T] = 0.
    # Then A_t^n = S[t] - gamma^m S[t+m] with m = min(n, T - t); computed by the direct sum
    # below to stay exact for gamma = 0 (where gamma^m S[t+m] would be 0 * finite anyway).
    out = np.zeros(T)
    powers = g ** np.arange(min(n, T))
    for t in range(T):
        m = min(n, T - t)
        out[t] = powers[:m] @ delta[t : t + m]
    return out


def lambda_weights(lam: float, n_terms: int) -> FloatArray:
    r"""The geometric weights of seed A.4 for an episode with ``n_terms`` distinct n-step terms.

    .. math:: w_n = (1 - \lambda) \lambda^{n-1}, \quad n = 1, \dots, N - 1, \qquad
              w_N = \sum_{n \ge N} (1-\lambda)\lambda^{n-1} = \lambda^{N-1}.

    In a finite episode every ``A_t^n`` with ``n >= N = T - t`` is the same number (all further
    TD errors are zero), so the whole tail of the infinite series lands on the last term. The
    weights are non-negative and sum to exactly 1 for every ``lam`` in [0, 1], ends included
    (``lam = 0`` puts all the weight on ``n = 1``, ``lam = 1`` all of it on ``n = N``).

    Args:
        lam: lambda in [0, 1].
        n_terms: ``N >= 1``.

    Returns:
        ``w``, shape ``(N,)``, with ``w[n-1] = w_n``.
    """
    lam = unit_interval(lam, "lam")
    N = positive_int(n_terms, "n_terms")
    w = (1.0 - lam) * lam ** np.arange(N, dtype=np.float64)  # 0.0 ** 0 == 1.0
    w[-1] = lam ** (N - 1)
    return w


def lambda_weighted_advantage(
    rewards: ArrayLike, values: ArrayLike, gamma: float, lam: float
) -> FloatArray:
    r"""GAE by its definition: the lambda-weighted mixture of n-step advantages (seed eq. 3).

    .. math:: \hat A_t^{\lambda} = (1-\lambda) \sum_{n \ge 1} \lambda^{n-1} \hat A_t^n
              = \sum_{n=1}^{N} w_n \hat A_t^n, \qquad N = T - t,

    computed exactly for a finite episode with the weights of `lambda_weights` (the tail weight
    ``lam^(N-1)`` falls on the last n-step term). This is the slow, O(T^2) form; it exists so the
    book and the tests can show that it equals the recursion in `gae` (seed eq. 3 = eq. 4).

    Args:
        rewards: shape ``(T,)``.
        values: shape ``(T+1,)``.
        gamma: discount factor in [0, 1].
        lam: lambda in [0, 1]; ``lam = 0`` and ``lam = 1`` included.

    Returns:
        shape ``(T,)``.
    """
    r, v = _trajectory(rewards, values)
    g = unit_interval(gamma, "gamma")
    lam = unit_interval(lam, "lam")
    T = r.shape[0]
    # A[n-1, t] = A_t^n for n = 1..T.
    A = np.stack([n_step_advantage(r, v, g, n) for n in range(1, T + 1)])
    out = np.empty(T)
    for t in range(T):
        N = T - t
        out[t] = lambda_weights(lam, N) @ A[:N, t]
    return out


def gae(rewards: ArrayLike, values: ArrayLike, gamma: float, lam: float) -> FloatArray:
    r"""Generalized advantage estimate for every ``t``, by the backward recursion (seed A.5).

    Seed eq. 4 (Schulman et al. 2016, eq. 16) sums discounted TD errors,

    .. math:: \hat A_t^{GAE} = \sum_{n \ge 0} (\gamma\lambda)^n \delta_{t+n},

    and splitting off the first term gives the recursion used here, one pass from the end:

    .. math:: \hat A_{T-1} = \delta_{T-1}, \qquad
              \hat A_t = \delta_t + \gamma\lambda \hat A_{t+1}.

    Special cases (seed A.6): ``lam = 0`` gives ``td_errors``; ``lam = 1`` gives
    ``discounted_returns(rewards, gamma, values[T]) - values[:T]``.

    Args:
        rewards: shape ``(T,)``.
        values: shape ``(T+1,)``; ``values[T]`` is the bootstrap value (0 if terminated).
        gamma: discount factor in [0, 1].
        lam: lambda in [0, 1].

    Returns:
        ``A^GAE``, shape ``(T,)``.
    """
    r, v = _trajectory(rewards, values)
    g = unit_interval(gamma, "gamma")
    lam = unit_interval(lam, "lam")
    delta = r + g * v[1:] - v[:-1]
    out = np.empty_like(delta)
    running = 0.0
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + g * lam * running
        out[t] = running
    return out


def discounted_returns(rewards: ArrayLike, gamma: float, bootstrap: float = 0.0) -> FloatArray:
    r"""Discounted returns ``G_t`` for every ``t``.

    .. math:: G_t = \sum_{k=t}^{T-1} \gamma^{k-t} r(k) + \gamma^{T-t} V_{boot},
              \qquad G_t = r(t) + \gamma G_{t+1}, \; G_T = V_{boot}.

    ``bootstrap = 0`` for a terminated episode (the Monte-Carlo return); the critic's ``V(s_T)``
    for a truncated one.

    Args:
        rewards: shape ``(T,)``.
        gamma: discount factor in [0, 1].
        bootstrap: value of the state after the last step.

    Returns:
        ``G``, shape ``(T,)``.
    """
    r = finite_array(rewards, "rewards", ndim=1)
    if r.shape[0] < 1:
        raise ValueError("rewards must hold at least one step, got an empty array")
    g = unit_interval(gamma, "gamma")
    b = finite_array(bootstrap, "bootstrap", ndim=0)
    out = np.empty_like(r)
    running = float(b)
    for t in range(r.shape[0] - 1, -1, -1):
        running = r[t] + g * running
        out[t] = running
    return out


def compute_gae(
    rewards: ArrayLike,
    values: ArrayLike,
    next_values: ArrayLike,
    terminated: ArrayLike,
    truncated: ArrayLike,
    gamma: float,
    lam: float,
) -> tuple[FloatArray, FloatArray]:
    r"""GAE and value targets for a rollout that may hold several episodes (seed A.5 and C.2).

    This is the form the trainer uses. A rollout of ``T`` steps from ``N`` parallel environments
    is stored step by step; episodes end anywhere inside it. For every step

    .. math:: \delta_t = r_t + \gamma (1 - \text{terminated}_t) V(s_{t+1}) - V(s_t), \qquad
              \hat A_t = \delta_t + \gamma\lambda (1 - \text{done}_t) \hat A_{t+1},

    with ``done = terminated or truncated`` and ``A_T = 0`` after the last stored step. So:

    * a **terminated** step does not bootstrap (``s_{t+1}`` is terminal, its value is 0, seed
      A.0') and the advantage chain stops;
    * a **truncated** step (time limit) *does* bootstrap with ``V(s_{t+1})`` of the real final
      observation, because the state was not terminal, but the chain stops because the next
      stored step belongs to a new episode;
    * the **last step of the rollout** bootstraps with ``next_values[T-1]`` and the chain stops
      there, since nothing later was stored.

    If both flags are set on a step, termination wins (no bootstrap).

    Args:
        rewards: shape ``(T,)`` or ``(T, N)``, ``r_t``.
        values: same shape, ``V(s_t)``.
        next_values: same shape, ``V(s_{t+1})`` of the state actually reached by step ``t``
            (the real final observation when an episode ended there, not the reset one).
        terminated: same shape, booleans (or 0/1): ``s_{t+1}`` is terminal.
        truncated: same shape, booleans (or 0/1): the episode was cut after step ``t``.
        gamma: discount factor in [0, 1].
        lam: lambda in [0, 1].

    Returns:
        ``(advantages, returns)``, both of the input shape, with
        ``returns = advantages + values``, the critic's target (the lambda-return, seed C.2).
    """
    r = finite_array(rewards, "rewards", ndim=(1, 2))
    if r.shape[0] < 1:
        raise ValueError("rewards must hold at least one step, got an empty array")
    v = finite_array(values, "values", ndim=(1, 2))
    same_shape(v, "values", r.shape, "rewards")
    v_next = finite_array(next_values, "next_values", ndim=(1, 2))
    same_shape(v_next, "next_values", r.shape, "rewards")
    term = flag_array(terminated, "terminated", r.shape)
    trunc = flag_array(truncated, "truncated", r.shape)
    g = unit_interval(gamma, "gamma")
    lam = unit_interval(lam, "lam")

    delta = r + g * np.where(term, 0.0, v_next) - v
    keep_chain = ~(term | trunc)
    adv = np.empty_like(delta)
    running = np.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + g * lam * np.where(keep_chain[t], running, 0.0)
        adv[t] = running
    return adv, adv + v
