"""Tests for `ppo_edu.surrogate` (seed B.2-B.6): autograd as the independent oracle for the
clip/min case analysis, and the exact tabular oracle (`ppo_edu.tabular`, `ppo_edu.importance`)
for the importance-sampling claims of B.2-B.4. The helpers of `ppo_edu.importance` have their
own unit tests in `tests/test_importance.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppo_edu.importance import (
    exact_batch,
    is_gradient_estimate,
    surrogate_gradient,
    surrogate_objective,
)
from ppo_edu.surrogate import (
    LOG_RATIO_MAX,
    approx_kl,
    clip_fraction,
    clip_zero_gradient_mask,
    clipped_objective,
    cpi_objective,
    probability_ratio,
)
from ppo_edu.tabular import (
    gae_gradient_estimate,
    policy_gradient,
    random_mdp,
    sample_episodes,
    softmax_policy,
    state_values,
)

F64 = torch.float64


def t(x, dtype=F64) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype)


def grad_wrt_ratio(fn, ratio: torch.Tensor, adv: torch.Tensor, *extra) -> torch.Tensor:
    """d(sum of per-sample objective)/d r_t, through autograd on logp_new (logp_old = 0).

    ``fn`` returns a mean over N samples, and d/d logp_new = r dL/dr, so dL/dr = N grad / r.
    """
    logp_new = torch.log(ratio).clone().requires_grad_(True)
    obj = fn(logp_new, torch.zeros_like(ratio), adv, *extra)
    (g,) = torch.autograd.grad(obj, logp_new)
    return g * ratio.numel() / torch.exp(logp_new.detach())


# the six cells of the table of seed B.6 and A = 0, with eps = 0.2:
# (ratio, advantage, gradient of the clipped term with respect to r is zero?)
CASE_TABLE = [
    (0.5, 2.0, False),   # A > 0, r < 1 - eps: wrong side, full gradient
    (1.1, 2.0, False),   # A > 0, inside
    (1.5, 2.0, True),    # A > 0, r > 1 + eps: clipped
    (0.5, -2.0, True),   # A < 0, r < 1 - eps: clipped
    (0.9, -2.0, False),  # A < 0, inside
    (1.5, -2.0, False),  # A < 0, r > 1 + eps: wrong side, full gradient
    (0.5, 0.0, True),    # A = 0, any ratio
    (1.0, 0.0, True),
    (1.5, 0.0, True),
]


def test_ratio_hand_values():
    """Seed B.4: r = exp(logp_new - logp_old); r = 1 when the policies agree."""
    logp_old = t([math.log(0.5), math.log(0.2), math.log(0.4)])
    logp_new = t([math.log(0.5), math.log(0.3), math.log(0.1)])
    np.testing.assert_allclose(probability_ratio(logp_new, logp_old).numpy(), [1.0, 1.5, 0.25],
                               rtol=1e-12)


def test_objectives_hand_values():
    """Seed B.4/B.5: L^CPI and L^CLIP on a worked example (eps = 0.2)."""
    ratio = t([0.5, 1.1, 1.5, 0.5, 0.9, 1.5])
    adv = t([2.0, 2.0, 2.0, -2.0, -2.0, -2.0])
    logp_new, logp_old = torch.log(ratio), torch.zeros(6, dtype=F64)
    # r A = 1, 2.2, 3, -1, -1.8, -3; clip(r) A = 1.6, 2.2, 2.4, -1.6, -1.8, -2.4
    assert cpi_objective(logp_new, logp_old, adv).item() == pytest.approx(0.4 / 6)
    # min: 1, 2.2, 2.4, -1.6, -1.8, -3
    assert clipped_objective(logp_new, logp_old, adv, 0.2).item() == pytest.approx(-0.8 / 6)


def test_case_table_with_autograd():
    """Seed B.6 precisely: the gradient of L^CLIP w.r.t. r is zero exactly in the table's cells."""
    ratio = t([r for r, _, _ in CASE_TABLE])
    adv = t([a for _, a, _ in CASE_TABLE])
    zero = torch.tensor([z for _, _, z in CASE_TABLE])
    grad = grad_wrt_ratio(clipped_objective, ratio, adv, 0.2)
    assert torch.equal(grad == 0, zero)
    assert torch.equal(clip_zero_gradient_mask(ratio, adv, 0.2), zero)
    # outside the zero set the gradient is that of L^CPI: d(rA)/dr = A
    np.testing.assert_allclose(grad[~zero].numpy(), adv[~zero].numpy(), rtol=1e-12)


