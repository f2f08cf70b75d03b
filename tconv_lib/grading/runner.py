"""Run a student's graded function on hidden inputs: the program inside the verification sandbox.

This file is run as a plain script, ``python -I -S runner.py JOB``, by
:func:`tconv_lib.grading.sandbox.run_verification`, in a sandbox where only the Python
standard library, NumPy and cloudpickle exist.  It must therefore import nothing else:
not tconv_lib (which is not there), not torch, not SciPy.  The grader imports the same
file as :mod:`tconv_lib.grading.runner` for :func:`encode` and :func:`decode`, so the
format of what crosses the boundary is defined once.

The job folder ``JOB`` holds

* ``in/job.json``: ``{"allowed": [package, ...], "parts": [{"part", "payload", "call_timeout",
  "calls": [{"args", "kwargs"}]}]}``, every value encoded by :func:`encode`, arrays as ``in/*.npy``;
* ``in/<payload>``: the student's function, cloudpickled in their kernel;
* ``out/`` (the only writable place): ``results.jsonl``, one JSON line per call as it
  finishes, ``{"part", "call", "status", "value"}``, and the ``.npy`` files its values name.

``status`` is ``ok`` (``value``: the encoded result), ``error`` (``value``: the exception,
one line; ``types``: its class and base classes), ``timeout``, ``forbidden`` (``value``:
what was called), ``unloadable`` (the function could not be rebuilt here: ``value`` says
why) or ``unencodable`` (the result is not something the grader reads).

Nothing the grader computed is here: no expected answer, no tolerance.  The grader reads
the results with :func:`decode`, which builds plain Python values and NumPy arrays
(``numpy.load(..., allow_pickle=False)``) and nothing else.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import pickle
import re
import signal
import stat
import sys
import traceback

#: NumPy's own convolutions: built from NumPy means built from its array operations.
FORBIDDEN_NUMPY = ("convolve", "correlate")
_ARRAY_NAME = re.compile(r"^[av]\d+_\d+(_\d+)*\.npy$")
# bounds on what the grader accepts back (a result is at most a few arrays of a few MB)
MAX_NODES = 10_000
MAX_DEPTH = 16
MAX_TEXT = 10_000
MAX_ARRAY_BYTES = 256 * 2**20


# --------------------------------------------------------------------------------------
# The format of values: JSON, with arrays in .npy files beside it
# --------------------------------------------------------------------------------------


class Unencodable(Exception):
    """A value that does not cross the boundary (a torch tensor, an object array, a generator...)."""


def encode(value, folder: str, prefix: str) -> dict:
    """``value`` as JSON-ready data; arrays are saved as ``<folder>/<prefix>_<n>.npy``.

    Handles None, bool, int, float, complex, str, NumPy scalars and arrays (numbers and
    booleans only), and tuples, lists and dicts of these.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     data = encode((1, [2.5, "same"], np.float32(0.5), np.arange(3)), folder, "v0")
    ...     back = decode(data, folder)
    >>> back[:2], type(back[2]).__name__, back[3].tolist()
    ((1, [2.5, 'same']), 'float32', [0, 1, 2])
    """
    import numpy as np

    counter = [0]

    def walk(v, depth):
        counter[0] += 1
        if counter[0] > MAX_NODES or depth > MAX_DEPTH:
            raise Unencodable("the result is too large or too deeply nested")
        if v is None:
            return {"t": "none"}
        if isinstance(v, bool):
            return {"t": "bool", "v": v}
        if isinstance(v, int):
            return {"t": "int", "v": str(v)}
        if isinstance(v, float):
            return {"t": "float", "v": repr(v)}
        if isinstance(v, complex):
            return {"t": "complex", "v": [repr(v.real), repr(v.imag)]}
        if isinstance(v, str):
            return {"t": "str", "v": v[:MAX_TEXT]}
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biufc":
                raise Unencodable(f"an array of dtype {v.dtype} (only numbers cross to the grader)")
            name = f"{prefix}_{counter[0]}.npy"
            np.save(os.path.join(folder, name), np.asarray(v), allow_pickle=False)
            return {"t": "ndarray", "f": name}
        if isinstance(v, np.generic):
            if v.dtype.kind not in "biufc":
                raise Unencodable(f"a NumPy scalar of dtype {v.dtype}")
            return {"t": "scalar", "dtype": v.dtype.str, "v": repr(v.item())}
        if type(v) in (tuple, list):
            return {"t": type(v).__name__, "v": [walk(item, depth + 1) for item in v]}
        if type(v) is dict:
            return {"t": "dict", "v": [[walk(k, depth + 1), walk(item, depth + 1)] for k, item in v.items()]}
        module = type(v).__module__ or ""
        what = f"{module}.{type(v).__name__}" if module != "builtins" else type(v).__name__
        raise Unencodable(f"a {what}")

    return walk(value, 0)


def decode(data, folder: str):
    """The value :func:`encode` wrote, rebuilt from plain data and ``.npy`` files only.

    Raises ``ValueError`` on anything :func:`encode` does not write (the other side may be
    hostile): an unknown tag, a file name that is not one of its own, an array that needs
    pickle, a non-numeric dtype, more than :data:`MAX_NODES` values.
    """
    import numpy as np

    counter = [0]

    def number(text, kind):
        if not isinstance(text, str) or len(text) > 400:
            raise ValueError("a number that is not one")
        return kind(text)

    def walk(d, depth):
        counter[0] += 1
        if counter[0] > MAX_NODES or depth > MAX_DEPTH or not isinstance(d, dict):
            raise ValueError("not an encoded value")
        tag = d.get("t")
        if tag == "none":
            return None
        if tag == "bool" and isinstance(d.get("v"), bool):
            return d["v"]
        if tag == "int":
            return number(d.get("v"), int)
        if tag == "float":
            return number(d.get("v"), float)
        if tag == "complex" and isinstance(d.get("v"), list) and len(d["v"]) == 2:
            return complex(number(d["v"][0], float), number(d["v"][1], float))
        if tag == "str" and isinstance(d.get("v"), str):
            return d["v"][:MAX_TEXT]
        if tag in ("tuple", "list") and isinstance(d.get("v"), list):
            items = [walk(item, depth + 1) for item in d["v"]]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and isinstance(d.get("v"), list):
            pairs = [(walk(k, depth + 1), walk(v, depth + 1)) for k, v in (p for p in d["v"] if len(p) == 2)]
            return {k: v for k, v in pairs if isinstance(k, (str, int, float, bool, tuple)) or k is None}
        if tag == "scalar":
            dtype = np.dtype(str(d.get("dtype")))
            if dtype.kind not in "biufc":
                raise ValueError(f"a scalar of dtype {dtype}")
            parse = {"b": lambda t: t == "True", "i": int, "u": int, "f": float, "c": complex}[dtype.kind]
            return dtype.type(number(d.get("v"), parse))
        if tag == "ndarray":
            name = d.get("f")
            if not isinstance(name, str) or not _ARRAY_NAME.match(name):
                raise ValueError("an array file that the runner did not write")
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise ValueError("an array file that is not a file")
                if info.st_size > MAX_ARRAY_BYTES:
                    raise ValueError(f"an array of more than {MAX_ARRAY_BYTES // 2**20} MiB")
                array = np.load(f, allow_pickle=False)
            if array.dtype.kind not in "biufc":
                raise ValueError(f"an array of dtype {array.dtype}")
            return array
        raise ValueError(f"an unknown kind of value {tag!r}")

    return walk(data, 0)


# --------------------------------------------------------------------------------------
# Inside the sandbox
# --------------------------------------------------------------------------------------


class NotAllowed(ImportError):
    """An import of a package that graded code may not use."""


class _OnlyAllowed(importlib.abc.MetaPathFinder):
    """Refuse every top-level package but the standard library and the job's ``allowed`` ones.

    In the sandbox nothing else exists anyway; this finder makes the same true where the
    runner runs without one (a student's own check), and gives the message.
    """

    def __init__(self, allowed):
        self.allowed = frozenset(allowed)

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.allowed or top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return None
        raise NotAllowed(
            f"No module named {top!r} here: graded functions may use NumPy and Python's "
            f"standard library only",
            name=top,
        )


class ForbiddenCall(BaseException):
    """Raised by NumPy's convolutions in graded code (BaseException: ``except Exception`` won't eat it)."""


class _CallTimeout(BaseException):
    """Raised by the timer inside student code."""


def _forbid_numpy_convolutions() -> None:
    import numpy as np

    for name in FORBIDDEN_NUMPY:

        def forbidden(*args, _name=name, **kwargs):
            raise ForbiddenCall(f"numpy.{_name}")

        modules = [
            np,
            getattr(np, "_core", None),
            getattr(getattr(np, "_core", None), "numeric", None),
            getattr(getattr(np, "_core", None), "multiarray", None),
            getattr(getattr(np, "_core", None), "_multiarray_umath", None),
        ]
        for module in modules:
            for attribute in (name, name + "2"):
                if module is not None and hasattr(module, attribute):
                    setattr(module, attribute, forbidden)


def _describe(exc: BaseException) -> str:
    """``ValueError: message (line 12 of f)``; never raises, whatever the exception's ``__str__`` does."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        where = f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 -- a hostile __str__
        return type(exc).__name__
    return (text[:500] + "...") if len(text) > 500 else text + where


