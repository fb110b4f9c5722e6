r"""Importance sampling on the exact tabular oracle: seed B.2-B.4, exactly and by Monte Carlo.

Chapter: "Importance sampling" (``book/b1_importance_sampling.ipynb``). The torch functions
the trainer uses (the ratio, ``L^CPI``, ``L^CLIP``) are in `ppo_edu.surrogate`; this module
holds what the chapter and `tests/test_surrogate.py` need to check the derivation of B.2-B.4 on a
small MDP of `ppo_edu.tabular` (NumPy, float64): the trajectory ratio, the sampled
importance-sampling gradient estimators, and their exact expectations.

Setting: a batch of episodes was sampled with the old policy ``pi_old`` (logits ``theta_old``);
we want the gradient of ``J`` at another policy ``pi_theta`` (logits ``theta``), whose
episodes we do not have. With ``rho_k = pi_theta(a_k|s_k) / pi_old(a_k|s_k)`` (the per-step
ratio ``r_k(theta)`` of `ppo_edu.surrogate.probability_ratio`):

* B.2: ``grad J(theta) = E_old[ rho_{0:T-1} sum_t gamma^t A_t grad log pi_theta(a_t|s_t) ]``,
  exact (the transition probabilities cancel in ``P_theta(tau) / P_old(tau)``).
* B.3: split ``rho_{0:T-1} = rho_{0:t-1} * rho_t * rho_{t+1:T-1}`` around step ``t``, and
  ``rho_t grad log pi_theta = grad pi_theta / pi_old``.
* B.4: drop the products before and after ``t`` (set them to 1): the result is the gradient of
  ``L^CPI(theta) = E_old[ sum_t gamma^t r_t(theta) A^old_t ]``. Dropping the past product
  replaces the state distribution of ``pi_theta`` by that of ``pi_old``; dropping the future
  product replaces ``Q^theta`` (hence ``A^theta``) by ``Q^old``. `expected_split_gradient` gives
  the four combinations exactly; only at ``theta = theta_old`` do all four agree with ``grad J``.

Gradients are with respect to the logits of the tabular softmax policy, shape ``(S, A)``, as in
`ppo_edu.tabular.policy_gradient`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ppo_edu.tabular import (
    Episode,
    TabularMDP,
    advantage_function,
    discounted_visitation,
    gae_gradient_estimate,
    softmax_policy,
)

__all__ = [
    "step_ratios",
    "trajectory_ratio",
    "trajectory_probability",
    "is_gradient_estimate",
    "split_is_gradient_estimate",
    "expected_split_gradient",
    "surrogate_objective",
    "surrogate_gradient",
    "mean_kl",
    "exact_batch",
]

FloatArray = NDArray[np.float64]


def _logits(mdp: TabularMDP, logits: ArrayLike, name: str) -> FloatArray:
    theta = np.asarray(logits, dtype=np.float64)
    if theta.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"{name} must have shape (S, A) = {(mdp.n_states, mdp.n_actions)}, "
                         f"got {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return theta


def _episode(mdp: TabularMDP, episode: Episode) -> None:
    s, a = episode.states, episode.actions
    if np.any(s < 0) or np.any(s >= mdp.n_states) or np.any(a < 0) or np.any(a >= mdp.n_actions):
        raise ValueError("episode holds states or actions outside the MDP")
    if not mdp.terminal[s[-1]] or np.any(mdp.terminal[s[:-1]]):
        raise ValueError("episode must end at its first terminal state (only s_T terminal)")


def step_ratios(logits_new: ArrayLike, logits_old: ArrayLike, episode: Episode) -> FloatArray:
    r"""Per-step ratios ``r_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t)`` along an episode (seed B.4).

    Args:
        logits_new: ``theta``, shape ``(S, A)``.
        logits_old: ``theta_old``, shape ``(S, A)``.
        episode: one `ppo_edu.tabular.Episode`.

    Returns:
        shape ``(T,)``.
    """
    pi_new, pi_old = softmax_policy(logits_new), softmax_policy(logits_old)
    s, a = episode.states[:-1], episode.actions
    return pi_new[s, a] / pi_old[s, a]


def trajectory_ratio(logits_new: ArrayLike, logits_old: ArrayLike, episode: Episode) -> float:
    r"""The trajectory importance weight ``rho(tau) = prod_t r_t(theta)`` (seed B.2).

    Equal to ``P_theta(tau) / P_old(tau)`` (`trajectory_probability`): the initial distribution
    and the transition probabilities cancel, so the weight needs only the policies.
    """
    return float(np.prod(step_ratios(logits_new, logits_old, episode)))


def trajectory_probability(mdp: TabularMDP, policy: ArrayLike, episode: Episode) -> float:
    r"""``P_pi(tau) = mu(s_0) prod_t pi(a_t|s_t) P(s_{t+1}|s_t, a_t)`` of one episode (seed B.2).

    Args:
        mdp: the MDP.
        policy: ``pi``, shape ``(S, A)``.
        episode: one `ppo_edu.tabular.Episode`.

    Returns:
        the probability of the episode under ``pi`` (a float in [0, 1]).
    """
    _episode(mdp, episode)
    pi = np.asarray(policy, dtype=np.float64)
    s, a = episode.states, episode.actions
    return float(mdp.initial[s[0]] * np.prod(pi[s[:-1], a]) * np.prod(mdp.P[s[:-1], a, s[1:]]))


def is_gradient_estimate(mdp: TabularMDP, logits_new: ArrayLike, logits_old: ArrayLike,
                         values: ArrayLike, episode: Episode, lam: float = 1.0) -> FloatArray:
    r"""The trajectory importance-sampling gradient estimate of seed B.2, for one episode.

    .. math:: \hat g = \rho(\tau) \sum_{t} \gamma^t \hat A_t\,
              \nabla_\theta \log\pi_\theta(a_t|s_t), \qquad \tau \sim \pi_{old},

    with ``A_t`` the GAE of `ppo_edu.advantages.gae` (critic ``values``, ``lam``) and
    ``gamma = mdp.gamma``: ``rho(tau)`` times `ppo_edu.tabular.gae_gradient_estimate` at
    ``theta``. Its expectation over episodes of ``pi_old`` equals the expectation of the on-policy
    estimator over episodes of ``pi_theta``, i.e. ``expected_gae_gradient(mdp, theta, values,
    gamma, lam)``: the exact ``grad J(theta)`` when ``lam = 1`` (any critic is then a baseline)
    or ``values = V^theta``.

    Args:
        mdp: the MDP.
        logits_new: ``theta``, shape ``(S, A)``, where the gradient is wanted.
        logits_old: ``theta_old``, shape ``(S, A)``, of the policy that sampled ``episode``.
        values: a critic ``V``, shape ``(S,)``, 0 at terminal states.
        episode: one `ppo_edu.tabular.Episode` sampled with ``pi_old``.
        lam: GAE's lambda in [0, 1]; 1 (the default) gives ``A_t = G_t - V(s_t)``.

    Returns:
        ``g_hat``, shape ``(S, A)``.
    """
    theta = _logits(mdp, logits_new, "logits_new")
    theta_old = _logits(mdp, logits_old, "logits_old")
    g = gae_gradient_estimate(mdp, theta, values, episode, mdp.gamma, lam)
    return trajectory_ratio(theta, theta_old, episode) * g


def split_is_gradient_estimate(mdp: TabularMDP, logits_new: ArrayLike, logits_old: ArrayLike,
                               values: ArrayLike, episode: Episode, keep_past: bool,
                               keep_future: bool) -> FloatArray:
    r"""The estimator of seed B.3/B.4 with the product of ratios split around each step.

    .. math:: \hat g = \sum_t \gamma^t\, [\rho_{0:t-1}]\; r_t(\theta)\; [\rho_{t+1:T-1}]\,
              \big(G_t - V(s_t)\big)\, \nabla_\theta \log\pi_\theta(a_t|s_t),

    where ``G_t = sum_{k >= t} gamma^(k-t) r_k`` is the Monte-Carlo return, and a bracketed
    product is kept only when ``keep_past`` / ``keep_future`` (otherwise it is set to 1, the
    approximation of B.4). With both kept this is `is_gradient_estimate` with ``lam = 1``
    (seed B.3 is an exact rewrite of B.2); with neither, it is the sampled gradient of the
    surrogate ``L^CPI`` (seed B.4), ``sum_t gamma^t A_t grad pi_theta(a_t|s_t) / pi_old``.
    `expected_split_gradient` gives the exact expectation over episodes of ``pi_old``.

    Args:
        mdp: the MDP (``mdp.gamma`` is the discount).
        logits_new: ``theta``, shape ``(S, A)``.
        logits_old: ``theta_old``, shape ``(S, A)``, of the policy that sampled ``episode``.
        values: a baseline ``V``, shape ``(S,)`` (any function of the state).
        episode: one `ppo_edu.tabular.Episode` sampled with ``pi_old``.
        keep_past: keep ``rho_{0:t-1}`` (the ratios before step ``t``).
        keep_future: keep ``rho_{t+1:T-1}`` (the ratios after step ``t``).

    Returns:
        ``g_hat``, shape ``(S, A)``.
    """
    theta = _logits(mdp, logits_new, "logits_new")
    theta_old = _logits(mdp, logits_old, "logits_old")
    _episode(mdp, episode)
    V = np.asarray(values, dtype=np.float64)
    if V.shape != (mdp.n_states,) or not np.all(np.isfinite(V)):
        raise ValueError(f"values must be finite with shape (S,) = {(mdp.n_states,)}, "
                         f"got shape {V.shape}")
    gamma = mdp.gamma
    pi = softmax_policy(theta)
    s, a, r = episode.states[:-1], episode.actions, episode.rewards
    T = a.shape[0]
    ratio = step_ratios(theta, theta_old, episode)
    disc = gamma ** np.arange(T)
    # G_t = sum_{k >= t} gamma^(k-t) r_k, by a backward recursion
    G = np.zeros(T)
    acc = 0.0
    for t in range(T - 1, -1, -1):
        acc = r[t] + gamma * acc
        G[t] = acc
    past = np.concatenate(([1.0], np.cumprod(ratio)[:-1])) if keep_past else np.ones(T)
    future = (np.concatenate((np.cumprod(ratio[::-1])[::-1][1:], [1.0])) if keep_future
              else np.ones(T))
    weight = disc * past * ratio * future * (G - V[s])
    score = -pi[s]                                       # (T, A): 1[a_t = b] - pi_theta(b|s_t)
    score[np.arange(T), a] += 1.0
    out = np.zeros((mdp.n_states, mdp.n_actions))
    np.add.at(out, s, weight[:, None] * score)
    return out


def expected_split_gradient(mdp: TabularMDP, logits_new: ArrayLike, logits_old: ArrayLike,
                            keep_past: bool, keep_future: bool) -> FloatArray:
    r"""Exact expectation of `split_is_gradient_estimate` over episodes of ``pi_old``.

    .. math:: E[\hat g]_{s,b} = d(s)\, \pi_\theta(b|s)
              \Big(A(s,b) - \sum_a \pi_\theta(a|s) A(s,a)\Big),

    with ``d = d^theta`` (discounted visitation of ``pi_theta``) if ``keep_past`` else
    ``d^old``, and ``A = A^theta`` if ``keep_future`` else ``A^old``. Why: keeping
    ``rho_{0:t-1}`` makes the distribution of ``s_t`` that of ``pi_theta``; ``r_t`` turns the
    action distribution into ``pi_theta``; keeping ``rho_{t+1:T-1}`` makes the expected return
    after ``(s_t, a_t)`` equal to ``Q^theta``, dropping it leaves ``Q^old``; the baseline
    ``V(s_t)`` has expectation zero. Both kept: `ppo_edu.tabular.policy_gradient` at ``theta``
    (seed B.2-B.3, exact); neither: `surrogate_gradient` (seed B.4).

    Returns:
        shape ``(S, A)``.
    """
    theta = _logits(mdp, logits_new, "logits_new")
    theta_old = _logits(mdp, logits_old, "logits_old")
    pi_new, pi_old = softmax_policy(theta), softmax_policy(theta_old)
    d = discounted_visitation(mdp, pi_new if keep_past else pi_old)
    adv = advantage_function(mdp, pi_new if keep_future else pi_old)
    return d[:, None] * pi_new * (adv - (pi_new * adv).sum(axis=1, keepdims=True))


def surrogate_objective(mdp: TabularMDP, logits_new: ArrayLike, logits_old: ArrayLike) -> float:
    r"""The exact surrogate ``L^CPI(theta) = E_old[ sum_t gamma^t r_t(theta) A^old(s_t, a_t) ]``
    (seed B.4; Kakade and Langford 2002).

    .. math:: L^{CPI}(\theta) = \sum_s d^{old}(s) \sum_a \pi_\theta(a|s)\, A^{old}(s, a).

    It is 0 at ``theta = theta_old``. Compare the performance-difference identity
    ``J(theta) - J(theta_old) = sum_s d^theta(s) sum_a pi_theta(a|s) A^old(s, a)``: ``L^CPI``
    is the same sum with the old state distribution, a first-order approximation of
    ``J(theta) - J(theta_old)`` around ``theta_old``.
    """
    theta = _logits(mdp, logits_new, "logits_new")
    theta_old = _logits(mdp, logits_old, "logits_old")
    pi_new, pi_old = softmax_policy(theta), softmax_policy(theta_old)
    d_old = discounted_visitation(mdp, pi_old)
    return float(d_old @ (pi_new * advantage_function(mdp, pi_old)).sum(axis=1))


def surrogate_gradient(mdp: TabularMDP, logits_new: ArrayLike, logits_old: ArrayLike
                       ) -> FloatArray:
    r"""Exact ``grad_theta L^CPI(theta)``, shape ``(S, A)`` (seed B.4).

    .. math:: \frac{\partial L^{CPI}}{\partial\theta_{s,b}} = d^{old}(s)\, \pi_\theta(b|s)
              \Big(A^{old}(s,b) - \sum_a \pi_\theta(a|s) A^{old}(s,a)\Big).

    Equals `ppo_edu.tabular.policy_gradient` at ``theta = theta_old`` (where the bracket's sum is
    0 and ``d^old = d^theta``), and only approximates it elsewhere.
    """
    return expected_split_gradient(mdp, logits_new, logits_old, keep_past=False,
                                   keep_future=False)


def mean_kl(mdp: TabularMDP, logits_old: ArrayLike, logits_new: ArrayLike) -> float:
    r"""``E_{s ~ batch of pi_old}[ KL(pi_old(.|s) || pi_theta(.|s)) ]``, exactly.

    The states are weighted by the expected number of visits per episode under ``pi_old``
    (undiscounted, normalised to sum to 1): the distribution of the states of a batch sampled
    with ``pi_old``, which is what `ppo_edu.surrogate.approx_kl` estimates from such a batch.

    Returns:
        a float ``>= 0``, 0 exactly when the two policies agree on every visited state.
    """
    theta = _logits(mdp, logits_new, "logits_new")
    theta_old = _logits(mdp, logits_old, "logits_old")
    pi_new, pi_old = softmax_policy(theta), softmax_policy(theta_old)
    visits = discounted_visitation(mdp.with_gamma(1.0), pi_old)
    w = visits / visits.sum()
    kl = (pi_old * (np.log(pi_old) - np.log(pi_new))).sum(axis=1)
    return float(w @ kl)



def exact_batch(mdp: TabularMDP, logits_old: ArrayLike
                ) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray, FloatArray]:
    r"""An "infinite batch" of ``pi_old``: one sample per non-terminal ``(s, a)``, with weighted
    advantages, so that the *mean* over it of ``r A`` is the exact ``L^CPI`` (seed B.4).

    With ``N`` pairs and ``w(s, a) = N d^old(s) pi_old(a|s) A^old(s, a)``, for every ``theta``

    .. math:: \frac1N \sum_{(s,a)} r_\theta(s,a)\, w(s,a) = \sum_s d^{old}(s) \sum_a
              \pi_\theta(a|s) A^{old}(s,a) = L^{CPI}(\theta),

    so `ppo_edu.surrogate.cpi_objective(logp_new, logp_old, w)` evaluated with
    ``logp_new = log_softmax(theta)[states, actions]`` is `surrogate_objective`, and its autograd
    gradient is `surrogate_gradient`: the trainer's function, checked against the oracle.

    Returns:
        ``(states, actions, logp_old, weighted_advantages)``, each of shape ``(N,)``.
    """
    theta_old = _logits(mdp, logits_old, "logits_old")
    pi_old = softmax_policy(theta_old)
    d_old = discounted_visitation(mdp, pi_old)
    adv_old = advantage_function(mdp, pi_old)
    states, actions = np.nonzero(np.broadcast_to(mdp.nonterminal[:, None], pi_old.shape))
    n = states.shape[0]
    weights = n * d_old[states] * pi_old[states, actions] * adv_old[states, actions]
    return (states.astype(np.int64), actions.astype(np.int64), np.log(pi_old[states, actions]),
            weights)
