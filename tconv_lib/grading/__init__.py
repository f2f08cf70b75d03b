"""The homework's grading: what notebooks import, and the grader behind it.

A notebook's test cells use two functions::

    from tconv_lib.grading import assert_close, check
    assert_close(conv_transpose1d_scatter(x, w, 2), expected)      # a visible test
    check("mechanics.scatter_1d", conv_transpose1d_scatter)          # the hidden tests

:func:`check` does one of two things.

* **Graded** (the grading command runs the notebook in its sandbox): it hands the
  function, pickled, to the grader and stops the cell with :class:`GradingDeferred`.
  The grader draws the student's hidden cases from a key only it holds, runs the
  function on them in a second sandbox where only NumPy exists, and judges the results
  itself (:mod:`.verify`); nothing the kernel says about its own results counts.
* **Practice** (anywhere else: a student's Jupyter, stock ``nbgrader autograde`` on
  trusted notebooks): it draws *practice* cases -- the same parameters, never the graded
  ones -- runs the function on them in a separate process that can import NumPy only,
  and raises :class:`GradingFailure` with the case and the first wrong value.

The package, one module per concern (see DESIGN.md, "Grading: where the trust boundary
runs"): :mod:`.compare` (comparisons and messages), :mod:`.cases` and :mod:`.parts`
(what each part draws and expects), :mod:`.keys` (the secret that seeds the cases),
:mod:`.references` (the PyTorch reference catalogue and fixtures), :mod:`.sandbox`
(bubblewrap: the only code that knows how isolation is done), :mod:`.runner` (what runs
inside the verification sandbox), :mod:`.verify` (the grader's side of a hidden test),
and :mod:`.command` (``python -m tconv_lib.grade``).
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .compare import GradingFailure, assert_close, compare

__all__ = ["check", "assert_close", "compare", "GradingFailure", "GradingDeferred", "student_id"]

#: Set to "deferred" in the grading kernel's environment: check() hands the function over.
MODE_VARIABLE = "TCONV_GRADING"
#: The MIME type of the output that carries a graded function from the kernel to the grader.
HANDOVER_MIME = "application/vnd.tconv.graded-function+json"


class GradingDeferred(Exception):
    """Raised in a graded kernel once a part's function is handed over.

    The grader replaces it with its verdict in the autograded notebook.
    """


def student_id() -> str:
    """The student whose notebook runs: ``$TCONV_STUDENT_ID``, else nbgrader's layout, else ``anonymous``.

    nbgrader autogrades ``<autograded>/<student>/<assignment>/<notebook>.ipynb`` with
    that folder as the working directory.
    """
    if os.environ.get("TCONV_STUDENT_ID"):
        return os.environ["TCONV_STUDENT_ID"]
    cwd = Path.cwd()
    if cwd.parent.parent.name in ("autograded", "submitted"):
        return cwd.parent.name
    return "anonymous"


def pickle_function(function: Callable) -> bytes:
    """The function, cloudpickled so that it can be rebuilt where the notebook is not.

    The notebook's own code, and modules that live next to it (a student's helper file)
    rather than in an installed package, are pickled by value.
    """
    import cloudpickle

    module = sys.modules.get(getattr(function, "__module__", None) or "")
    file = getattr(module, "__file__", None)
    local = (
        module is not None
        and file is not None
        and module.__name__ != "__main__"
        and not module.__name__.startswith("tconv_lib")
        and not any(
            Path(file).resolve().is_relative_to(Path(path).resolve())
            for path in {sys.prefix, sys.base_prefix}
        )
    )
    if not local:
        return cloudpickle.dumps(function)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(function)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def check(part_name: str, function: Callable, *, student: str | None = None) -> None:
    """Run a part's hidden tests on ``function``: handed to the grader when graded, practice cases otherwise.

    Parameters
    ----------
    part_name : str
        A part, e.g. ``"mechanics.scatter_2d"`` (:data:`tconv_lib.grading.cases.PARTS`).
    function : callable
        The student's implementation.
    student : str, optional
        Whose practice cases to draw; defaults to :func:`student_id`.

    Examples
    --------
    >>> def output_size(n, k, s=1, p=0, op=0, d=1):
    ...     size = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    ...     if size < 1:
    ...         raise ValueError(f"no output (size {size}): reduce the padding")
    ...     return size
    >>> check("geometry.output_size", output_size, student="doctest")  # doctest: +ELLIPSIS
    geometry.output_size: all 12 practice cases passed ...
    """
    from .parts import PARTS

    if part_name not in PARTS:
        raise KeyError(f"unknown part {part_name!r}; known parts: {', '.join(sorted(PARTS))}")
    part = PARTS[part_name]
    if not callable(function):
        raise GradingFailure(f"{part.title}: expected a function, got {type(function).__name__}")
    try:
        payload = pickle_function(function)
    except Exception as exc:  # noqa: BLE001 -- anything unpicklable
        raise GradingFailure(
            f"{part.title}: could not send your function to the grader ({type(exc).__name__}: "
            f"{exc}); define it with `def` at the top level of a cell"
        ) from None
    if os.environ.get(MODE_VARIABLE) == "deferred":
        _hand_over(part_name, payload)
    from . import keys
    from .verify import Isolation, verify

    student = student or student_id()
    cases = part.cases(keys.practice_rng(student, part_name))
    verdict = verify({part_name: payload}, {part_name: cases}, PARTS, Isolation(sandboxed=False))[part_name]
    note = (
        f"practice cases drawn for {student!r}; when your notebook is graded, the hidden cases are "
        f"drawn from a key only the grader holds, so they differ"
    )
    if not verdict.passed:
        raise GradingFailure(f"{verdict.message}\n  ({note})")
    print(f"{part_name}: all {len(cases)} practice cases passed ({note})")


def _hand_over(part_name: str, payload: bytes) -> None:
    """Graded: put the pickled function in the cell's output for the grader, and stop the cell."""
    from IPython.display import display

    data = {"part": part_name, "payload": base64.b64encode(payload).decode()}
    display({HANDOVER_MIME: data, "text/plain": f"{part_name}: handed to the grader"}, raw=True)
    raise GradingDeferred(
        f"{part_name}: handed to the grader, which runs the hidden tests outside this notebook"
    )
