"""Tests of the student checkers in `ppo_edu.checks` (seed part A).

Every checker must pass a right implementation, written here independently of the library (plain
loops, as a student would write them), and must catch (return False for) every deliberately wrong
one. Where the wrong implementation is a classic mistake the checker knows, the printed hint must
name it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ppo_edu.checks import (
    check_gae,
    check_lambda_weighted_advantage,
    check_n_step_advantage,
    check_td_errors,
)

# ---------------------------------------------------------------- right implementations


def loop_td_errors(rewards, values, gamma):
    return [rewards[k] + gamma * values[k + 1] - values[k] for k in range(len(rewards))]


def loop_n_step(rewards, values, gamma, n):
    """A_t^n = sum_{k=t}^{min(t+n,T)-1} gamma^(k-t) delta_k (seed A.1), delta_k = 0 for k >= T."""
    T = len(rewards)
    delta = loop_td_errors(rewards, values, gamma)
    return [sum(gamma ** (k - t) * delta[k] for k in range(t, min(t + n, T))) for t in range(T)]


def eq1_n_step(rewards, values, gamma, n):
    """Seed eq. 1 with the sum cut at the end of the episode: m = min(n, T - t) steps."""
    T = len(rewards)
    out = []
    for t in range(T):
        m = min(n, T - t)
        ret = sum(gamma**j * rewards[t + j] for j in range(m))
        out.append(ret + gamma**m * values[t + m] - values[t])
    return out


def loop_gae(rewards, values, gamma, lam):
    """Backward recursion A_t = delta_t + gamma lam A_{t+1}, A_T = 0 (seed A.5)."""
    T = len(rewards)
    out = [0.0] * T
    running = 0.0
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * values[t + 1] - values[t]
        running = delta + gamma * lam * running
        out[t] = running
    return out


def double_sum_gae(rewards, values, gamma, lam):
    """Seed eq. 4 summed directly: sum_{n>=0} (gamma lam)^n delta_{t+n}."""
    delta = loop_td_errors(rewards, values, gamma)
    T = len(delta)
    return [sum((gamma * lam) ** n * delta[t + n] for n in range(T - t)) for t in range(T)]


def mixture_gae(rewards, values, gamma, lam):
    """Seed eq. 3 with the finite-episode tail weight lam^(N-1) on the last term."""
    T = len(rewards)
    out = []
    for t in range(T):
        N = T - t
        weights = [(1 - lam) * lam ** (n - 1) for n in range(1, N)] + [lam ** (N - 1)]
        terms = [loop_n_step(rewards, values, gamma, n)[t] for n in range(1, N + 1)]
        out.append(sum(w * a for w, a in zip(weights, terms, strict=True)))
    return out


def torch_gae(rewards, values, gamma, lam):
    """A right answer returned as a torch tensor: the checker must accept it."""
    torch = pytest.importorskip("torch")
    return torch.tensor(loop_gae(rewards, values, gamma, lam), dtype=torch.float64)


def torch32_gae(rewards, values, gamma, lam):
    """The recursion computed in float32 throughout, torch's default dtype: a right answer."""
    torch = pytest.importorskip("torch")
    r = torch.tensor(rewards, dtype=torch.float32)
    v = torch.tensor(values, dtype=torch.float32)
    out = torch.zeros_like(r)
    running = torch.zeros(())
    for t in reversed(range(len(r))):
        running = r[t] + gamma * v[t + 1] - v[t] + gamma * lam * running
        out[t] = running
    return out


def float32_n_step(rewards, values, gamma, n):
    """Seed A.1 computed in float32: a right answer up to float32 rounding."""
    r = np.asarray(rewards, dtype=np.float32)
    v = np.asarray(values, dtype=np.float32)
    g = np.float32(gamma)
    delta = r + g * v[1:] - v[:-1]
    T = len(r)
    out = np.zeros(T, dtype=np.float32)
    for t in range(T):
        for k in range(t, min(t + n, T)):
            out[t] += g ** (k - t) * delta[k]
    return out


# ---------------------------------------------------------------- wrong implementations
# Written as a student would get them wrong; each must be caught.


