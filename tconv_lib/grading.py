"""What the homework's hidden tests call.

A hidden test cell is one or two lines::

    from tconv_lib.grading import check
    check("mechanics.scatter_2d", conv_transpose2d_scatter)

:func:`check` looks the part up in :data:`PARTS`, draws hidden cases at random
-- seeded by the student and the part, so a regrade draws the same cases --,
runs the student's function on them in a sandbox (:mod:`tconv_lib._sandbox`),
and compares every result with ``tconv_lib`` and, where the part covers an
operator, with the PyTorch reference fixtures (:mod:`tconv_lib.references`).
On the first failure it raises :class:`GradingFailure` with a message a
student can act on: which case (shapes and parameters), what went wrong (the
first differing position, expected against received) -- never the hidden
test's code.  A part whose function delegates the work to a library
convolution scores zero with a message that says so.

Visible tests use :func:`assert_close`, which shows the expected and received
arrays of a small worked example.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import geometry
from .matrix import conv_matrix
from .transposed import conv_transpose1d, conv_transpose2d

__all__ = ["check", "assert_close", "GradingFailure", "PARTS", "Part", "Case", "student_id",
           "run_in_sandbox"]


class GradingFailure(AssertionError):
    """A hidden test failed; the message says which case and why."""


# --------------------------------------------------------------------------------------
# Cases and parts
# --------------------------------------------------------------------------------------


@dataclass
class Case:
    """One hidden test case: the call to make and what it must return.

    ``expected`` is tconv_lib's answer; ``references`` holds further answers the
    result must also match (e.g. ``{"PyTorch": array}``).  ``raises`` names an
    exception type the call must raise instead of returning.
    """

    description: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    references: dict = field(default_factory=dict)
    raises: type[BaseException] | None = None


@dataclass(frozen=True)
class Part:
    """A graded part: how to draw its cases and what the student may not call."""

    name: str
    title: str
    draw: Callable[[np.random.Generator], Case]
    n_cases: int = 8
    # tconv_lib functions the student may not call, as "module.function" or "module.*"
    forbidden_tconv: tuple[str, ...] = ("conv.*", "transposed.*", "matrix.*", "gradients.*",
                                        "artifacts.*", "mitigation.*", "init.*")
    call_timeout: float = 10.0
    rtol: float = 1e-7
    atol: float = 1e-9


PARTS: dict[str, Part] = {}


def register(part: Part) -> Part:
    if part.name in PARTS:
        raise ValueError(f"part {part.name!r} is registered twice")
    PARTS[part.name] = part
    return part


# --------------------------------------------------------------------------------------
# Who is being graded
# --------------------------------------------------------------------------------------


def student_id() -> str:
    """The student whose notebook runs: ``$TCONV_STUDENT_ID``, else nbgrader's folder layout.

    nbgrader autogrades ``<autograded>/<student>/<assignment>/<notebook>.ipynb`` with
    that folder as the working directory.
    """
    if os.environ.get("TCONV_STUDENT_ID"):
        return os.environ["TCONV_STUDENT_ID"]
    cwd = Path.cwd()
    if cwd.parent.parent.name in ("autograded", "submitted"):
        return cwd.parent.name
    return "anonymous"


def _seed(student: str, part: str) -> int:
    digest = hashlib.sha256(f"{student}\x00{part}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --------------------------------------------------------------------------------------
# Running student code
# --------------------------------------------------------------------------------------

SANDBOX_MEMORY_BYTES = 6 * 2**30


def run_in_sandbox(
    function: Callable,
    calls: list[tuple[tuple, dict]],
    *,
    call_timeout: float = 10.0,
    forbidden_tconv: tuple[str, ...] = (),
    memory_bytes: int | None = SANDBOX_MEMORY_BYTES,
    startup_timeout: float = 30.0,
) -> list[tuple[str, Any]]:
    """Run ``function(*args, **kwargs)`` for every call in a fresh, limited process.

    Parameters
    ----------
    function : callable
        The student's function; serialised with cloudpickle, so it may use
        helpers and constants defined elsewhere in the notebook.
    calls : list of (args, kwargs)
    call_timeout : float
        Seconds each call may take.
    forbidden_tconv : tuple of str
        tconv_lib functions the student may not call (``"transposed.*"``, ...).
    memory_bytes : int or None
        Address-space limit of the sandbox.
    startup_timeout : float
        Seconds allowed on top of the calls for starting Python and importing libraries;
        past ``call_timeout * len(calls) + startup_timeout`` the sandbox is killed.

    Returns
    -------
    list of (status, value), one per call
        ``status`` is ``"ok"`` (value: the result), ``"error"`` (value: the
        exception, one line), ``"timeout"``, ``"forbidden"`` (value: what was
        called), ``"crashed"`` (value: how the process ended), ``"unloadable"``
        or ``"skipped"``.  The sandbox stops at the first call that times out or
        calls a forbidden function; the calls after it are ``"skipped"``.

    Examples
    --------
    >>> run_in_sandbox(lambda a: a + 1, [((1,), {}), (("x",), {})])
    [('ok', 2), ('error', 'TypeError: can only concatenate str (not "int") to str (line 1 of <lambda>)')]
    """
    try:
        payload = _pickle_function(function)
    except Exception as exc:  # noqa: BLE001 -- anything unpicklable
        reason = (f"could not send your function to the grader ({type(exc).__name__}: {exc}); "
                  f"define it with `def` at the top level of a cell")
        return [("unloadable", reason)] * len(calls)
    job = {
        "function": payload,
        "calls": calls,
        "call_timeout": call_timeout,
        "forbidden_tconv": forbidden_tconv,
        "memory_bytes": memory_bytes,
    }
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    total_timeout = call_timeout * len(calls) + startup_timeout
    with tempfile.TemporaryDirectory(prefix="tconv-grading-") as tmp:
        result_path = Path(tmp) / "results.pickle"
        result_path.touch()
        process = subprocess.Popen(
            [sys.executable, "-m", "tconv_lib._sandbox", str(result_path)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, cwd=tmp, start_new_session=True,
        )
        timed_out = False
        try:
            process.stdin.write(pickle.dumps(job))
            process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            process.wait(timeout=total_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        results = _read_records(result_path)
    if results and results[0][0] == "unloadable":
        return [results[0]] * len(calls)
    if len(results) < len(calls):
        if not results or results[-1][0] in ("ok", "error"):  # it ended in the middle of a call
            ended = ("timeout", call_timeout) if timed_out else ("crashed", _how_it_ended(process.returncode))
            results.append(ended)
        results += [("skipped", None)] * (len(calls) - len(results))
    return results


def _pickle_function(function: Callable) -> bytes:
    """Serialise by value whatever the sandbox could not import: the notebook's own code, and
    modules that live next to it (a student's helper file) rather than in an installed package."""
    import cloudpickle

    module = sys.modules.get(getattr(function, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    local = (
        module is not None
        and file is not None
        and module.__name__ != "__main__"
        and not module.__name__.startswith("tconv_lib")
        and not any(Path(file).resolve().is_relative_to(Path(path).resolve())
                    for path in {sys.prefix, sys.base_prefix})
    )
    if not local:
        return cloudpickle.dumps(function)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(function)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def _read_records(path: Path) -> list[tuple[str, Any]]:
    records = []
    with open(path, "rb") as f:
        while True:
            try:
                records.append(pickle.load(f))
            except EOFError:
                break
            except Exception:  # noqa: BLE001 -- a record cut short by a killed process
                break
    return records


def _how_it_ended(returncode: int) -> str:
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        if name == "SIGKILL":
            return "the process was killed (SIGKILL), most likely for using too much memory"
        return f"the process crashed with {name}"
    return f"the process exited with status {returncode} (sys.exit() or os._exit() in your code?)"


# --------------------------------------------------------------------------------------
# Comparing results
# --------------------------------------------------------------------------------------


def _scalar(value) -> str:
    """A NumPy scalar as plain Python would print it (1.5, not np.float64(1.5))."""
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def _fmt(value) -> str:
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
            return (f"{name} is a {type(received).__name__}, expected a NumPy array of shape "
                    f"{expected.shape} (dtype {expected.dtype})")
        if received.shape != expected.shape:
            return f"{name} has shape {received.shape}, expected shape {expected.shape}"
        if received.dtype != expected.dtype:
            return (f"{name} has dtype {received.dtype}, expected {expected.dtype} "
                    f"(keep the input's dtype)")
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
            return (f"{name} differs at index {index}: expected {_scalar(expected[index])}, got "
                    f"{_scalar(received[index])} ({int(bad.sum())} of {expected.size} values differ; "
                    f"largest difference {largest:.3g})")
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
        raise AssertionError(f"{message}\nexpected:\n{_fmt(expected)}\nreceived:\n{_fmt(received)}")


# --------------------------------------------------------------------------------------
# The entry point of hidden tests
# --------------------------------------------------------------------------------------


def check(part_name: str, function: Callable, *, student: str | None = None) -> None:
    """Grade ``function`` on the hidden cases of a part; raise :class:`GradingFailure` if any fails.

    Parameters
    ----------
    part_name : str
        A key of :data:`PARTS`, e.g. ``"mechanics.scatter_2d"``.
    function : callable
        The student's implementation.
    student : str, optional
        Whose cases to draw; defaults to :func:`student_id`.

    Examples
    --------
    >>> def output_size(n, k, s=1, p=0, op=0, d=1):
    ...     return (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    >>> check("geometry.output_size", output_size, student="doctest")
    geometry.output_size: all 12 hidden cases passed
    """
    if part_name not in PARTS:
        raise KeyError(f"unknown part {part_name!r}; known parts: {', '.join(sorted(PARTS))}")
    part = PARTS[part_name]
    if not callable(function):
        raise GradingFailure(f"{part.title}: expected a function, got {type(function).__name__}")
    rng = np.random.default_rng(_seed(student or student_id(), part_name))
    cases = [part.draw(rng) for _ in range(part.n_cases)]
    start = time.perf_counter()
    results = run_in_sandbox(
        function, [(case.args, case.kwargs) for case in cases],
        call_timeout=part.call_timeout, forbidden_tconv=part.forbidden_tconv,
    )
    for number, (case, (status, value)) in enumerate(zip(cases, results), start=1):
        message = _judge(part, case, status, value)
        if message:
            raise GradingFailure(
                f"{part.title}: hidden case {number} of {len(cases)} failed.\n"
                f"  case: {case.description}\n  {message}"
            ) from None
    elapsed = time.perf_counter() - start
    print(f"{part_name}: all {len(cases)} hidden cases passed" + ("" if elapsed < 60 else
          f" ({elapsed:.0f} s)"))


def _judge(part: Part, case: Case, status: str, value) -> str | None:
    if status == "forbidden":
        return (f"your function called {value}. This part asks you to compute the result "
                f"yourself with NumPy; library convolutions (PyTorch, SciPy, NumPy's convolve, "
                f"tconv_lib's operators) and the reference fixtures earn no points here.")
    if status == "timeout":
        return f"your function took longer than {value:g} s on this small case (an infinite loop?)"
    if status in ("crashed", "unloadable"):
        return value
    if status == "skipped":
        return "not run: an earlier case timed out or called a forbidden function"
    if case.raises is not None:
        if status == "error" and value.startswith(case.raises.__name__ + ":"):
            return None
        got = f"it raised {value}" if status == "error" else f"it returned {value!r}"
        return f"expected your function to raise {case.raises.__name__}, but {got}"
    if status == "error":
        return f"your function raised {value}"
    message = compare(value, case.expected, rtol=part.rtol, atol=part.atol)
    if message:
        return message
    for source, reference in case.references.items():
        message = compare(value, reference, rtol=part.rtol, atol=part.atol,
                          name=f"result (compared with {source})")
        if message:
            return message
    return None


# --------------------------------------------------------------------------------------
# Case generators shared by parts
# --------------------------------------------------------------------------------------


def _small_array(rng: np.random.Generator, shape) -> np.ndarray:
    """Small integers as floats: exact sums, readable in a failure message."""
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _torch_reference(name: str, *args, **kwargs):
    """PyTorch on the CPU, float64; ``None`` where torch is not installed."""
    try:
        import torch
    except ImportError:
        return {}
    tensors = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    out = getattr(torch.nn.functional, name)(*tensors, **kwargs)
    return {"PyTorch": out.numpy()}


def _fmt_params(**params) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


# --- algebra -----------------------------------------------------------------------------


def _draw_conv1d_matrix(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n = int(rng.integers(max(k - 2 * p, 1), 9))
    weight = _small_array(rng, k)
    expected = conv_matrix(weight[None, None], (1, n), stride=s, padding=p)
    return Case(f"weight={weight.tolist()}, input_length={n}, {_fmt_params(stride=s, padding=p)}",
                (weight, n, s, p), expected=expected)


def _draw_conv_transpose1d_matrix(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n_in = int(rng.integers(1, 6))
    if geometry.conv_transpose_output_size(n_in, k, s, p) < 1:
        p = 0
    y, weight = _small_array(rng, n_in), _small_array(rng, k)
    expected = conv_transpose1d(y[None, None], weight[None, None], stride=s, padding=p)[0, 0]
    refs = _torch_reference("conv_transpose1d", y[None, None], weight[None, None], stride=s, padding=p)
    return Case(f"y={y.tolist()}, weight={weight.tolist()}, {_fmt_params(stride=s, padding=p)}",
                (y, weight, s, p), expected=expected,
                references={key: value[0, 0] for key, value in refs.items()})


def _draw_conv2d_matrix(rng):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    s, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h, w = (int(v) for v in rng.integers(max(kh, kw), 6, 2))
    weight = _small_array(rng, (kh, kw))
    expected = conv_matrix(weight[None, None], (1, h, w), stride=s, padding=p)
    return Case(f"weight.shape={weight.shape}, input_shape={(h, w)}, {_fmt_params(stride=s, padding=p)}",
                (weight, (h, w), s, p), expected=expected)


def _draw_conv1d_input_grad(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n = int(rng.integers(max(k - 2 * p, 1), 9))
    weight = _small_array(rng, k)
    n_out = geometry.conv_output_size(n, k, s, p)
    grad_output = _small_array(rng, n_out)
    # d<grad_output, conv1d(x)>/dx = C^T grad_output, C of the length-n convolution
    expected = conv_matrix(weight[None, None], (1, n), stride=s, padding=p).T @ grad_output
    return Case(f"grad_output={grad_output.tolist()}, weight={weight.tolist()}, input_length={n}, "
                f"{_fmt_params(stride=s, padding=p)}", (grad_output, weight, n, s, p), expected=expected)


register(Part("algebra.conv1d_matrix", "Part A: the convolution matrix C (1D)", _draw_conv1d_matrix))
register(Part("algebra.transpose_1d", "Part B: applying C^T", _draw_conv_transpose1d_matrix))
register(Part("algebra.conv2d_matrix", "Part C: the convolution matrix C (2D)", _draw_conv2d_matrix))
register(Part("algebra.input_gradient", "Part D: the input gradient is C^T", _draw_conv1d_input_grad))


# --- mechanics ---------------------------------------------------------------------------


def _draw_scatter_1d(rng):
    k, s, n = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 7))
    x, weight = _small_array(rng, n), _small_array(rng, k)
    expected = conv_transpose1d(x[None, None], weight[None, None], stride=s)[0, 0]
    refs = _torch_reference("conv_transpose1d", x[None, None], weight[None, None], stride=s)
    return Case(f"x={x.tolist()}, weight={weight.tolist()}, stride={s}", (x, weight, s),
                expected=expected, references={key: v[0, 0] for key, v in refs.items()})


def _draw_single_channel_2d(rng, with_padding: bool):
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    x, weight = _small_array(rng, (h, w)), _small_array(rng, (kh, kw))
    stride = (sh, sw) if rng.random() < 0.5 else sh
    s2 = stride if isinstance(stride, tuple) else (stride, stride)
    padding = 0
    if with_padding:
        full = [geometry.conv_transpose_output_size(n, k, s) for n, k, s in zip((h, w), (kh, kw), s2)]
        padding = tuple(int(rng.integers(0, (f - 1) // 2 + 1)) for f in full)
        padding = padding[0] if rng.random() < 0.3 and padding[0] == padding[1] else padding
    expected = conv_transpose2d(x[None, None], weight[None, None], stride=stride, padding=padding)[0, 0]
    refs = _torch_reference("conv_transpose2d", x[None, None], weight[None, None], stride=stride,
                            padding=padding)
    return Case(f"x.shape={x.shape}, weight.shape={weight.shape}, "
                f"{_fmt_params(stride=stride, padding=padding)}", (x, weight, stride, padding),
                expected=expected, references={key: v[0, 0] for key, v in refs.items()})


def _draw_zero_insert(rng):
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    stride = (sh, sw) if rng.random() < 0.5 else sh  # int or pair, as in the other 2D parts
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    x = _small_array(rng, (h, w))
    expected = np.zeros(((h - 1) * sh + 1, (w - 1) * sw + 1))
    expected[::sh, ::sw] = x
    return Case(f"x.shape={x.shape}, stride={stride}", (x, stride), expected=expected)


def _draw_full_signature(rng):
    """Any valid argument set of conv_transpose2d: channels, groups, dilation, batch, bias."""
    groups = int(rng.integers(1, 3))
    c_in_g, c_out_g = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    h, w = (int(v) for v in rng.integers(1, 5, 2))
    full = [geometry.conv_transpose_output_size(n, k, s, 0, op, d)
            for n, k, s, op, d in zip((h, w), (kh, kw), stride, output_padding, dilation)]
    padding = tuple(int(rng.integers(0, (f - 1) // 2 + 1)) for f in full)
    batched = rng.random() < 0.7
    x = _small_array(rng, ((2,) if batched else ()) + (c_in_g * groups, h, w))
    weight = _small_array(rng, (c_in_g * groups, c_out_g, kh, kw))
    bias = _small_array(rng, c_out_g * groups) if rng.random() < 0.5 else None
    params = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                  dilation=dilation)
    expected = conv_transpose2d(x, weight, bias, **params)
    refs = _torch_reference("conv_transpose2d", x, weight, bias, **params)
    bias_text = "None" if bias is None else f"shape {bias.shape}"
    return Case(f"x.shape={x.shape}, weight.shape={weight.shape}, bias={bias_text}, {_fmt_params(**params)}",
                (x, weight, bias), params, expected=expected, references=refs)


_MECHANICS_FORBIDDEN = ("conv.*", "transposed.*", "matrix.*", "gradients.*", "artifacts.*", "mitigation.*")
register(Part("mechanics.scatter_1d", "Part A: stamping in 1D", _draw_scatter_1d,
              forbidden_tconv=_MECHANICS_FORBIDDEN))
register(Part("mechanics.scatter_2d", "Part B: stamping in 2D, with padding",
              lambda rng: _draw_single_channel_2d(rng, with_padding=True),
              forbidden_tconv=_MECHANICS_FORBIDDEN))
register(Part("mechanics.zero_insert", "Part C: zero insertion", _draw_zero_insert,
              forbidden_tconv=_MECHANICS_FORBIDDEN))
register(Part("mechanics.zero_insertion_2d", "Part D: zero insertion + convolution with the flipped kernel",
              lambda rng: _draw_single_channel_2d(rng, with_padding=True),
              forbidden_tconv=_MECHANICS_FORBIDDEN))
register(Part("mechanics.conv_transpose2d", "Part E: conv_transpose2d with PyTorch's full signature",
              _draw_full_signature, n_cases=10, forbidden_tconv=_MECHANICS_FORBIDDEN))


# --- geometry ----------------------------------------------------------------------------


def _draw_size_params(rng):
    n, k, s = int(rng.integers(1, 10)), int(rng.integers(1, 6)), int(rng.integers(1, 5))
    d = int(rng.integers(1, 4))
    op = int(rng.integers(0, max(s, d)))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    return n, k, s, p, op, d


def _draw_output_size(rng):
    n, k, s, p, op, d = _draw_size_params(rng)
    return Case(_fmt_params(n=n, k=k, s=s, p=p, op=op, d=d), (n, k, s, p, op, d),
                expected=geometry.conv_transpose_output_size(n, k, s, p, op, d))


def _draw_output_padding_for(rng):
    n, k, s, p, op, d = _draw_size_params(rng)
    reachable = geometry.conv_transpose_output_sizes(n, k, s, p, d)
    if rng.random() < 0.25:  # a size no output_padding reaches
        target = max(reachable) + int(rng.integers(1, 3)) if rng.random() < 0.5 else min(reachable) - 1
        return Case(f"{_fmt_params(n=n, target=target, k=k, s=s, p=p, d=d)} (unreachable)",
                    (n, target, k, s, p, d), raises=ValueError)
    target = reachable[op]
    return Case(_fmt_params(n=n, target=target, k=k, s=s, p=p, d=d), (n, target, k, s, p, d),
                expected=geometry.output_padding_for(n, target, k, s, p, d))


def _draw_reachable_sizes(rng):
    n, k, s, p, op, d = _draw_size_params(rng)
    return Case(_fmt_params(n=n, k=k, s=s, p=p, d=d), (n, k, s, p, d),
                expected=geometry.conv_transpose_output_sizes(n, k, s, p, d))


def _draw_keras(rng):
    k, s = int(rng.integers(1, 7)), int(rng.integers(1, 4))
    mode = "same" if rng.random() < 0.5 else "valid"
    if mode == "same" and s == 1 and k % 2 == 0:
        return Case(_fmt_params(kernel_size=k, stride=s, padding=repr(mode)) + " (inexpressible)",
                    (k, s, mode), raises=ValueError)
    return Case(_fmt_params(kernel_size=k, stride=s, padding=repr(mode)), (k, s, mode),
                expected=geometry.keras_to_torch_padding(k, s, mode))


_GEOMETRY_FORBIDDEN = ("geometry.*", "conv.*", "transposed.*", "matrix.*")
register(Part("geometry.output_size", "Part A: the output size", _draw_output_size, n_cases=12,
              forbidden_tconv=_GEOMETRY_FORBIDDEN))
register(Part("geometry.reachable_sizes", "Part B: every reachable output size", _draw_reachable_sizes,
              forbidden_tconv=_GEOMETRY_FORBIDDEN))
register(Part("geometry.output_padding_for", "Part C: the output_padding that reaches a size",
              _draw_output_padding_for, n_cases=12, forbidden_tconv=_GEOMETRY_FORBIDDEN))
register(Part("geometry.keras_padding", "Part D: Keras' padding in PyTorch's terms", _draw_keras,
              n_cases=12, forbidden_tconv=_GEOMETRY_FORBIDDEN))
