"""Benchmark: env steps and wall-clock seconds for PPO to solve CartPole-v1 (and Pendulum-v1).

For each seed, ``ppo_edu.train`` with the CartPole preset and Stable-Baselines3's PPO with the
rl-baselines3-zoo CartPole hyperparameters run one after the other in this process, evaluated
the same way: after every ``--eval-every`` env steps, 10 episodes of the deterministic policy
(``gym.make_vec(env_id, num_envs=10)``, the same evaluation seeds for both); the run stops at the
first evaluation whose mean return reaches the threshold (475 for CartPole-v1). Seconds are
training seconds: from the first rollout to that evaluation, evaluation time and setup (building
environments and networks) excluded, for both. ``ppo_edu.train`` runs torch on one thread (it
sets this itself); SB3 runs with torch's default number of threads unless ``--sb3-threads`` is
given.

Run it in a separate venv (SB3 is not a dependency of the book)::

    python3 -m venv /work/venv-bench
    /work/venv-bench/bin/pip install -r requirements.txt -r benchmarks/requirements.txt
    /work/venv-bench/bin/python benchmarks/run_benchmark.py --seeds 5 --out benchmarks/results.json

``--pendulum-seeds 3`` adds ``ppo_edu`` on Pendulum-v1 (threshold -200).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from ppo_edu.config import cartpole_config, pendulum_config
from ppo_edu.train import train

EVAL_EPISODES = 10
EVAL_SEED_OFFSET = 1_000_000  # the seed ppo_edu.train uses for its evaluations


def evaluate_policy(act: Callable[[np.ndarray], np.ndarray], env_id: str, seed: int) -> float:
    """Mean return of EVAL_EPISODES episodes side by side, as `ppo_edu.train.evaluate` runs them."""
    env = gym.make_vec(env_id, num_envs=EVAL_EPISODES)
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(EVAL_EPISODES)
    running = np.ones(EVAL_EPISODES, dtype=bool)
    while running.any():
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        returns += np.where(running, reward, 0.0)
        running &= ~(terminated | truncated)
    env.close()
    return float(returns.mean())


def run_ppo_edu(env_id: str, seed: int, threshold: float, eval_every: int,
                max_steps: int) -> dict[str, object]:
    make = cartpole_config if env_id == "CartPole-v1" else pendulum_config
    config = make(seed=seed, stop_at_return=threshold, eval_every=eval_every,
                  eval_episodes=EVAL_EPISODES, total_steps=max_steps)
    result = train(config)
    reached = result.first_reaching(threshold)
    return {"solved": reached is not None,
            "steps": reached[0] if reached else None,
            "seconds": reached[1] if reached else None,
            "steps_run": result.env_steps, "seconds_run": result.wall_time}


def run_sb3(seed: int, threshold: float, eval_every: int, max_steps: int) -> dict[str, object]:
    """SB3 PPO with rl-baselines3-zoo's CartPole-v1 hyperparameters (hyperparams/ppo.yml)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    def linear(start: float) -> Callable[[float], float]:
        return lambda progress_remaining: progress_remaining * start

    class EvalAndTime(BaseCallback):
        """Evaluate at every multiple of eval_every env steps, after the update (at the start
        of the next rollout); keep training time without evaluation; stop when solved."""

        def __init__(self) -> None:
            super().__init__()
            self.train_seconds = 0.0
            self.t0: float | None = None
            self.next_eval = 0
            self.reached: tuple[int, float] | None = None

        def _on_rollout_start(self) -> None:
            now = time.perf_counter()
            if self.t0 is not None:
                self.train_seconds += now - self.t0
            if self.model.num_timesteps >= self.next_eval:
                mean = evaluate_policy(
                    lambda obs: self.model.predict(obs, deterministic=True)[0],
                    "CartPole-v1", seed + EVAL_SEED_OFFSET)
                while self.next_eval <= self.model.num_timesteps:
                    self.next_eval += eval_every
                # as for ppo_edu, the untrained policy's evaluation (step 0) does not count
                if mean >= threshold and self.reached is None and self.model.num_timesteps > 0:
                    self.reached = (self.model.num_timesteps, self.train_seconds)
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            return self.reached is None

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                n_epochs=20, ent_coef=0.0, learning_rate=linear(1e-3), clip_range=linear(0.2),
                seed=seed, device="cpu", verbose=0)
    callback = EvalAndTime()
    model.learn(total_timesteps=max_steps, callback=callback)
    if callback.reached is None:  # a last evaluation after the final update
        callback._on_rollout_start()
    env.close()
    r = callback.reached
    return {"solved": r is not None, "steps": r[0] if r else None,
            "seconds": r[1] if r else None, "steps_run": int(model.num_timesteps),
            "seconds_run": callback.train_seconds}


