"""The sampling phase: run the current policy in ``N`` environments for ``T`` steps (seed C.1, C.2).

Chapter "The PPO algorithm" explains this module; `tests/test_ppo.py` replays a rollout step by
step in independent, hand-stepped environments to show that no transition crosses an episode
boundary.

Episode boundaries. A gymnasium 1.x vector environment resets a finished sub-environment by
default on the *next* call to ``step`` (``AutoresetMode.NEXT_STEP``): that call ignores the action
and returns the reset observation with reward 0, a transition that never happened. We build the
vector environment with ``AutoresetMode.SAME_STEP`` instead: the step that ends an episode
already returns the first observation of the next episode, and the real last observation of the
finished one is in ``infos["final_obs"]``. So every stored transition
``(s_t, a_t, r_t, s_{t+1})`` is real, and

* if the episode **terminated** at step ``t``, ``s_{t+1}`` is terminal: no bootstrap;
* if it was **truncated** (time limit), ``next_values[t] = V(final_obs)``, the critic's value of
  the real last state, not of the reset state;
* otherwise ``next_values[t] = V(s_{t+1}) = values[t + 1]``, and at the end of the rollout
  ``V`` of the current observation.

``compute_gae`` takes ``terminated`` and ``truncated`` separately and does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ppo_edu.agent import ActorCritic

__all__ = ["Rollout", "EnvRunner", "make_vector_env"]


def make_vector_env(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` stepped in this process, reset in the same step.

    ``env_kwargs`` go to ``gym.make`` for every copy (e.g. ``max_episode_steps=50``). On
    ``reset(seed=s)`` sub-environment ``i`` is seeded with ``s + i``; later resets are unseeded
    and continue each sub-environment's own random generator.

    Gymnasium's numpy-vectorized CartPole (``vectorization_mode="vector_entry_point"``) only
    implements the next-step reset, so we use the synchronous vector environment, whose
    same-step mode reports the real final observation.
    """
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs,
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )


@dataclass
class Rollout:
    """One batch of ``T`` steps from ``N`` environments, stored time-major.

    ========== ================= ===========================================================
    field      shape             meaning
    ========== ================= ===========================================================
    obs        ``(T, N, obs)``   ``s_t`` (float32 tensor)
    actions    ``(T, N[, d])``   ``a_t`` as sampled (unclipped for a Gaussian policy)
    logp       ``(T, N)``        ``log pi_old(a_t | s_t)``, the behaviour policy's
    values     ``(T, N)``        ``V(s_t)`` (float64 array)
    next_values ``(T, N)``       ``V(s_{t+1})`` of the real next state (see the module doc);
                                 0 where terminated
    rewards    ``(T, N)``        ``r_t`` as returned by the environment (float64)
    terminated ``(T, N)``        bool, ``s_{t+1}`` is terminal
    truncated  ``(T, N)``        bool, the episode was cut after step ``t`` (time limit)
    ========== ================= ===========================================================

    ``episode_returns`` and ``episode_lengths`` list the (undiscounted, unscaled) return and the
    length of every episode that ended during this rollout.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: np.ndarray
    next_values: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)


class EnvRunner:
    """Holds a vector environment between rollouts: its current observation and the running
    return and length of each unfinished episode.

    Args:
        env: a vector environment in ``AutoresetMode.SAME_STEP`` (see `make_vector_env`).
        seed: seeds the first reset (sub-environment ``i`` gets ``seed + i``).
    """

    def __init__(self, env: gym.vector.VectorEnv, seed: int) -> None:
        if env.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError("env must reset in the same step (AutoresetMode.SAME_STEP), got "
                             f"{env.metadata.get('autoreset_mode')}; use make_vector_env")
        self.env = env
        self.num_envs = env.num_envs
        obs, _ = env.reset(seed=seed)
        self.obs = torch.as_tensor(obs, dtype=torch.float32)
        self.running_return = np.zeros(self.num_envs)
        self.running_length = np.zeros(self.num_envs, dtype=np.int64)

    @torch.no_grad()
    def collect(self, agent: ActorCritic, num_steps: int,
                generator: torch.Generator | None = None) -> Rollout:
        """Run ``agent`` for ``num_steps`` steps in every environment (seed C.1's sampling phase).

        Returns:
            a `Rollout` with ``T = num_steps``.
        """
        T, N = num_steps, self.num_envs
        obs_buf = torch.empty((T, N, agent.obs_dim))
        act_shape = (T, N, agent.action_dim) if agent.continuous else (T, N)
        act_buf = torch.empty(act_shape, dtype=torch.float32 if agent.continuous else torch.long)
        logp_buf = torch.empty((T, N))
        values = np.empty((T, N))
        next_values = np.empty((T, N))
        rewards = np.empty((T, N))
        terminated = np.empty((T, N), dtype=bool)
        truncated = np.empty((T, N), dtype=bool)
        final_values: dict[tuple[int, int], float] = {}
        episode_returns: list[float] = []
        episode_lengths: list[int] = []

        for t in range(T):
            obs_buf[t] = self.obs
            actions, logp, value = agent.sample(self.obs, generator)
            act_buf[t] = actions
            logp_buf[t] = logp
            values[t] = value.numpy()

            next_obs, reward, term, trunc, infos = self.env.step(agent.env_action(actions))
            rewards[t] = reward
            terminated[t] = term
            truncated[t] = trunc
            self.obs = torch.as_tensor(next_obs, dtype=torch.float32)

            self.running_return += reward
            self.running_length += 1
            done = term | trunc
            if done.any():
                # The real last observation of each finished episode (next_obs holds the reset).
                cut = np.flatnonzero(trunc & ~term)
                if cut.size:
                    final_obs = torch.as_tensor(
                        np.stack([infos["final_obs"][i] for i in cut]), dtype=torch.float32)
                    for i, v in zip(cut, agent.value(final_obs).numpy(), strict=True):
                        final_values[(t, int(i))] = float(v)
                for i in np.flatnonzero(done):
                    episode_returns.append(float(self.running_return[i]))
                    episode_lengths.append(int(self.running_length[i]))
                self.running_return[done] = 0.0
                self.running_length[done] = 0

        # V(s_{t+1}): the next stored state, or the current observation after the last step ...
        next_values[:-1] = values[1:]
        next_values[-1] = agent.value(self.obs).numpy()
        # ... but at an episode's end the next stored state belongs to the next episode:
        for (t, i), v in final_values.items():
            next_values[t, i] = v  # truncated: bootstrap with V(real final observation)
        next_values[terminated] = 0.0  # terminated: the terminal state's value is 0

        return Rollout(obs_buf, act_buf, logp_buf, values, next_values, rewards, terminated,
                       truncated, episode_returns, episode_lengths)
