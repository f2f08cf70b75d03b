"""Grading one submission, as one straight pipeline.

:func:`grade_one` is what the grading command's workers (local processes or Dask
workers) run for every (assignment, student)::

    run_notebook  -> NotebookRun   nbgrader autograde, the kernel in the notebook sandbox
    verify_parts  -> verdicts      the handed-over functions on the student's hidden cases,
                                   in the verification sandbox (NumPy only)
    score         -> Scores        a test cell earns its points iff it ran to its hidden
                                   test and the verification passed
    record                         the verified scores into the gradebook, the verdicts
                                   into the autograded notebook (what feedback shows), and
                                   beside each written answer its rubric, for the grader

Written answers (markdown cells graded by hand) are scored by nbgrader itself, as stock
nbgrader does: a blank answer earns 0, any other needs a manual grade (formgrader, or
``python -m tconv_lib.grade manual``); this pipeline never writes their scores.

Only this process (the grader) touches the gradebook, the grading folder and the course
secret; student code runs in the sandboxes of :mod:`tconv_lib.grading.sandbox`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
import time
import warnings
from io import StringIO
from pathlib import Path

from .. import MODE_VARIABLE, keys, sandbox, verify
from ..parts import PARTS
from .course import Course, GradedCell, WrittenCell, graded_cells, written_cells
from .execute import BoundedKernelClient, GuardedExecute, error_output

DEFERRED = "GradingDeferred"  # ename of the marker check() raises in a graded kernel
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass
class NotebookRun:
    """What executing a submission produced.

    ``notebook`` is the autograded notebook (None if nbgrader could not write one: then
    ``crashed`` says why); ``errors`` maps each graded cell to its ``(ename, evalue)``
    outputs; ``handovers`` to the ``(part, pickled function)`` its hidden test handed over.
    """

    path: Path
    notebook: object | None
    errors: dict[str, list[tuple[str, str]]]
    handovers: dict[str, tuple[str, bytes]]
    crashed: str | None
    log: str
    timings: dict[str, float]


@dataclasses.dataclass
class Scores:
    scores: dict[str, float]
    maximum: dict[str, float]
    messages: dict[str, str]


# --------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------


def grade_one(job: dict) -> dict:
    """Autograde and verify one submission; return its result (scores, messages, timings).

    ``job`` holds ``root``, ``grading``, ``db_url`` (for :class:`Course`), ``assignment``,
    ``student``, ``fingerprint``, ``cell_timeout``, ``notebook_timeout``, ``memory_limit``
    and ``sandboxed``.
    """
    start = time.perf_counter()
    warnings.filterwarnings("ignore", module="nbgrader")  # nbgrader's add_submission autoflushes early
    course = _course(job)
    cells = _cells(course, job["assignment"])
    written = _written(course, job["assignment"])
    uid = sandbox.sandbox_uid() if job["sandboxed"] else None
    try:
        run = run_notebook(course, job, uid)
        verified_at = time.perf_counter()
        run.timings["nbgrader"] = verified_at - start - run.timings["kernel_start"] - run.timings["cells"]
        verdicts = verify_parts(course, job, cells, run, uid)
        run.timings["verify"] = time.perf_counter() - verified_at
        scores = score(course, job, cells, run, verdicts)
        by_hand = record(course, job, cells, run, verdicts, scores, written)
    finally:
        if uid is not None:
            sandbox.kill_user_processes(uid)  # the pid namespaces did it already; the second lock
    run.timings["total"] = time.perf_counter() - start
    return {
        "assignment": job["assignment"],
        "student": job["student"],
        "fingerprint": job.get("fingerprint"),
        "status": _status(course, job, run),
        "scores": scores.scores,
        "max_scores": scores.maximum,
        "messages": scores.messages,
        "score": sum(scores.scores.values()),
        "max_score": sum(scores.maximum.values()),
        "written": by_hand,
        "log_tail": "" if run.notebook is not None else run.log[-3000:],
        "timings": {k: round(v, 3) for k, v in run.timings.items()},
        "sandboxed": bool(job["sandboxed"]),
    }


def run_notebook(course: Course, job: dict, uid: int | None) -> NotebookRun:
    """nbgrader autograde for one submission, in this process, its kernel in a notebook sandbox."""
    import nbformat

    assignment, student = job["assignment"], job["student"]
    limits = sandbox.Limits(memory=int(job.get("memory_limit") or sandbox.Limits.memory))
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    with tempfile.TemporaryDirectory(prefix="tconv-grade-") as tmp:
        private = Path(tmp)
        private.chmod(0o711)
        spec = sandbox.notebook_spec(
            private,
            uid,
            limits,
            {"TCONV_STUDENT_ID": student, MODE_VARIABLE: "deferred"},
            sandboxed=job["sandboxed"],
        )
        sandbox.kernelspec(private, spec.write(private / "kernel-spec.json"))
        os.environ.update(JUPYTER_PATH=str(private), JUPYTER_RUNTIME_DIR=str(private / "runtime"))
        executor = GuardedExecute(config=_config(course, job, private))
        try:
            log, crashed = _autograde(course, job, executor)
        finally:
            for key, value in saved.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    path = course.autograded / student / assignment / f"{assignment}.ipynb"
    notebook = None
    if path.exists():
        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception:  # noqa: BLE001 -- treated as not graded
            notebook = None
    timings = dict(getattr(executor, "timings", {}) or {"kernel_start": 0.0, "cells": 0.0})
    return NotebookRun(
        path,
        notebook,
        _cell_errors(notebook) if notebook is not None else {},
        dict(getattr(executor, "handovers", {})),
        crashed,
        log,
        timings,
    )


def verify_parts(
    course: Course, job: dict, cells: list[GradedCell], run: NotebookRun, uid: int | None
) -> dict[str, verify.Verdict]:
    """The verdict on every part whose test cell reached its hidden test (:func:`reached`)."""
    functions = {c.part: run.handovers[c.grade_id][1] for c in reached(cells, run)}
    if not functions:
        return {}
    secret = keys.course_secret(course.grading)
    cases = {part: PARTS[part].cases(keys.graded_rng(secret, job["student"], part)) for part in functions}
    isolation = verify.Isolation(sandboxed=job["sandboxed"], uid=uid)
    return verify.verify(functions, cases, PARTS, isolation)


def reached(cells: list[GradedCell], run: NotebookRun) -> list[GradedCell]:
    """Test cells that ran to their hidden test: the hand-over marker is their only error, and
    what they handed over is their own part."""
    return [
        c
        for c in cells
        if c.part is not None
        and run.handovers.get(c.grade_id, ("", b""))[0] == c.part
        and [e[0] for e in run.errors.get(c.grade_id, [])] == [DEFERRED]
    ]


def score(
    course: Course, job: dict, cells: list[GradedCell], run: NotebookRun, verdicts: dict[str, verify.Verdict]
) -> Scores:
    """Points per test cell: a hidden test's verdict, nbgrader's own score for a cell without one."""
    nbgrader = _nbgrader_scores(course, job) if any(c.part is None for c in cells) else {}
    scores, messages, maximum = {}, {}, {}
    for c in cells:
        maximum[c.grade_id] = c.points
        if run.notebook is None:
            scores[c.grade_id], messages[c.grade_id] = 0.0, run.crashed or "the notebook was not graded"
        elif c.part is None:  # no hidden test: nbgrader's own score stands
            scores[c.grade_id] = float(nbgrader.get(c.grade_id) or 0.0)
            messages[c.grade_id] = _first_error(run.errors.get(c.grade_id, []))
        elif c.part in verdicts and c in reached(cells, run):
            verdict = verdicts[c.part]
            scores[c.grade_id] = c.points if verdict.passed else 0.0
            messages[c.grade_id] = "" if verdict.passed else verdict.message
        else:
            scores[c.grade_id] = 0.0
            messages[c.grade_id] = _first_error(run.errors.get(c.grade_id, [])) or _not_reached(c, run)
    return Scores(scores, maximum, messages)


def record(
    course: Course,
    job: dict,
    cells: list[GradedCell],
    run: NotebookRun,
    verdicts: dict[str, verify.Verdict],
    scores: Scores,
    written: list[WrittenCell] = (),
) -> dict[str, str]:
    """The verdicts (and the rubrics) into the autograded notebook, the verified scores into the
    gradebook; returns the state of each written answer: ``blank``, ``to grade`` or ``graded``."""
    if run.notebook is not None:
        _annotate(run, cells, verdicts, written)
    return _write_gradebook(course, job["assignment"], job["student"], scores.scores, written)


# --------------------------------------------------------------------------------------
# nbgrader
# --------------------------------------------------------------------------------------

_COURSES: dict[tuple, Course] = {}
_CELLS: dict[tuple, list[GradedCell]] = {}
_WRITTEN: dict[tuple, list[WrittenCell]] = {}


def _course(job: dict) -> Course:
    key = (job["root"], job["grading"], job["db_url"])
    if key not in _COURSES:
        _COURSES[key] = Course.load(job["root"], job["grading"], job["db_url"])
    return _COURSES[key]


def _from_source(cache: dict, read, course: Course, assignment: str):
    """``read(source notebook)``, read again only when the source notebook changes."""
    path = course.source_notebook(assignment)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in cache:
        cache[key] = read(path)
    return cache[key]


def _cells(course: Course, assignment: str) -> list[GradedCell]:
    return _from_source(_CELLS, graded_cells, course, assignment)


def _written(course: Course, assignment: str) -> list[WrittenCell]:
    return _from_source(_WRITTEN, written_cells, course, assignment)


def _config(course: Course, job: dict, private: Path):
    """nbgrader's configuration for one run: the sandboxed kernel over ZeroMQ's ipc transport, the limits."""
    from traitlets.config import Config

    config = Config(course.config)
    runtime = private / "runtime"
    config.merge(
        Config(
            {
                "Execute": {
                    "timeout": int(job.get("cell_timeout") or 60),
                    "kernel_name": sandbox.KERNEL_NAME,
                },
                "GuardedExecute": {"notebook_timeout": float(job.get("notebook_timeout") or 1800)},
                "KernelManager": {
                    "transport": "ipc",
                    "ip": str(runtime / "kernel"),
                    "connection_file": str(runtime / "kernel.json"),
                },
                "AsyncKernelManager": {
                    "client_class": f"{BoundedKernelClient.__module__}.BoundedKernelClient"
                },
            }
        )
    )
    return config


def _autograde(course: Course, job: dict, executor: GuardedExecute) -> tuple[str, str | None]:
    """nbgrader autograde for one student and assignment; returns its log and, if nbgrader gave up, why."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    config = executor.config
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = job["assignment"]
    coursedir.student_id = job["student"]
    app = Autograde(coursedir=coursedir, config=config)
    # set here, not through the configuration, which would copy the executor (and lose what it collects)
    app.autograde_preprocessors = [
        executor,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    app.force = True
    app.create_student = True
    buffer = StringIO()
    logger = logging.getLogger(f"tconv.grade.{os.getpid()}")
    logger.handlers[:] = [logging.StreamHandler(buffer)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    app.log = logger
    crashed = None
    try:
        app.start()
    except NbGraderException:
        crashed = "nbgrader could not grade this notebook"
    except Exception as exc:  # noqa: BLE001 -- nbgrader's own errors; the notebook still gets a row
        crashed = f"nbgrader failed: {type(exc).__name__}: {exc}"
    log = buffer.getvalue()
    if crashed:
        reason = _reason_from_log(log)
        crashed = f"{crashed}: {reason}" if reason else crashed
    return log, crashed


def _reason_from_log(log: str) -> str:
    """The most telling line of nbgrader's traceback: the exception it ended with."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if re.match(r"^[\w.]+(Error|Exception|Invalid\w*)\b", line):
            return line[:300]
    return ""


def _cell_errors(notebook) -> dict[str, list[tuple[str, str]]]:
    errors = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and cell.cell_type == "code":
            errors[grade_id] = [
                (o.get("ename", ""), _ANSI.sub("", o.get("evalue", "") or ""))
                for o in cell.get("outputs", [])
                if o.get("output_type") == "error"
            ]
    return errors


def _not_reached(cell: GradedCell, run: NotebookRun) -> str:
    if cell.grade_id not in run.errors:
        return "the hidden tests were never reached: the test cell is missing from the notebook"
    return (
        "the hidden tests were never reached: the test cell ran, but its check() did not hand your "
        "function to the grader (was check replaced?)"
    )


def _first_error(errors: list[tuple[str, str]]) -> str:
    for ename, evalue in errors:
        if ename != DEFERRED:
            first = evalue.strip().splitlines()[0] if evalue.strip() else ""
            return f"{ename}: {first}"[:500] if first else ename
    return ""


def _status(course: Course, job: dict, run: NotebookRun) -> str:
    if run.notebook is not None:
        return "graded"
    submitted = course.submitted / job["student"] / job["assignment"] / f"{job['assignment']}.ipynb"
    try:
        json.loads(submitted.read_bytes())
    except (OSError, ValueError):
        return "unreadable"
    return "failed"


#: Marks the rubric cells the grader adds to an autograded notebook (feedback leaves them out).
RUBRIC_METADATA = "tconv_rubric_for"


def rubric_cell(cell: WrittenCell):
    """The markdown cell that shows a written part's rubric to whoever grades it, under the answer."""
    from nbformat.v4 import new_markdown_cell

    text = (
        f"**For the grader: the rubric of {cell.title} ({cell.points:g} points).** Added by the grading "
        f"command for nbgrader's formgrader; the student's feedback leaves it out.\n\n{cell.rubric}"
    )
    return new_markdown_cell(text, metadata={RUBRIC_METADATA: cell.grade_id, "tags": ["tconv-rubric"]})


def _annotate(
    run: NotebookRun,
    cells: list[GradedCell],
    verdicts: dict[str, verify.Verdict],
    written: list[WrittenCell] = (),
) -> None:
    """Replace the hand-over marker in each test cell by the verified outcome, as feedback shows it;
    put each written part's rubric under the student's answer."""
    import nbformat
    from nbformat.v4 import new_output

    by_id = {c.grade_id: c for c in cells if c.part}
    ran = {c.grade_id for c in reached(cells, run)}
    for cell in run.notebook.cells:
        c = by_id.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if c is None:
            continue
        outputs = cell.get("outputs", [])
        kept = [o for o in outputs if not (o.get("output_type") == "error" and o.get("ename") == DEFERRED)]
        if c.grade_id in ran and c.part in verdicts:
            verdict = verdicts[c.part]
            kept.append(
                new_output("stream", name="stdout", text=f"{verdict.message} (verified by the grader)\n")
                if verdict.passed
                else error_output("GradingFailure", verdict.message)
            )
        elif len(kept) < len(outputs):
            kept.append(error_output("GradingFailure", "the function was not handed to the grader"))
        cell.outputs = kept
    rubrics = {w.grade_id: w for w in written}
    annotated = []
    for cell in run.notebook.cells:
        if cell.metadata.get(RUBRIC_METADATA):
            continue  # the student's copy of a rubric cell, if any: never shown to the grader as ours
        annotated.append(cell)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "markdown" and grade_id in rubrics:
            annotated.append(rubric_cell(rubrics.pop(grade_id)))
    run.notebook.cells = annotated
    mode = run.path.stat().st_mode & 0o777
    os.chmod(run.path, mode | 0o200)
    nbformat.write(run.notebook, str(run.path))
    os.chmod(run.path, mode)


def _nbgrader_scores(course: Course, job: dict) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        try:
            notebook = gb.find_submission_notebook(job["assignment"], job["assignment"], job["student"])
        except MissingEntry:
            return {}
        return {g.name: g.auto_score for g in notebook.grades}


def _write_gradebook(
    course: Course, assignment: str, student: str, scores: dict, written: list[WrittenCell] = ()
) -> dict[str, str]:
    """The verified scores, through nbgrader's Gradebook API; the submission row is made if missing.

    Returns what nbgrader recorded for each written answer (which this function never scores):
    ``blank`` (unchanged from the release: 0 points), ``to grade`` (an answer without a manual
    score, or whose notebook changed since it was graded) or ``graded``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        gb.update_or_create_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            gb.add_submission(assignment, student)
        for grade_id, value in scores.items():
            grade = gb.find_grade(grade_id, assignment, assignment, student)
            grade.auto_score = value
            grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
        states = {}
        for cell in written:
            try:
                grade = gb.find_grade(cell.grade_id, assignment, assignment, student)
            except MissingEntry:
                continue
            states[cell.grade_id] = written_state(grade)
        return states


def written_state(grade) -> str:
    """``blank``, ``to grade`` or ``graded``: a written answer's grade, as nbgrader recorded it."""
    if grade.needs_manual_grade:
        return "to grade"
    return "graded" if grade.manual_score is not None else "blank"
