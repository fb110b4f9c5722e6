r"""An exact oracle for small episodic MDPs: every expectation of the seed by a linear solve.

Chapters: "Background: the policy gradient and the advantage" (``book/pg_background.ipynb``) and
"What lambda buys, measured exactly" (``book/a8_lambda_exact.ipynb``); other chapters use it to
turn claims about expectations (seed A.2, A.3, A.6, B.4, B.7) into checks that can fail.

On a small tabular MDP the value of a policy, its advantage, the discounted state visitation, the
objective ``J(theta)`` and its exact gradient are all solutions of linear systems. So is the
*expectation* of the sampled GAE policy-gradient estimator (seed eq. 5) for an arbitrary critic:
`expected_gae_gradient` gives it in closed form, and `gae_gradient_estimate` gives the
single-episode estimator whose Monte-Carlo average converges to it.

Conventions (NumPy, float64):

============== =========== ============================================================
name           shape       meaning
============== =========== ============================================================
``P``          ``(S,A,S)`` ``P[s, a, s']``, probability of moving to ``s'``
``R``          ``(S,A)``   ``R[s, a]``, the (deterministic) reward of taking ``a`` in ``s``
``initial``    ``(S,)``    distribution of ``s_0`` (no mass on terminal states)
``terminal``   ``(S,)``    boolean mask of the terminal states: absorbing, reward 0, value 0
``logits``     ``(S,A)``   ``theta``, the parameters of the tabular softmax policy
``policy``     ``(S,A)``   ``pi(a|s)``, each row a probability distribution
``values``     ``(S,)``    a critic ``V(s)``; its entries at terminal states are ignored (taken
                           as 0, the terminal extension of seed A.0')
============== =========== ============================================================

Every MDP here is **episodic**, in this precise sense: from every state, every policy that gives
every action a positive probability (every softmax policy, the only kind the gradient functions
use) reaches a terminal state with probability 1; `TabularMDP` checks this on construction. A
policy with zero probabilities may still loop forever (in `random_walk`, "right in state 2, left
in state 3"); every function that takes a ``policy`` rejects such a policy with a ``ValueError``,
and `random_mdp` builds MDPs where no policy can loop. So ``gamma = 1`` is allowed, the linear
systems below are solved on the non-terminal states only and are non-singular for every policy
they accept, and sampled episodes are finite. This is the seed's setting (A.0'). (Demanding
termination under *every* policy, deterministic ones included, would exclude the random walk,
whose deterministic policies can turn back and forth forever.) An episode
``s_0, a_0, r_0, ..., s_T`` ends at the first terminal state ``s_T``; time spent "in" the
terminal state afterwards is not part of the episode, so visitation counts are 0 at terminal
states.

The gradient is always taken with respect to the logits of a tabular softmax policy,
``pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])``, for which
``d log pi(a|s) / d theta[s, b] = 1[a = b] - pi(b|s)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ppo_edu._validate import finite_array, positive_int, unit_interval
from ppo_edu.advantages import compute_gae, gae

__all__ = [
    "TabularMDP",
    "Episode",
    "random_walk",
    "random_mdp",
    "softmax_policy",
    "uniform_policy",
    "score_function",
    "state_values",
    "action_values",
    "advantage_function",
    "discounted_visitation",
    "objective",
    "policy_gradient",
    "expected_gae_gradient",
    "sample_episodes",
    "gae_gradient_estimate",
    "gae_gradient_samples",
    "mc_z_scores",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_PROB_TOL = 1e-9  # tolerance on "sums to 1" and "is 0 or 1" for probabilities


def _frozen(arr: NDArray) -> NDArray:
    """A read-only copy, so a frozen dataclass really is frozen."""
    out = np.array(arr, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite episodic MDP with known dynamics (seed A.0': terminal states have value 0).

    Attributes:
        P: ``P[s, a, s']``, shape ``(S, A, S)``: transition probabilities; each ``P[s, a]`` is a
            distribution over next states.
        R: ``R[s, a]``, shape ``(S, A)``: the reward received after taking ``a`` in ``s``
            (deterministic given ``(s, a)``; it is also the expected reward).
        initial: shape ``(S,)``: distribution of the first state ``s_0``; it must put no
            probability on terminal states (every episode has at least one step).
        gamma: discount factor in [0, 1] of the objective ``J = E[sum_t gamma^t r_t]``;
            ``gamma = 1`` is allowed because every episode terminates.
        terminal: shape ``(S,)``, booleans: the terminal states. They must be absorbing
            (``P[s, a, s] = 1`` for every action) with zero reward; there must be at least one,
            and from every state one must be reachable with positive probability when every
            action has positive probability.

    Episodic, precisely: every policy that gives every action a positive probability (every
    softmax policy, the only kind the gradient functions use) reaches a terminal state with
    probability 1; this is checked here. A policy with zeros may still loop forever (in the
    random walk, "right in state 2, left in state 3"): the functions that take a ``policy``
    check it and raise a ``ValueError`` naming the states it never leaves. `random_mdp` builds
    MDPs where even that cannot happen.

    Raises:
        ValueError: on wrong shapes, NaN or inf, negative probabilities, rows that do not sum
            to 1, ``gamma`` outside [0, 1], terminal states that are not absorbing or have a
            non-zero reward, initial mass on a terminal state, or states from which no terminal
            state is reachable.
    """

    P: FloatArray
    R: FloatArray
    initial: FloatArray
    gamma: float
    terminal: NDArray[np.bool_]

    def __post_init__(self) -> None:
        P = finite_array(self.P, "P", ndim=3)
        S, A, S2 = P.shape
        if S < 2 or A < 1 or S2 != S:
            raise ValueError(
                f"P must have shape (S, A, S) with S >= 2 states and A >= 1 actions, got {P.shape}"
            )
        if np.any(P < 0):
            idx = tuple(int(i) for i in np.argwhere(P < 0)[0])
            raise ValueError(f"P must hold probabilities >= 0, got P{idx} = {P[idx]!r}")
        row_sums = P.sum(axis=2)
        if not np.allclose(row_sums, 1.0, rtol=0.0, atol=_PROB_TOL):
            s, a = (int(i) for i in np.argwhere(~np.isclose(row_sums, 1.0, rtol=0.0,
                                                            atol=_PROB_TOL))[0])
            raise ValueError(
                f"each row P[s, a, :] must sum to 1, got sum {row_sums[s, a]!r} at s={s}, a={a}"
            )
        R = finite_array(self.R, "R", ndim=2)
        if R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = {(S, A)} like P, got {R.shape}")
        mu = finite_array(self.initial, "initial", ndim=1)
        if mu.shape != (S,):
            raise ValueError(f"initial must have shape (S,) = {(S,)}, got {mu.shape}")
        if np.any(mu < 0) or not np.isclose(mu.sum(), 1.0, rtol=0.0, atol=_PROB_TOL):
            raise ValueError(
                f"initial must be a probability distribution (entries >= 0 summing to 1), "
                f"got sum {mu.sum()!r} and minimum {mu.min()!r}"
            )
        gamma = unit_interval(self.gamma, "gamma")
        term = np.asarray(self.terminal)
        if term.shape != (S,):
            raise ValueError(f"terminal must be a boolean mask of shape (S,) = {(S,)}, "
                             f"got shape {term.shape}")
        if term.dtype != np.bool_:
            if not np.issubdtype(term.dtype, np.number) or not np.all((term == 0) | (term == 1)):
                raise ValueError("terminal must hold booleans (or 0/1)")
            term = term.astype(bool)
        if not term.any():
            raise ValueError("terminal must mark at least one terminal state (the MDP is "
                             "episodic), got no True entry")
        for s in np.flatnonzero(term):
            if not np.allclose(P[s, :, s], 1.0, rtol=0.0, atol=_PROB_TOL):
                raise ValueError(f"terminal state {s} must be absorbing (P[{s}, a, {s}] = 1 for "
                                 f"every action a), got {P[s, :, s]}")
            if np.any(R[s] != 0.0):
                raise ValueError(f"terminal state {s} must have zero reward, got R[{s}] = {R[s]}")
        if np.any(mu[term] > 0):
            raise ValueError("initial must put no probability on terminal states (an episode "
                             f"has at least one step), got {mu[term]} on states "
                             f"{np.flatnonzero(term)}")
        stuck = _stuck_states(P.mean(axis=1), term)
        if stuck.size:
            raise ValueError(
                f"the MDP is not episodic: from states {stuck.tolist()} no terminal state can be "
                "reached, whatever the actions. Every policy that gives every action a positive "
                "probability (every softmax policy) must reach a terminal state with probability 1."
            )
        object.__setattr__(self, "P", _frozen(P))
        object.__setattr__(self, "R", _frozen(R))
        object.__setattr__(self, "initial", _frozen(mu))
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "terminal", _frozen(term))

    @property
    def n_states(self) -> int:
        """``S``, the number of states, terminal states included (``P.shape[0]``)."""
        return int(self.P.shape[0])

    @property
    def n_actions(self) -> int:
        """``A``, the number of actions."""
        return int(self.P.shape[1])

    @property
    def nonterminal(self) -> NDArray[np.bool_]:
        """Boolean mask of the non-terminal states, shape ``(S,)``."""
        return ~self.terminal

    def with_gamma(self, gamma: float) -> TabularMDP:
        """The same dynamics and rewards with another discount factor."""
        return TabularMDP(self.P, self.R, self.initial, gamma, self.terminal)