def _ratio_exactly(target: float) -> torch.Tensor:
    """A float64 tensor r with exp(log r) == target exactly (searching a few neighbours)."""
    x = math.log(target)
    for _ in range(50):
        if torch.exp(t([x])).item() == target:
            return t([x])
        x = math.nextafter(x, math.inf if math.exp(x) < target else -math.inf)
    raise AssertionError(f"no float64 log gives exactly {target}")


@pytest.mark.parametrize("adv", [2.0, -2.0])
@pytest.mark.parametrize("edge", [0.75, 1.25])
def test_boundaries_keep_the_gradient(edge, adv):
    """Seed B.6: at r = 1 +- eps exactly, the gradient is still A (the zero set is open)."""
    logp_new = _ratio_exactly(edge).requires_grad_(True)
    obj = clipped_objective(logp_new, t([0.0]), t([adv]), 0.25)
    (g,) = torch.autograd.grad(obj, logp_new)
    assert g.item() == pytest.approx(edge * adv, rel=1e-12)  # dL/dlogp = r dL/dr = r A
    assert not clip_zero_gradient_mask(t([edge]), t([adv]), 0.25).item()


samples = st.integers(min_value=1, max_value=40)
eps_st = st.floats(min_value=0.01, max_value=0.9)


@st.composite
def batches(draw):
    """A batch: log-ratios in [-4, 4], advantages in [-10, 10]."""
    n = draw(samples)
    lr = draw(st.lists(st.floats(-4, 4), min_size=n, max_size=n))
    # exact zeros are likely; non-zero magnitudes >= 1e-6 (a subnormal A / N underflows to 0)
    nonzero = st.one_of(st.floats(1e-6, 10), st.floats(-10, -1e-6))
    adv = draw(st.lists(st.one_of(st.just(0.0), nonzero), min_size=n, max_size=n))
    return t(lr), t(adv)


@settings(max_examples=150, deadline=None)
@given(batches(), eps_st)
def test_zero_gradient_set_is_the_mask(batch, eps):
    """Seed B.6: for every input, autograd's zero set of grad L^CLIP is the mask, and outside it
    the gradient equals that of L^CPI."""
    log_ratio, adv = batch
    ratio = torch.exp(log_ratio)
    g_clip = grad_wrt_ratio(clipped_objective, ratio, adv, eps)
    g_cpi = grad_wrt_ratio(cpi_objective, ratio, adv)
    mask = clip_zero_gradient_mask(probability_ratio(log_ratio, torch.zeros_like(log_ratio)),
                                   adv, eps)
    assert torch.equal(g_clip == 0, mask)
    np.testing.assert_allclose(g_clip[~mask].numpy(), g_cpi[~mask].numpy(), rtol=1e-9)


@settings(max_examples=150, deadline=None)
@given(batches(), eps_st)
def test_clip_is_a_pessimistic_bound(batch, eps):
    """Seed B.5: per sample min(rA, clip(r)A) <= rA, with equality when r is in the range."""
    log_ratio, adv = batch
    zeros = torch.zeros(1, dtype=F64)
    ratio = torch.exp(log_ratio)
    for i in range(len(adv)):
        lr, a = log_ratio[i : i + 1], adv[i : i + 1]
        clip = clipped_objective(lr, zeros, a, eps).item()
        cpi = cpi_objective(lr, zeros, a).item()
        assert clip <= cpi + 1e-12 * (1 + abs(cpi))
        if 1 - eps <= ratio[i] <= 1 + eps:
            assert clip == pytest.approx(cpi, rel=1e-12, abs=1e-15)
    assert clipped_objective(log_ratio, torch.zeros_like(adv), adv, eps) <= (
        cpi_objective(log_ratio, torch.zeros_like(adv), adv) + 1e-12)


