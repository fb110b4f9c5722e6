"""Checkers for the exercises of part B (the clipped surrogate objective, seed B.5-B.6)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ppo_edu.checks._harness import Case, Mistake, run_cases
from ppo_edu.surrogate import clipped_objective, cpi_objective

__all__ = ["check_clipped_objective", "check_cpi_objective"]

_ARGS = ("logp_new", "logp_old", "advantages", "clip_eps")
_CPI_ARGS = ("logp_new", "logp_old", "advantages")


def _value_and_gradient(fn: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
    """Wrap ``fn(logp_new, logp_old, advantages, clip_eps)`` to return (value, d value/d logp_new).

    The gradient is what the optimizer sees, so a right value with a detached ratio fails too.
    A result that is not a differentiable torch tensor gets a gradient of zeros.
    """

    def wrapped(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                clip_eps: float) -> tuple[Any, Any]:
        x = logp_new.detach().clone().requires_grad_(True)
        out = fn(x, logp_old, advantages, clip_eps)
        zeros = torch.zeros_like(x.detach())
        if not isinstance(out, torch.Tensor):
            return out, zeros
        if out.numel() != 1 or not out.requires_grad:
            return out.detach(), zeros
        (grad,) = torch.autograd.grad(out.reshape(()), x, allow_unused=True)
        return out.detach(), zeros if grad is None else grad

    return wrapped


def _cases() -> list[Case]:
    """Inputs (float64 tensors) chosen so that every classic mistake fails on at least one."""
    f64 = torch.float64
    gen = torch.Generator().manual_seed(2024)
    table_ratio = torch.tensor([0.5, 1.1, 1.5, 0.5, 0.9, 1.5], dtype=f64)
    table_adv = torch.tensor([2.0, 2.0, 2.0, -2.0, -2.0, -1.0], dtype=f64)
    old4 = torch.log(torch.tensor([0.5, 0.2, 0.7, 0.1], dtype=f64))
    rand_old = -torch.rand(40, generator=gen, dtype=f64) * 3.0
    rand_new = rand_old + 0.5 * torch.randn(40, generator=gen, dtype=f64)
    rand_adv = torch.randn(40, generator=gen, dtype=f64) * 2.0
    specs = [
        ("the first pass over a batch: theta = theta_old, every ratio is 1",
         old4.clone(), old4.clone(), torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=f64), 0.2,
         "at theta = theta_old the objective is mean(A) and its gradient is A / N."),
        ("ratios inside the clip range",
         old4 + torch.tensor([0.05, -0.1, 0.1, -0.02], dtype=f64), old4.clone(),
         torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=f64), 0.2,
         "inside [1 - eps, 1 + eps] clipping changes nothing: the objective is mean(r A), "
         "with r = exp(logp_new - logp_old)."),
        ("the six cells of the case table (A > 0 and A < 0; r below, inside, above the range)",
         torch.log(table_ratio), torch.zeros(6, dtype=f64), table_adv, 0.2,
         "take the min of r A and clip(r, 1 - eps, 1 + eps) A for each sample, then the mean."),
        ("some advantages are exactly 0",
         torch.log(torch.tensor([0.3, 1.0, 2.0, 0.6, 1.6], dtype=f64)), torch.zeros(5, dtype=f64),
         torch.tensor([0.0, 0.0, 0.0, 1.5, -0.5], dtype=f64), 0.3,
         "a sample with A = 0 contributes 0 to the objective and to its gradient."),
        ("one sample, ratio far above the range, A < 0",
         torch.tensor([math.log(0.9)], dtype=f64), torch.tensor([math.log(0.3)], dtype=f64),
         torch.tensor([-1.0], dtype=f64), 0.1,
         "with A < 0 a ratio above 1 + eps is not clipped: the min picks r A."),
        ("a random batch of 40 samples, eps = 0.1", rand_new, rand_old, rand_adv, 0.1,
         "compare your per-sample terms with min(r A, clip(r, 1 - eps, 1 + eps) A)."),
    ]
    reference = _value_and_gradient(clipped_objective)
    return [
        Case(name, (ln, lo, a, eps), _ARGS, reference(ln, lo, a, eps),
             hint + " (The checker compares the value, item 0, and its gradient with respect "
             "to logp_new, item 1.)")
        for name, ln, lo, a, eps, hint in specs
    ]


def _ratio(ln: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    return torch.exp(ln - lo)


def _clip(r: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(r, 1 - eps, 1 + eps)


_MIN_PER_SAMPLE = ("the min is missing, or taken of the two means: L^CLIP needs the min per "
                   "sample, mean(min(r A, clip(r) A)), not mean(clip(r) A) nor "
                   "min(mean(r A), mean(clip(r) A))")

# classic wrong implementations of L^CLIP, each with the student's signature: (diagnosis, fn)
WRONG_IMPLEMENTATIONS: list[tuple[str, Callable[..., torch.Tensor]]] = [
    ("max instead of min (an optimistic, not a pessimistic, bound)",
     lambda ln, lo, a, e: torch.maximum(_ratio(ln, lo) * a, _clip(_ratio(ln, lo), e) * a).mean()),
    ("the advantage is clipped instead of the ratio",
     lambda ln, lo, a, e: torch.minimum(_ratio(ln, lo) * a, _ratio(ln, lo) * _clip(a, e)).mean()),
    ("the ratio is inverted: exp(logp_old - logp_new) instead of exp(logp_new - logp_old)",
     lambda ln, lo, a, e: torch.minimum(_ratio(lo, ln) * a, _clip(_ratio(lo, ln), e) * a).mean()),
    ("the sign is flipped: this is the loss to minimize, -L^CLIP, not the objective",
     lambda ln, lo, a, e: -clipped_objective(ln, lo, a, e)),
    ("the sum is taken instead of the mean",
     lambda ln, lo, a, e: torch.minimum(_ratio(ln, lo) * a, _clip(_ratio(ln, lo), e) * a).sum()),
    ("the ratio is never clipped (this is L^CPI, mean(r A))",
     lambda ln, lo, a, e: (_ratio(ln, lo) * a).mean()),
    (_MIN_PER_SAMPLE,
     lambda ln, lo, a, e: (_clip(_ratio(ln, lo), e) * a).mean()),
    (_MIN_PER_SAMPLE,
     lambda ln, lo, a, e: torch.minimum((_ratio(ln, lo) * a).mean(),
                                        (_clip(_ratio(ln, lo), e) * a).mean())),
    ("the exp is missing: the log-ratio logp_new - logp_old is used as the ratio",
     lambda ln, lo, a, e: torch.minimum((ln - lo) * a, _clip(ln - lo, e) * a).mean()),
    ("the clip range is wrong: the ratio must be clipped to [1 - eps, 1 + eps]",
     lambda ln, lo, a, e: torch.minimum(_ratio(ln, lo) * a,
                                        torch.clamp(_ratio(ln, lo), 0.0, 1 + e) * a).mean()),
    ("the clip range is wrong: the ratio must be clipped to [1 - eps, 1 + eps]",
     lambda ln, lo, a, e: torch.minimum(_ratio(ln, lo) * a,
                                        torch.clamp(_ratio(ln, lo), -e, e) * a).mean()),
    ("the ratio is detached: the value is right but no gradient reaches logp_new",
     lambda ln, lo, a, e: clipped_objective(ln.detach(), lo, a, e)),
]


def check_clipped_objective(student_fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``student_fn(logp_new, logp_old, advantages, clip_eps) -> scalar tensor`` (seed B.5).

    The student's function receives float64 torch tensors of shape ``(N,)`` and a float
    ``clip_eps``, and must return ``L^CLIP = mean(min(r A, clip(r, 1-eps, 1+eps) A))`` with
    ``r = exp(logp_new - logp_old)`` as a 0-D tensor, differentiable with respect to
    ``logp_new``. Both the value and its gradient are compared with
    `ppo_edu.surrogate.clipped_objective`; the classic mistakes are named when they match.

    Returns True if every case passed; prints the first failing case otherwise.
    """
    if not callable(student_fn):
        return run_cases(student_fn, [], fn_name="clipped_objective")
    mistakes = [Mistake(desc, _value_and_gradient(fn))
                for desc, fn in WRONG_IMPLEMENTATIONS]
    return run_cases(_value_and_gradient(student_fn), _cases(), fn_name="clipped_objective",
                     mistakes=mistakes)


