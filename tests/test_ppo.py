"""Tests of the PPO trainer (seed part C): `ppo_edu.config`, `ppo_edu.agent`, `ppo_edu.rollout`,
`ppo_edu.train`.

Oracles: independent, hand-stepped gymnasium environments for the rollout's episode boundaries;
`torch.distributions` for the log-probabilities; a second run for determinism; env steps (never
time) for learning.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from ppo_edu.advantages import compute_gae
from ppo_edu.agent import (
    ActorCritic,
    categorical_entropy,
    categorical_log_prob,
    gaussian_entropy,
    gaussian_log_prob,
    make_agent,
)
from ppo_edu.config import PPOConfig, cartpole_config, pendulum_config, preset
from ppo_edu.rollout import EnvRunner, make_vector_env
from ppo_edu.train import HISTORY_KEYS, evaluate, explained_variance, main, train

# --------------------------------------------------------------------------- rollout boundaries


def _runner_and_agent(env_id: str, num_envs: int, max_steps: int, seed: int,
                      log_std: float = 0.0) -> tuple[EnvRunner, ActorCritic]:
    env = make_vector_env(env_id, num_envs, max_episode_steps=max_steps)
    torch.manual_seed(seed)
    agent = make_agent(env.single_observation_space, env.single_action_space,
                       init_log_std=log_std)
    with torch.no_grad():  # a critic with visibly different values for different states
        agent.critic[-1].weight.mul_(50.0)
    return EnvRunner(env, seed=seed), agent


@pytest.mark.parametrize("env_id, max_steps, log_std", [
    ("CartPole-v1", 18, 0.0),   # random episodes terminate (~20 steps) or hit the limit of 18
    ("Pendulum-v1", 7, 1.0),    # never terminates; truncated every 7 steps; actions often clipped
])
def test_rollout_matches_hand_stepped_envs(env_id: str, max_steps: int, log_std: float) -> None:
    """Seed C.1/C.2: every stored transition (s_t, a_t, r_t, s_{t+1}) is one a single,
    hand-stepped environment produces; at an episode's end the next stored state is the reset
    one, and next_values is V(real final obs) if truncated, 0 if terminated."""
    N, T, seed = 4, 50, 7
    runner, agent = _runner_and_agent(env_id, N, max_steps, seed, log_std)
    gen = torch.Generator().manual_seed(0)
    rollouts = [runner.collect(agent, T, gen), runner.collect(agent, T, gen)]

    hand = [gym.make(env_id, max_episode_steps=max_steps) for _ in range(N)]
    hand_obs = [h.reset(seed=seed + i)[0] for i, h in enumerate(hand)]
    value = lambda o: agent.value(torch.as_tensor(o, dtype=torch.float32)[None])[0].item()  # noqa: E731
    counts = {"terminated": 0, "truncated": 0, "clipped": 0}
    ep_returns: list[list[float]] = [[] for _ in range(N)]
    running = [0.0] * N
    for ro in rollouts:
        for t in range(T):
            for i in range(N):
                np.testing.assert_array_equal(ro.obs[t, i].numpy(), hand_obs[i])
                a = ro.actions[t, i]
                env_a = agent.env_action(a[None])[0]
                if agent.continuous and not torch.equal(torch.as_tensor(env_a), a):
                    counts["clipped"] += 1  # stored action unclipped, env got the clipped one
                obs, r, term, trunc, _ = hand[i].step(env_a)
                assert ro.rewards[t, i] == pytest.approx(float(r), abs=0, rel=1e-6)
                assert ro.terminated[t, i] == term and ro.truncated[t, i] == trunc
                running[i] += float(r)
                if term:
                    counts["terminated"] += 1
                    assert ro.next_values[t, i] == 0.0
                elif trunc:
                    counts["truncated"] += 1
                    assert ro.next_values[t, i] == pytest.approx(value(obs), rel=1e-4, abs=1e-5)
                    # the reset observation's value would be a different number
                if term or trunc:
                    ep_returns[i].append(running[i])
                    running[i] = 0.0
                    obs, _ = hand[i].reset()
                else:
                    assert ro.next_values[t, i] == pytest.approx(value(obs), rel=1e-4, abs=1e-5)
                hand_obs[i] = obs
    assert counts["truncated"] > 3
    if env_id == "CartPole-v1":
        assert counts["terminated"] > 3
    else:
        assert counts["clipped"] > 10
    # Episode returns are reported per finished episode, in the order they ended.
    reported = sorted(rollouts[0].episode_returns + rollouts[1].episode_returns)
    assert reported == pytest.approx(sorted(sum(ep_returns, [])))


def test_truncated_step_bootstraps_from_final_obs_terminated_does_not() -> None:
    """Seed A.0'/C.2: with the rollout's next_values, compute_gae's return at a truncated step
    is r + gamma V(final obs) and at a terminated step just r (lam = 0)."""
    runner, agent = _runner_and_agent("CartPole-v1", 4, 12, seed=3)
    ro = runner.collect(agent, 60, torch.Generator().manual_seed(1))
    gamma = 0.9
    _, returns = compute_gae(ro.rewards, ro.values, ro.next_values, ro.terminated,
                             ro.truncated, gamma, 0.0)
    trunc = ro.truncated & ~ro.terminated
    assert trunc.any() and ro.terminated.any()
    np.testing.assert_allclose(returns[ro.terminated], ro.rewards[ro.terminated])
    np.testing.assert_allclose(returns[trunc], ro.rewards[trunc] + gamma * ro.next_values[trunc])
    # and V(final obs) is not V(reset obs), the value of the next stored state:
    t, i = np.argwhere(trunc[:-1])[0]
    assert ro.next_values[t, i] != pytest.approx(ro.values[t + 1, i])


def test_runner_rejects_next_step_autoreset() -> None:
    """Seed C.1: a vector env that resets on the next step would inject a bogus transition;
    EnvRunner refuses it."""
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="SAME_STEP"):
        EnvRunner(env, seed=0)


# --------------------------------------------------------------------------- log-probabilities


def test_gaussian_log_prob_and_entropy_match_torch_distributions() -> None:
    """Gaussian policy: log pi(a|s) and the entropy against torch.distributions.Normal."""
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(50, 3, generator=g, dtype=torch.float64)
    log_std = torch.randn(3, generator=g, dtype=torch.float64)
    actions = mean + 3.0 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    ref = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_log_prob(mean, log_std, actions),
                               ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(gaussian_entropy(log_std, 50), ref.entropy().sum(-1))
    # and with a per-sample log-std
    log_std_b = torch.randn(50, 3, generator=g, dtype=torch.float64)
    ref_b = torch.distributions.Normal(mean, log_std_b.exp())
    torch.testing.assert_close(gaussian_log_prob(mean, log_std_b, actions),
                               ref_b.log_prob(actions).sum(-1))


def test_categorical_log_prob_and_entropy_match_torch_distributions() -> None:
    """Categorical policy: log pi(a|s) and the entropy against torch.distributions.Categorical."""
    g = torch.Generator().manual_seed(1)
    logits = 3.0 * torch.randn(40, 5, generator=g, dtype=torch.float64)
    actions = torch.randint(0, 5, (40,), generator=g)
    ref = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(categorical_log_prob(logits, actions), ref.log_prob(actions))
    torch.testing.assert_close(categorical_entropy(logits), ref.entropy())


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_sample_logp_equals_evaluate_actions_logp(env_id: str) -> None:
    """logp_old stored while sampling is the log-probability the learning phase recomputes
    (ratio exactly 1 before the first update), and sampled actions follow the policy."""
    env = make_vector_env(env_id, 1)
    torch.manual_seed(0)
    agent = make_agent(env.single_observation_space, env.single_action_space, init_log_std=0.5)
    obs = torch.randn(4000, agent.obs_dim)
    with torch.no_grad():
        actions, logp, values = agent.sample(obs, torch.Generator().manual_seed(0))
        logp2, _, values2 = agent.evaluate_actions(obs, actions)
    torch.testing.assert_close(logp, logp2)
    torch.testing.assert_close(values, values2)
    if agent.continuous:  # unbounded samples: z-scores are standard normal
        with torch.no_grad():
            z = (actions - agent.actor(obs)) / agent.log_std.exp()
        assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1.0) < 0.05
        assert (actions.abs() > 2.0).any()  # outside Pendulum's bounds, stored unclipped
        sent = agent.env_action(actions)
        assert sent.min() == -2.0 and sent.max() == 2.0


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("field, value, match", [
    ("gamma", 1.5, "gamma"), ("lam", -0.1, "lam"), ("gamma", math.nan, "gamma"),
    ("clip_eps", 0.0, "clip_eps"), ("clip_eps", 1.0, "clip_eps"),
    ("learning_rate", -1e-3, "learning_rate"),
    ("epochs", 0, "epochs"), ("num_envs", 2.5, "num_envs"), ("num_steps", True, "num_steps"),
    ("minibatch_size", 100, "minibatch_size"), ("minibatch_size", 1, "minibatch_size"),
    ("total_steps", 10, "total_steps"),
    ("ent_coef", -0.1, "ent_coef"), ("vf_coef", math.inf, "vf_coef"),
    ("max_grad_norm", 0.0, "max_grad_norm"), ("hidden_sizes", (64, 0), "hidden_sizes"),
    ("hidden_sizes", [64], "hidden_sizes"), ("seed", -1, "seed"), ("env_id", "", "env_id"),
    ("anneal_lr", 1, "anneal_lr"), ("eval_episodes", 0, "eval_episodes"),
])
def test_config_rejects_invalid_values(field: str, value: object, match: str) -> None:
    """PPOConfig: every invalid value raises a ValueError naming the field."""
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(PPOConfig(), **{field: value})


def test_config_derived_sizes_and_presets() -> None:
    """PPOConfig (seed C.1/C.3): batch N*T, N*T/M minibatches, K*N*T/M gradient steps."""
    cfg = PPOConfig(num_envs=4, num_steps=64, minibatch_size=64, epochs=3, total_steps=1000)
    assert cfg.batch_size == 256 and cfg.num_minibatches == 4
    assert cfg.gradient_steps_per_iteration == 12 and cfg.num_iterations == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.gamma = 0.5  # type: ignore[misc]
    assert preset("CartPole-v1", seed=2) == cartpole_config(seed=2)
    assert preset("Pendulum-v1").env_id == "Pendulum-v1" == pendulum_config().env_id
    assert preset("Acrobot-v1", total_steps=4096).total_steps == 4096
    assert json.loads(json.dumps(cfg.to_dict()))["hidden_sizes"] == [64, 64]


def test_config_accepts_numpy_integers_as_int() -> None:
    """PPOConfig: a seed from np.arange is an integer (stored as a Python int, JSON-friendly);
    a float, even integral, is not."""
    cfg = cartpole_config(seed=np.arange(5)[3], total_steps=np.int32(4096))
    assert cfg.seed == 3 and type(cfg.seed) is int and type(cfg.total_steps) is int
    assert json.loads(json.dumps(cfg.to_dict()))["seed"] == 3
    with pytest.raises(ValueError, match="seed"):
        cartpole_config(seed=3.0)


def test_explained_variance() -> None:
    """Diagnostic: 1 for a perfect critic, 0 for the mean, negative for a worse one."""
    ret = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(ret, ret) == 1.0
    assert explained_variance(np.full(4, 2.5), ret) == pytest.approx(0.0)
    assert explained_variance(-ret, ret) < 0.0


# --------------------------------------------------------------------------- training


def _small(env_id: str, seed: int = 0) -> PPOConfig:
    if env_id == "CartPole-v1":
        return cartpole_config(seed=seed, total_steps=1024, eval_every=512, eval_episodes=2)
    return pendulum_config(seed=seed, num_envs=2, num_steps=128, total_steps=512,
                           eval_every=256, eval_episodes=2)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_same_config_same_history_bit_for_bit(env_id: str) -> None:
    """Determinism: the same config and seed give the same history and weights, bit for bit;
    another seed gives another history."""
    a, b, c = train(_small(env_id)), train(_small(env_id)), train(_small(env_id, seed=1))
    keys = [k for k in HISTORY_KEYS if k != "wall_time"]
    ha = np.array([[row[k] for k in keys] for row in a.history])
    hb = np.array([[row[k] for k in keys] for row in b.history])
    hc = np.array([[row[k] for k in keys] for row in c.history])
    np.testing.assert_array_equal(ha, hb)
    assert not np.array_equal(ha, hc, equal_nan=True)
    assert [e[:2] for e in a.evaluations] == [e[:2] for e in b.evaluations]
    for pa, pb in zip(a.agent.parameters(), b.agent.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_history_records_every_iteration() -> None:
    """TrainResult: one row per iteration, env steps N*T apart, finite diagnostics, the
    annealed learning rate, and evaluations every eval_every steps (first one before training)."""
    cfg = _small("CartPole-v1")
    res = train(cfg)
    assert len(res.history) == cfg.num_iterations == 4
    np.testing.assert_array_equal(res.column("env_steps"), [256, 512, 768, 1024])
    np.testing.assert_allclose(res.column("learning_rate"),
                               cfg.learning_rate * np.array([1, .75, .5, .25]))
    for key in ("policy_objective", "value_loss", "entropy", "approx_kl", "clip_fraction",
                "explained_variance"):
        assert np.all(np.isfinite(res.column(key))), key
    assert np.all(res.column("approx_kl") >= 0)
    assert [e[0] for e in res.evaluations] == [0, 512, 1024]
    assert res.env_steps == 1024 and np.all(np.diff(res.column("wall_time")) > 0)


def test_cartpole_return_rises_well_above_random() -> None:
    """Learning (seed C.1-C.3): within 20,480 env steps the deterministic policy's mean
    return on CartPole-v1 goes from about 9 (an untrained, greedy policy) far above the ~22
    of random actions."""
    res = train(cartpole_config(seed=0, total_steps=20_480, eval_every=4096, eval_episodes=5))
    returns = [e[1] for e in res.evaluations]
    assert returns[0] < 50
    assert max(returns) >= 300 and returns[-1] >= 200


def test_evaluate_is_deterministic_and_counts_whole_episodes() -> None:
    """evaluate: the same seed gives the same returns; an always-left policy on CartPole gets
    the same returns as hand-stepped single environments (episodes end at termination)."""
    env = make_vector_env("CartPole-v1", 1)
    torch.manual_seed(0)
    agent = make_agent(env.single_observation_space, env.single_action_space)
    with torch.no_grad():  # always action 0
        agent.actor[-1].weight.zero_()
        agent.actor[-1].bias.copy_(torch.tensor([1.0, 0.0]))
    r1 = evaluate(agent, "CartPole-v1", 5, seed=3)
    np.testing.assert_array_equal(r1, evaluate(agent, "CartPole-v1", 5, seed=3))
    assert r1.shape == (5,) and np.all((r1 >= 8) & (r1 <= 12))
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(agent, "CartPole-v1", 0)


# --------------------------------------------------------------------------- command line


def test_cli_writes_summary_history_and_curve(tmp_path, capsys) -> None:
    """CLI: summary.json (env id, seed, config, steps, wall time, eval curve of
    [steps, mean return, training seconds]), history.csv with one row per iteration, a PNG."""
    out = tmp_path / "run"
    assert main(["--env", "CartPole-v1", "--seed", "3", "--total-steps", "2048",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "eval return" in printed and "done" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_id"] == "CartPole-v1" and summary["seed"] == 3
    assert summary["config"]["total_steps"] == 2048 and summary["total_env_steps"] == 2048
    curve = np.array(summary["evaluations"])
    assert curve.shape[1] == 3 and curve[0, 0] == 0 and curve[-1, 0] == 2048
    assert np.all(np.diff(curve[:, 2]) >= 0) and curve[-1, 2] <= summary["wall_time"] + 1e-9
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and list(rows[0]) == list(HISTORY_KEYS)
    assert [rows[0]["iteration"], rows[0]["env_steps"]] == ["1", "256"]  # counts as integers
    assert float(rows[-1]["eval_return"]) == curve[-1, 1]
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, match", [
    (["--total-steps", "-5"], "total-steps"),
    (["--total-steps", "ten"], "invalid int"),
    (["--env", "NoSuchEnv-v0"], "unknown environment"),
    (["--seed", "-1"], "seed"),
    (["--bogus"], "unrecognized"),
    (["--out", "{file}/sub"], "cannot create"),
])
def test_cli_bad_arguments_give_usage(argv: list[str], match: str, capsys, tmp_path) -> None:
    """CLI: bad arguments exit with status 2 and a usage message, not a traceback."""
    a_file = tmp_path / "not_a_directory"
    a_file.write_text("")
    with pytest.raises(SystemExit) as exc:
        main([arg.replace("{file}", str(a_file)) for arg in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and match in err and "Traceback" not in err


def test_cli_runs_as_module() -> None:
    """`python -m ppo_edu.train` is the entry point (a bad argument shows the usage)."""
    proc = subprocess.run([sys.executable, "-m", "ppo_edu.train", "--total-steps", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "Traceback" not in proc.stderr