@settings(max_examples=150, deadline=None)
@given(batches(), eps_st)
def test_simplified_form(batch, eps):
    """Seed B.5: L^CLIP = mean(min(r A, g(eps, A))), g = (1+eps)A if A >= 0 else (1-eps)A, in
    value and in gradient (the form spinningup uses; it is not a bug)."""
    log_ratio, adv = batch
    lr1 = log_ratio.clone().requires_grad_(True)
    lr2 = log_ratio.clone().requires_grad_(True)
    clip = clipped_objective(lr1, torch.zeros_like(adv), adv, eps)
    g = torch.where(adv >= 0, (1 + eps) * adv, (1 - eps) * adv)
    simple = torch.minimum(torch.exp(lr2) * adv, g).mean()
    assert clip.item() == pytest.approx(simple.item(), rel=1e-12, abs=1e-14)
    (g1,) = torch.autograd.grad(clip, lr1)
    (g2,) = torch.autograd.grad(simple, lr2)
    # they may differ only where r A == g exactly (a tie of the min, a measure-zero set)
    tie = torch.exp(log_ratio) * adv == g
    np.testing.assert_allclose(g1[~tie].numpy(), g2[~tie].numpy(), rtol=1e-12, atol=1e-15)


def test_gradient_at_theta_old_is_the_policy_gradient():
    """Seed B.4: at theta = theta_old, grad L^CPI = grad L^CLIP = mean(A grad log pi(a|s)), for a
    real network (an MLP softmax policy), compared parameter by parameter."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net = net.double()
    obs = torch.randn(256, 4, dtype=F64)
    dist = torch.distributions.Categorical(logits=net(obs))
    actions = dist.sample()
    adv = torch.randn(256, dtype=F64)
    logp = dist.log_prob(actions)
    logp_old = logp.detach()
    assert torch.equal(probability_ratio(logp, logp_old), torch.ones(256, dtype=F64))
    params = list(net.parameters())
    pg = torch.autograd.grad((adv * logp).mean(), params, retain_graph=True)
    cpi = torch.autograd.grad(cpi_objective(logp, logp_old, adv), params, retain_graph=True)
    clip = torch.autograd.grad(clipped_objective(logp, logp_old, adv, 0.2), params)
    for a, b, c in zip(pg, cpi, clip, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(c, a, rtol=1e-12, atol=1e-14)
    assert max(p.abs().max().item() for p in pg) > 1e-3  # a non-trivial gradient


def test_approx_kl_is_exact_on_an_exact_batch():
    """Seed B.5 diagnostics: k3 is unbiased: on a batch whose empirical distribution is pi_old
    exactly, the mean of (r - 1) - log r is KL(pi_old || pi_new) exactly (torch.distributions
    as the oracle)."""
    p_old = t([0.5, 0.25, 0.25])
    p_new = t([0.2, 0.3, 0.5])
    actions = torch.tensor([0, 0, 1, 2])  # frequencies 1/2, 1/4, 1/4 = p_old
    est = approx_kl(torch.log(p_new[actions]), torch.log(p_old[actions]))
    exact = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=p_old),
                                              torch.distributions.Categorical(probs=p_new))
    assert est.item() == pytest.approx(exact.item(), rel=1e-12)
    assert approx_kl(torch.log(p_old), torch.log(p_old)).item() == 0.0


@settings(max_examples=100, deadline=None)
@given(batches())
def test_approx_kl_terms_are_non_negative(batch):
    """Seed B.5 diagnostics: k3 terms (r - 1) - log r are >= 0 for every r, so the estimate is >=
    0 (float32 too)."""
    log_ratio, _ = batch
    for dtype in (F64, torch.float32):
        lr = log_ratio.to(dtype)
        assert approx_kl(lr, torch.zeros_like(lr)).item() >= 0.0
    np.testing.assert_allclose(
        approx_kl(log_ratio, torch.zeros_like(log_ratio)).item(),
        torch.mean(torch.exp(log_ratio) - 1 - log_ratio).item(), rtol=1e-9, atol=1e-15)


def test_approx_kl_small_log_ratio_float32():
    """Seed B.5 diagnostics: k3 via expm1 keeps float32 accuracy where r - 1 - log r would cancel:
    x^2/2 for small x."""
    x = torch.full((8,), 1e-4, dtype=torch.float32)
    assert approx_kl(x, torch.zeros_like(x)).item() == pytest.approx(0.5e-8, rel=1e-3)


def test_clip_fraction_hand_values():
    """Seed B.5 diagnostic: fraction of |r - 1| > eps (both sides; the boundary is inside)."""
    ratio = t([0.5, 0.8, 1.0, 1.1, 1.25, 1.3, 3.0, 0.0])
    assert clip_fraction(ratio, 0.25).item() == pytest.approx(4 / 8)
    assert clip_fraction(ratio.float(), 0.25).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("adv", [0.0, 1.0, -1.0])
@pytest.mark.parametrize("log_ratio", [1000.0, -1000.0, 88.0, 710.0, 25.0])
def test_large_log_ratios_give_finite_gradients(log_ratio, adv, dtype):
    """Seed B.4/B.5: large log-ratios do not produce NaN or inf: the ratio is capped at
    exp(LOG_RATIO_MAX) and the gradient keeps its sign (module docstring of ppo_edu.surrogate)."""
    logp_new = torch.tensor([log_ratio - 5.0, -1.0], dtype=dtype, requires_grad=True)
    logp_old = torch.tensor([-5.0, -1.0], dtype=dtype)
    advantages = torch.tensor([adv, 1.0], dtype=dtype)
    for fn, extra in ((cpi_objective, ()), (clipped_objective, (0.2,))):
        obj = fn(logp_new, logp_old, advantages, *extra)
        (g,) = torch.autograd.grad(obj, logp_new)
        assert torch.isfinite(obj) and torch.isfinite(g).all()
        if fn is cpi_objective and log_ratio > 0 and adv != 0:
            assert math.copysign(1.0, g[0].item()) == math.copysign(1.0, adv)
    kl = approx_kl(logp_new, logp_old)
    (g,) = torch.autograd.grad(kl, logp_new)
    assert torch.isfinite(kl) and torch.isfinite(g).all()
    ratio = probability_ratio(logp_new, logp_old)
    expected = math.exp(min(log_ratio, LOG_RATIO_MAX))
    assert ratio[0].item() == pytest.approx(expected, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-700, LOG_RATIO_MAX), min_size=1, max_size=20))
def test_ratio_is_exact_below_the_cap(log_ratios):
    """Seed B.4: below LOG_RATIO_MAX the ratio and its gradient are exactly exp(x) (no hidden
    clamp)."""
    x = t(log_ratios).requires_grad_(True)
    r = probability_ratio(x, torch.zeros_like(x))
    assert torch.equal(r.detach(), torch.exp(x.detach()))
    (g,) = torch.autograd.grad(r.sum(), x)
    assert torch.equal(g, torch.exp(x.detach()))


def test_float32_agrees_with_float64():
    """Seed B.4/B.5: the objectives in float32 agree with float64 to float32 precision."""
    gen = torch.Generator().manual_seed(3)
    lr = 0.3 * torch.randn(1000, generator=gen, dtype=F64)
    adv = torch.randn(1000, generator=gen, dtype=F64)
    z = torch.zeros(1000, dtype=F64)
    for fn, extra in ((cpi_objective, ()), (clipped_objective, (0.2,))):
        a = fn(lr, z, adv, *extra).item()
        b = fn(lr.float(), z.float(), adv.float(), *extra).item()
        assert b == pytest.approx(a, rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------- bad input

GOOD = t([-1.0, -2.0])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((t([-1.0, -2.0, -3.0]), GOOD, GOOD), "logp_old must have the same shape"),
        ((GOOD, GOOD, t([1.0])), "advantages must have the same shape"),
        ((GOOD, GOOD, t([1.0, 2.0, 3.0])), "advantages must have the same shape"),
        ((GOOD.reshape(2, 1), GOOD.reshape(2, 1), GOOD.reshape(2, 1)), "logp_new must be 1-D"),
        ((t(-1.0), t(-1.0), t(1.0)), "logp_new must be 1-D"),
        ((t([]), t([]), t([])), "at least one sample"),
        (([-1.0, -2.0], GOOD, GOOD), "logp_new must be a 1-D torch tensor"),
        ((GOOD, torch.tensor([1, 2]), GOOD), "logp_old must be a floating-point"),
        ((t([-1.0, math.nan]), GOOD, GOOD), "logp_new must be finite"),
        ((GOOD, t([-math.inf, -1.0]), GOOD), "logp_old must be finite"),
        ((GOOD, GOOD, t([1.0, math.nan])), "advantages must be finite"),
        ((GOOD, GOOD, t([math.inf, 1.0])), "advantages must be finite"),
    ],
)
def test_bad_inputs(args, match):
    """Seed B.4/B.5: bad input is a ValueError naming the argument (no silent broadcasting, no
    NaN)."""
    with pytest.raises(ValueError, match=match):
        cpi_objective(*args)
    with pytest.raises(ValueError, match=match):
        clipped_objective(*args, 0.2)
    if "advantages" not in match:
        with pytest.raises(ValueError, match=match):
            probability_ratio(*args[:2])
        with pytest.raises(ValueError, match=match):
            approx_kl(*args[:2])


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.1, 1.5, math.nan, math.inf, True, "0.2", None])
def test_bad_clip_eps(eps):
    """Seed B.5: clip_eps must be a number in the open interval (0, 1); NaN is rejected."""
    with pytest.raises(ValueError, match="clip_eps"):
        clipped_objective(GOOD, GOOD, GOOD, eps)
    with pytest.raises(ValueError, match="clip_eps"):
        clip_zero_gradient_mask(t([1.0, 1.0]), GOOD, eps)
    with pytest.raises(ValueError, match="clip_eps"):
        clip_fraction(t([1.0, 1.0]), eps)


def test_bad_ratio():
    """Seed B.6: the mask and clip_fraction reject mismatched shapes, NaN and negative ratios."""
    with pytest.raises(ValueError, match="advantages must have the same shape"):
        clip_zero_gradient_mask(t([1.0, 1.0, 1.0]), GOOD, 0.2)
    with pytest.raises(ValueError, match="ratio must be finite"):
        clip_zero_gradient_mask(t([1.0, math.nan]), GOOD, 0.2)
    for bad in (math.nan, -0.5, math.inf):
        with pytest.raises(ValueError, match="ratio must be finite and >= 0"):
            clip_fraction(t([1.0, bad]), 0.2)


# --------------------------------------------------------------------------- the exact oracle


def _mdp_and_policies(step: float = 0.4, seed: int = 1):
    mdp = random_mdp(3, 2, 0.9, seed=seed)
    rng = np.random.default_rng(seed)
    theta_old = rng.normal(size=(mdp.n_states, mdp.n_actions))
    theta_new = theta_old + step * rng.normal(size=theta_old.shape)  # mean KL 0.013 for seed 2
    return mdp, theta_old, theta_new


def _z_scores(samples: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(mean - exact) / standard error, per component; 0 where the samples are all equal."""
    se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    diff = samples.mean(axis=0) - exact
    return np.divide(diff, se, out=np.where(np.abs(diff) < 1e-12, 0.0, np.inf), where=se > 0)