def _stuck_states(P_pi: FloatArray, terminal: NDArray[np.bool_]) -> IntArray:
    """States from which no terminal state is reachable on the graph ``s -> s'`` with
    ``P_pi[s, s'] > 0``: from those, the episode never ends. Empty means every state reaches a
    terminal state with positive probability within ``S`` steps, hence with probability 1.
    """
    reach = terminal.copy()
    edges = P_pi > 0.0
    while True:
        new_reach = reach | (edges & reach[None, :]).any(axis=1)
        if np.array_equal(new_reach, reach):
            return np.flatnonzero(~reach)
        reach = new_reach


@dataclass(frozen=True, eq=False)
class Episode:
    """One sampled episode ``s_0, a_0, r_0, s_1, ..., s_T`` ending at a terminal state.

    Attributes:
        states: shape ``(T+1,)``, ints: ``s_0, ..., s_T``; ``s_T`` is terminal, the others not.
        actions: shape ``(T,)``, ints: ``a_0, ..., a_{T-1}``.
        rewards: shape ``(T,)``, floats: ``r_t = R[s_t, a_t]``.
    """

    states: IntArray
    actions: IntArray
    rewards: FloatArray

    def __post_init__(self) -> None:
        s = np.asarray(self.states)
        a = np.asarray(self.actions)
        r = finite_array(self.rewards, "rewards", ndim=1)
        if s.ndim != 1 or a.ndim != 1 or not np.issubdtype(s.dtype, np.integer) \
                or not np.issubdtype(a.dtype, np.integer):
            raise ValueError("states and actions must be 1-D integer arrays")
        if not (s.shape[0] == a.shape[0] + 1 == r.shape[0] + 1) or a.shape[0] < 1:
            raise ValueError(
                f"an episode of T >= 1 steps needs states (T+1,), actions (T,), rewards (T,); "
                f"got {s.shape}, {a.shape}, {r.shape}"
            )
        object.__setattr__(self, "states", _frozen(s.astype(np.int64)))
        object.__setattr__(self, "actions", _frozen(a.astype(np.int64)))
        object.__setattr__(self, "rewards", _frozen(r))

    @property
    def length(self) -> int:
        """``T``, the number of steps (actions taken)."""
        return int(self.actions.shape[0])


