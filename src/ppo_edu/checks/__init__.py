"""Checkers a student calls on their own implementation, e.g. ``check_gae(my_gae)``.

Each checker runs the student's function on a set of cases (edge cases included) against the
library, prints a friendly verdict (all passed, or the first failing case with what was expected,
what came back and a hint) and returns whether all cases passed. It never raises because the
student's code is wrong. Each one is tested against deliberately wrong implementations in
``tests/test_checks.py``.
"""

from ppo_edu.checks.advantages import (
    check_gae,
    check_lambda_weighted_advantage,
    check_n_step_advantage,
    check_td_errors,
)
from ppo_edu.checks.ppo import (
    check_explained_variance,
    check_gaussian_log_prob,
    check_linear_anneal,
    check_normalize_advantages,
)
from ppo_edu.checks.surrogate import check_clipped_objective, check_cpi_objective
from ppo_edu.checks.tabular import check_expected_gae_gradient, check_policy_gradient

__all__ = [
    "check_normalize_advantages",
    "check_explained_variance",
    "check_gaussian_log_prob",
    "check_linear_anneal",
    "check_td_errors",
    "check_n_step_advantage",
    "check_gae",
    "check_lambda_weighted_advantage",
    "check_clipped_objective",
    "check_cpi_objective",
    "check_policy_gradient",
    "check_expected_gae_gradient",
]