def gae_no_bootstrap(rewards, values, gamma, lam):
    values = np.append(values[:-1], 0.0)  # "the episode is over, V = 0"
    return loop_gae(rewards, values, gamma, lam)


def gae_swapped(rewards, values, gamma, lam):
    return loop_gae(rewards, values, lam, gamma)


def gae_lam_power(rewards, values, gamma, lam):
    T = len(rewards)
    out, running = [0.0] * T, 0.0
    for t in reversed(range(T)):
        running = rewards[t] + gamma * values[t + 1] - values[t] + lam * running  # lam^n
        out[t] = running
    return out


def gae_discount_off_by_one(rewards, values, gamma, lam):
    delta = loop_td_errors(rewards, values, gamma)
    T = len(delta)
    return [sum((gamma * lam) ** (n + 1) * delta[t + n] for n in range(T - t)) for t in range(T)]


def gae_stored_late(rewards, values, gamma, lam):
    T = len(rewards)
    out, running = [0.0] * T, 0.0
    for t in reversed(range(T)):
        out[t] = running  # stored before the update
        running = rewards[t] + gamma * values[t + 1] - values[t] + gamma * lam * running
    return out


def gae_reward_shifted(rewards, values, gamma, lam):
    shifted = list(rewards[1:]) + [0.0]  # r(t+1) used as the reward of step t
    return loop_gae(shifted, values, gamma, lam)


def gae_reward_shifted_back(rewards, values, gamma, lam):
    shifted = [0.0] + list(rewards[:-1])
    return loop_gae(shifted, values, gamma, lam)


def gae_reward_discounted(rewards, values, gamma, lam):
    # the reward treated as if it arrived one step later: delta = gamma (r + V') - V
    scaled = [gamma * r for r in rewards]
    return loop_gae(scaled, values, gamma, lam)


def gae_starts_from_bootstrap(rewards, values, gamma, lam):
    T = len(rewards)
    out, running = [0.0] * T, values[T]  # the last value counted twice
    for t in reversed(range(T)):
        running = rewards[t] + gamma * values[t + 1] - values[t] + gamma * lam * running
        out[t] = running
    return out


def gae_forward(rewards, values, gamma, lam):
    T = len(rewards)
    out, running = [0.0] * T, 0.0
    for t in range(T):
        running = rewards[t] + gamma * values[t + 1] - values[t] + gamma * lam * running
        out[t] = running
    return out


def gae_returns(rewards, values, gamma, lam):
    return [a + v for a, v in zip(loop_gae(rewards, values, gamma, lam), values, strict=False)]


def gae_no_tail_weight(rewards, values, gamma, lam):
    T = len(rewards)
    out = []
    for t in range(T):
        N = T - t
        terms = [loop_n_step(rewards, values, gamma, n)[t] for n in range(1, N + 1)]
        out.append(sum((1 - lam) * lam ** (n - 1) * a for n, a in enumerate(terms, start=1)))
    return out


def gae_reversed(rewards, values, gamma, lam):
    out, running = [], 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * values[t + 1] - values[t] + gamma * lam * running
        out.append(running)  # built from the last step back, never reversed
    return out


def gae_power_from_start(rewards, values, gamma, lam):
    delta = loop_td_errors(rewards, values, gamma)
    T = len(delta)
    return [sum((gamma * lam) ** k * delta[k] for k in range(t, T)) for t in range(T)]


def gae_one_minus_lam(rewards, values, gamma, lam):
    return [(1 - lam) * a for a in loop_gae(rewards, values, gamma, lam)]


def gae_tail_weight_power_n(rewards, values, gamma, lam):
    T = len(rewards)
    out = []
    for t in range(T):
        N = T - t
        weights = [(1 - lam) * lam ** (n - 1) for n in range(1, N)] + [lam**N]
        terms = [loop_n_step(rewards, values, gamma, n)[t] for n in range(1, N + 1)]
        out.append(sum(w * a for w, a in zip(weights, terms, strict=True)))
    return out


def gae_lam_in_td_error(rewards, values, gamma, lam):
    T = len(rewards)
    out, running = [0.0] * T, 0.0
    for t in reversed(range(T)):
        running = rewards[t] + gamma * lam * values[t + 1] - values[t] + gamma * lam * running
        out[t] = running
    return out


