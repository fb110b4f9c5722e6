"""Checkers for the exercises of part C (the PPO trainer): advantage normalization, explained
variance, the Gaussian log-probability and linear annealing."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ppo_edu.agent import gaussian_log_prob
from ppo_edu.checks._harness import Case, Mistake, run_cases
from ppo_edu.train import explained_variance, linear_anneal, normalize_advantages

__all__ = [
    "check_normalize_advantages",
    "check_explained_variance",
    "check_gaussian_log_prob",
    "check_linear_anneal",
]

_F64 = torch.float64


def check_normalize_advantages(student_fn: Callable[[torch.Tensor], torch.Tensor]) -> bool:
    """Check ``student_fn(advantages) -> standardized advantages`` (1-D torch tensors) against
    `ppo_edu.train.normalize_advantages`: ``(A - mean) / (sample std + 1e-8)``."""
    g = torch.Generator().manual_seed(5)
    specs = [
        ("four advantages", torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=_F64),
         "subtract the mean, then divide by the sample standard deviation (torch's default)."),
        ("a random minibatch of 64", 4.0 + 3.0 * torch.randn(64, generator=g, dtype=_F64),
         "the result must have mean 0 and sample standard deviation 1 (up to eps)."),
        ("all advantages equal", torch.full((8,), 2.5, dtype=_F64),
         "a constant minibatch has standard deviation 0: add eps = 1e-8 to it so the "
         "answer is 0, not NaN."),
        ("two advantages", torch.tensor([0.0, 1.0], dtype=_F64),
         "the sample standard deviation of [0, 1] divides by n - 1 = 1."),
    ]
    cases = [Case(name, (adv,), ("advantages",), normalize_advantages(adv), hint)
             for name, adv, hint in specs]
    mistakes = [
        Mistake("you divide by the population standard deviation (n instead of n - 1); the "
                "library uses torch's default, the sample standard deviation",
                lambda a: (a - a.mean()) / (a.std(unbiased=False) + 1e-8)),
        Mistake("the mean is not subtracted", lambda a: a / (a.std() + 1e-8)),
        Mistake("you only subtract the mean and do not divide by the standard deviation",
                lambda a: a - a.mean()),
        Mistake("you divide by the variance instead of the standard deviation",
                lambda a: (a - a.mean()) / (a.var() + 1e-8)),
    ]
    return run_cases(student_fn, cases, fn_name="normalize_advantages", mistakes=mistakes,
                     rtol=1e-6, atol=1e-6)


def check_explained_variance(student_fn: Callable[[np.ndarray, np.ndarray], float]) -> bool:
    """Check ``student_fn(values, returns) -> float`` against
    `ppo_edu.train.explained_variance`: ``1 - Var(returns - values) / Var(returns)``."""
    rng = np.random.default_rng(11)
    ret = rng.normal(size=50)
    specs = [
        ("a perfect critic", ret.copy(), ret, "values equal to the returns explain everything: 1."),
        ("a noisy critic", ret + 0.5 * rng.normal(size=50), ret,
         "1 - Var(returns - values) / Var(returns), with NumPy's default np.var."),
        ("a constant critic at the mean", np.full(50, ret.mean()), ret,
         "a constant prediction explains nothing: 0."),
        ("a critic worse than a constant", -ret, ret,
         "explained variance can be negative: do not clip it at 0."),
        ("values off by a constant", ret + 3.0, ret,
         "a constant offset does not change Var(returns - values): still 1."),
    ]
    cases = [Case(name, (v, r), ("values", "returns"), explained_variance(v, r), hint)
             for name, v, r, hint in specs]
    mistakes = [
        Mistake("values and returns are swapped in the denominator: divide by Var(returns)",
                lambda v, r: 1.0 - np.var(r - v) / np.var(v)),
        Mistake("you return Var(returns - values) / Var(returns), the unexplained fraction",
                lambda v, r: np.var(r - v) / np.var(r)),
        Mistake("you used the mean squared error instead of the variance of the residual",
                lambda v, r: 1.0 - np.mean((r - v) ** 2) / np.var(r)),
        Mistake("the result is clipped at 0", lambda v, r: max(0.0, explained_variance(v, r))),
    ]
    return run_cases(student_fn, cases, fn_name="explained_variance", mistakes=mistakes)


def check_gaussian_log_prob(
    student_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
) -> bool:
    """Check ``student_fn(mean, log_std, actions) -> logp`` (shapes ``(B, d)``, ``(d,)``,
    ``(B, d)`` to ``(B,)``) against `ppo_edu.agent.gaussian_log_prob`."""
    g = torch.Generator().manual_seed(3)
    specs = [
        ("one action dimension, log sigma = 0.5",
         torch.tensor([[0.0], [1.0]], dtype=_F64), torch.tensor([0.5], dtype=_F64),
         torch.tensor([[0.0], [3.0]], dtype=_F64),
         "at a = mu the log-density is -log(sigma) - log(2 pi) / 2 = -1.4189."),
        ("three dimensions, different sigmas",
         torch.randn(5, 3, generator=g, dtype=_F64), torch.tensor([-1.0, 0.0, 0.5], dtype=_F64),
         torch.randn(5, 3, generator=g, dtype=_F64),
         "sum the log-densities of the dimensions: the result has one entry per sample."),
        ("actions far outside [-2, 2] (stored unclipped)",
         torch.zeros(3, 1, dtype=_F64), torch.tensor([0.3], dtype=_F64),
         torch.tensor([[-5.0], [2.5], [7.0]], dtype=_F64),
         "use the action as sampled, without clipping it to the environment's bounds."),
    ]
    cases = [Case(name, (m, s, a), ("mean", "log_std", "actions"), gaussian_log_prob(m, s, a),
                  hint) for name, m, s, a, hint in specs]
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    mistakes = [
        Mistake("the constant -log(2 pi) / 2 per dimension is missing",
                lambda m, s, a: gaussian_log_prob(m, s, a) + half_log_2pi * m.shape[-1]),
        Mistake("the -log sigma term is missing",
                lambda m, s, a: gaussian_log_prob(m, s, a) + s.sum()),
        Mistake("log_std was used as the standard deviation itself",
                lambda m, s, a: gaussian_log_prob(m, torch.log(s), a)),
        Mistake("the result is the mean over action dimensions instead of the sum",
                lambda m, s, a: gaussian_log_prob(m, s, a) / m.shape[-1]),
        Mistake("the action was clipped to [-2, 2] before the log-probability",
                lambda m, s, a: gaussian_log_prob(m, s, a.clamp(-2.0, 2.0))),
        Mistake("the squared error is divided by sigma instead of sigma^2",
                lambda m, s, a: (-0.5 * (a - m) ** 2 / s.exp() - s - half_log_2pi).sum(-1)),
    ]
    return run_cases(student_fn, cases, fn_name="gaussian_log_prob", mistakes=mistakes)


def check_linear_anneal(student_fn: Callable[[float, int, int], float]) -> bool:
    """Check ``student_fn(start, iteration, num_iterations) -> value`` (zero-based iteration)
    against `ppo_edu.train.linear_anneal`."""
    specs = [
        ("the first iteration", 1e-3, 0, 10, "at iteration 0 the value is the start value."),
        ("the middle", 1e-3, 5, 10, "half-way through, half the start value."),
        ("the last iteration", 0.2, 9, 10,
         "iterations are counted from 0: the last one (9 of 10) gets start / 10, not 0."),
        ("a single iteration", 3e-4, 0, 1, "with one iteration it is the start value."),
    ]
    cases = [Case(name, (s, i, n), ("start", "iteration", "num_iterations"),
                  linear_anneal(s, i, n), hint) for name, s, i, n, hint in specs]
    mistakes = [
        Mistake("the iteration is counted from 1: the value reaches 0 at the last iteration, "
                "which then does not learn", lambda s, i, n: s * (1.0 - (i + 1) / n)),
        Mistake("the schedule increases instead of decreasing", lambda s, i, n: s * i / n),
        Mistake("the division by the number of iterations is missing",
                lambda s, i, n: s * (1.0 - i)),
    ]
    return run_cases(student_fn, cases, fn_name="linear_anneal", mistakes=mistakes, atol=1e-12)
