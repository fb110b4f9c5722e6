"""ppo_edu: the library behind the executable PPO textbook.

One module per idea, each named after it and after the part of the book that derives it:

* `ppo_edu.advantages`: TD errors, n-step advantages and GAE (seed part A).
* `ppo_edu.tabular`: an exact oracle for small MDPs (values, the policy gradient, the exact
  expectation of the GAE gradient estimator), for the background chapter, part A and part B.
* `ppo_edu.surrogate`: the probability ratio, the surrogate objectives L^CPI and L^CLIP and the
  diagnostics approx_kl and clip_fraction (seed part B).
* `ppo_edu.importance`: importance sampling on the exact oracle (seed B.2-B.4).
* `ppo_edu.config`, `ppo_edu.agent`, `ppo_edu.rollout`, `ppo_edu.train`: the PPO trainer (seed
  part C): configuration, actor-critic, rollouts with correct episode boundaries, the training
  loop and its command line (``python -m ppo_edu.train``).
* `ppo_edu.checks`: checkers students call on their own implementations in the exercises.

Import what you need from its module, e.g. ``from ppo_edu.advantages import gae``.
"""

__version__ = "0.1.0"
