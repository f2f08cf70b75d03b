"""Verified scores: run each part's hidden tests outside the student's kernel.

The grading command runs the notebook's hidden-test cells with ``check(part, f)``
replaced by ``tconv_lib.grade._defer(part, f)``, which writes ``f``, cloudpickled, into
a spool folder.  After the notebook, the command starts this module in a fresh process
(as the isolated user when the command runs as root; never dumpable, so processes of
that user cannot attach to it or write into its pipes) and hands it the spooled bytes
on stdin.  For every part it calls :func:`tconv_lib.grading.check` with the student's
id: the same hidden cases as in the kernel, drawn from the same seed; the student's
function runs in :mod:`tconv_lib._sandbox` and every comparison happens here, in code
the student's kernel never touched.  The spooled bytes are never unpickled here, only
inside the sandbox, and what the sandbox sends back is read with
:class:`tconv_lib.grading.SafeUnpickler`, which builds plain data and NumPy arrays and nothing else.

Protocol: stdin is one JSON object ``{"student", "uid", "parts": [{"part", "payload"}]}``
(payload in base64); stdout is one JSON object ``{"results": [{"part", "passed",
"message"}]}``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pickle
import sys


class Spooled:
    """A spooled function as :func:`~tconv_lib.grading.check` sees it: pickled, it is the spooled bytes.

    Never unpickled here: ``check`` pickles it for the sandbox, and the sandbox's
    ``pickle.loads`` calls ``pickle.loads(payload)``, in the sandbox.
    """

    def __init__(self, payload: bytes):
        self.payload = payload

    def __reduce__(self):
        return pickle.loads, (self.payload,)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("a spooled function runs only in the sandbox")


def not_dumpable() -> None:
    """PR_SET_DUMPABLE 0: processes of the same user can neither ptrace this one nor open its /proc files."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def verify(student: str, parts: list[tuple[str, bytes]]) -> list[dict]:
    """Run :func:`~tconv_lib.grading.check` on every spooled part; never raises."""
    from . import grading

    results = []
    for part, payload in parts:
        try:
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                grading.check(part, Spooled(payload), student=student)
            results.append({"part": part, "passed": True, "message": printed.getvalue().strip()})
        except grading.GradingFailure as failure:
            results.append({"part": part, "passed": False, "message": str(failure)})
        except BaseException as exc:  # noqa: BLE001 -- a grader error still scores 0, with its reason
            results.append(
                {
                    "part": part,
                    "passed": False,
                    "message": f"the grader could not check this part ({type(exc).__name__}: {exc})",
                }
            )
    return results


def main() -> None:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints goes to stderr, never into the result
    job = json.load(sys.stdin)
    import cloudpickle  # noqa: F401

    from . import grading  # noqa: F401 -- import before dropping privileges

    uid = job.get("uid")
    if uid is not None:
        from ._grade_kernel import drop_privileges

        drop_privileges(int(uid))
    not_dumpable()
    parts = [(p["part"], base64.b64decode(p["payload"])) for p in job["parts"]]
    json.dump({"results": verify(job["student"], parts)}, out)
    out.flush()


if __name__ == "__main__":
    main()
