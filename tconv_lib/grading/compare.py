"""Comparing a student's result with the expected one, and the messages a student reads.

Used by the visible tests in the notebooks (:func:`assert_close`) and by the grader on
the hidden cases (:func:`compare`): shape first, then dtype, then finiteness, then
values, each failure saying what differs and what would be right.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GradingFailure", "compare", "assert_close"]


class GradingFailure(AssertionError):
    """A hidden test failed; the message says which case and why."""


def scalar(value) -> str:
    """A NumPy scalar as plain Python would print it (1.5, not np.float64(1.5))."""
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def fmt(value) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, suppress_small=True, max_line_width=100)
    return repr(value)


def compare(received, expected, *, rtol: float = 1e-7, atol: float = 1e-9, name: str = "result"):
    """Return ``None`` if ``received`` matches ``expected``, else a message saying how it differs.

    Arrays are compared shape first, then dtype, then finiteness, then values
    (``|received - expected| <= atol * max(1, max|expected|) + rtol * |expected|``).

    Examples
    --------
    >>> compare(np.ones(3), np.ones(3)) is None
    True
    >>> print(compare(np.ones(2), np.ones(3)))
    result has shape (2,), expected shape (3,)
    >>> print(compare(np.array([1.0, 2.0]), np.array([1.0, 2.5])))
    result differs at index (1,): expected 2.5, got 2.0 (1 of 2 values differ; largest difference 0.5)
    """
    if isinstance(expected, np.ndarray):
        if not isinstance(received, np.ndarray):
            return (
                f"{name} is a {type(received).__name__}, expected a NumPy array of shape "
                f"{expected.shape} (dtype {expected.dtype})"
            )
        if received.shape != expected.shape:
            return f"{name} has shape {received.shape}, expected shape {expected.shape}"
        if received.dtype != expected.dtype:
            if np.issubdtype(expected.dtype, np.floating):
                hint = "keep the input's dtype"
            else:  # counts and indices: what np.zeros(..., dtype=int) makes
                dtype = "int" if expected.dtype == np.dtype(int) else expected.dtype
                hint = f"make the array with dtype={dtype}"
            return f"{name} has dtype {received.dtype}, expected {expected.dtype} ({hint})"
        if expected.size == 0:
            return None
        if np.issubdtype(expected.dtype, np.floating) and not np.all(np.isfinite(received)):
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(received))[0])
            return f"{name} contains {received[index]} (not finite) at index {index}"
        scale = max(1.0, float(np.max(np.abs(expected))))
        bad = ~np.isclose(received, expected, rtol=rtol, atol=atol * scale)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            largest = float(np.max(np.abs(received.astype(float) - expected)))
            return (
                f"{name} differs at index {index}: expected {scalar(expected[index])}, got "
                f"{scalar(received[index])} ({int(bad.sum())} of {expected.size} values differ; "
                f"largest difference {largest:.3g})"
            )
        return None
    if isinstance(expected, float):
        if not isinstance(received, (int, float, np.integer, np.floating)):
            return f"{name} is a {type(received).__name__}, expected a number"
        if not np.isclose(float(received), expected, rtol=rtol, atol=atol):
            return f"{name} is {float(received)!r}, expected {expected!r}"
        return None
    if isinstance(expected, tuple):
        if not isinstance(received, (tuple, list)) or len(received) != len(expected):
            return f"{name} is {received!r}, expected a tuple of {len(expected)}: {expected!r}"
        for i, (r, e) in enumerate(zip(received, expected)):
            message = compare(r, e, rtol=rtol, atol=atol, name=f"{name}[{i}]")
            if message:
                return message
        return None
    if isinstance(expected, list):
        if not isinstance(received, (list, tuple)) or len(received) != len(expected):
            n = len(received) if isinstance(received, (list, tuple)) else "not a list"
            return f"{name} has {n} items, expected a list of {len(expected)}"
        for i, (r, e) in enumerate(zip(received, expected)):
            message = compare(r, e, rtol=rtol, atol=atol, name=f"{name}[{i}]")
            if message:
                return message
        return None
    if isinstance(expected, (int, np.integer)):
        if isinstance(received, (bool, np.bool_)) or not isinstance(received, (int, np.integer)):
            return f"{name} is {received!r} ({type(received).__name__}), expected the integer {expected}"
        if int(received) != int(expected):
            return f"{name} is {int(received)}, expected {int(expected)}"
        return None
    if received != expected:
        return f"{name} is {received!r}, expected {expected!r}"
    return None


def assert_close(received, expected, what: str = "your result", rtol: float = 1e-7, atol: float = 1e-9):
    """Visible-test assertion: on failure show the worked example's expected and received values.

    Examples
    --------
    >>> assert_close(np.array([1.0, 3.0]), np.array([1.0, 3.0]))
    >>> assert_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: your result differs at index (1,): expected 3.0, got 2.0 (1 of 2 values differ; ...)
    expected:
    [1. 3.]
    received:
    [1. 2.]
    """
    message = compare(received, expected, rtol=rtol, atol=atol, name=what)
    if message:
        raise AssertionError(f"{message}\nexpected:\n{fmt(expected)}\nreceived:\n{fmt(received)}")
