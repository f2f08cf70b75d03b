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

import functools
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

from . import artifacts, geometry, gradients, init, mitigation, references, transposed
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
    """A graded part: how to draw its cases and what the student may not call.

    ``draw(rng)`` makes one case.  A drawer that also has ``many(rng, n)`` (such as
    :class:`FromCatalogue`) makes the whole set at once, so that it can keep the cases
    distinct and spread them over the parameters.
    """

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

    def cases(self, rng: np.random.Generator) -> list[Case]:
        """The part's ``n_cases`` hidden cases, drawn with ``rng``."""
        many = getattr(self.draw, "many", None)
        if many is not None:
            return many(rng, self.n_cases)
        return [self.draw(rng) for _ in range(self.n_cases)]


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


# the only globals a sandbox's result may name: NumPy's array and scalar reconstruction
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickle plain data and NumPy arrays; refuse any other global (a hostile ``__reduce__``)."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a result may not contain {module}.{name}")


def _read_records(path: Path) -> list[tuple[str, Any]]:
    """The sandbox's result records, read with :class:`SafeUnpickler`.

    The student's code runs in the sandbox and could write anything into the result
    file: a record that names any global but NumPy's arrays becomes an ``error`` record,
    so no ``__reduce__`` of theirs ever runs here.
    """
    records = []
    with open(path, "rb") as f:
        while True:
            try:
                records.append(SafeUnpickler(f).load())
            except EOFError:
                break
            except pickle.UnpicklingError as exc:
                records.append(("error", f"the returned value cannot be used ({exc})"))
                break
            except Exception:  # noqa: BLE001 -- a record cut short by a killed process
                break
    return [
        r if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], str)
        else ("error", "the sandbox sent back something that is not a result")
        for r in records
    ]


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
    cases = part.cases(rng)
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


def _torch_grads(op: str, x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, **params) -> dict:
    """PyTorch's autograd on the CPU, float64: ``{"x": grad_x, "weight": grad_weight}``, or ``{}``."""
    try:
        import torch
    except ImportError:
        return {}
    leaves = {name: torch.tensor(a, requires_grad=True) for name, a in (("x", x), ("weight", weight))}
    out = getattr(torch.nn.functional, op)(leaves["x"], leaves["weight"], **params)
    out.backward(torch.from_numpy(grad_output))
    return {name: leaf.grad.numpy() for name, leaf in leaves.items()}


# --- hidden cases from the PyTorch reference catalogue ------------------------------------


@functools.cache
def fixture_source() -> str:
    """How failure messages name the stored PyTorch answers: ``"PyTorch fixture (<device>)"``.

    Examples
    --------
    >>> fixture_source().startswith("PyTorch fixture (")
    True
    """
    return f"PyTorch fixture ({references.reference_metadata()['device']})"


@dataclass(frozen=True)
class FromCatalogue:
    """A case drawer that picks cases of the reference catalogue (:mod:`tconv_lib.references`).

    The catalogue's cases carry PyTorch's answers, computed once and stored as fixtures
    (on a GPU when one was used), so a hidden case built from one compares the student
    with tconv_lib *and* with PyTorch without running PyTorch at grading time.

    Parameters
    ----------
    op : str
        The operator, one of :data:`tconv_lib.references.OPS`.
    build : callable
        ``build(catalogue_case) -> Case``: the call to make and the answers to expect.
    strata : tuple of tuple of str
        Tags that case ``i`` of a set must carry, ``strata[i % len(strata)]``: with one
        stratum per hyper-parameter, every student's set exercises every one of them.
    require, forbid : tuple of str
        Tags every case must carry / must not carry (:data:`tconv_lib.references.TAGS`).

    Notes
    -----
    ``drawer(rng)`` picks one case from the whole pool; ``drawer.many(rng, n)`` picks ``n``
    distinct cases, one per stratum in turn.  Both choose with ``rng``, so a student's cases
    depend only on the seed of :func:`check`.
    """

    op: str
    build: Callable[[references.Case], Case]
    strata: tuple[tuple[str, ...], ...] = ((),)
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()

    def __call__(self, rng: np.random.Generator) -> Case:
        (case,) = references.draw(rng, self.op, 1, require=self.require, forbid=self.forbid)
        return self.build(case)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        chosen: list[references.Case] = []
        for i in range(n):
            tags = self.require + self.strata[i % len(self.strata)]
            pool = [c for c in references.catalogue(self.op, tags_all=tags, tags_none=self.forbid)
                    if c not in chosen]
            if not pool:
                raise ValueError(f"the {self.op} catalogue has no further case with tags {tags} "
                                 f"and none of {self.forbid}")
            chosen.append(pool[int(rng.integers(len(pool)))])
        return [self.build(case) for case in chosen]