# --------------------------------------------------------------------------- constructors


def random_walk(n_states: int = 5, gamma: float = 1.0) -> TabularMDP:
    """The random walk of Sutton and Barto (2018, example 6.2), with two actions.

    ``n_states`` non-terminal states in a row, plus one terminal state at each end, so the MDP
    has ``S = n_states + 2`` states. **Index 0 and index n_states + 1 are terminal**; the
    non-terminal states are 1, ..., n_states. Action 0 moves left, action 1 moves right
    (deterministic moves). Every episode starts in the middle state ``(n_states + 1) // 2``
    (for an even ``n_states``, the left one of the two middle states). The reward is +1 for
    stepping off the right end (from state n_states into state n_states + 1), 0 otherwise.

    Under the uniform policy with ``gamma = 1``, ``V(i) = i / (n_states + 1)`` for i = 1..n_states:
    the probability that a fair random walk from i reaches the right end before the left one.
    Every policy that gives both actions a positive probability terminates with probability 1;
    a deterministic policy that turns back and forth between two states does not (and is
    rejected by the functions that take a policy).

    Args:
        n_states: number of non-terminal states, ``>= 1``.
        gamma: discount factor in [0, 1].

    Returns:
        the MDP, with ``S = n_states + 2`` states and 2 actions.
    """
    n = positive_int(n_states, "n_states")
    S = n + 2
    P = np.zeros((S, 2, S))
    R = np.zeros((S, 2))
    for s in (0, S - 1):
        P[s, :, s] = 1.0
    for s in range(1, n + 1):
        P[s, 0, s - 1] = 1.0
        P[s, 1, s + 1] = 1.0
    R[n, 1] = 1.0
    initial = np.zeros(S)
    initial[(n + 1) // 2] = 1.0
    terminal = np.zeros(S, dtype=bool)
    terminal[[0, S - 1]] = True
    return TabularMDP(P, R, initial, gamma, terminal)


def random_mdp(n_states: int = 4, n_actions: int = 3, gamma: float = 0.9,
               seed: int = 0) -> TabularMDP:
    """A random episodic MDP: ``n_states`` non-terminal states plus one terminal state.

    The terminal state is the **last index**, ``n_states`` (so ``S = n_states + 1``). From every
    non-terminal state, every action terminates with a probability drawn uniformly in
    [0.1, 0.4], so every policy terminates with probability 1 and an episode lasts at most 10
    steps on average; the rest of the probability goes to the non-terminal states with
    Dirichlet(1) weights. Rewards ``R[s, a]`` are standard normal; the initial distribution is
    Dirichlet(1) over the non-terminal states.

    Args:
        n_states: number of non-terminal states, ``>= 1``.
        n_actions: number of actions, ``>= 1``.
        gamma: discount factor in [0, 1].
        seed: seed of the NumPy generator; the same seed gives the same MDP.

    Returns:
        the MDP, with ``S = n_states + 1`` states.
    """
    n = positive_int(n_states, "n_states")
    A = positive_int(n_actions, "n_actions")
    rng = np.random.default_rng(seed)
    S = n + 1
    p_end = rng.uniform(0.1, 0.4, size=(n, A))
    P = np.zeros((S, A, S))
    P[:n, :, :n] = (1.0 - p_end)[:, :, None] * rng.dirichlet(np.ones(n), size=(n, A))
    P[:n, :, n] = p_end
    P[n, :, n] = 1.0
    R = np.zeros((S, A))
    R[:n] = rng.normal(size=(n, A))
    initial = np.zeros(S)
    initial[:n] = rng.dirichlet(np.ones(n))
    terminal = np.zeros(S, dtype=bool)
    terminal[n] = True
    return TabularMDP(P, R, initial, gamma, terminal)


# --------------------------------------------------------------------------- policies


def softmax_policy(logits: ArrayLike) -> FloatArray:
    r"""The tabular softmax policy ``pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])``.

    Args:
        logits: ``theta``, shape ``(S, A)``, finite.

    Returns:
        ``pi``, shape ``(S, A)``, each row a distribution.
    """
    theta = finite_array(logits, "logits", ndim=2)
    z = theta - theta.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def uniform_policy(mdp: TabularMDP) -> FloatArray:
    """``pi(a|s) = 1/A`` for every state, shape ``(S, A)`` (the softmax of zero logits)."""
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def score_function(logits: ArrayLike, state: int, action: int) -> FloatArray:
    r"""``grad_theta log pi(action|state)`` for the tabular softmax policy, shape ``(S, A)``.

    .. math:: \frac{\partial \log\pi(a|s)}{\partial\theta_{s',b}} = 1[s' = s]\,
              \big(1[b = a] - \pi(b|s)\big).

    Only row ``state`` is non-zero. Its mean under the policy is 0:
    ``sum_a pi(a|s) score_function(logits, s, a) = 0`` (the baseline identity, seed A.2).

    Args:
        logits: ``theta``, shape ``(S, A)``.
        state: ``s``, an index in ``0..S-1``.
        action: ``a``, an index in ``0..A-1``.

    Returns:
        shape ``(S, A)``.
    """
    theta = finite_array(logits, "logits", ndim=2)
    S, A = theta.shape
    s = positive_int(state, "state", minimum=0)
    a = positive_int(action, "action", minimum=0)
    if s >= S or a >= A:
        raise ValueError(f"state must be < {S} and action < {A}, got state={s}, action={a}")
    out = np.zeros((S, A))
    out[s] = -softmax_policy(theta[s : s + 1])[0]
    out[s, a] += 1.0
    return out


def _check_policy(mdp: TabularMDP, policy: ArrayLike) -> FloatArray:
    pi = finite_array(policy, "policy", ndim=2)
    if pi.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"policy must have shape (S, A) = {(mdp.n_states, mdp.n_actions)}, "
                         f"got {pi.shape}")
    if np.any(pi < 0):
        raise ValueError(f"policy must hold probabilities >= 0, got minimum {pi.min()!r}")
    sums = pi.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=_PROB_TOL):
        s = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"each row of policy must sum to 1, got sum {sums[s]!r} in state {s}")
    stuck = _stuck_states(np.einsum("sa,sat->st", pi, mdp.P), mdp.terminal)
    if stuck.size:
        raise ValueError(f"policy never terminates from states {stuck.tolist()}: the actions it "
                         "takes there never lead to a terminal state (give every action a "
                         "positive probability, e.g. a softmax policy)")
    return pi


