"""ppo_edu: the library behind the executable PPO textbook.

One module per idea, each named after it and after the part of the book that derives it:

* `ppo_edu.advantages`: TD errors, n-step advantages and GAE (seed part A).
* `ppo_edu.checks`: checkers students call on their own implementations in the exercises.

Import what you need from its module, e.g. ``from ppo_edu.advantages import gae``.
"""

__version__ = "0.1.0"