def _unloadable(exc: BaseException) -> str:
    if isinstance(exc, (NotAllowed, ModuleNotFoundError)):
        module = getattr(exc, "name", None) or str(exc)
        return (
            f"your function needs {module!r}, which graded code cannot use: this part is checked "
            f"on code built from NumPy alone (no PyTorch, SciPy or tconv_lib)"
        )
    return (
        f"the grader could not rebuild your function ({_describe(exc)}); define it with `def` at "
        f"the top level of a cell"
    )


def _on_alarm(signum, frame):
    raise _CallTimeout()


def _timer(seconds: float) -> None:
    """Raise :class:`_CallTimeout` in ``seconds`` (0: cancel).  Where there is no SIGALRM (Windows, a
    student's practice check), the caller's watchdog stops a runner that writes no result."""
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, seconds)


def main(job: str, site: str | None = None) -> None:
    # stdout and stderr go nowhere: what the student prints must not reach the grader
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    with open(os.path.join(job, "in", "job.json")) as f:
        spec = json.load(f)
    sys.meta_path.insert(0, _OnlyAllowed(spec["allowed"]))
    if site:
        sys.path.insert(0, site)
    import numpy  # noqa: F401 -- imported before the student's function, so its modules exist

    _forbid_numpy_convolutions()
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_alarm)
    with open(os.path.join(job, "out", "results.jsonl"), "a", buffering=1) as results:
        for p, part in enumerate(spec["parts"]):
            _run_part(p, part, job, results)