def _check_logits(mdp: TabularMDP, logits: ArrayLike) -> FloatArray:
    theta = finite_array(logits, "logits", ndim=2)
    if theta.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"logits must have shape (S, A) = {(mdp.n_states, mdp.n_actions)}, "
                         f"got {theta.shape}")
    return theta


def _check_values(mdp: TabularMDP, values: ArrayLike) -> FloatArray:
    v = finite_array(values, "values", ndim=1)
    if v.shape != (mdp.n_states,):
        raise ValueError(f"values must have shape (S,) = {(mdp.n_states,)}, got {v.shape}")
    # A terminal state is worth 0 whatever the critic outputs there (seed A.0'), exactly as
    # `compute_gae` ignores next_values on terminated steps.
    return np.where(mdp.terminal, 0.0, v)


# --------------------------------------------------------------------------- exact quantities


def _solve_nonterminal(mdp: TabularMDP, pi: FloatArray, discount: float,
                       rhs: FloatArray, transpose: bool = False) -> FloatArray:
    r"""Solve ``(I - discount P_pi) x = rhs`` on the non-terminal states; ``x = 0`` elsewhere.

    ``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']``. Restricted to non-terminal states this matrix is
    substochastic and every policy leaves it with probability 1, so ``I - discount P_pi`` is
    invertible for every discount in [0, 1], ``discount = 1`` included. With ``transpose``, solve
    ``x (I - discount P_pi) = rhs`` (a row vector: visitation).
    """
    nt = mdp.nonterminal
    P_pi = np.einsum("sa,sat->st", pi, mdp.P)[np.ix_(nt, nt)]
    M = np.eye(P_pi.shape[0]) - discount * P_pi
    x = np.zeros(mdp.n_states)
    x[nt] = np.linalg.solve(M.T if transpose else M, rhs[nt])
    return x


