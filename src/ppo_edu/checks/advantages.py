"""Checkers for the exercises of part A (TD errors, n-step advantages, GAE)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ppo_edu.advantages import gae, lambda_weighted_advantage, n_step_advantage, td_errors
from ppo_edu.checks._harness import Case, Mistake, run_cases

__all__ = [
    "check_td_errors",
    "check_n_step_advantage",
    "check_gae",
    "check_lambda_weighted_advantage",
]

_TRAJ_ARGS = ("rewards", "values", "gamma")


def _trajectory_cases(reference: Callable[..., np.ndarray]) -> list[Case]:
    """Trajectories every part-A checker uses: (rewards, values, gamma) with edge cases."""
    rng = np.random.default_rng(2024)
    specs = [
        ("a 4-step episode that terminated (V(s_T) = 0)",
         np.array([1.0, 0.0, 2.0, -1.0]), np.array([0.5, 1.5, -0.5, 2.0, 0.0]), 0.9,
         "the last entry of values is V(s_T); it is 0 here because s_T is terminal."),
        ("a length-1 episode", np.array([3.0]), np.array([1.0, 0.0]), 0.99,
         "an episode of one step has one TD error: r(0) + gamma V(s_1) - V(s_0)."),
        ("gamma = 0", np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5, 0.5]), 0.0,
         "with gamma = 0 the future does not count: delta_k = r(k) - V(s_k)."),
        ("gamma = 1", np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0, 0.0]), 1.0,
         "with gamma = 1 nothing is discounted."),
        ("a truncated episode (time limit): V(s_T) is not 0",
         np.array([1.0, 1.0, 1.0]), np.array([2.0, 3.0, 4.0, 5.0]), 0.9,
         "s_T is not terminal here: bootstrap with values[T], do not replace it by 0."),
        ("a random 20-step trajectory", rng.normal(size=20), rng.normal(size=21), 0.97,
         "compare your answer with the expected one index by index."),
    ]
    return [
        Case(name, (r, v, g), _TRAJ_ARGS, reference(r, v, g), hint)
        for name, r, v, g, hint in specs
    ]


def check_td_errors(student_fn: Callable[..., np.ndarray]) -> bool:
    """Check ``student_fn(rewards, values, gamma) -> delta`` against `td_errors` (seed A.0).

    Returns True if every case passed; prints the first failing case otherwise.
    """
    mistakes = [
        Mistake("the bootstrap V(s_T) is replaced by 0, as if every episode terminated",
                lambda r, v, g: td_errors(r, np.append(v[:-1], 0.0), g)),
        Mistake("the discount multiplies V(s_k) instead of V(s_{k+1})",
                lambda r, v, g: r + v[1:] - g * v[:-1]),
        Mistake("V(s_k) is subtracted from the wrong side (delta = V(s_k) - r - gamma V(s_{k+1}))",
                lambda r, v, g: -td_errors(r, v, g)),
        Mistake("the values are shifted by one step (V(s_{k+1}) used as V(s_k))",
                lambda r, v, g: r + g * np.append(v[2:], 0.0) - v[1:]),
    ]
    return run_cases(student_fn, _trajectory_cases(td_errors), fn_name="td_errors",
                     mistakes=mistakes)


_GAE_ARGS = ("rewards", "values", "gamma", "lam")
_N_STEP_ARGS = ("rewards", "values", "gamma", "n")

# The checkers below accept float32 answers (a student's torch code uses float32 by default):
# float32 rounding on these cases stays below 1e-6, every classic mistake is off by far more.
_RTOL = 1e-5
_ATOL = 1e-5

_GAE_RECIPE = (
    "Recall: delta_t = r(t) + gamma V(s_{t+1}) - V(s_t); then, from the last step back, "
    "A_{T-1} = delta_{T-1} and A_t = delta_t + gamma lam A_{t+1}. Return one value per step, "
    "in time order."
)
_MIXTURE_RECIPE = (
    "Recall seed eq. 3 for a finite episode: with N = T - t, A_t = sum_{n=1}^{N-1} "
    "(1 - lam) lam^(n-1) A_t^n + lam^(N-1) A_t^N. Return one value per step, in time order."
)
_N_STEP_RECIPE = (
    "Recall: A_t^n = sum_{k=t}^{min(t+n, T)-1} gamma^(k-t) delta_k; near the end of the episode "
    "the sum stops at the last step (there is no delta_k for k >= T). Return one value per "
    "step t = 0, ..., T-1, in time order."
)


def _lambda_cases(reference: Callable[..., np.ndarray], recipe: str = _GAE_RECIPE) -> list[Case]:
    """The trajectories of `_trajectory_cases`, each with lam = 0.8, then lam = 0 and lam = 1.

    Case names and hints say which edge the case is about; ``reference(rewards, values, gamma,
    lam)`` gives the expected answer. The lam = 0.8 cases add ``recipe`` (how the right answer
    is computed) to the trajectory's hint.
    """
    lam_hints = {
        0.8: "",
        0.0: "with lam = 0 only the first TD error counts: the answer is delta_t.",
        1.0: "with lam = 1 nothing is cut off by lambda: the answer is the discounted return "
             "(bootstrapped with values[T]) minus V(s_t).",
    }
    cases = []
    for traj in _trajectory_cases(td_errors):
        r, v, g = traj.args
        for lam, lam_hint in lam_hints.items():
            cases.append(Case(f"{traj.name}, lam = {lam:g}", (r, v, g, lam), _GAE_ARGS,
                              reference(r, v, g, lam), lam_hint or f"{traj.hint} {recipe}"))
    return cases


def _n_step_cases() -> list[Case]:
    """The trajectories of `_trajectory_cases`, each with n = 2, n = 1 and n larger than T."""
    n_hints = {
        2: "",  # the trajectory's hint and the recipe
        1: "with n = 1 the n-step advantage is the TD error delta_t.",
        50: "n is longer than the episode: the TD errors after the last step are 0, so the sum "
            "stops at step T-1 and the bootstrap values[T] is discounted by gamma^(T-t).",
    }
    cases = []
    for traj in _trajectory_cases(td_errors):
        r, v, g = traj.args
        for n, n_hint in n_hints.items():
            cases.append(Case(f"{traj.name}, n = {n}", (r, v, g, n), _N_STEP_ARGS,
                              n_step_advantage(r, v, g, n),
                              n_hint or f"{traj.hint} {_N_STEP_RECIPE}"))
    return cases


def _discounted_tail_sums(delta: np.ndarray, factor: float, shift: int = 0) -> np.ndarray:
    """``sum_{j>=0} factor^(j+shift) delta_{t+j}`` for every t, by a backward pass."""
    out = np.empty_like(delta)
    running = 0.0
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + factor * running
        out[t] = running
    return out * factor**shift


def _gae_mistakes() -> list[Mistake]:
    """Classic wrong GAE implementations, shared by `check_gae` and
    `check_lambda_weighted_advantage` (both compute the same numbers, seed eq. 3 = eq. 4)."""

    def no_bootstrap(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(r, np.append(v[:-1], 0.0), g, lam)

    def swapped(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(r, v, lam, g)

    def lam_only(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return _discounted_tail_sums(td_errors(r, v, g), lam)

    def gamma_only(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return _discounted_tail_sums(td_errors(r, v, g), g)

    def discount_first_term(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return _discounted_tail_sums(td_errors(r, v, g), g * lam, shift=1)

    def stored_before_update(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        a = gae(r, v, g, lam)
        return np.append(a[1:], 0.0)

    def reward_shifted_later(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(np.append(r[1:], 0.0), v, g, lam)

    def reward_shifted_earlier(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(np.append(0.0, r[:-1]), v, g, lam)

    def chain_starts_at_bootstrap(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        delta = td_errors(r, v, g)
        out = np.empty_like(delta)
        running = v[-1]
        for t in range(delta.shape[0] - 1, -1, -1):
            running = delta[t] + g * lam * running
            out[t] = running
        return out

    def forward_pass(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        delta = td_errors(r, v, g)
        out = np.empty_like(delta)
        running = 0.0
        for t in range(delta.shape[0]):
            running = delta[t] + g * lam * running
            out[t] = running
        return out

    def returns_instead(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(r, v, g, lam) + v[:-1]

    def reversed_order(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return gae(r, v, g, lam)[::-1]

    def power_from_start(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        # sum_{k>=t} (gamma lam)^k delta_k: the power counts from the episode's start
        delta = td_errors(r, v, g)
        return _discounted_tail_sums(delta * (g * lam) ** np.arange(len(delta)), 1.0)

    def one_minus_lam_kept(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        return (1.0 - lam) * gae(r, v, g, lam)

    def tail_weight_power_n(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        T = len(r)
        A = np.stack([n_step_advantage(r, v, g, n) for n in range(1, T + 1)])
        out = np.empty(T)
        for t in range(T):
            N = T - t
            w = (1.0 - lam) * lam ** np.arange(N, dtype=float)
            w[-1] = lam**N
            out[t] = w @ A[:N, t]
        return out

    def tail_weight_lost(r: np.ndarray, v: np.ndarray, g: float, lam: float) -> np.ndarray:
        T = len(r)
        out = np.empty(T)
        for t in range(T):
            N = T - t
            w = (1.0 - lam) * lam ** np.arange(N)
            out[t] = sum(w[n - 1] * n_step_advantage(r, v, g, n)[t] for n in range(1, N + 1))
        return out

    return [
        Mistake("the bootstrap V(s_T) is replaced by 0, as if every episode terminated",
                no_bootstrap),
        Mistake("gamma and lam are swapped", swapped),
        Mistake("the TD errors are weighted by lam^n instead of (gamma * lam)^n", lam_only),
        Mistake("the TD errors are weighted by gamma^n instead of (gamma * lam)^n "
                "(lambda forgotten)", gamma_only),
        Mistake("the discount is off by one: delta_{t+n} is weighted by (gamma * lam)^(n+1) "
                "instead of (gamma * lam)^n", discount_first_term),
        Mistake("the estimate is stored one step late: A_t gets the value of A_{t+1}",
                stored_before_update),
        Mistake("the rewards are shifted by one step: r(t+1) is used where r(t) belongs",
                reward_shifted_later),
        Mistake("the rewards are shifted by one step: r(t-1) is used where r(t) belongs",
                reward_shifted_earlier),
        Mistake("the backward recursion starts from V(s_T) instead of 0 (the bootstrap is "
                "already inside the last TD error)", chain_starts_at_bootstrap),
        Mistake("the recursion runs forwards in time; it must run from the last step back",
                forward_pass),
        Mistake("the answer is the lambda-return A_t + V(s_t), not the advantage A_t",
                returns_instead),
        Mistake("the weights (1 - lam) lam^(n-1) are cut at the end of the episode: the tail "
                "weight lam^(N-1) must go on the last n-step advantage", tail_weight_lost),
        Mistake("the answer is in reverse time order: a loop that runs backwards and appends "
                "must reverse its list at the end (or write into out[t])", reversed_order),
        Mistake("the power counts from the start of the episode, (gamma * lam)^k, instead of "
                "from the current step, (gamma * lam)^(k-t)", power_from_start),
        Mistake("the factor (1 - lam) is kept in front of the sum of TD errors; it belongs to "
                "the mixture of n-step advantages (seed eq. 3) and cancels in seed eq. 4",
                one_minus_lam_kept),
        Mistake("the tail weight is lam^N; the weights from n = N on add up to lam^(N-1)",
                tail_weight_power_n),
    ]


def check_gae(student_fn: Callable[..., np.ndarray]) -> bool:
    """Check ``student_fn(rewards, values, gamma, lam) -> advantages`` against `gae` (seed A.5).

    The cases are the trajectories of `check_td_errors` (a length-1 episode, gamma = 0 and 1, a
    truncated episode with a non-zero bootstrap value, ...), each with lam = 0.8, 0 and 1.
    Answers are compared with a tolerance of 1e-5 (relative and absolute), so a float32 answer,
    e.g. from torch, passes. Returns True if every case passed; prints the first failing case
    otherwise.
    """
    return run_cases(student_fn, _lambda_cases(gae), fn_name="gae", mistakes=_gae_mistakes(),
                     rtol=_RTOL, atol=_ATOL)


def check_lambda_weighted_advantage(student_fn: Callable[..., np.ndarray]) -> bool:
    """Check ``student_fn(rewards, values, gamma, lam)`` against `lambda_weighted_advantage`.

    The lambda-weighted mixture of n-step advantages (seed A.4, eq. 3) with the finite-episode
    tail weight; same cases and tolerance as `check_gae`. Returns True if every case passed.
    """
    return run_cases(student_fn, _lambda_cases(lambda_weighted_advantage, _MIXTURE_RECIPE),
                     fn_name="lambda_weighted_advantage", mistakes=_gae_mistakes(),
                     rtol=_RTOL, atol=_ATOL)


def check_n_step_advantage(student_fn: Callable[..., np.ndarray]) -> bool:
    """Check ``student_fn(rewards, values, gamma, n) -> A^n`` against `n_step_advantage` (A.1).

    The cases are the trajectories of `check_td_errors`, each with n = 2, n = 1 and n = 50
    (longer than every episode); float32 answers pass (tolerance 1e-5). Returns True if every
    case passed.
    """

    def direct(r: np.ndarray, v: np.ndarray, g: float, n: int, *, bootstrap: bool = True,
               first_power: int = 0, rewards: np.ndarray | None = None) -> np.ndarray:
        # sum_{k=t}^{min(t+n, T)-1} gamma^(k-t+first_power) delta_k with optional variations
        r = np.asarray(r if rewards is None else rewards, dtype=float)
        v = np.asarray(v, dtype=float) if bootstrap else np.append(v[:-1], 0.0)
        delta = td_errors(r, v, g)
        T = len(delta)
        return np.array([sum(g ** (k - t + first_power) * delta[k]
                             for k in range(t, min(t + n, T))) for t in range(T)])

    def eq1_no_cut(r: np.ndarray, v: np.ndarray, g: float, n: int) -> np.ndarray:
        # seed eq. 1 used beyond the end: V(s_{t+n}) taken as 0 when t + n > T
        T = len(r)
        out = np.empty(T)
        for t in range(T):
            m = min(n, T - t)
            boot = g**n * v[t + n] if t + n <= T else 0.0
            out[t] = sum(g**j * r[t + j] for j in range(m)) + boot - v[t]
        return out

    def bootstrap_full_power(r: np.ndarray, v: np.ndarray, g: float, n: int) -> np.ndarray:
        # seed eq. 1 near the end with values[T] but still discounted by gamma^n
        T = len(r)
        out = np.empty(T)
        for t in range(T):
            m = min(n, T - t)
            out[t] = sum(g**j * r[t + j] for j in range(m)) + g**n * v[t + m] - v[t]
        return out

    def power_from_start(r: np.ndarray, v: np.ndarray, g: float, n: int) -> np.ndarray:
        delta = td_errors(r, v, g)
        T = len(delta)
        return np.array([sum(g**k * delta[k] for k in range(t, min(t + n, T))) for t in range(T)])

    def bootstrap_undiscounted(r: np.ndarray, v: np.ndarray, g: float, n: int) -> np.ndarray:
        T = len(r)
        out = np.empty(T)
        for t in range(T):
            m = min(n, T - t)
            out[t] = sum(g**j * r[t + j] for j in range(m)) + g ** (m - 1) * v[t + m] - v[t]
        return out

    mistakes = [
        Mistake("the bootstrap V(s_T) is replaced by 0, as if every episode terminated",
                lambda r, v, g, n: direct(r, v, g, n, bootstrap=False)),
        Mistake("the discount is off by one: delta_k is weighted by gamma^(k-t+1) instead of "
                "gamma^(k-t)", lambda r, v, g, n: direct(r, v, g, n, first_power=1)),
        Mistake("only n-1 TD errors are summed (the sum must run from k = t to t+n-1)",
                lambda r, v, g, n: n_step_advantage(r, v, g, n - 1) if n > 1 else 0 * r),
        Mistake("n+1 TD errors are summed (the sum must run from k = t to t+n-1)",
                lambda r, v, g, n: n_step_advantage(r, v, g, n + 1)),
        Mistake("the rewards are shifted by one step: r(t+1) is used where r(t) belongs",
                lambda r, v, g, n: direct(r, v, g, n, rewards=np.append(r[1:], 0.0))),
        Mistake("the rewards are shifted by one step: r(t-1) is used where r(t) belongs",
                lambda r, v, g, n: direct(r, v, g, n, rewards=np.append(0.0, r[:-1]))),
        Mistake("near the end of the episode V(s_{t+n}) is taken as 0; the sum must stop at the "
                "last step and use the bootstrap values[T]", eq1_no_cut),
        Mistake("the bootstrap value is discounted by gamma^(n-1) instead of gamma^n",
                bootstrap_undiscounted),
        Mistake("near the end of the episode the bootstrap values[T] is discounted by gamma^n; "
                "only T - t steps remain, so its discount is gamma^(T-t)", bootstrap_full_power),
        Mistake("the answer is in reverse time order: a loop that runs backwards and appends "
                "must reverse its list at the end (or write into out[t])",
                lambda r, v, g, n: n_step_advantage(r, v, g, n)[::-1]),
        Mistake("the discount counts from the start of the episode, gamma^k, instead of from "
                "the current step, gamma^(k-t)", power_from_start),
        Mistake("the answer is the n-step return G_t^(n) = A_t^n + V(s_t), not the advantage",
                lambda r, v, g, n: n_step_advantage(r, v, g, n) + np.asarray(v)[:-1]),
    ]
    return run_cases(student_fn, _n_step_cases(), fn_name="n_step_advantage",
                     mistakes=mistakes, rtol=_RTOL, atol=_ATOL)
