"""Tests of the checker machinery (`ppo_edu.checks._harness`): a student's mistake of any kind
is a readable FAILED verdict and a False return, never an exception; a right answer computed in
float32 passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ppo_edu.advantages import td_errors
from ppo_edu.checks import check_td_errors


def test_right_answer_passes(capsys):
    """Seed A.0: the library's own td_errors passes its checker."""
    assert check_td_errors(td_errors) is True
    assert "PASSED" in capsys.readouterr().out


def test_float32_answer_passes(capsys):
    """Seed A.0 in torch float32 (the default dtype): rounding is not a mistake."""
    def f32(r, v, g):
        r = torch.tensor(r, dtype=torch.float32)
        v = torch.tensor(v, dtype=torch.float32)
        return r + g * v[1:] - v[:-1]

    assert check_td_errors(f32) is True


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (lambda r, v, g: None, "returned None. Did you forget the `return` statement?"),
        (lambda r, v, g: (r, v), "but got a tuple of 2 items"),
        (lambda r, v, g: "abc", "returned a str"),
        (lambda r, v, g: [list(r), [1, 2]], "returned a list"),
        (lambda r, v, g: r[:-1], "expected shape (4,), got shape (3,)"),
        (lambda r, v, g: np.full(len(r), np.nan), "contains NaN or inf"),
        (lambda r, v, g: 1 / 0, "raised ZeroDivisionError"),
        ("not a function", "needs your function itself"),
    ],
)
def test_every_kind_of_mistake_is_a_readable_failure(student, message, capsys):
    """Seed A.0's checker: any wrong kind of answer gives False and says what was wrong."""
    assert check_td_errors(student) is False
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert message in out


def test_student_cannot_spoil_the_cases_by_mutating_inputs():
    """The checker passes copies: a function that overwrites its inputs is judged on its answer."""
    def mutating(r, v, g):
        out = r + g * v[1:] - v[:-1]
        r[:] = 0.0
        v[:] = 0.0
        return out

    assert check_td_errors(mutating) is True
    assert check_td_errors(td_errors) is True
