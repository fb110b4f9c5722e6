"""The importance-sampling surrogate and its clipped version (seed part B, PyTorch).

The book's part "Importance sampling and clipping" derives every function here: chapter
"Importance sampling" (seed B.1-B.4) the ratio and ``L^CPI``, chapter "Clipping and the min"
(seed B.5-B.7) ``L^CLIP``, its zero-gradient set and the two diagnostics the trainer logs.
`tests/test_surrogate.py` checks each claim with autograd and on the exact tabular oracle.

Conventions (all inputs are 1-D torch tensors of one shape ``(N,)``, one entry per sample of the
batch or minibatch; floating point, e.g. float32 or float64):

============== ======== ===============================================================
name           shape    meaning
============== ======== ===============================================================
logp_new       ``(N,)`` ``log pi_theta(a_t|s_t)`` under the policy being trained
logp_old       ``(N,)`` ``log pi_old(a_t|s_t)``, stored when the batch was sampled
advantages     ``(N,)`` ``A_t``, e.g. GAE computed with the old critic (constants)
ratio          ``(N,)`` ``r_t(theta) = pi_theta(a_t|s_t) / pi_old(a_t|s_t) >= 0``
clip_eps       scalar   PPO's epsilon, in the open interval (0, 1)
============== ======== ===============================================================

The objectives are *to be maximized* (a trainer minimizes their negative). They are means over
the samples: the leading ``gamma^t`` of seed B.4/B.5 is dropped, as in practice (seed B.7).

Large log-ratios. ``exp(logp_new - logp_old)`` overflows to ``inf`` for a log-ratio above about
88 (float32) or 709 (float64), and ``inf * 0`` is NaN. So every function here evaluates the ratio
from the log-ratio capped from above at ``LOG_RATIO_MAX = 20`` (a ratio of about ``4.9e8``): the
value is ``exp(min(log_ratio, 20))`` and its gradient is that value times the gradient of the
log-ratio (a straight-through cap: the direction of the gradient is kept, its size bounded).
Below the cap, values and gradients are exact. Very negative log-ratios need no cap: the ratio
underflows to 0, with gradient 0. In float16 (largest value 65504, so ``exp`` overflows above a
log-ratio of about 11) the cap is lowered to 10 for the same reason; float32, float64 and
bfloat16 use ``LOG_RATIO_MAX``. Such ratios mean the policy has moved absurdly far from the
one that sampled; `approx_kl` is how a trainer notices that earlier.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

__all__ = [
    "LOG_RATIO_MAX",
    "probability_ratio",
    "cpi_objective",
    "clipped_objective",
    "clip_zero_gradient_mask",
    "approx_kl",
    "clip_fraction",
]

LOG_RATIO_MAX: float = 20.0
"""Upper cap on ``logp_new - logp_old`` before ``exp`` (see the module docstring)."""


# --------------------------------------------------------------------------- input checks


def _tensor(x: object, name: str) -> Tensor:
    """Check that ``x`` is a non-empty 1-D floating-point tensor (no value check)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a 1-D torch tensor, got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per sample), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got an empty tensor")
    return x


def _same_shape(x: Tensor, name: str, ref: Tensor, ref_name: str) -> None:
    if x.shape != ref.shape:
        raise ValueError(f"{name} must have the same shape as {ref_name} {tuple(ref.shape)}, "
                         f"got {tuple(x.shape)} (no broadcasting)")


def _check_finite(**named: Tensor) -> None:
    """One reduction (one device sync) for all inputs; name the culprit only when one fails."""
    ok = torch.stack([torch.isfinite(t).all() for t in named.values()]).all()
    if bool(ok):
        return
    for name, t in named.items():
        if not bool(torch.isfinite(t).all()):
            bad = int(torch.nonzero(~torch.isfinite(t))[0, 0])
            raise ValueError(f"{name} must be finite, got {t[bad].item()} at index {bad}")


def _clip_eps(value: float) -> float:
    is_scalar_tensor = isinstance(value, Tensor) and value.ndim == 0
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) or is_scalar_tensor):
        raise ValueError(f"clip_eps must be a number in the open interval (0, 1), got {value!r}")
    eps = float(value)
    if not 0.0 < eps < 1.0:  # also False for NaN
        raise ValueError(f"clip_eps must be in the open interval (0, 1), got {value!r}")
    return eps


def _log_ratio_cap(dtype: torch.dtype) -> float:
    """``LOG_RATIO_MAX``, lowered where ``exp`` of it would not fit the dtype (float16: 10)."""
    return min(LOG_RATIO_MAX, math.floor(math.log(torch.finfo(dtype).max)) - 1.0)