# classic wrong implementations of L^CPI, each with the student's signature: (diagnosis, fn)
WRONG_CPI_IMPLEMENTATIONS: list[tuple[str, Callable[..., torch.Tensor]]] = [
    ("the ratio is inverted: exp(logp_old - logp_new) instead of exp(logp_new - logp_old)",
     lambda ln, lo, a: (_ratio(lo, ln) * a).mean()),
    ("the sign is flipped: this is the loss to minimize, -L^CPI, not the objective",
     lambda ln, lo, a: -cpi_objective(ln, lo, a)),
    ("the sum is taken instead of the mean",
     lambda ln, lo, a: (_ratio(ln, lo) * a).sum()),
    ("the exp is missing: the log-ratio logp_new - logp_old is used as the ratio",
     lambda ln, lo, a: ((ln - lo) * a).mean()),
    ("the ratio is detached: the value is right but no gradient reaches logp_new (at "
     "theta = theta_old the gradient must be the policy gradient mean(A grad log pi))",
     lambda ln, lo, a: cpi_objective(ln.detach(), lo, a)),
    ("logp_new is used without the ratio: mean(logp_new * A) has the right gradient at "
     "theta = theta_old only, and the wrong value",
     lambda ln, lo, a: (ln * a).mean()),
]


def _cpi_value_and_gradient(fn: Callable[..., Any]) -> Callable[..., tuple[Any, Any]]:
    """`_value_and_gradient` for a function of (logp_new, logp_old, advantages)."""
    inner = _value_and_gradient(lambda ln, lo, a, _eps: fn(ln, lo, a))
    return lambda ln, lo, a: inner(ln, lo, a, 0.0)