def state_values(mdp: TabularMDP, policy: ArrayLike) -> FloatArray:
    r"""``V^pi(s) = E[sum_t gamma^t r_t | s_0 = s]`` by a linear solve (Bellman equation).

    .. math:: V^\pi = r_\pi + \gamma P_\pi V^\pi \text{ on non-terminal states}, \qquad
              V^\pi = 0 \text{ on terminal states (seed A.0')},

    with ``r_pi(s) = sum_a pi(a|s) R[s, a]`` and ``P_pi(s, s') = sum_a pi(a|s) P[s, a, s']``.

    Args:
        mdp: the MDP (its ``gamma`` is used).
        policy: ``pi``, shape ``(S, A)``.

    Returns:
        ``V^pi``, shape ``(S,)``, 0 at terminal states.
    """
    pi = _check_policy(mdp, policy)
    r_pi = (pi * mdp.R).sum(axis=1)
    return _solve_nonterminal(mdp, pi, mdp.gamma, r_pi)


def action_values(mdp: TabularMDP, policy: ArrayLike) -> FloatArray:
    r"""``Q^pi(s, a) = R[s, a] + gamma sum_s' P[s, a, s'] V^pi(s')``, shape ``(S, A)``.

    0 at terminal states (zero reward, zero value).

    Args:
        mdp: the MDP (its ``gamma`` is used).
        policy: ``pi``, shape ``(S, A)``.

    Returns:
        ``Q^pi``, shape ``(S, A)``.
    """
    V = state_values(mdp, policy)
    return mdp.R + mdp.gamma * mdp.P @ V


def advantage_function(mdp: TabularMDP, policy: ArrayLike) -> FloatArray:
    r"""``A^pi(s, a) = Q^pi(s, a) - V^pi(s)``, shape ``(S, A)``; ``sum_a pi(a|s) A^pi(s, a) = 0``.

    Args:
        mdp: the MDP (its ``gamma`` is used).
        policy: ``pi``, shape ``(S, A)``.

    Returns:
        ``A^pi``, shape ``(S, A)``, 0 at terminal states.
    """
    pi = _check_policy(mdp, policy)
    V = state_values(mdp, pi)
    return mdp.R + mdp.gamma * mdp.P @ V - V[:, None]


def _visitation(mdp: TabularMDP, pi: FloatArray, discount: float) -> FloatArray:
    """``sum_t discount^t P(s_t = s)`` over the steps of the episode (0 at terminal states)."""
    return _solve_nonterminal(mdp, pi, discount, mdp.initial, transpose=True)


def discounted_visitation(mdp: TabularMDP, policy: ArrayLike) -> FloatArray:
    r"""``d^pi(s) = sum_t gamma^t P(s_t = s)``, the (unnormalised) discounted state visitation.

    .. math:: d^\pi = \mu + \gamma P_\pi^\top d^\pi \text{ on non-terminal states}, \qquad
              d^\pi(s) = 0 \text{ on terminal states},

    where ``mu`` is the initial distribution. The sum runs over the steps ``t = 0..T-1`` of the
    episode (the terminal ``s_T`` is not a step), so with ``gamma = 1`` it is the expected number
    of visits, and ``sum_s d^pi(s)`` is the expected (discounted) episode length. Not normalised.

    Args:
        mdp: the MDP (its ``gamma`` is used).
        policy: ``pi``, shape ``(S, A)``.

    Returns:
        ``d^pi``, shape ``(S,)``.
    """
    pi = _check_policy(mdp, policy)
    return _visitation(mdp, pi, mdp.gamma)


def objective(mdp: TabularMDP, logits: ArrayLike) -> float:
    r"""``J(theta) = E[sum_t gamma^t r_t] = sum_s mu(s) V^{pi_theta}(s)`` for the softmax policy.

    Args:
        mdp: the MDP (its ``gamma`` is used).
        logits: ``theta``, shape ``(S, A)``.

    Returns:
        ``J``, a float.
    """
    pi = softmax_policy(_check_logits(mdp, logits))
    return float(mdp.initial @ state_values(mdp, pi))


def policy_gradient(mdp: TabularMDP, logits: ArrayLike) -> FloatArray:
    r"""The exact gradient of `objective` with respect to the logits (policy gradient theorem).

    .. math:: \frac{\partial J}{\partial \theta_{s,b}}
              = \sum_{a} d^\pi(s)\, \pi(a|s)\, A^\pi(s,a)\, \frac{\partial \log\pi(a|s)}
                {\partial \theta_{s,b}} = d^\pi(s)\, \pi(b|s)\, A^\pi(s, b),

    the last step because ``d log pi(a|s)/d theta[s, b] = 1[a = b] - pi(b|s)`` and
    ``sum_a pi(a|s) A^pi(s, a) = 0``. This is the expectation of seed eq. 5 with the true
    advantage. 0 at terminal states (they are never a step of the episode).

    Args:
        mdp: the MDP.
        logits: ``theta``, shape ``(S, A)``.

    Returns:
        ``dJ/dtheta``, shape ``(S, A)``.
    """
    pi = softmax_policy(_check_logits(mdp, logits))
    d = _visitation(mdp, pi, mdp.gamma)
    return d[:, None] * pi * advantage_function(mdp, pi)