def _capped_log_ratio(log_ratio: Tensor) -> Tensor:
    """``min(log_ratio, cap)`` in value, with the gradient of ``log_ratio`` (straight through)."""
    excess = (log_ratio - _log_ratio_cap(log_ratio.dtype)).clamp(min=0.0).detach()
    return log_ratio - excess


def _capped_exp(log_ratio: Tensor) -> Tensor:
    """``exp(min(log_ratio, cap))`` with a straight-through gradient for the cap."""
    return torch.exp(_capped_log_ratio(log_ratio))


def _pair(logp_new: Tensor, logp_old: Tensor) -> Tensor:
    """Validate ``(logp_new, logp_old)`` and return the log-ratio."""
    _tensor(logp_new, "logp_new")
    _tensor(logp_old, "logp_old")
    _same_shape(logp_old, "logp_old", logp_new, "logp_new")
    return logp_new - logp_old


def _triple(logp_new: Tensor, logp_old: Tensor, advantages: Tensor) -> Tensor:
    """Validate ``(logp_new, logp_old, advantages)`` and return the ratio."""
    log_ratio = _pair(logp_new, logp_old)
    _tensor(advantages, "advantages")
    _same_shape(advantages, "advantages", logp_new, "logp_new")
    _check_finite(logp_new=logp_new, logp_old=logp_old, advantages=advantages)
    return _capped_exp(log_ratio)


# --------------------------------------------------------------------------- the surrogate


def probability_ratio(logp_new: Tensor, logp_old: Tensor) -> Tensor:
    r"""The importance ratio of each sample (seed B.4; PPO paper eq. 6).

    .. math:: r_t(\theta) = \frac{\pi_\theta(a_t|s_t)}{\pi_{old}(a_t|s_t)}
              = \exp(\log\pi_\theta(a_t|s_t) - \log\pi_{old}(a_t|s_t)).

    At ``theta = theta_old`` every ratio is 1. Differentiable with respect to ``logp_new``
    (``logp_old`` is a stored constant). Log-ratios above `LOG_RATIO_MAX` are capped (module
    docstring), so the result is always finite.

    Args:
        logp_new: shape ``(N,)``.
        logp_old: shape ``(N,)``.

    Returns:
        ``ratio``, shape ``(N,)``, non-negative and finite.

    Raises:
        ValueError: non-1-D, empty, non-floating, mismatched shapes, NaN or inf.
    """
    log_ratio = _pair(logp_new, logp_old)
    _check_finite(logp_new=logp_new, logp_old=logp_old)
    return _capped_exp(log_ratio)


def cpi_objective(logp_new: Tensor, logp_old: Tensor, advantages: Tensor) -> Tensor:
    r"""The conservative-policy-iteration surrogate ``L^CPI`` (seed B.4; PPO paper eq. 6).

    .. math:: L^{CPI}(\theta) = \frac{1}{N}\sum_t r_t(\theta)\, A_t,

    to be maximized. At ``theta = theta_old`` its gradient is the on-policy policy gradient
    ``mean(A_t grad log pi_theta(a_t|s_t))``; away from it, an approximation of ``grad J``
    (book chapter "Importance sampling"). The ``gamma^t`` of seed B.4 is dropped (seed B.7).

    Args:
        logp_new: shape ``(N,)``.
        logp_old: shape ``(N,)``.
        advantages: shape ``(N,)``.

    Returns:
        A scalar tensor (0-D).
    """
    ratio = _triple(logp_new, logp_old, advantages)
    return (ratio * advantages).mean()


def clipped_objective(
    logp_new: Tensor, logp_old: Tensor, advantages: Tensor, clip_eps: float
) -> Tensor:
    r"""PPO's clipped surrogate ``L^CLIP`` (seed B.5; PPO paper eq. 7).

    .. math:: L^{CLIP}(\theta) = \frac{1}{N}\sum_t
              \min\big(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t\big),

    to be maximized. ``L^CLIP <= L^CPI`` sample by sample (a pessimistic bound), with equality
    when ``r_t`` is in ``[1 - eps, 1 + eps]``. Its gradient is zero exactly on
    `clip_zero_gradient_mask` (seed B.6) and equals that of `cpi_objective` elsewhere.

    Args:
        logp_new: shape ``(N,)``.
        logp_old: shape ``(N,)``.
        advantages: shape ``(N,)``.
        clip_eps: ``epsilon`` in (0, 1), e.g. 0.2.

    Returns:
        A scalar tensor (0-D).
    """
    eps = _clip_eps(clip_eps)
    ratio = _triple(logp_new, logp_old, advantages)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - eps, 1.0 + eps) * advantages
    return torch.minimum(unclipped, clipped).mean()