def _cpi_cases() -> list[Case]:
    cases = []
    for case in _cases():
        ln, lo, a, _eps = case.args
        hint = ("L^CPI = mean(r A) with r = exp(logp_new - logp_old), differentiable with "
                "respect to logp_new. (The checker compares the value, item 0, and its gradient "
                "with respect to logp_new, item 1.)")
        cases.append(Case(case.name.replace(", eps = 0.1", ""), (ln, lo, a), _CPI_ARGS,
                          _cpi_value_and_gradient(cpi_objective)(ln, lo, a), hint))
    return cases


def check_cpi_objective(student_fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``student_fn(logp_new, logp_old, advantages) -> scalar tensor`` (seed B.4).

    The student's function receives float64 torch tensors of shape ``(N,)`` and must return
    ``L^CPI = mean(r A)`` with ``r = exp(logp_new - logp_old)`` as a 0-D tensor, differentiable
    with respect to ``logp_new``. Value and gradient are compared with
    `ppo_edu.surrogate.cpi_objective`; the classic mistakes are named when they match.

    Returns True if every case passed; prints the first failing case otherwise.
    """
    if not callable(student_fn):
        return run_cases(student_fn, [], fn_name="cpi_objective")
    mistakes = [Mistake(desc, _cpi_value_and_gradient(fn))
                for desc, fn in WRONG_CPI_IMPLEMENTATIONS]
    return run_cases(_cpi_value_and_gradient(student_fn), _cpi_cases(), fn_name="cpi_objective",
                     mistakes=mistakes)
