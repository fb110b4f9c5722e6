"""Input checks shared by the library: every bad input becomes a `ValueError` that names the
argument and says what was expected (never silent broadcasting, never a NaN that travels on)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray


def unit_interval(value: float, name: str) -> float:
    """Return `value` as a float after checking `0 <= value <= 1` (NaN is rejected)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= x <= 1.0:  # also False for NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return x


def finite_array(
    x: ArrayLike, name: str, ndim: int | tuple[int, ...] | None = None
) -> NDArray[np.float64]:
    """Return `x` as a float64 array after checking its number of dimensions and finiteness."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got NaN or inf at index "
                         f"{tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])}")
    return arr


def flag_array(x: ArrayLike, name: str, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Return `x` as a boolean array of exactly `shape`; only booleans or 0/1 are accepted."""
    arr = np.asarray(x)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (like rewards), got {arr.shape}")
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number) or not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must hold booleans (or 0/1), got values like {arr.flat[0]!r}")
        arr = arr.astype(bool)
    return arr


def same_shape(arr: NDArray, name: str, shape: tuple[int, ...], like: str) -> None:
    """Raise unless `arr.shape == shape`."""
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (like {like}), got {arr.shape}")


def positive_int(value: int, name: str, minimum: int = 1) -> int:
    """Return `value` as an int after checking it is a whole number `>= minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, float) and math.isfinite(value) and value.is_integer()):
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
