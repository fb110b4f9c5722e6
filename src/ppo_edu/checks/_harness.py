"""The machinery behind every checker: run a student's function on cases, compare with the
library, print a verdict a student can act on, and return whether everything passed.

A checker never raises because the student's code is wrong: an exception inside the student's
function, a wrong shape or a wrong number is reported as a failing case, with its inputs, what
was expected, what came back and a hint.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Case", "Mistake", "run_cases"]


@dataclass(frozen=True)
class Case:
    """One input for the student's function, and the right answer.

    Attributes:
        name: a short description a student can read ("length-1 episode, gamma = 0").
        args: positional arguments, in the order the exercise states.
        arg_names: their names, for the report.
        expected: the library's answer (an array, a tuple of arrays or a number).
        hint: what this case is there to catch.
    """

    name: str
    args: tuple[Any, ...]
    arg_names: tuple[str, ...]
    expected: Any
    hint: str = ""


@dataclass(frozen=True)
class Mistake:
    """A classic wrong implementation; when the student's output matches it, the report names it.

    Attributes:
        description: what the mistake is, written to the student ("the discount is applied one
            step too early").
        fn: the wrong implementation, called with the same positional arguments as the student's.
    """

    description: str
    fn: Callable[..., Any] = field(repr=False)


def _to_numpy(x: Any) -> Any:
    """Turn tensors, lists and tuples of them into NumPy float64 arrays (tuples stay tuples)."""
    if isinstance(x, tuple):
        return tuple(_to_numpy(item) for item in x)
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _describe(x: Any) -> str:
    """A short description of a value's kind and shape, for a student."""
    if isinstance(x, tuple):
        return f"a tuple of {len(x)} items"
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}" if x.ndim else "a single number"
    if hasattr(x, "shape"):
        return f"a {type(x).__name__} of shape {tuple(x.shape)}"
    return f"a {type(x).__name__}"


def _matches(got: Any, expected: Any, rtol: float, atol: float) -> tuple[bool, str]:
    """Compare an answer with the expected one; return (ok, reason when not ok)."""
    if isinstance(got, tuple) and not isinstance(expected, tuple):
        return False, f"expected {_describe(expected)}, but got {_describe(got)}"
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return False, f"expected a tuple of {len(expected)} arrays, got {type(got).__name__}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            ok, why = _matches(g, e, rtol, atol)
            if not ok:
                return False, f"item {i} of the tuple: {why}"
        return True, ""
    if got.shape != expected.shape:
        return False, f"expected shape {expected.shape}, got shape {got.shape}"
    if not np.all(np.isfinite(got)):
        return False, "the answer contains NaN or inf"
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(got - expected)), expected.shape)
        where = f" (largest difference at index {tuple(int(i) for i in worst)})" if worst else ""
        return False, f"the numbers differ{where}"
    return True, ""


def _fmt(x: Any) -> str:
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(item) for item in x) + ")"
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=4, suppress_small=True, max_line_width=88)
    return repr(x)


def run_cases(
    student_fn: Callable[..., Any],
    cases: Sequence[Case],
    *,
    fn_name: str,
    mistakes: Sequence[Mistake] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> bool:
    """Run ``student_fn`` on every case and print a verdict; return True if all cases passed.

    The student's function receives deep copies of the inputs, so a function that modifies its
    arguments cannot spoil the comparison. The default tolerances accept answers computed in
    float32 (torch's default) and are far tighter than any of the classic mistakes.

    Stops at the first failing case and prints its inputs, the expected and returned values, and
    a hint: the name of a classic mistake when the answer matches one, otherwise the case's own
    hint.
    """
    if not callable(student_fn):
        print(f"FAILED: check_{fn_name} needs your function itself, e.g. "
              f"check_{fn_name}(my_{fn_name}), but got {type(student_fn).__name__}.")
        return False
    total = len(cases)
    for i, case in enumerate(cases, start=1):
        call = ", ".join(f"{n}={_fmt(a)}" for n, a in zip(case.arg_names, case.args, strict=True))
        try:
            raw = student_fn(*copy.deepcopy(case.args))
        except Exception as err:  # the student's code: report it, never re-raise
            print(f"FAILED case {i}/{total} ({case.name}): your {fn_name} raised "
                  f"{type(err).__name__}: {err}")
            print(f"  inputs: {call}")
            if case.hint:
                print(f"  hint: {case.hint}")
            return False
        expected = _to_numpy(case.expected)
        if raw is None:
            print(f"FAILED case {i}/{total} ({case.name}): your {fn_name} returned None. "
                  "Did you forget the `return` statement?")
            print(f"  inputs: {call}")
            return False
        try:
            got = _to_numpy(raw)
            ok, why = _matches(got, expected, rtol, atol)
        except Exception:  # an answer of a type we cannot compare (ragged, strings, ...)
            got = raw
            ok, why = False, (f"expected {_describe(expected)}, but your {fn_name} returned "
                              f"{_describe(raw)}")
        if ok:
            continue
        print(f"FAILED case {i}/{total} ({case.name}): {why}.")
        print(f"  inputs:   {call}")
        print(f"  expected: {_fmt(expected)}")
        print(f"  got:      {_fmt(got)}")
        diagnosis = _diagnose(got, case, mistakes, rtol, atol)
        if diagnosis:
            print(f"  hint: this is what you get when {diagnosis}.")
        elif case.hint and not why.startswith("expected"):  # (a wrong kind of answer
            print(f"  hint: {case.hint}")                 # needs no hint about the numbers)
        return False
    print(f"PASSED: your {fn_name} agrees with ppo_edu on all {total} cases.")
    return True


def _diagnose(got: Any, case: Case, mistakes: Sequence[Mistake], rtol: float, atol: float) -> str:
    """Name the first classic mistake whose output equals the student's on this case."""
    for mistake in mistakes:
        try:
            wrong = _to_numpy(mistake.fn(*copy.deepcopy(case.args)))
            if _matches(got, wrong, rtol, atol)[0]:
                return mistake.description
        except Exception:  # a mistake that does not apply to this case
            continue
    return ""