def clip_zero_gradient_mask(ratio: Tensor, advantages: Tensor, clip_eps: float) -> Tensor:
    r"""Where the clipped term has zero gradient with respect to the ratio (seed B.6).

    The derivative of ``min(r A, clip(r, 1-eps, 1+eps) A)`` with respect to ``r`` is 0 exactly
    when

    * ``A > 0`` and ``r > 1 + eps`` (the action was already made more likely enough), or
    * ``A < 0`` and ``r < 1 - eps`` (it was already made less likely enough), or
    * ``A = 0``;

    and it is ``A`` everywhere else, including the two "wrong side" cells ``A > 0, r < 1 - eps``
    and ``A < 0, r > 1 + eps``. The boundaries are not in the mask: at ``r = 1 - eps`` for
    ``A > 0`` and at ``r = 1 + eps`` for ``A < 0`` the term is smooth with slope ``A``; at the
    other two (``A > 0, r = 1 + eps``; ``A < 0, r = 1 - eps``) it has a kink, slope ``A`` on the
    inside and 0 on the outside, and autograd through `clipped_objective` returns ``A`` there
    (``torch.clamp`` passes the gradient at its bounds), which is what the mask follows.

    Args:
        ratio: shape ``(N,)``, non-negative.
        advantages: shape ``(N,)``.
        clip_eps: ``epsilon`` in (0, 1).

    Returns:
        A boolean tensor of shape ``(N,)``.
    """
    eps = _clip_eps(clip_eps)
    _tensor(ratio, "ratio")
    _tensor(advantages, "advantages")
    _same_shape(advantages, "advantages", ratio, "ratio")
    _check_finite(ratio=ratio, advantages=advantages)
    return ((advantages > 0) & (ratio > 1.0 + eps)) | ((advantages < 0) & (ratio < 1.0 - eps)) | (
        advantages == 0
    )


# --------------------------------------------------------------------------- diagnostics


def approx_kl(logp_new: Tensor, logp_old: Tensor) -> Tensor:
    r"""Estimate of ``KL(pi_old || pi_theta)`` from samples of ``pi_old`` (the "k3" estimator).

    With ``r = pi_theta(a|s) / pi_old(a|s)`` and ``(s, a)`` sampled by ``pi_old``,

    .. math:: \widehat{KL} = \frac{1}{N}\sum_t \big( (r_t - 1) - \log r_t \big),

    the estimator "k3" of J. Schulman's note *Approximating KL divergence* (2020). It is unbiased
    (``E_old[r - 1] = 0`` and ``E_old[-log r] = KL(pi_old || pi_theta)``) and every term is
    non-negative (``log r <= r - 1``). ``k1 = -log r`` is unbiased too, but its terms have both
    signs and, when the two policies are close, a much larger variance (``r - 1`` cancels the
    first-order part of ``-log r``); ``k2 = (log r)^2 / 2`` is non-negative but biased. (Far apart,
    with large ratios, ``k3`` grows like ``r`` and can be the noisier one.) The book's
    chapter "Clipping and the min" compares the three. Computed as ``expm1(x) - x`` with the
    log-ratio ``x`` (capped like the ratio), accurate for small ``x`` in float32 too.

    Differentiable; wrap the call in ``torch.no_grad()`` when it is only logged.

    Args:
        logp_new: shape ``(N,)``.
        logp_old: shape ``(N,)``.

    Returns:
        A scalar tensor (0-D), ``>= 0``.
    """
    log_ratio = _pair(logp_new, logp_old)
    _check_finite(logp_new=logp_new, logp_old=logp_old)
    capped = _capped_log_ratio(log_ratio)
    return (torch.expm1(capped) - capped).mean()


def clip_fraction(ratio: Tensor, clip_eps: float) -> Tensor:
    r"""Fraction of samples whose ratio is outside the clip range: ``mean(|r - 1| > eps)``.

    A diagnostic (seed B.5/B.6): how much of the batch the clip acts on. Samples outside the range
    on the "wrong side" (see `clip_zero_gradient_mask`) are counted too, as in CleanRL and
    Stable-Baselines3; the fraction with zero gradient is ``clip_zero_gradient_mask(...).mean()``.

    Args:
        ratio: shape ``(N,)``, non-negative.
        clip_eps: ``epsilon`` in (0, 1).

    Returns:
        A scalar tensor (0-D) in [0, 1], of the dtype of ``ratio``; not differentiable.
    """
    eps = _clip_eps(clip_eps)
    _tensor(ratio, "ratio")
    if not bool(((ratio >= 0) & (ratio < math.inf)).all()):  # False for NaN, inf and r < 0
        bad = int(torch.nonzero(~((ratio >= 0) & (ratio < math.inf)))[0, 0])
        raise ValueError(f"ratio must be finite and >= 0, got {ratio[bad].item()} at index {bad}")
    return ((ratio.detach() - 1.0).abs() > eps).to(ratio.dtype).mean()