def gae_gamma_only(rewards, values, gamma, lam):
    return loop_gae(rewards, values, gamma, 1.0)


def gae_normalized(rewards, values, gamma, lam):
    a = np.asarray(loop_gae(rewards, values, gamma, lam))
    return (a - a.mean()) / (a.std() + 1e-8)  # normalization belongs to the trainer, not to GAE


def gae_wrong_length(rewards, values, gamma, lam):
    return loop_gae(rewards, values, gamma, lam) + [0.0]


def gae_raises(rewards, values, gamma, lam):
    raise IndexError("list index out of range")


_calls = {"running": 0.0}


def gae_never_reset(rewards, values, gamma, lam):
    """The running sum lives outside the function and is never reset between episodes."""
    T = len(rewards)
    out = [0.0] * T
    for t in reversed(range(T)):
        delta = rewards[t] + gamma * values[t + 1] - values[t]
        _calls["running"] = delta + gamma * lam * _calls["running"]
        out[t] = _calls["running"]
    return out


def n_step_no_bootstrap(rewards, values, gamma, n):
    return loop_n_step(rewards, np.append(values[:-1], 0.0), gamma, n)


def n_step_discount_off_by_one(rewards, values, gamma, n):
    T = len(rewards)
    delta = loop_td_errors(rewards, values, gamma)
    return [sum(gamma ** (k - t + 1) * delta[k] for k in range(t, min(t + n, T)))
            for t in range(T)]


def n_step_too_few(rewards, values, gamma, n):
    T = len(rewards)
    delta = loop_td_errors(rewards, values, gamma)
    return [sum(gamma ** (k - t) * delta[k] for k in range(t, min(t + n - 1, T)))
            for t in range(T)]


def n_step_too_many(rewards, values, gamma, n):
    return loop_n_step(rewards, values, gamma, n + 1)


def n_step_reward_shifted(rewards, values, gamma, n):
    return loop_n_step(list(rewards[1:]) + [0.0], values, gamma, n)


def n_step_reward_shifted_back(rewards, values, gamma, n):
    return loop_n_step([0.0] + list(rewards[:-1]), values, gamma, n)


def n_step_beyond_end_zero(rewards, values, gamma, n):
    T = len(rewards)
    out = []
    for t in range(T):
        m = min(n, T - t)
        boot = gamma**n * values[t + n] if t + n <= T else 0.0
        out.append(sum(gamma**j * rewards[t + j] for j in range(m)) + boot - values[t])
    return out


def n_step_bootstrap_undiscounted(rewards, values, gamma, n):
    T = len(rewards)
    out = []
    for t in range(T):
        m = min(n, T - t)
        ret = sum(gamma**j * rewards[t + j] for j in range(m))
        out.append(ret + gamma ** (m - 1) * values[t + m] - values[t])
    return out


def n_step_bootstrap_full_n(rewards, values, gamma, n):
    # eq. 1 near the end, but discounting the bootstrap by gamma^n even when fewer steps remain
    T = len(rewards)
    out = []
    for t in range(T):
        m = min(n, T - t)
        ret = sum(gamma**j * rewards[t + j] for j in range(m))
        out.append(ret + gamma**n * values[t + m] - values[t])
    return out


def n_step_reversed(rewards, values, gamma, n):
    return loop_n_step(rewards, values, gamma, n)[::-1]


def n_step_power_from_start(rewards, values, gamma, n):
    T = len(rewards)
    delta = loop_td_errors(rewards, values, gamma)
    return [sum(gamma**k * delta[k] for k in range(t, min(t + n, T))) for t in range(T)]


def n_step_return_instead(rewards, values, gamma, n):
    return [a + v for a, v in zip(loop_n_step(rewards, values, gamma, n), values, strict=False)]


def n_step_runs_past_the_end(rewards, values, gamma, n):
    delta = loop_td_errors(rewards, values, gamma)  # IndexError once t + n > T
    return [sum(gamma ** (k - t) * delta[k] for k in range(t, t + n)) for t in range(len(delta))]


def n_step_gae_instead(rewards, values, gamma, n):
    return loop_gae(rewards, values, gamma, 0.5)