def _score_weighted(pi: FloatArray, G: FloatArray) -> FloatArray:
    """``sum_a pi(a|s) G(s,a) d log pi(a|s)/d theta[s,b] = pi(b|s) (G(s,b) - sum_a pi G)``."""
    return pi * (G - (pi * G).sum(axis=1, keepdims=True))


def expected_gae_gradient(mdp: TabularMDP, logits: ArrayLike, values: ArrayLike, gamma: float,
                          lam: float, discount_weighting: bool = True) -> FloatArray:
    r"""The exact expectation of the sampled GAE policy-gradient estimator, for any critic.

    The estimator (seed eq. 5; Schulman et al. 2016, eq. 16 in eq. 1) is, for one episode,

    .. math:: \hat g = \sum_{t=0}^{T-1} w_t \hat A_t^{GAE} \nabla_\theta \log\pi(a_t|s_t),
              \qquad \hat A_t^{GAE} = \sum_{n \ge 0} (\gamma\lambda)^n \delta_{t+n},
              \qquad \delta_k = r_k + \gamma V(s_{k+1}) - V(s_k),

    with ``w_t = gamma^t`` (``discount_weighting=True``) or ``w_t = 1`` (``False``: the
    practical estimator that drops the leading discount, seed B.7), and ``V`` the given critic
    (with ``V = 0`` at terminal states, so ``delta_k = 0`` after the end, seed A.0').

    Closed form. The expected TD error of ``(s, a)`` is
    ``delta(s, a) = R[s, a] + gamma sum_s' P[s, a, s'] V(s') - V(s)``; write
    ``delta_pi(s) = sum_a pi(a|s) delta(s, a)``. The expected TD error n steps after ``(s, a)`` is
    ``P[s, a] P_pi^(n-1) delta_pi``, so the expected GAE from ``(s, a)`` is

    .. math:: G(s, a) = \delta(s, a) + \gamma\lambda\, P[s, a]\,
              (I - \gamma\lambda P_\pi)^{-1} \delta_\pi

    (the geometric sum of matrix powers; solved on non-terminal states, invertible even for
    ``gamma * lam = 1`` because episodes terminate). By the Markov property
    ``E[A_t^GAE | s_t, a_t] = G(s_t, a_t)``, so

    .. math:: E[\hat g]_{s,b} = \nu(s) \sum_a \pi(a|s) G(s,a)\,
              \frac{\partial \log\pi(a|s)}{\partial\theta_{s,b}}
              = \nu(s)\, \pi(b|s) \Big(G(s,b) - \sum_a \pi(a|s) G(s,a)\Big),

    with ``nu(s) = sum_t w_t P(s_t = s)``: the ``gamma``-discounted visitation, or the expected
    number of visits when ``discount_weighting=False``.

    **The two gammas.** ``mdp.gamma`` is not used here: the MDP supplies only ``P``, ``R``, the
    initial distribution and the terminal states, and the argument ``gamma`` is the discount used
    everywhere in the estimator (the TD errors, ``gamma * lam``, and ``w_t``). Usually
    ``gamma = mdp.gamma``; then, with ``discount_weighting=True`` and
    ``values = state_values(mdp, pi)``, the result equals
    `policy_gradient` for every ``lam`` in [0, 1] (seed A.2, A.3), and with any critic it equals
    `policy_gradient` at ``lam = 1`` (the critic is then only a baseline, seed A.6). A
    ``gamma < mdp.gamma`` estimates the gradient of the ``gamma``-discounted objective
    ``objective(mdp.with_gamma(gamma), logits)`` in the same way: exactly at ``lam = 1``, and for
    every ``lam`` when ``values = state_values(mdp.with_gamma(gamma), pi)``.

    Args:
        mdp: the MDP.
        logits: ``theta``, shape ``(S, A)``.
        values: the critic ``V``, shape ``(S,)``; its entries at terminal states are ignored
            (a terminal state is worth 0 whatever the critic says, seed A.0').
        gamma: discount of the estimator, in [0, 1].
        lam: GAE's lambda, in [0, 1].
        discount_weighting: keep the leading ``gamma^t`` (True, the true gradient when the
            advantages are right) or drop it (False, seed B.7).

    Returns:
        ``E[g_hat]``, shape ``(S, A)``, 0 at terminal states.
    """
    theta = _check_logits(mdp, logits)
    V = _check_values(mdp, values)
    g = unit_interval(gamma, "gamma")
    lam = unit_interval(lam, "lam")
    pi = _check_policy(mdp, softmax_policy(theta))
    delta = mdp.R + g * mdp.P @ V - V[:, None]          # (S, A), 0 at terminal states
    delta_pi = (pi * delta).sum(axis=1)                  # (S,)
    H = _solve_nonterminal(mdp, pi, g * lam, delta_pi)   # expected GAE from a state, 0 terminal
    G = delta + g * lam * mdp.P @ H                      # expected GAE from (s, a)
    nu = _visitation(mdp, pi, g if discount_weighting else 1.0)
    return nu[:, None] * _score_weighted(pi, G)