@dataclass(frozen=True)
class Distinct:
    """A case drawer that never repeats a case within one student's set.

    For parts with few parameters (a kernel size, a kernel size and a stride), where
    independent draws would often repeat: ``many(rng, n)`` redraws a case whose
    description it has already drawn, up to ``tries`` times.
    """

    draw: Callable[[np.random.Generator], Case]
    tries: int = 50

    def __call__(self, rng: np.random.Generator) -> Case:
        return self.draw(rng)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        cases: list[Case] = []
        for _ in range(n):
            for _ in range(self.tries):
                case = self.draw(rng)
                if all(case.description != other.description for other in cases):
                    break
            cases.append(case)
        return cases


def _describe_catalogue_case(case: references.Case, *names: str) -> str:
    """``x.shape=(2, 4, 3, 3), weight.shape=(4, 1, 2, 3), bias=shape (2,), stride=2, ...``.

    ``names`` are the arrays of the call, in order; their shapes come from the case.
    """
    shapes = {"x": case.x_shape, "weight": case.weight_shape, "grad_output": case.out_shape}
    text = [f"{name}.shape={shapes[name]}" for name in names if name != "bias"]
    if "bias" in names:
        text.append(f"bias={'shape ' + str((case.c_out,)) if case.bias else 'None'}")
    return ", ".join(text + [_fmt_params(**case.params)])


def _forward_from_catalogue(case: references.Case) -> Case:
    """Call ``f(x, weight, bias, **params)``; expect tconv_lib's output and PyTorch's."""
    arrays = case.inputs("float64")
    expected = case.call(getattr(transposed, case.op))
    return Case(_describe_catalogue_case(case, "x", "weight", "bias"),
                (arrays["x"], arrays["weight"], arrays["bias"]), dict(case.params), expected=expected,
                references={fixture_source(): references.load_reference(case, "out")})


def _backward_from_catalogue(case: references.Case) -> Case:
    """Call ``f(grad_output, x, weight, **params)``; expect ``(grad_x, grad_weight, grad_bias)``.

    The case must have a bias, so that PyTorch's ``grad_bias`` is stored with the others.
    """
    arrays, grad_output = case.inputs("float64"), case.grad_output("float64")
    backward = getattr(gradients, f"{case.op}_backward")
    expected = backward(grad_output, arrays["x"], arrays["weight"], **case.params)
    stored = tuple(references.load_reference(case, kind) for kind in ("grad_x", "grad_weight", "grad_bias"))
    return Case(_describe_catalogue_case(case, "grad_output", "x", "weight"),
                (grad_output, arrays["x"], arrays["weight"]), dict(case.params), expected=tuple(expected),
                references={fixture_source(): stored})


def _bias_grad_from_catalogue(case: references.Case) -> Case:
    """Call ``f(grad_output)``; expect the bias gradient of the case's layer."""
    arrays, grad_output = case.inputs("float64"), case.grad_output("float64")
    backward = getattr(gradients, f"{case.op}_backward")
    expected = backward(grad_output, arrays["x"], arrays["weight"], **case.params)[2]
    return Case(f"grad_output.shape={case.out_shape}", (grad_output,), expected=expected,
                references={fixture_source(): references.load_reference(case, "grad_bias")})


#: One stratum per hyper-parameter of conv_transpose2d's signature, then two free draws.
_CONV_TRANSPOSE2D_STRATA = (("output_padding",), ("groups",), ("dilation",), ("stride", "padding"),
                            ("bias",), ("unbatched",), ("batch",), ("nonsquare", "stride"),
                            ("output_padding_ge_stride",), ())


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
# every argument set of conv_transpose2d, PyTorch's answers from the fixtures
register(Part("mechanics.conv_transpose2d", "Part E: conv_transpose2d with PyTorch's full signature",
              FromCatalogue("conv_transpose2d", _forward_from_catalogue, _CONV_TRANSPOSE2D_STRATA),
              n_cases=10, forbidden_tconv=_MECHANICS_FORBIDDEN))


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