def n_step_swapped_args(rewards, values, gamma, n):
    return loop_n_step(rewards, values, gamma, max(1, round(gamma * 10)))


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("fn", [loop_gae, double_sum_gae, mixture_gae, torch_gae, torch32_gae])
def test_check_gae_passes_right_answers(fn, capsys):
    """Seed A.5: the recursion, eq. 4 summed directly and eq. 3 all pass check_gae, also as
    torch tensors in float32 (torch's default dtype)."""
    assert check_gae(fn) is True
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("fn", [loop_gae, double_sum_gae, mixture_gae, torch32_gae])
def test_check_lambda_weighted_passes_right_answers(fn, capsys):
    """Seed A.4-A.5: eq. 3 with the finite-episode tail equals eq. 4, so all three pass."""
    assert check_lambda_weighted_advantage(fn) is True
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("fn", [loop_n_step, eq1_n_step, float32_n_step])
def test_check_n_step_passes_right_answers(fn, capsys):
    """Seed A.1: the sum of TD errors and seed eq. 1 (cut at the episode's end) both pass, also
    computed in float32."""
    assert check_n_step_advantage(fn) is True
    assert "PASSED" in capsys.readouterr().out


GAE_WRONG = [
    (gae_no_bootstrap, "bootstrap V(s_T) is replaced by 0"),
    (gae_swapped, "gamma and lam are swapped"),
    (gae_lam_power, "lam^n instead of (gamma * lam)^n"),
    (gae_discount_off_by_one, "discount is off by one"),
    (gae_stored_late, "stored one step late"),
    (gae_reward_shifted, "r(t+1) is used where r(t) belongs"),
    (gae_reward_shifted_back, "r(t-1) is used where r(t) belongs"),
    (gae_starts_from_bootstrap, "starts from V(s_T)"),
    (gae_forward, "runs forwards in time"),
    (gae_returns, "lambda-return"),
    (gae_no_tail_weight, "tail weight"),
    (gae_gamma_only, "gamma^n instead of (gamma * lam)^n"),
    (gae_reversed, "reverse time order"),
    (gae_power_from_start, "counts from the start of the episode"),
    (gae_one_minus_lam, "factor (1 - lam) is kept"),
    (gae_tail_weight_power_n, "tail weight is lam^N"),
    (gae_lam_in_td_error, "hint: the last entry of values is V(s_T)"),  # + how to compute it
    (gae_reward_discounted, None),
    (gae_normalized, None),
    (gae_wrong_length, "expected shape"),
    (gae_raises, "raised IndexError"),
]


@pytest.mark.parametrize("checker", [check_gae, check_lambda_weighted_advantage])
@pytest.mark.parametrize(("fn", "message"), GAE_WRONG, ids=[f.__name__ for f, _ in GAE_WRONG])
def test_gae_checkers_catch_wrong_answers(checker, fn, message, capsys):
    """Seed A.5: every classic GAE mistake is caught, and a known one is named in the hint."""
    assert checker(fn) is False
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    if message is not None:
        assert message in out


def test_unnamed_mistakes_get_the_recipe(capsys):
    """Seed A.1, A.4, A.5: a mistake the checker cannot name gets a hint that says how the right
    answer is computed (the recursion, the finite mixture, the cut sum)."""
    assert check_gae(gae_lam_in_td_error) is False
    assert "A_t = delta_t + gamma lam A_{t+1}" in capsys.readouterr().out
    assert check_lambda_weighted_advantage(gae_lam_in_td_error) is False
    assert "lam^(N-1) A_t^N" in capsys.readouterr().out
    assert check_n_step_advantage(n_step_runs_past_the_end) is False
    out = capsys.readouterr().out
    assert "raised IndexError" in out and "min(t+n, T)" in out


def test_check_gae_catches_a_running_sum_never_reset(capsys):
    """Seed A.5: A_T = 0 must start every episode; a sum carried over from the last call fails."""
    _calls["running"] = 0.0
    assert check_gae(gae_never_reset) is False
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "FAILED case 1/" not in out  # the first call is right


