"""Verifying graded functions: the hidden cases, run in the verification sandbox, judged here.

:func:`verify` is the grader's side of a hidden test.  For each part it is given the
student's function (the bytes their kernel pickled; never unpickled here) and the cases
drawn for them (:meth:`tconv_lib.grading.cases.Part.cases`, expected answers included).
It writes the cases' inputs as a job (:mod:`tconv_lib.grading.runner`'s format: JSON and
``.npy``), runs the job in a ``verify`` sandbox (:mod:`tconv_lib.grading.sandbox`), reads
the outcomes back as plain data, and judges each one against the expected answers, which
never leave this process.

A function that kills its process (``os._exit``, a crash, the memory limit) loses the
case it was on; the parts after it are verified again in a fresh sandbox, so one part's
misbehaviour costs that part only.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import runner, sandbox
from .cases import Case, Part
from .compare import compare

#: Largest pickled function accepted: a function computes its answers, it does not carry them.
MAX_PAYLOAD_BYTES = 1 * 2**20
STARTUP_SECONDS = 10.0  # on top of the first call's time: start Python and NumPy in the sandbox


@dataclass(frozen=True)
class Verdict:
    """Whether a part passed its hidden cases, and what the student reads."""

    passed: bool
    message: str


@dataclass(frozen=True)
class Isolation:
    """How verification sandboxes are made: see :mod:`tconv_lib.grading.sandbox`."""

    sandboxed: bool = True
    uid: int | None = None
    limits: sandbox.Limits = sandbox.Limits(memory=6 * 2**30, processes=64)


def payload_problem(payload: bytes) -> str | None:
    """Why a pickled function is refused before it is run (too large), or None."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return (
            f"your function, with everything it refers to, takes {len(payload) / 2**20:.1f} MiB; the "
            f"grader accepts {MAX_PAYLOAD_BYTES // 2**20} MiB. A graded function computes its answers: "
            f"it may not carry large tables or arrays from the notebook"
        )
    return None


def verify(
    functions: dict[str, bytes],
    cases: dict[str, list[Case]],
    parts: dict[str, Part],
    isolation: Isolation = Isolation(),
) -> dict[str, Verdict]:
    """Judge every part of ``functions`` on its ``cases``; never raises for anything the student did.

    Parameters
    ----------
    functions : dict
        part name -> the cloudpickled function.
    cases : dict
        part name -> its hidden cases, expected answers included.
    parts : dict
        part name -> :class:`~tconv_lib.grading.cases.Part` (title, time limit, tolerances).
    isolation : Isolation
    """
    verdicts = {}
    todo = []
    for name, payload in functions.items():
        problem = payload_problem(payload)
        if problem:
            verdicts[name] = Verdict(False, f"{parts[name].title}: {problem}")
        else:
            todo.append(name)
    outcomes = _run(todo, functions, cases, parts, isolation)
    for name in todo:
        verdicts[name] = judge(parts[name], cases[name], outcomes[name])
    return verdicts


# --------------------------------------------------------------------------------------
# Running the sandbox, again after a crash
# --------------------------------------------------------------------------------------


def _run(names, functions, cases, parts, isolation) -> dict[str, list[dict]]:
    """part -> one outcome per case it got to: ``{"status", "value"[, "types"]}``."""
    outcomes: dict[str, list[dict]] = {name: [] for name in names}
    remaining = list(names)
    while remaining:
        with tempfile.TemporaryDirectory(prefix="tconv-verify-") as tmp:
            private = Path(tmp)
            private.chmod(0o711)
            _write_job(private / "job" / "in", remaining, functions, cases, parts)
            # a runner that writes no result for longer than a call may take is stuck (or ignores its timer)
            stopped = sandbox.run_verification(
                private,
                uid=isolation.uid,
                limits=isolation.limits,
                sandboxed=isolation.sandboxed,
                idle_timeout=max(parts[n].call_timeout for n in remaining) + 5,
                startup=STARTUP_SECONDS,
            )
            records = _read_results(private / "job" / "out")
        for record in records:
            if record["part"] in outcomes:
                outcomes[record["part"]].append(record)
        # where the runner stopped: the first part without all its outcomes (or a final one)
        done = [n for n in remaining if _finished(outcomes[n], len(cases[n]))]
        unfinished = [n for n in remaining if n not in done]
        if not unfinished:
            break
        culprit = unfinished[0]
        outcomes[culprit].append(_stopped(stopped, parts[culprit]))
        remaining = unfinished[1:]
    return outcomes


def _finished(outcomes: list[dict], n_cases: int) -> bool:
    return len(outcomes) >= n_cases or any(o["status"] not in ("ok", "error") for o in outcomes)


