r"""The actor-critic: a policy network (the actor) and a value network (the critic), seed C.1-C.3.

Chapters "The PPO algorithm" (discrete actions) and "Continuous control on Pendulum-v1"
(the Gaussian policy) explain this module. Two policies, written out as formulas:

* **categorical** (discrete actions): the actor outputs logits ``z``; then
  ``log pi(a|s) = z_a - log sum_b exp(z_b)`` and the entropy is ``-sum_b pi_b log pi_b``;
* **Gaussian** (continuous actions, diagonal): the actor outputs the mean ``mu(s)``; the
  log-standard deviation ``log sigma`` is a learned vector that does not depend on the state;

  .. math:: \log \pi(a|s) = \sum_i \Big[-\frac{(a_i - \mu_i)^2}{2\sigma_i^2}
            - \log \sigma_i - \tfrac12 \log 2\pi\Big], \qquad
            H = \sum_i \Big[\tfrac12 + \tfrac12\log 2\pi + \log\sigma_i\Big].

Actions outside the environment's bounds: the Gaussian is sampled *unbounded*, the trainer
stores that unclipped action (its log-probability is the one of the distribution that was
sampled), and only the copy sent to the environment is clipped to the bounds
(`env_action`). Clipping the stored action would make ``logp_old`` the density of an action
that was never drawn (the clipped value has probability mass, not density, under the policy).

Networks: separate actor and critic MLPs with tanh hidden layers, orthogonal initialization
with gain ``sqrt(2)`` for hidden layers, 0.01 for the policy output and 1 for the value output
(Huang et al. 2022, details 2 and 3).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

__all__ = [
    "ActorCritic",
    "categorical_log_prob",
    "categorical_entropy",
    "gaussian_log_prob",
    "gaussian_entropy",
    "make_agent",
]

_LOG_2PI = math.log(2.0 * math.pi)


def categorical_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``log pi(a|s)`` of a categorical policy.

    Args:
        logits: shape ``(B, n_actions)``, unnormalized log-probabilities ``z``.
        actions: shape ``(B,)``, integer actions in ``[0, n_actions)``.

    Returns:
        shape ``(B,)``, ``z_a - logsumexp(z)``.
    """
    return logits.log_softmax(-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy ``-sum_b pi_b log pi_b`` of a categorical policy, shape ``(B,)``."""
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor,
                      actions: torch.Tensor) -> torch.Tensor:
    """``log pi(a|s)`` of a diagonal Gaussian policy, summed over action dimensions.

    Args:
        mean: shape ``(B, d)``, ``mu(s)``.
        log_std: shape ``(d,)`` or ``(B, d)``, ``log sigma``.
        actions: shape ``(B, d)``, the *unclipped* sampled actions.

    Returns:
        shape ``(B,)``.
    """
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - 0.5 * _LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor, batch: int) -> torch.Tensor:
    """Entropy ``sum_i (1/2 + log(2 pi)/2 + log sigma_i)``, repeated: shape ``(batch,)``."""
    return (0.5 + 0.5 * _LOG_2PI + log_std).sum(-1).expand(batch)


def _mlp(sizes: list[int], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, gain=out_gain if last else math.sqrt(2.0))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Actor and critic for a flat observation vector.

    Args:
        obs_dim: length of the observation vector.
        action_dim: number of actions (discrete) or action dimensions (continuous).
        continuous: Gaussian policy if True, categorical if False.
        hidden_sizes: widths of the tanh hidden layers.
        init_log_std: initial ``log sigma`` (continuous only).
        action_low, action_high: the environment's bounds, shape ``(action_dim,)``
            (continuous only; used by `env_action`).
    """

    def __init__(self, obs_dim: int, action_dim: int, continuous: bool,
                 hidden_sizes: tuple[int, ...] = (64, 64), init_log_std: float = 0.0,
                 action_low: np.ndarray | None = None,
                 action_high: np.ndarray | None = None) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.continuous = continuous
        sizes = [obs_dim, *hidden_sizes]
        self.actor = _mlp([*sizes, action_dim], out_gain=0.01)
        self.critic = _mlp([*sizes, 1], out_gain=1.0)
        if continuous:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
            low = np.full(action_dim, -np.inf) if action_low is None else action_low
            high = np.full(action_dim, np.inf) if action_high is None else action_high
            self.register_buffer("action_low", torch.as_tensor(low, dtype=torch.float32))
            self.register_buffer("action_high", torch.as_tensor(high, dtype=torch.float32))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(s)``, shape ``(B,)``."""
        return self.critic(obs).squeeze(-1)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw actions from the policy (no gradient needed; call under ``torch.no_grad``).

        Returns:
            ``(actions, logp, values)``: actions ``(B,)`` integers or ``(B, d)`` unclipped
            floats, their log-probabilities ``(B,)`` and ``V(s)`` ``(B,)``.
        """
        out = self.actor(obs)
        if self.continuous:
            noise = torch.randn(out.shape, generator=generator)
            actions = out + noise * self.log_std.exp()
            logp = gaussian_log_prob(out, self.log_std, actions)
        else:
            logp_all = out.log_softmax(-1)
            actions = torch.multinomial(logp_all.exp(), 1, generator=generator).squeeze(-1)
            logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return actions, logp, self.value(obs)

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probabilities of given actions under the current policy, the entropy and ``V(s)``.

        Returns:
            ``(logp, entropy, values)``, each of shape ``(B,)``, differentiable.
        """
        out = self.actor(obs)
        if self.continuous:
            logp = gaussian_log_prob(out, self.log_std, actions)
            entropy = gaussian_entropy(self.log_std, obs.shape[0])
        else:
            logp_all = out.log_softmax(-1)  # categorical_log_prob and _entropy, sharing it
            logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
        return logp, entropy, self.value(obs)

    def deterministic_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The greedy action: the most probable one (discrete) or the mean (continuous)."""
        out = self.actor(obs)
        return out if self.continuous else out.argmax(-1)

    def env_action(self, actions: torch.Tensor) -> np.ndarray:
        """The action array to send to the environment: continuous actions clipped to bounds."""
        if self.continuous:
            return torch.clamp(actions, self.action_low, self.action_high).numpy()
        return actions.numpy()


def make_agent(observation_space: gym.Space, action_space: gym.Space,
               hidden_sizes: tuple[int, ...] = (64, 64),
               init_log_std: float = 0.0) -> ActorCritic:
    """Build an `ActorCritic` for a single environment's observation and action spaces.

    Supports a flat ``Box`` observation and a ``Discrete`` or flat ``Box`` action space.
    """
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"observation_space must be a 1-D Box, got {observation_space}")
    obs_dim = int(observation_space.shape[0])
    if isinstance(action_space, gym.spaces.Discrete):
        return ActorCritic(obs_dim, int(action_space.n), False, hidden_sizes)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return ActorCritic(obs_dim, int(action_space.shape[0]), True, hidden_sizes,
                           init_log_std, action_space.low, action_space.high)
    raise ValueError(f"action_space must be Discrete or a 1-D Box, got {action_space}")