N_STEP_WRONG = [
    (n_step_no_bootstrap, "bootstrap V(s_T) is replaced by 0"),
    (n_step_discount_off_by_one, "discount is off by one"),
    (n_step_too_few, "only n-1 TD errors"),
    (n_step_too_many, "n+1 TD errors"),
    (n_step_reward_shifted, "r(t+1) is used where r(t) belongs"),
    (n_step_reward_shifted_back, "r(t-1) is used where r(t) belongs"),
    (n_step_beyond_end_zero, "taken as 0"),
    (n_step_bootstrap_undiscounted, "gamma^(n-1) instead of gamma^n"),
    (n_step_bootstrap_full_n, "discounted by gamma^n; only T - t steps remain"),
    (n_step_reversed, "reverse time order"),
    (n_step_power_from_start, "counts from the start of the episode"),
    (n_step_return_instead, "n-step return"),
    (n_step_runs_past_the_end, "the sum stops at the last step"),
    (n_step_gae_instead, None),
    (n_step_swapped_args, None),
]


@pytest.mark.parametrize(("fn", "message"), N_STEP_WRONG,
                         ids=[f.__name__ for f, _ in N_STEP_WRONG])
def test_check_n_step_catches_wrong_answers(fn, message, capsys):
    """Seed A.1: every classic n-step mistake is caught, and a known one is named in the hint."""
    assert check_n_step_advantage(fn) is False
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    if message is not None:
        assert message in out


def test_checkers_refuse_a_non_function(capsys):
    """A student who passes the result instead of the function gets a readable message."""
    assert check_gae([1.0, 2.0]) is False
    assert check_n_step_advantage(None) is False
    assert "needs your function itself" in capsys.readouterr().out


def test_check_td_errors(capsys):
    """Seed A.0: the right TD errors pass; a missing bootstrap and a misplaced discount fail."""
    assert check_td_errors(loop_td_errors) is True
    assert check_td_errors(lambda r, v, g: loop_td_errors(r, np.append(v[:-1], 0.0), g)) is False
    assert check_td_errors(lambda r, v, g: [r[k] + v[k + 1] - g * v[k] for k in range(len(r))]) \
        is False
    assert "discount multiplies V(s_k)" in capsys.readouterr().out


def test_checker_cases_cover_the_edge_cases():
    """Seed A.0'-A.6: the cases include a length-1 episode, gamma = 0, lam = 0 and 1, and a
    truncated episode (non-zero bootstrap value), for the GAE and the n-step checkers."""
    from ppo_edu.advantages import gae
    from ppo_edu.checks.advantages import _lambda_cases, _n_step_cases

    gae_cases = _lambda_cases(gae)
    n_cases = _n_step_cases()
    for cases in (gae_cases, n_cases):
        assert any(len(c.args[0]) == 1 for c in cases)             # length-1 episode
        assert any(c.args[2] == 0.0 for c in cases)                # gamma = 0
        assert any(c.args[1][-1] != 0.0 for c in cases)            # truncated: bootstrap != 0
        assert any(c.args[1][-1] == 0.0 for c in cases)            # terminated
    assert {0.0, 1.0} <= {c.args[3] for c in gae_cases}             # lam = 0 and 1
    assert any(c.args[3] > len(c.args[0]) for c in n_cases)        # n longer than the episode
    # the truncated episode is run with every lam, in particular lam = 1, where a missing
    # bootstrap shows most, and the edges are crossed with each other
    truncated = [c for c in gae_cases if "truncated" in c.name and c.args[1][-1] != 0.0]
    assert {c.args[3] for c in truncated} == {0.0, 0.8, 1.0}
    assert {c.args[3] for c in gae_cases if len(c.args[0]) == 1} == {0.0, 0.8, 1.0}
    assert {c.args[3] for c in gae_cases if c.args[2] == 0.0} == {0.0, 0.8, 1.0}
    assert any("truncated" in c.name and c.args[3] > len(c.args[0]) for c in n_cases)


def test_every_known_gae_mistake_is_wrong_somewhere():
    """Seed A.5: no classic mistake the checker names agrees with GAE on every case."""
    from ppo_edu.checks.advantages import _gae_mistakes

    for mistake in _gae_mistakes():
        assert check_gae(mistake.fn) is False, mistake.description
        assert check_lambda_weighted_advantage(mistake.fn) is False, mistake.description