# --------------------------------------------------------------------------- sampling


def sample_episodes(mdp: TabularMDP, policy: ArrayLike, n_episodes: int,
                    rng: np.random.Generator, max_steps: int = 10_000) -> list[Episode]:
    """Sample complete episodes with ``policy``, from ``s_0 ~ initial`` to a terminal state.

    The episodes are simulated side by side (vectorised over episodes); the same generator state
    gives the same episodes. Rewards are the deterministic ``R[s_t, a_t]``.

    Args:
        mdp: the MDP.
        policy: ``pi``, shape ``(S, A)``.
        n_episodes: number of episodes, ``>= 1``.
        rng: a ``numpy.random.Generator``, e.g. ``np.random.default_rng(0)``.
        max_steps: safety limit on the length of an episode.

    Returns:
        a list of `Episode`, each ending at its first terminal state.

    Raises:
        RuntimeError: if an episode has not terminated after ``max_steps`` steps (it is never
            silently truncated).
    """
    pi = _check_policy(mdp, policy)
    n = positive_int(n_episodes, "n_episodes")
    max_steps = positive_int(max_steps, "max_steps")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    pi_cdf = np.cumsum(pi, axis=1)
    P_cdf = np.cumsum(mdp.P, axis=2)
    A_hist: list[IntArray] = []
    s = np.minimum(np.searchsorted(np.cumsum(mdp.initial), rng.random(n), side="right"),
                   mdp.n_states - 1)
    cols = [s]
    lengths = np.full(n, -1, dtype=np.int64)
    active = ~mdp.terminal[s]
    t = 0
    while active.any():
        if t >= max_steps:
            raise RuntimeError(
                f"an episode did not terminate within max_steps={max_steps} steps; "
                "raise max_steps (episodes are never silently truncated)"
            )
        u_a = rng.random(n)
        u_s = rng.random(n)
        a = (u_a[:, None] >= pi_cdf[s]).sum(axis=1)
        a = np.minimum(a, mdp.n_actions - 1)
        s_next = (u_s[:, None] >= P_cdf[s, a]).sum(axis=1)
        s_next = np.minimum(s_next, mdp.n_states - 1)
        # Finished episodes stay where they are (their entries past T are never read).
        a = np.where(active, a, 0)
        s_next = np.where(active, s_next, s)
        A_hist.append(a)
        cols.append(s_next)
        t += 1
        just_ended = active & mdp.terminal[s_next]
        lengths[just_ended] = t
        active = active & ~just_ended
        s = s_next
    S_hist = np.stack(cols, axis=1)
    A_all = np.stack(A_hist, axis=1) if A_hist else np.empty((n, 0), dtype=np.int64)
    episodes = []
    for i in range(n):
        T = int(lengths[i])
        st = S_hist[i, : T + 1]
        ac = A_all[i, :T]
        episodes.append(Episode(st, ac, mdp.R[st[:-1], ac]))
    return episodes


def _check_episode(mdp: TabularMDP, episode: Episode) -> None:
    s = episode.states
    if np.any(s < 0) or np.any(s >= mdp.n_states) or np.any(episode.actions < 0) \
            or np.any(episode.actions >= mdp.n_actions):
        raise ValueError("episode holds states or actions outside the MDP")
    if not mdp.terminal[s[-1]] or np.any(mdp.terminal[s[:-1]]):
        raise ValueError("episode must end at its first terminal state (only s_T terminal)")


def gae_gradient_estimate(mdp: TabularMDP, policy_logits: ArrayLike, values: ArrayLike,
                          episode: Episode, gamma: float, lam: float,
                          discount_weighting: bool = True) -> FloatArray:
    r"""The single-episode GAE policy-gradient estimate whose expectation is
    `expected_gae_gradient` (seed eq. 5).

    .. math:: \hat g = \sum_{t=0}^{T-1} w_t \hat A_t^{GAE}\, \nabla_\theta \log\pi(a_t|s_t),
              \qquad w_t = \gamma^t \text{ or } 1,

    with ``A^GAE`` computed by `ppo_edu.advantages.gae` on the episode's rewards and the critic's
    values ``values[s_0], ..., values[s_T]`` (with ``values[s_T]`` taken as 0: ``s_T`` is terminal),
    and
    ``d log pi(a|s)/d theta[s, b] = 1[a = b] - pi(b|s)``.

    Args:
        mdp: the MDP the episode was sampled from.
        policy_logits: ``theta``, shape ``(S, A)``, of the policy that sampled the episode.
        values: the critic ``V``, shape ``(S,)``; entries at terminal states are ignored.
        episode: one `Episode` (e.g. from `sample_episodes`).
        gamma: discount of the estimator, in [0, 1] (see `expected_gae_gradient`).
        lam: GAE's lambda, in [0, 1].
        discount_weighting: keep the leading ``gamma^t`` (True) or drop it (False, seed B.7).

    Returns:
        ``g_hat``, shape ``(S, A)``.
    """
    theta = _check_logits(mdp, policy_logits)
    V = _check_values(mdp, values)
    g = unit_interval(gamma, "gamma")
    _check_episode(mdp, episode)
    pi = softmax_policy(theta)
    s, a = episode.states[:-1], episode.actions
    adv = gae(episode.rewards, V[episode.states], g, lam)
    T = a.shape[0]
    w = g ** np.arange(T) if discount_weighting else np.ones(T)
    score = -pi[s]                                       # (T, A): 1[a_t = b] - pi(b|s_t)
    score[np.arange(T), a] += 1.0
    out = np.zeros((mdp.n_states, mdp.n_actions))
    np.add.at(out, s, (w * adv)[:, None] * score)
    return out