def median_of(runs: list[dict[str, object]], key: str) -> float:
    """Median over seeds; an unsolved run counts as infinitely slow."""
    return statistics.median(r[key] if r["solved"] else float("inf") for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=1024)
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--pendulum-seeds", type=int, default=3)
    parser.add_argument("--no-sb3", action="store_true", help="skip Stable-Baselines3")
    parser.add_argument("--sb3-threads", type=int, default=None,
                        help="torch threads for SB3 (default: torch's default, as SB3 runs "
                             "out of the box; ppo_edu.train always uses 1)")
    parser.add_argument("--out", default=None, help="write all numbers to this JSON file")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    sb3_threads = args.sb3_threads or default_threads

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "gymnasium": gym.__version__, "cpus": os.cpu_count(),
            "load_before": os.getloadavg(), "sb3_torch_threads": sb3_threads,
            "ppo_edu_torch_threads": 1}
    if not args.no_sb3:
        import stable_baselines3
        info["stable_baselines3"] = stable_baselines3.__version__
    print(info, flush=True)

    ours: list[dict[str, object]] = []
    sb3: list[dict[str, object]] = []
    for seed in range(args.seeds):
        ours.append(run_ppo_edu("CartPole-v1", seed, 475.0, args.eval_every, args.max_steps))
        print(f"CartPole-v1 seed {seed}  ppo_edu: {ours[-1]}", flush=True)
        if not args.no_sb3:
            torch.set_num_threads(sb3_threads)
            sb3.append(run_sb3(seed, 475.0, args.eval_every, args.max_steps))
            torch.set_num_threads(default_threads)
            print(f"CartPole-v1 seed {seed}  SB3:     {sb3[-1]}", flush=True)

    pendulum = []
    for seed in range(args.pendulum_seeds):
        # eval_every 1,024 < the batch of 2,048: an evaluation after every iteration
        pendulum.append(run_ppo_edu("Pendulum-v1", seed, -200.0, args.eval_every, 200_000))
        print(f"Pendulum-v1 seed {seed}  ppo_edu: {pendulum[-1]}", flush=True)
    info["load_after"] = os.getloadavg()

    print("\nCartPole-v1, mean eval return >= 475 (median over seeds):")
    print(f"  ppo_edu: {median_of(ours, 'steps'):.0f} steps, {median_of(ours, 'seconds'):.2f} s, "
          f"{sum(r['solved'] for r in ours)}/{len(ours)} solved")
    if sb3:
        print(f"  SB3:     {median_of(sb3, 'steps'):.0f} steps, {median_of(sb3, 'seconds'):.2f} s, "
              f"{sum(r['solved'] for r in sb3)}/{len(sb3)} solved")
        print(f"  wall-clock ratio ppo_edu / SB3: "
              f"{median_of(ours, 'seconds') / median_of(sb3, 'seconds'):.3f}")
    if pendulum:
        print(f"Pendulum-v1, mean eval return >= -200: median "
              f"{median_of(pendulum, 'steps'):.0f} steps, {median_of(pendulum, 'seconds'):.2f} s, "
              f"{sum(r['solved'] for r in pendulum)}/{len(pendulum)} solved")
    print(f"load average before {info['load_before']}, after {info['load_after']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "cartpole_ppo_edu": ours, "cartpole_sb3": sb3,
                       "pendulum_ppo_edu": pendulum}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