def _run_part(p: int, part: dict, job: str, results) -> None:
    """Load one part's function and call it on every case, one result line per call."""

    def record(call, status, value=None, **extra):
        line = {"part": part["part"], "call": call, "status": status, "value": value, **extra}
        results.write(json.dumps(line) + "\n")

    inputs, out = os.path.join(job, "in"), os.path.join(job, "out")
    _timer(part["call_timeout"])
    try:
        with open(os.path.join(inputs, part["payload"]), "rb") as f:
            function = pickle.load(f)
    except BaseException as exc:  # noqa: BLE001 -- whatever unpickling raises is reported
        record(0, "unloadable", _unloadable(exc))
        return
    finally:
        _timer(0)
    for c, call in enumerate(part["calls"]):
        args, kwargs = decode(call["args"], inputs), decode(call["kwargs"], inputs)
        _timer(part["call_timeout"])
        try:
            value = function(*args, **kwargs)
            status = "ok"
        except _CallTimeout:
            status, value = "timeout", part["call_timeout"]
        except ForbiddenCall as exc:
            status, value = "forbidden", f"{exc}()"
        except NotAllowed as exc:
            status, value = "forbidden", f"an import of {exc.name!r}"
        except BaseException as exc:  # noqa: BLE001 -- SystemExit included
            status, value = "error", exc
        finally:
            _timer(0)
        if status == "error":
            types = [t.__name__ for t in type(value).__mro__ if t.__module__ == "builtins"]
            message = (
                "MemoryError: your function tried to allocate more memory than allowed"
                if isinstance(value, MemoryError)
                else _describe(value)
            )
            record(c, "error", message, types=types)
            continue
        if status != "ok":
            record(c, status, value)
            return  # the part has failed; spare the time of its other calls
        try:
            record(c, "ok", encode(value, out, f"v{p}_{c}"))
        except Unencodable as exc:
            record(c, "unencodable", f"your function returned {exc}; return NumPy arrays and Python numbers")
        except Exception as exc:  # noqa: BLE001 -- e.g. a disk full while saving
            record(c, "unencodable", f"the result could not be sent to the grader ({_describe(exc)})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