# The visible tests' examples: a lookup table of them must not pass the hidden cases.
_KERAS_VISIBLE = {(1, 2, "valid"), (4, 2, "same"), (3, 2, "same"), (3, 2, "valid"), (3, 1, "same"),
                  (1, 3, "same"), (2, 1, "same")}


def _draw_keras(rng):
    while True:
        k, s = int(rng.integers(1, 11)), int(rng.integers(1, 6))
        mode = "same" if rng.random() < 0.5 else "valid"
        if (k, s, mode) not in _KERAS_VISIBLE:
            break
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
register(Part("geometry.keras_padding", "Part D: Keras' padding in PyTorch's terms", Distinct(_draw_keras),
              n_cases=12, forbidden_tconv=_GEOMETRY_FORBIDDEN))


# --- artifacts ---------------------------------------------------------------------------


def _draw_transposed_1d_params(rng, k_max=6, s_max=4, n_max=8):
    """n, k, s, p of a single-channel 1D transposed convolution whose output is not empty."""
    n, k, s = (int(rng.integers(1, hi + 1)) for hi in (n_max, k_max, s_max))
    full = geometry.conv_transpose_output_size(n, k, s)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    return n, k, s, p


def _draw_coverage1d(rng):
    n, k, s, p = _draw_transposed_1d_params(rng)
    return Case(_fmt_params(n=n, k=k, s=s, p=p), (n, k, s, p), expected=artifacts.coverage1d(n, k, s, p))


def _draw_coverage_variance(rng):
    s = int(rng.integers(1, 7))
    k = int(rng.integers(1, 4 * s + 1))
    return Case(_fmt_params(k=k, s=s), (k, s), expected=float(artifacts.coverage_variance(k, s)))


def _draw_polyphase_kernels(rng):
    k, s = int(rng.integers(1, 9)), int(rng.integers(1, 5))
    weight = _small_array(rng, k)
    expected = list(artifacts.polyphase_decompose(weight, s))
    return Case(f"weight={weight.tolist()}, stride={s}", (weight, s), expected=expected)


def _draw_conv_transpose1d_polyphase(rng):
    n, k, s, p = _draw_transposed_1d_params(rng)
    x, weight = _small_array(rng, n), _small_array(rng, k)
    expected = artifacts.conv_transpose1d_polyphase(x[None], weight[None, None], stride=s, padding=p)[0]
    refs = _torch_reference("conv_transpose1d", x[None, None], weight[None, None], stride=s, padding=p)
    return Case(f"x={x.tolist()}, weight={weight.tolist()}, {_fmt_params(stride=s, padding=p)}",
                (x, weight, s, p), expected=expected, references={key: v[0, 0] for key, v in refs.items()})