@pytest.mark.parametrize("lam", [1.0, 0.9])
def test_trajectory_is_estimator_is_unbiased(lam):
    """Seed B.2: with episodes of pi_old, rho(tau) sum_t gamma^t A_t grad log pi_theta averages to
    the exact grad J(theta) (Monte Carlo, 4000 episodes, |z| < 5 per component), for lam = 1
    (any critic) and lam = 0.9 with the critic V^theta. Without rho it is biased (|z| > 5)."""
    mdp, theta_old, theta_new = _mdp_and_policies(step=0.5, seed=2)
    rng = np.random.default_rng(7)
    episodes = sample_episodes(mdp, softmax_policy(theta_old), 4000, rng)
    values = state_values(mdp, softmax_policy(theta_new if lam < 1 else theta_old))
    exact = policy_gradient(mdp, theta_new)
    is_est = np.stack([is_gradient_estimate(mdp, theta_new, theta_old, values, ep, lam)
                       for ep in episodes])
    assert np.abs(_z_scores(is_est, exact)).max() < 5.0
    naive = np.stack([gae_gradient_estimate(mdp, theta_new, values, ep, mdp.gamma, lam)
                      for ep in episodes])
    assert np.abs(_z_scores(naive, exact)).max() > 5.0


def _exact_batch(mdp, theta: torch.Tensor, theta_old: np.ndarray):
    """`ppo_edu.importance.exact_batch`, with logp_new from the torch logits ``theta``."""
    s, a, logp_old, weights = exact_batch(mdp, theta_old)
    logp_new = torch.log_softmax(theta, dim=1)[torch.as_tensor(s), torch.as_tensor(a)]
    return logp_new, torch.as_tensor(logp_old), torch.as_tensor(weights)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cpi_gradient_equals_the_true_gradient_at_theta_old_only(seed):
    """Seed B.4 precisely: autograd through `cpi_objective` on the exact batch gives the exact
    grad L^CPI; it equals grad J (the policy gradient theorem) at theta = theta_old, and
    differs from grad J(theta) at theta != theta_old, the error growing from 0 with the
    distance."""
    mdp, theta_old, theta_dir = _mdp_and_policies(seed=seed)
    direction = theta_dir - theta_old
    errors = []
    for step in (0.0, 0.05, 0.2, 1.0):
        theta_np = theta_old + step * direction
        theta = torch.tensor(theta_np, requires_grad=True)
        logp_new, logp_old, weights = _exact_batch(mdp, theta, theta_old)
        obj = cpi_objective(logp_new, logp_old, weights)
        assert obj.item() == pytest.approx(
            surrogate_objective(mdp, theta_np, theta_old) + weights.mean().item(), abs=1e-12)
        (grad,) = torch.autograd.grad(obj, theta)
        np.testing.assert_allclose(grad.numpy(), surrogate_gradient(mdp, theta_np, theta_old),
                                   atol=1e-12)
        true = policy_gradient(mdp, theta_np)
        errors.append(np.linalg.norm(grad.numpy() - true) / np.linalg.norm(true))
    assert errors[0] < 1e-12
    assert 1e-6 < errors[1] < errors[2] < errors[3]


