"""PPO, top to bottom: `train(config)` is the book's pseudocode (seed C.1-C.3) in code.

Chapter "The PPO algorithm" maps every numbered line of the pseudocode to the numbered comments
in `train`; chapters "PPO on CartPole-v1", "Continuous control on Pendulum-v1" and "The details
that matter" run it. The pieces it composes live in their own modules:

* `ppo_edu.rollout`: the sampling phase (correct episode boundaries);
* `ppo_edu.advantages.compute_gae`: advantages and returns (seed A.5, C.2);
* `ppo_edu.surrogate.clipped_objective`: the clipped surrogate (seed B.5);
* `ppo_edu.agent`: the actor-critic and its log-probabilities;
* `ppo_edu.config`: every setting, with presets.

Command line (writes ``DIR/summary.json``, ``DIR/history.csv``, ``DIR/learning_curve.png``)::

    python -m ppo_edu.train --env CartPole-v1 --seed 0 [--total-steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from ppo_edu.advantages import compute_gae
from ppo_edu.agent import ActorCritic, make_agent
from ppo_edu.config import PPOConfig, preset
from ppo_edu.rollout import EnvRunner, make_vector_env
from ppo_edu.surrogate import approx_kl, clip_fraction, clipped_objective, probability_ratio

__all__ = ["TrainResult", "train", "evaluate", "explained_variance", "normalize_advantages",
           "linear_anneal", "main", "HISTORY_KEYS"]

HISTORY_KEYS = (
    "iteration", "env_steps", "wall_time", "learning_rate", "clip_eps",
    "mean_episode_return", "episodes", "policy_objective", "value_loss", "entropy",
    "approx_kl", "clip_fraction", "explained_variance", "eval_return",
)
"""Columns of `TrainResult.history`, one row per iteration (see `train`)."""
_INT_KEYS = frozenset({"iteration", "env_steps", "episodes"})


@dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        agent: the trained `ActorCritic`.
        config: the `PPOConfig` it was trained with.
        history: one dict per iteration with the keys `HISTORY_KEYS`:
            ``env_steps`` so far, ``wall_time`` (training seconds so far, evaluation excluded),
            the ``learning_rate`` and ``clip_eps`` used, ``mean_episode_return`` of the training
            episodes that ended in this iteration (NaN if none) and their number ``episodes``,
            means over all minibatch steps of ``policy_objective`` (``L^CLIP``), ``value_loss``
            and ``entropy`` and ``clip_fraction``, ``approx_kl`` between the policy before and
            after the iteration on its batch, ``explained_variance`` of the returns by the
            critic's values before the update, and ``eval_return`` (NaN if not evaluated).
        evaluations: ``[env steps, mean eval return, training wall seconds so far]`` per
            evaluation (the first one before any training).
        env_steps: environment steps taken.
        wall_time: training seconds, evaluation excluded.
    """

    agent: ActorCritic
    config: PPOConfig
    history: list[dict[str, float]] = field(default_factory=list)
    evaluations: list[list[float]] = field(default_factory=list)
    env_steps: int = 0
    wall_time: float = 0.0

    def column(self, key: str) -> np.ndarray:
        """One history column as an array, e.g. ``result.column("approx_kl")``."""
        if key not in HISTORY_KEYS:
            raise ValueError(f"key must be one of {HISTORY_KEYS}, got {key!r}")
        return np.array([row[key] for row in self.history], dtype=np.float64)

    def first_reaching(self, threshold: float) -> tuple[int, float] | None:
        """``(env steps, wall seconds)`` of the first evaluation after training started (the
        untrained policy's evaluation at step 0 does not count) with mean return >= threshold,
        or None."""
        for steps, mean_return, seconds in self.evaluations:
            if steps > 0 and mean_return >= threshold:
                return int(steps), float(seconds)
        return None