def _stopped(why: str | None, part: Part) -> dict:
    if why == "timeout":
        return {"status": "timeout", "value": part.call_timeout}
    if why and "SIGKILL" in why:
        return {
            "status": "crashed",
            "value": "the process was killed (SIGKILL), most likely for using too much memory",
        }
    return {
        "status": "crashed",
        "value": f"the process ended ({why or 'exit status 0'}): sys.exit(), "
        f"os._exit() or a crash in your code?",
    }


def _write_job(folder: Path, names, functions, cases, parts) -> None:
    folder.mkdir(parents=True)
    spec = {"allowed": list(sandbox.ALLOWED_PACKAGES), "parts": []}
    for p, name in enumerate(names):
        payload = f"function_{p}.pickle"
        (folder / payload).write_bytes(functions[name])
        calls = [
            {
                "args": runner.encode(case.args, str(folder), f"a{p}_{c}_0"),
                "kwargs": runner.encode(case.kwargs, str(folder), f"a{p}_{c}_1"),
            }
            for c, case in enumerate(cases[name])
        ]
        spec["parts"].append(
            {"part": name, "payload": payload, "call_timeout": parts[name].call_timeout, "calls": calls}
        )
    (folder / "job.json").write_text(json.dumps(spec))


def _read_results(folder: Path) -> list[dict]:
    """The runner's records, values decoded (:func:`.runner.decode`); bad ones become errors."""
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(folder / "results.jsonl", flags)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        text = f.read(64 * 2**20).decode("utf-8", errors="replace")
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
            status = record["status"]
            if not isinstance(record.get("part"), str) or not isinstance(status, str):
                continue
            value = record.get("value")
            if status == "ok":
                value = runner.decode(value, str(folder))
            elif not isinstance(value, (str, int, float)):
                value = str(value)[:1000]
            types = record.get("types")
            records.append(
                {
                    "part": record["part"],
                    "status": status,
                    "value": value,
                    "types": [t for t in types if isinstance(t, str)] if isinstance(types, list) else [],
                }
            )
        except (ValueError, KeyError, TypeError, OSError) as exc:
            records.append(
                {
                    "part": record.get("part", "") if isinstance(record, dict) else "",
                    "status": "unreadable",
                    "value": f"the grader could not read your result ({exc})",
                }
            )
    return records


# --------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------


def judge(part: Part, cases: list[Case], outcomes: list[dict]) -> Verdict:
    """The verdict on a part: it passes only if every case has an outcome and every outcome is right.

    Right means: raised the case's ``raises``; else, for a case with a ``check``, has the
    property it checks (``check(value)`` returns None); else matches ``expected`` and every
    one of ``references`` (:func:`~tconv_lib.grading.compare.compare`).
    """
    for number, case in enumerate(cases, start=1):
        outcome = outcomes[number - 1] if number <= len(outcomes) else None
        if outcome is None and outcomes and outcomes[-1]["status"] not in ("ok", "error"):
            outcome = outcomes[-1]  # a final outcome (unloadable, ...) counts for the rest
        message = _judge_case(part, case, outcome)
        if message:
            return Verdict(
                False,
                f"{part.title}: hidden case {number} of {len(cases)} failed.\n"
                f"  case: {case.description}\n  {message}",
            )
    return Verdict(True, f"{part.name}: all {len(cases)} hidden cases passed")


def _judge_case(part: Part, case: Case, outcome: dict | None) -> str | None:
    if outcome is None:
        return "not run: the grader got no result for this case"
    status, value = outcome["status"], outcome["value"]
    if status == "forbidden":
        return (
            f"your function used {value}. This part is graded on code built from NumPy's array "
            f"operations and Python's standard library alone: library convolutions (PyTorch, SciPy, "
            f"numpy.convolve, tconv_lib) earn no points here."
        )
    if status == "timeout":
        return f"your function took longer than {value:g} s on this small case (an infinite loop?)"
    if status in ("crashed", "unloadable", "unencodable", "unreadable"):
        return str(value)
    if case.raises is not None:
        if status == "error" and case.raises.__name__ in outcome.get("types", []):
            return None
        got = f"it raised {value}" if status == "error" else f"it returned {_short(value)}"
        return f"expected your function to raise {case.raises.__name__}, but {got}"
    if status == "error":
        return f"your function raised {value}"
    if status != "ok":
        return f"the grader got an unknown outcome {status!r}"
    if case.check is not None:  # graded on a property of the result, not on one right answer
        try:
            return case.check(value)
        except Exception as exc:  # noqa: BLE001 -- a result of a shape the check did not foresee
            return f"the grader could not check your result {_short(value)} ({type(exc).__name__}: {exc})"
    message = compare(value, case.expected, rtol=part.rtol, atol=part.atol)
    if message:
        return message
    for source, reference in case.references.items():
        message = compare(
            value, reference, rtol=part.rtol, atol=part.atol, name=f"result (compared with {source})"
        )
        if message:
            return message
    return None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."