def gae_gradient_samples(mdp: TabularMDP, policy_logits: ArrayLike, values: ArrayLike,
                         episodes: list[Episode], gamma: float, lam: float,
                         discount_weighting: bool = True) -> FloatArray:
    """`gae_gradient_estimate` for each episode, stacked: shape ``(n_episodes, S, A)``.

    Their mean is the Monte-Carlo estimate of `expected_gae_gradient`; their spread gives its
    variance. Computed for all episodes at once: the episodes are padded into the columns of a
    ``(T_max, n_episodes)`` rollout with ``terminated`` set on each last step, and the advantages
    come from `ppo_edu.advantages.compute_gae` (the trainer's GAE) instead of one `gae` call per
    episode; the tests check that both give the same numbers.
    """
    theta = _check_logits(mdp, policy_logits)
    V = _check_values(mdp, values)
    g = unit_interval(gamma, "gamma")
    if len(episodes) < 1:
        raise ValueError("episodes must hold at least one Episode")
    for ep in episodes:
        _check_episode(mdp, ep)
    pi = softmax_policy(theta)
    n = len(episodes)
    lengths = np.array([ep.length for ep in episodes])
    T_max = int(lengths.max())
    step = np.arange(T_max)[:, None]
    valid = step < lengths[None, :]                              # (T_max, n)
    rewards = np.zeros((T_max, n))
    values_t = np.zeros((T_max, n))
    next_values = np.zeros((T_max, n))
    states = np.zeros((T_max, n), dtype=np.int64)
    actions = np.zeros((T_max, n), dtype=np.int64)
    for i, ep in enumerate(episodes):
        T = ep.length
        rewards[:T, i] = ep.rewards
        values_t[:T, i] = V[ep.states[:-1]]
        next_values[:T, i] = V[ep.states[1:]]
        states[:T, i] = ep.states[:-1]
        actions[:T, i] = ep.actions
    terminated = step >= (lengths[None, :] - 1)                 # last step and the padding
    adv, _ = compute_gae(rewards, values_t, next_values, terminated,
                         np.zeros_like(terminated), g, lam)
    w = (g ** step if discount_weighting else np.ones((T_max, 1))) * valid
    coef = (w * adv)[valid]                                      # (n_steps,)
    ep_idx = np.broadcast_to(np.arange(n)[None, :], (T_max, n))[valid]
    s, a = states[valid], actions[valid]
    score = -pi[s]
    score[np.arange(s.shape[0]), a] += 1.0
    out = np.zeros((n, mdp.n_states, mdp.n_actions))
    np.add.at(out, (ep_idx, s), coef[:, None] * score)
    return out


def mc_z_scores(samples: ArrayLike, exact: ArrayLike) -> FloatArray:
    r"""How many standard errors the Monte-Carlo mean lies from the exact value, per component.

    .. math:: z = \frac{\bar x - x^\star}{\hat\sigma / \sqrt{n}}, \qquad
              \hat\sigma^2 = \frac{1}{n-1}\sum_i (x_i - \bar x)^2.

    By the central limit theorem each ``z`` is approximately standard normal when ``exact`` is
    the true expectation, so ``|z| <= 5`` is a generous test. A component whose samples are all
    equal gets ``z = 0`` if the mean equals ``exact`` (to 1e-12) and ``inf`` otherwise.

    Args:
        samples: shape ``(n, ...)``, ``n >= 2`` independent samples.
        exact: shape ``(...)``, the claimed expectation.

    Returns:
        ``z``, shape ``(...)``.
    """
    x = finite_array(samples, "samples")
    e = finite_array(exact, "exact")
    if x.ndim < 1 or x.shape[0] < 2 or x.shape[1:] != e.shape:
        raise ValueError(f"samples must have shape (n, *exact.shape) = (n, *{e.shape}) with "
                         f"n >= 2, got {x.shape}")
    diff = x.mean(axis=0) - e
    se = x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    zero = se == 0.0
    z = np.where(zero, 0.0, diff / np.where(zero, 1.0, se))
    return np.where(zero & (np.abs(diff) > 1e-12), np.inf, z)