def explained_variance(values: np.ndarray, returns: np.ndarray) -> float:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, 0 no better than a
    constant, negative worse than a constant. NaN if the returns have zero variance."""
    var = float(np.var(returns))
    return math.nan if var == 0.0 else 1.0 - float(np.var(returns - values)) / var


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Standardize a minibatch of advantages: ``(A - mean(A)) / (std(A) + eps)``.

    ``std`` is torch's default, the sample standard deviation (divides by ``n - 1``), as in
    CleanRL and Stable-Baselines3; ``eps`` keeps a constant minibatch finite (it maps to 0).
    Huang et al. 2022, detail 7.

    Args:
        advantages: shape ``(M,)`` with ``M >= 2``.
        eps: added to the standard deviation.

    Returns:
        shape ``(M,)``.
    """
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def linear_anneal(start: float, iteration: int, num_iterations: int) -> float:
    """The value of a linearly annealed setting at a zero-based ``iteration``.

    ``start * (1 - iteration / num_iterations)``: ``start`` in the first iteration,
    ``start / num_iterations`` in the last one (never 0, so the last update still moves).
    Huang et al. 2022, detail 4.
    """
    return start * (1.0 - iteration / num_iterations)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Tiny networks run fastest on one thread; restore the caller's setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(config: PPOConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train an actor-critic with PPO (seed C.1-C.3; Schulman et al. 2017, Algorithm 1).

    Deterministic: the same ``config`` gives the same history bit for bit on CPU (except the
    ``wall_time`` column). Runs torch on one thread (restored on return); seeds torch's global
    generator with ``config.seed`` (for the network's initial weights) and draws actions and
    minibatches from its own ``torch.Generator``.

    Args:
        config: every setting (see `PPOConfig`).
        log: called with one line of text after each evaluation (e.g. ``print``).

    Returns:
        a `TrainResult`.
    """
    with _torch_threads(1):
        return _train(config, log)


def _train(config: PPOConfig, log: Callable[[str], None] | None) -> TrainResult:
    # 0. Initialize the actor-critic theta, the environments and the random generators.
    torch.manual_seed(config.seed)  # network initialization
    generator = torch.Generator().manual_seed(config.seed)  # action sampling and shuffling
    runner = EnvRunner(make_vector_env(config.env_id, config.num_envs), seed=config.seed)
    agent = make_agent(runner.env.single_observation_space, runner.env.single_action_space,
                       config.hidden_sizes, config.init_log_std)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5,
                                 fused=True)
    result = TrainResult(agent=agent, config=config)
    B, M = config.batch_size, config.minibatch_size
    wall = 0.0  # training seconds, evaluation excluded
    next_eval = 0

    def evaluate_now() -> bool:
        """Evaluate, log, and say whether the run should stop (target return reached)."""
        mean_return = float(np.mean(evaluate(agent, config.env_id, config.eval_episodes,
                                             seed=config.seed + 1_000_000)))
        result.evaluations.append([result.env_steps, mean_return, wall])
        if log is not None:
            log(f"steps {result.env_steps:>8d}  train time {wall:7.2f} s  "
                f"eval return {mean_return:9.2f}")
        return config.stop_at_return is not None and mean_return >= config.stop_at_return

    evaluate_now()  # the untrained policy: a point of the curve, never a reason to stop
    stop = False
    next_eval += config.eval_every

    # 1. For iteration = 1, 2, ... (seed C.1):
    for iteration in range(config.num_iterations):
        if stop:
            break
        start = time.perf_counter()
        # Linear annealing of the step size (and of epsilon, if asked), from the start value.
        n_it = config.num_iterations
        lr = (linear_anneal(config.learning_rate, iteration, n_it) if config.anneal_lr
              else config.learning_rate)
        clip_eps = (linear_anneal(config.clip_eps, iteration, n_it) if config.anneal_clip
                    else config.clip_eps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # 2. Sampling phase: run pi_old in N environments for T steps (seed C.1).
        rollout = runner.collect(agent, config.num_steps, generator)

        # 3. Advantages A_t by GAE with the current critic, returns R_t = A_t + V(s_t) (C.2).
        advantages, returns = compute_gae(
            rollout.rewards * config.reward_scale, rollout.values, rollout.next_values,
            rollout.terminated, rollout.truncated, config.gamma, config.lam)

        # Flatten (T, N) to a batch of B = N * T transitions.
        obs = rollout.obs.reshape(B, -1)
        actions = rollout.actions.reshape(B, *rollout.actions.shape[2:])
        logp_old = rollout.logp.reshape(B)
        adv_all = torch.as_tensor(advantages.reshape(B), dtype=torch.float32)
        ret_all = torch.as_tensor(returns.reshape(B), dtype=torch.float32)

        # 4. Learning phase: K epochs over the batch in shuffled minibatches of M (seed C.3).
        sums = np.zeros(4)  # policy objective, value loss, entropy, clip fraction
        for _epoch in range(config.epochs):
            order = torch.randperm(B, generator=generator)
            for first in range(0, B, M):
                idx = order[first:first + M]
                logp, entropy, values = agent.evaluate_actions(obs[idx], actions[idx])
                adv = adv_all[idx]
                if config.normalize_advantages:
                    adv = normalize_advantages(adv)
                # 5. Actor: maximize L^CLIP with the stored advantages (seed B.5).
                policy_objective = clipped_objective(logp, logp_old[idx], adv, clip_eps)
                # 6. Critic: regress V(s_t) on the stored returns.
                value_loss = (values - ret_all[idx]).square().mean()
                loss = (-policy_objective + config.vf_coef * value_loss
                        - config.ent_coef * entropy.mean())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
                optimizer.step()
                with torch.no_grad():
                    ratio = probability_ratio(logp.detach(), logp_old[idx])
                    sums += (policy_objective.item(), value_loss.item(), entropy.mean().item(),
                             clip_fraction(ratio, clip_eps).item())

        # 7. Diagnostics of this iteration.
        with torch.no_grad():
            logp_after, _, _ = agent.evaluate_actions(obs, actions)
            kl = approx_kl(logp_after, logp_old).item()
        wall += time.perf_counter() - start
        result.env_steps += B
        means = sums / config.gradient_steps_per_iteration
        row = {
            "iteration": iteration + 1,
            "env_steps": result.env_steps,
            "wall_time": wall,
            "learning_rate": lr,
            "clip_eps": clip_eps,
            "mean_episode_return": (float(np.mean(rollout.episode_returns))
                                    if rollout.episode_returns else math.nan),
            "episodes": len(rollout.episode_returns),
            "policy_objective": means[0],
            "value_loss": means[1],
            "entropy": means[2],
            "approx_kl": kl,
            "clip_fraction": means[3],
            "explained_variance": explained_variance(rollout.values, returns),
            "eval_return": math.nan,
        }
        if result.env_steps >= next_eval or iteration == config.num_iterations - 1:
            stop = evaluate_now()
            row["eval_return"] = result.evaluations[-1][1]
            while next_eval <= result.env_steps:
                next_eval += config.eval_every
        result.history.append({k: float(v) for k, v in row.items()})

    result.wall_time = wall
    runner.env.close()
    return result


@torch.no_grad()
def evaluate(agent: ActorCritic, env_id: str, n_episodes: int = 10, seed: int = 0,
             deterministic: bool = True) -> np.ndarray:
    """Returns of ``n_episodes`` full episodes of ``agent`` in ``env_id``.

    The episodes run side by side in a vector environment (one episode per sub-environment,
    the first reset seeded with ``seed``); continuous actions are clipped to the bounds.

    Args:
        agent: the actor-critic.
        env_id: gymnasium id, e.g. ``"CartPole-v1"``.
        n_episodes: number of episodes, ``>= 1``.
        seed: seeds the episodes' initial states (and the sampling if not deterministic).
        deterministic: the greedy action (argmax or the Gaussian's mean) if True, a sample if
            False.

    Returns:
        shape ``(n_episodes,)``, the undiscounted returns.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1:
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    env = gym.make_vec(env_id, num_envs=n_episodes)  # CartPole: numpy-vectorized, fast
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(n_episodes)
    running = np.ones(n_episodes, dtype=bool)  # whose first episode is still going
    while running.any():
        x = torch.as_tensor(obs, dtype=torch.float32)
        actions = (agent.deterministic_action(x) if deterministic
                   else agent.sample(x, generator)[0])
        obs, reward, terminated, truncated, _ = env.step(agent.env_action(actions))
        returns += np.where(running, reward, 0.0)
        running &= ~(terminated | truncated)
    env.close()
    return returns


# --------------------------------------------------------------------------- command line


def _write_outputs(result: TrainResult, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "env_id": result.config.env_id,
        "seed": result.config.seed,
        "config": result.config.to_dict(),
        "total_env_steps": result.env_steps,
        "wall_time": result.wall_time,
        "evaluations": result.evaluations,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with open(out / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(HISTORY_KEYS))
        writer.writeheader()
        for row in result.history:  # counts as integers, the rest as floats
            writer.writerow({k: int(v) if k in _INT_KEYS else v for k, v in row.items()})

    from matplotlib.figure import Figure  # no GUI backend needed

    fig = Figure(figsize=(6.4, 4))
    ax = fig.add_subplot()
    ev = np.array(result.evaluations)
    # Iterations in which no training episode ended have NaN: leave them out, so the line is
    # drawn through the others instead of broken into invisible single points.
    steps, train_return = result.column("env_steps"), result.column("mean_episode_return")
    seen = np.isfinite(train_return)
    ax.plot(steps[seen], train_return[seen], color="tab:orange", alpha=0.7,
            label="training episodes ended in the iteration (sampled actions)")
    ax.plot(ev[:, 0], ev[:, 1], color="tab:blue", marker="o", markersize=3,
            label=f"evaluation: mean of {result.config.eval_episodes} episodes "
                  f"(deterministic policy)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean episode return")
    ax.set_title(f"PPO on {result.config.env_id}, seed {result.config.seed}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small")  # below
    fig.savefig(out / "learning_curve.png", dpi=100, bbox_inches="tight")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ppo_edu.train --env CartPole-v1 --seed 0 [--total-steps N] [--out DIR]``.

    Uses the preset for the environment (`ppo_edu.config.preset`), prints progress after each
    evaluation, and writes ``summary.json``, ``history.csv`` and ``learning_curve.png`` to DIR
    (default ``runs/<env>-seed<seed>``). Bad arguments exit with a usage message (status 2).
    """
    parser = argparse.ArgumentParser(
        prog="python -m ppo_edu.train", description="Train PPO on a gymnasium environment.")
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium id (default CartPole-v1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="environment steps (default: the preset's budget)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default runs/<env>-seed<seed>)")
    args = parser.parse_args(argv)

    try:
        gym.spec(args.env)
    except gym.error.Error as exc:
        parser.error(f"--env: unknown environment {args.env!r} ({exc})")
    changes = {} if args.total_steps is None else {"total_steps": args.total_steps}
    try:
        config = preset(args.env, seed=args.seed, **changes)
    except ValueError as exc:
        parser.error(str(exc).replace("total_steps", "--total-steps").replace("seed", "--seed"))
    try:
        probe = make_vector_env(config.env_id, 1)
        make_agent(probe.single_observation_space, probe.single_action_space)
        probe.close()
    except (ValueError, gym.error.Error) as exc:
        parser.error(f"--env {args.env}: not supported ({exc})")
    out = args.out if args.out is not None else Path("runs") / f"{args.env}-seed{args.seed}"
    try:  # fail now, not after the training run
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {out}: cannot create the directory ({exc})")

    print(f"PPO on {config.env_id}, seed {config.seed}, {config.total_steps} env steps, "
          f"{config.num_iterations} iterations of {config.batch_size} steps", flush=True)
    result = train(config, log=lambda line: print(line, flush=True))
    _write_outputs(result, out)
    print(f"done: {result.env_steps} env steps in {result.wall_time:.2f} s of training; "
          f"wrote {out}/summary.json, history.csv, learning_curve.png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