def _draw_checkerboard_score(rng):
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    stride = (sh, sw) if rng.random() < 0.5 else sh
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    h, w = int(rng.integers(sh, 3 * sh + 3)), int(rng.integers(sw, 3 * sw + 3))
    kind = rng.random()
    if kind < 0.1:  # nothing at all: the score is 0, not a division by zero
        image = np.zeros((h, w))
    elif kind < 0.6:  # a pattern that repeats every (sH, sW) pixels, plus a little noise
        period = _small_array(rng, (sh, sw))
        image = np.tile(period, (h // sh + 1, w // sw + 1))[:h, :w] + 0.25 * _small_array(rng, (h, w))
    else:
        image = _small_array(rng, (h, w))
    return Case(f"image.shape={image.shape}, stride={stride}", (image, stride),
                expected=float(artifacts.checkerboard_score(image, stride)))


_ARTIFACTS_FORBIDDEN = ("conv.*", "transposed.*", "matrix.*", "gradients.*", "artifacts.*", "mitigation.*",
                        "init.*", "spectral.*")
register(Part("artifacts.coverage1d", "Part A: coverage counts in 1D", Distinct(_draw_coverage1d), n_cases=12,
              forbidden_tconv=_ARTIFACTS_FORBIDDEN))
register(Part("artifacts.coverage_variance", "Part B: the variance of the coverage",
              Distinct(_draw_coverage_variance), n_cases=12, forbidden_tconv=_ARTIFACTS_FORBIDDEN))
register(Part("artifacts.polyphase_kernels", "Part C: the polyphase sub-kernels", _draw_polyphase_kernels,
              n_cases=10, forbidden_tconv=_ARTIFACTS_FORBIDDEN))
register(Part("artifacts.conv_transpose1d_polyphase",
              "Part D: the transposed convolution as s convolutions, interleaved",
              _draw_conv_transpose1d_polyphase, n_cases=10, forbidden_tconv=_ARTIFACTS_FORBIDDEN))
register(Part("artifacts.checkerboard_score", "Part E: one number for a checkerboard",
              _draw_checkerboard_score, n_cases=10, forbidden_tconv=_ARTIFACTS_FORBIDDEN))


# --- mitigation --------------------------------------------------------------------------


def _draw_scale(rng, hi=4):
    """An int or, half the time, a pair of ints, from 1 to ``hi - 1``."""
    sh, sw = (int(v) for v in rng.integers(1, hi, 2))
    return (sh, sw) if rng.random() < 0.5 else sh


def _draw_upsample_nearest(rng):
    scale = _draw_scale(rng)
    channels = (int(rng.integers(1, 4)),) if rng.random() < 0.5 else ()
    x = _small_array(rng, (*channels, *(int(v) for v in rng.integers(1, 5, 2))))
    expected = mitigation.upsample_nearest2d(x, scale)
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    refs = _torch_reference("interpolate", x.reshape(1, -1, *x.shape[-2:]), scale_factor=(sh, sw),
                            mode="nearest")
    return Case(f"x.shape={x.shape}, scale={scale}", (x, scale), expected=expected,
                references={key: v.reshape(expected.shape) for key, v in refs.items()})


def _draw_resize_conv(rng):
    """A transposed layer (k, s, p, op) and the convolution kernel that replaces it."""
    k, s = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    op = int(rng.integers(0, s))
    h, w = (int(v) for v in rng.integers(1, 5, 2))
    full = geometry.conv_transpose_output_size(min(h, w), k, s, 0, op)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    x, weight = _small_array(rng, (h, w)), _small_array(rng, (kh, kw))
    pads = tuple(geometry.resize_conv_padding(k, s, p, op, conv_kernel_size=big_k) for big_k in (kh, kw))
    expected = mitigation.resize_conv2d(x[None], weight[None, None], scale=s, padding=pads)[0]
    refs = {}
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        pass
    else:
        up = F.interpolate(torch.from_numpy(x)[None, None], scale_factor=s, mode="nearest")
        (top, bottom), (left, right) = pads
        refs["PyTorch"] = F.conv2d(F.pad(up, (left, right, top, bottom)),
                                   torch.from_numpy(weight)[None, None])[0, 0].numpy()
    params = dict(kernel_size=k, stride=s, padding=p, output_padding=op)
    return Case(f"x.shape={x.shape}, weight.shape={weight.shape}, {_fmt_params(**params)}",
                (x, weight, k, s, p, op), expected=expected, references=refs)


def _draw_bilinear_kernel(rng):
    k = int(rng.integers(1, 13))
    return Case(f"kernel_size={k}", (k,), expected=mitigation.bilinear_kernel(k))


def _draw_pixel_shuffle(rng):
    r = int(rng.choice([1, 2, 2, 3, 3]))
    c = int(rng.choice([1, 2, 2, 3]))
    batch = (int(rng.integers(1, 3)),) if rng.random() < 0.5 else ()
    x = _small_array(rng, (*batch, c * r * r, *(int(v) for v in rng.integers(1, 4, 2))))
    refs = _torch_reference("pixel_shuffle", x, r)
    return Case(f"x.shape={x.shape}, r={r}", (x, r), expected=mitigation.pixel_shuffle(x, r), references=refs)


def _draw_icnr(rng):
    r = int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 4, 2)))
    base = _small_array(rng, shape)
    expected = mitigation.icnr((shape[0] * r * r, *shape[1:]), r, init=lambda _shape, _rng: base)
    return Case(f"base.shape={base.shape}, r={r}", (base, r), expected=expected)


_MITIGATION_FORBIDDEN = _ARTIFACTS_FORBIDDEN
register(Part("mitigation.upsample_nearest", "Part A: nearest-neighbour upsampling", _draw_upsample_nearest,
              forbidden_tconv=_MITIGATION_FORBIDDEN))
register(Part("mitigation.resize_conv", "Part B: resize, then convolve, to the transposed layer's size",
              _draw_resize_conv, n_cases=10, forbidden_tconv=_MITIGATION_FORBIDDEN))
register(Part("mitigation.bilinear_kernel", "Part C: the bilinear kernel", Distinct(_draw_bilinear_kernel),
              forbidden_tconv=_MITIGATION_FORBIDDEN))
register(Part("mitigation.pixel_shuffle", "Part D: pixel shuffle", _draw_pixel_shuffle, n_cases=10,
              forbidden_tconv=_MITIGATION_FORBIDDEN))