def _dag_mdp(seed: int = 0):
    """A small MDP whose transitions only move forward (states 0-3, terminal 4): it has finitely
    many episodes, so expectations over episodes are finite sums, computed exactly."""
    from ppo_edu.tabular import TabularMDP

    rng = np.random.default_rng(seed)
    S, A = 5, 2
    P = np.zeros((S, A, S))
    for s in range(S - 1):
        for a in range(A):
            P[s, a, s + 1:] = rng.dirichlet(np.ones(S - 1 - s))
    P[S - 1, :, S - 1] = 1.0
    R = rng.normal(size=(S, A))
    R[S - 1] = 0.0
    initial = np.array([0.6, 0.3, 0.1, 0.0, 0.0])
    return TabularMDP(P, R, initial, 0.9, np.array([False] * (S - 1) + [True]))


def _all_episodes(mdp):
    """Every episode with positive probability under a softmax policy (depth-first)."""
    from ppo_edu.tabular import Episode

    out = []

    def walk(states, actions, rewards):
        s = states[-1]
        if mdp.terminal[s]:
            out.append(Episode(np.array(states), np.array(actions), np.array(rewards)))
            return
        for a in range(mdp.n_actions):
            for s2 in np.flatnonzero(mdp.P[s, a] > 0):
                walk(states + [int(s2)], actions + [a], rewards + [float(mdp.R[s, a])])

    for s0 in np.flatnonzero(mdp.initial > 0):
        walk([int(s0)], [], [])
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_trajectory_is_estimator_is_unbiased_exactly(seed):
    """Seed B.2, exactly (no Monte Carlo): summing over every episode of an acyclic MDP,
    E_old[rho(tau) sum_t gamma^t A_t grad log pi_theta] = grad J(theta) to 1e-12 (lam = 1 with
    any critic; lam = 0.9 with V^theta), while without rho it is not; and the per-step
    surrogate's estimator (both products dropped, seed B.4) has expectation grad L^CPI, equal to
    grad J at theta = theta_old only."""
    from ppo_edu.importance import split_is_gradient_estimate, trajectory_probability

    mdp = _dag_mdp(seed)
    rng = np.random.default_rng(seed + 10)
    theta_old = rng.normal(size=(mdp.n_states, mdp.n_actions))
    theta_new = theta_old + 0.7 * rng.normal(size=theta_old.shape)
    episodes = _all_episodes(mdp)
    p_old = np.array([trajectory_probability(mdp, softmax_policy(theta_old), ep)
                      for ep in episodes])
    assert p_old.sum() == pytest.approx(1.0, abs=1e-12)  # the enumeration is complete

    def expect(fn) -> np.ndarray:
        return sum(p * fn(ep) for p, ep in zip(p_old, episodes, strict=True))

    grad_J = policy_gradient(mdp, theta_new)
    any_critic = rng.normal(size=mdp.n_states) * mdp.nonterminal
    v_new = state_values(mdp, softmax_policy(theta_new))
    for values, lam in ((any_critic, 1.0), (v_new, 0.9)):
        is_mean = expect(lambda ep, v=values, lam=lam: is_gradient_estimate(
            mdp, theta_new, theta_old, v, ep, lam))
        np.testing.assert_allclose(is_mean, grad_J, atol=1e-12)
        naive = expect(lambda ep, v=values, lam=lam: gae_gradient_estimate(
            mdp, theta_new, v, ep, mdp.gamma, lam))
        assert np.abs(naive - grad_J).max() > 1e-3
    for theta, equal in ((theta_old, True), (theta_new, False)):
        cpi_mean = expect(lambda ep, th=theta: split_is_gradient_estimate(
            mdp, th, theta_old, any_critic, ep, keep_past=False, keep_future=False))
        np.testing.assert_allclose(cpi_mean, surrogate_gradient(mdp, theta, theta_old),
                                   atol=1e-12)
        gap = np.abs(cpi_mean - policy_gradient(mdp, theta)).max()
        assert gap < 1e-12 if equal else gap > 1e-3


@pytest.mark.parametrize("log_ratio", [15.0, 1000.0])
def test_large_log_ratios_in_float16(log_ratio):
    """Seed B.4/B.5: in float16 (exp overflows above ~11) the cap is lowered, so the objectives,
    approx_kl and their gradients stay finite (no NaN from inf * 0)."""
    logp_new = torch.tensor([log_ratio, 0.0], dtype=torch.float16, requires_grad=True)
    logp_old = torch.zeros(2, dtype=torch.float16)
    for adv in (0.0, 1.0, -1.0):
        advantages = torch.tensor([adv, 1.0], dtype=torch.float16)
        for obj in (cpi_objective(logp_new, logp_old, advantages),
                    clipped_objective(logp_new, logp_old, advantages, 0.2),
                    approx_kl(logp_new, logp_old)):
            (g,) = torch.autograd.grad(obj, logp_new)
            assert torch.isfinite(obj) and torch.isfinite(g).all()
    assert torch.isfinite(probability_ratio(logp_new, logp_old)).all()