register(Part("mitigation.icnr", "Part E: ICNR initialisation", _draw_icnr,
              forbidden_tconv=_MITIGATION_FORBIDDEN))


# --- gradients ---------------------------------------------------------------------------


def _draw_grad_1d(rng):
    """A single-channel 1D transposed convolution (n, k, s, p, d), its inputs and an upstream gradient."""
    n, k, s, d = (int(rng.integers(1, hi + 1)) for hi in (7, 5, 3, 3))
    full = geometry.conv_transpose_output_size(n, k, s, 0, 0, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    x, weight = _small_array(rng, n), _small_array(rng, k)
    grad_output = _small_array(rng, geometry.conv_transpose_output_size(n, k, s, p, 0, d))
    grads = gradients.conv_transpose1d_backward(grad_output[None, None], x[None, None], weight[None, None],
                                                stride=s, padding=p, dilation=d)
    refs = _torch_grads("conv_transpose1d", x[None, None], weight[None, None], grad_output[None, None],
                        stride=s, padding=p, dilation=d)
    return x, weight, grad_output, (s, p, d), grads, refs


def _draw_grad_input_1d(rng):
    x, weight, grad_output, (s, p, d), grads, refs = _draw_grad_1d(rng)
    return Case(f"grad_output={grad_output.tolist()}, weight={weight.tolist()}, "
                f"{_fmt_params(stride=s, padding=p, dilation=d)} (x has length {len(x)})",
                (grad_output, weight, s, p, d), expected=grads[0][0, 0],
                references={"PyTorch": refs["x"][0, 0]} if refs else {})


def _draw_grad_weight_1d(rng):
    x, weight, grad_output, (s, p, d), grads, refs = _draw_grad_1d(rng)
    return Case(f"grad_output={grad_output.tolist()}, x={x.tolist()}, kernel_size={len(weight)}, "
                f"{_fmt_params(stride=s, padding=p, dilation=d)}",
                (grad_output, x, len(weight), s, p, d), expected=grads[1][0, 0],
                references={"PyTorch": refs["weight"][0, 0]} if refs else {})


def _draw_he_std(rng):
    nd = 1 if rng.random() < 0.25 else 2
    groups = int(rng.integers(1, 4))
    kernel = tuple(int(v) for v in rng.integers(1, 6, nd))
    shape = (groups * int(rng.integers(1, 9)), int(rng.integers(1, 9)), *kernel)
    strides = tuple(int(v) for v in rng.integers(1, 4, nd))
    stride = strides[0] if nd == 1 or rng.random() < 0.5 else strides
    fan_in, _ = init.fan_in_fan_out(shape, transposed=True, stride=stride, groups=groups)
    expected = init.calculate_gain("relu") / float(np.sqrt(fan_in))
    return Case(f"weight_shape={shape}, stride={stride}, groups={groups}", (shape, stride, groups),
                expected=expected)


_GRADIENTS_FORBIDDEN = _ARTIFACTS_FORBIDDEN
register(Part("gradients.grad_input_1d", "Part A: the input gradient in 1D", _draw_grad_input_1d,
              n_cases=10, forbidden_tconv=_GRADIENTS_FORBIDDEN))
register(Part("gradients.grad_weight_1d", "Part B: the weight gradient in 1D", _draw_grad_weight_1d,
              n_cases=10, forbidden_tconv=_GRADIENTS_FORBIDDEN))
# the bias gradient of layers from the catalogue, batched and not, with PyTorch's stored answer
register(Part("gradients.grad_bias", "Part C: the bias gradient",
              FromCatalogue("conv_transpose2d", _bias_grad_from_catalogue,
                            (("unbatched",), ("batch",), ("groups",), ()), require=("bias",)),
              forbidden_tconv=_GRADIENTS_FORBIDDEN))
register(Part("gradients.conv_transpose2d_backward",
              "Part D: the backward pass with PyTorch's full signature",
              FromCatalogue("conv_transpose2d", _backward_from_catalogue, _CONV_TRANSPOSE2D_STRATA,
                            require=("bias",)),
              n_cases=10, forbidden_tconv=_GRADIENTS_FORBIDDEN))
register(Part("gradients.he_std", "Part E: He initialisation with the layer's true fan-in",
              Distinct(_draw_he_std), n_cases=10, forbidden_tconv=_GRADIENTS_FORBIDDEN))
