"""Grading a class: ``python -m tconv_lib.grade collect | autograde | feedback | export``.

A thin layer over stock nbgrader (same course folder, same gradebook, same files) that
makes grading a real class fast, resumable and safe against hostile notebooks:

* ``collect`` puts a folder or an LMS zip (Canvas, Moodle) into nbgrader's submitted layout;
* ``autograde`` runs nbgrader's autograder in parallel worker processes (or on a Dask
  cluster), each kernel with a per-cell timeout and a memory limit, as an unprivileged
  user when the command runs as root; a dead kernel costs only the cells it did not run;
  each part's hidden tests run outside the student's kernel and the verified score is
  what the gradebook records; a state file makes a re-run grade only what changed;
* ``feedback`` and ``export`` generate nbgrader's feedback and a CSV of grades, with a
  per-part summary.

No mathematics here: the hidden tests are :func:`tconv_lib.grading.check`'s.  The
kernel side is :func:`_defer` / :func:`_spool`; the rest lives in ``_grade_*`` modules.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

__all__ = ["main", "GradingDeferred"]


# --------------------------------------------------------------------------------------
# Kernel side: what a hidden test cell calls while the grading command runs it
# --------------------------------------------------------------------------------------

SPOOL_VARIABLE = "TCONV_GRADING_SPOOL"


class GradingDeferred(Exception):
    """Raised in the kernel once a part's function is handed over; the grader replaces it with its verdict."""


def _spool(part: str, function) -> bool:
    """Write ``function``, cloudpickled, to ``$TCONV_GRADING_SPOOL/<part>.pickle``; False if no spool is set.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as spool:
    ...     os.environ["TCONV_GRADING_SPOOL"] = spool
    ...     _spool("geometry.output_size", len), sorted(os.listdir(spool))
    (True, ['geometry.output_size.pickle'])
    >>> del os.environ["TCONV_GRADING_SPOOL"]
    """
    folder = os.environ.get(SPOOL_VARIABLE)
    if not folder:
        return False
    if not re.fullmatch(r"[A-Za-z_][\w.]*", part):
        raise ValueError(f"part names are dotted identifiers such as 'geometry.output_size', got {part!r}")
    from .grading import _pickle_function

    payload = _pickle_function(function)
    tmp = Path(folder) / f".{part}.tmp"
    tmp.write_bytes(payload)
    os.replace(tmp, Path(folder) / f"{part}.pickle")
    return True


def _defer(part: str, function) -> None:
    """Hand ``function`` to the grading command (it runs ``check(part, function)`` itself, outside
    this kernel); without the command, simply ``check(part, function)``."""
    from .grading import GradingFailure, check

    if not os.environ.get(SPOOL_VARIABLE):
        return check(part, function)
    if not callable(function):
        raise GradingFailure(f"{part}: expected a function, got {type(function).__name__}")
    try:
        _spool(part, function)
    except Exception as exc:  # noqa: BLE001 -- anything unpicklable
        raise GradingFailure(
            f"could not send your function to the grader ({type(exc).__name__}: {exc}); "
            f"define it with `def` at the top level of a cell"
        ) from None
    raise GradingDeferred(f"{part}: handed to the grader, which runs the hidden tests outside this notebook")


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s")
    )


class Progress:
    """One line per finished notebook on stderr: done / total, rate, time left."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.start = total, 0, time.perf_counter()
        self.stream = stream or sys.stderr

    def update(self, result: dict) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed * 60 if elapsed > 0 else 0.0
        left = (self.total - self.done) * elapsed / self.done
        score = (
            f"{result['score']:g}/{result['max_score']:g}"
            if result.get("status") in ("graded", "unreadable")
            else result.get("status", "?")
        )
        print(
            f"[autograde] {self.done}/{self.total} done | {rate:.1f} notebooks/min | "
            f"~{_duration(left)} left | "
            f"{result['assignment']}/{result['student']}: {score}",
            file=self.stream,
            flush=True,
        )


# --------------------------------------------------------------------------------------
# autograde
# --------------------------------------------------------------------------------------

DEFAULT_CELL_TIMEOUT = 60
DEFAULT_MEMORY_LIMIT = 8 * 2**30


def _parse_bytes(text: str) -> int:
    """'8G', '512M', '1073741824' -> bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?", text.strip(), re.I)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 8G, 512M or a number of bytes, got {text!r}"
        )
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def _generate_assignment(course, assignment: str) -> None:
    """Register the assignment (notebooks, cells, points) in the gradebook, as `nbgrader
    generate_assignment` does, releasing into a temporary folder: exercises/ is not touched."""
    import tempfile

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="tconv-release-") as release:
        config = Config(course.config)
        config.CourseDirectory.release_directory = release
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment
        app = GenerateAssignment(coursedir=coursedir, config=config)
        app.force = True
        app.create_assignment = True
        app.log.setLevel("WARNING")
        app.start()


def _prepare(course, assignments: list[str], state, isolate: bool) -> None:
    import hashlib

    from nbgrader.api import Gradebook, MissingEntry

    course.grading.mkdir(parents=True, exist_ok=True)
    course.autograded.mkdir(parents=True, exist_ok=True)
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        for assignment in assignments:
            digest = hashlib.sha256(course.source_notebook(assignment).read_bytes()).hexdigest()
            try:
                gb.find_assignment(assignment)
                known = state.data["sources"].get(assignment) == digest
            except MissingEntry:
                known = False
            if not known:
                _generate_assignment(course, assignment)
                state.data["sources"][assignment] = digest
                state.save()
    if isolate:
        from ._grade_worker import check_reachable

        # students' kernels may pass through the grading folder to their own, not list or read it
        os.chmod(course.grading, 0o711)
        os.chmod(course.autograded, 0o711)
        for path in (course.submitted, course.feedback):
            if path.exists():
                os.chmod(path, 0o700)
        for path in course.grading.glob("gradebook.db*"):
            os.chmod(path, 0o600)
        check_reachable(course.autograded)


def _run_local(jobs: list[dict], workers: int):
    """Yield results as they finish, from ``workers`` spawned processes (or this one, for 1)."""
    from ._grade_worker import grade_one

    if workers <= 1:
        for job in jobs:
            yield _guarded(grade_one, job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(grade_one, job): job for job in jobs}
        for future in as_completed(futures):
            yield _result_of(future, futures[future])


def _run_dask(jobs: list[dict], address: str):
    """Yield results as they finish on a Dask cluster: ``local[:N]`` starts a LocalCluster here."""
    from distributed import Client, LocalCluster, as_completed

    from ._grade_worker import grade_one

    cluster = None
    if address.startswith("local"):
        n = int(address.split(":", 1)[1]) if ":" in address else (os.cpu_count() or 1)
        # one thread per worker process: a worker grades one notebook at a time
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = {
            client.submit(
                grade_one, job, pure=False, key=f"grade-{job['assignment']}-{job['student']}-{time.time_ns()}"
            ): job
            for job in jobs
        }
        for future in as_completed(futures):
            yield _result_of(future, futures[future])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _guarded(function, job: dict) -> dict:
    try:
        return function(job)
    except BaseException as exc:  # noqa: BLE001 -- reported, and graded again on the next run
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _error_result(job, exc)


def _result_of(future, job: dict) -> dict:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001
        return _error_result(job, exc)


def _error_result(job: dict, exc: BaseException) -> dict:
    return {
        "assignment": job["assignment"],
        "student": job["student"],
        "fingerprint": None,
        "status": "error",
        "scores": {},
        "max_scores": {},
        "messages": {},
        "score": 0.0,
        "max_score": 0.0,
        "log_tail": f"{type(exc).__name__}: {exc}",
    }


def _audit(course, results: list[dict]) -> list[str]:
    """Re-read the gradebook after the run; put back any verified score that changed meanwhile.

    ``results`` are every submission the state knows (read before any student's code ran in
    this run, then updated in memory from the workers): student code that wrote into the
    gradebook, during this run or an earlier one, is undone here.  Only ``auto_score``
    is compared: manual scores are the graders'.
    """
    from nbgrader.api import Gradebook, MissingEntry

    fixed = []
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        for result in results:
            for grade_id, score in result["scores"].items():
                try:
                    grade = gb.find_grade(
                        grade_id, result["assignment"], result["assignment"], result["student"]
                    )
                except MissingEntry:
                    continue
                if grade.auto_score != score:
                    fixed.append(
                        f"{result['assignment']}/{result['student']}/{grade_id}: "
                        f"{grade.auto_score} -> {score}"
                    )
                    grade.auto_score = score
        gb.db.commit()
    return fixed


def autograde(args) -> int:
    from ._grade_course import Course, State, library_fingerprint, submission_fingerprint
    from ._grade_verify import not_dumpable

    not_dumpable()  # students' code, when it runs as this user, cannot attach to this process
    course = Course.load(args.course_root, args.grading, args.db)
    known = course.assignments()
    unknown = [a for a in args.assignments if a not in known]
    if unknown:
        raise SystemExit(f"unknown assignment(s) {unknown}; the course has: {', '.join(known)}")
    assignments = args.assignments or [a for a in known if course.students(a)]
    isolate = False
    if args.isolate:
        from ._grade_worker import isolation_problem

        problem = isolation_problem()
        if problem:
            print(
                f"[autograde] note: {problem}; so students' code runs as your own user: it cannot forge its "
                f"scores (they are verified, and the gradebook is checked after the run), but it could read "
                f"or change files you can. See GRADING_COMMAND.md, 'Isolation'.",
                file=sys.stderr,
            )
        else:
            isolate = True
    course.grading.mkdir(parents=True, exist_ok=True)
    state = State(course.grading / "tconv-grade-state.json")
    _prepare(course, assignments, state, isolate)
    library = library_fingerprint()
    jobs, skipped, missing = [], 0, []
    for assignment in assignments:
        for student in args.students or course.students(assignment):
            folder = course.submitted / student / assignment
            if not folder.is_dir():
                missing.append(f"{assignment}/{student}")
                continue
            fingerprint = submission_fingerprint(folder, course.source_notebook(assignment), library)
            previous = state.get(assignment, student)
            if (
                not args.force
                and previous
                and previous.get("fingerprint") == fingerprint
                and previous.get("status") in ("graded", "unreadable")
            ):
                skipped += 1
                continue
            jobs.append(
                {
                    "root": str(course.root),
                    "grading": str(course.grading),
                    "db_url": course.db_url,  # resolved here: a remote Dask worker has no TCONV_GRADEBOOK_URL
                    "assignment": assignment,
                    "student": student,
                    "fingerprint": fingerprint,
                    "cell_timeout": args.cell_timeout,
                    "memory_limit": args.memory_limit,
                    "isolate": isolate,
                }
            )
    for item in missing:
        print(f"[autograde] no submission: {item}", file=sys.stderr)
    print(
        f"[autograde] {len(jobs)} to grade, {skipped} unchanged since the last run"
        + (f" on {args.dask}" if args.dask else f" with {min(args.workers, max(len(jobs), 1))} worker(s)"),
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(len(jobs))
    results = []
    source = _run_dask(jobs, args.dask) if args.dask else _run_local(jobs, args.workers)
    for result in source:
        state.put(result)
        results.append(result)
        progress.update(result)
        if result["status"] == "error":
            print(
                f"[autograde] ERROR grading {result['assignment']}/{result['student']}: {result['log_tail']}",
                file=sys.stderr,
            )
    known = [r for r in state.data["submissions"].values() if r.get("status") in ("graded", "unreadable")]
    for line in _audit(course, known):
        print(f"[autograde] WARNING: the gradebook changed during the run; restored {line}", file=sys.stderr)
    errors = sum(r["status"] == "error" for r in results)
    unreadable = sum(r["status"] == "unreadable" for r in results)
    elapsed = time.perf_counter() - progress.start
    print(
        f"graded {len(results) - errors} notebook(s) in {_duration(elapsed)} ({skipped} unchanged, "
        f"{unreadable} unreadable, {errors} error(s)); gradebook: {_redact(course.db_url)}"
    )
    return 1 if errors else 0


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@/]+@", r"://\1:***@", url)


# --------------------------------------------------------------------------------------
# feedback and export
# --------------------------------------------------------------------------------------


def feedback(args) -> int:
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from ._grade_course import Course

    course = Course.load(args.course_root, args.grading, args.db)
    assignments = args.assignments or [
        a
        for a in course.assignments()
        if (course.autograded.is_dir() and any(course.autograded.glob(f"*/{a}")))
    ]
    failed = 0
    for assignment in assignments:
        for student in args.students or ["*"]:
            config = Config(course.config)
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id, coursedir.student_id = assignment, student
            app = GenerateFeedback(coursedir=coursedir, config=config)
            app.force = True
            app.log.setLevel("WARNING")
            try:
                app.start()
            except NbGraderException as exc:
                failed += 1
                print(f"[feedback] {assignment}/{student}: {exc}", file=sys.stderr)
    count = len(list(course.feedback.glob("*/*/*.html"))) if course.feedback.is_dir() else 0
    print(f"feedback: {count} HTML file(s) under {course.feedback}")
    return 1 if failed else 0


def _failure_kind(message: str) -> str:
    """A failure message with its numbers masked, so that the same mistake groups across students."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", last)[:200]


def export(args) -> int:
    import csv
    from collections import Counter, defaultdict

    from nbgrader.api import Gradebook, MissingEntry

    from ._grade_course import Course, State

    course = Course.load(args.course_root, args.grading, args.db)
    state = State(course.grading / "tconv-grade-state.json")
    rows, parts = [], defaultdict(list)
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        for assignment in gb.assignments:
            if args.assignments and assignment.name not in args.assignments:
                continue
            for student in gb.students:
                row = {"student": student.id, "assignment": assignment.name}
                try:
                    submission = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    rows.append(
                        {**row, "status": "no submission", "score": 0.0, "max_score": assignment.max_score}
                    )
                    continue
                recorded = state.get(assignment.name, student.id) or {}
                row.update(
                    status=recorded.get("status", "graded"),
                    score=submission.score,
                    max_score=submission.max_score,
                    late_penalty=submission.late_submission_penalty,
                    timestamp=submission.timestamp,
                )
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row[grade.name] = grade.score
                        message = (recorded.get("messages") or {}).get(grade.name, "")
                        parts[(assignment.name, grade.name)].append((grade.score, grade.max_score, message))
                rows.append(row)
    csv_path = Path(args.csv or course.grading / "grades.csv")
    summary_path = Path(args.summary or course.grading / "parts.csv")
    fields = ["student", "assignment", "status", "score", "max_score", "late_penalty", "timestamp"]
    fields += sorted({k for row in rows for k in row} - set(fields))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = []
    for (assignment, grade_id), entries in sorted(parts.items()):
        failures = [m for score, top, m in entries if score < top]
        kinds = Counter(_failure_kind(m) for m in failures if m)
        common, count = kinds.most_common(1)[0] if kinds else ("", 0)
        summary.append(
            {
                "assignment": assignment,
                "part": grade_id,
                "max_points": entries[0][1],
                "submissions": len(entries),
                "mean": round(sum(score for score, _, _ in entries) / len(entries), 3),
                "failures": len(failures),
                "most_common_failure": common,
                "times": count,
            }
        )
    with open(summary_path, "w", newline="") as f:
        writer = csv.DictWriter(
            f,
            fieldnames=[
                "assignment",
                "part",
                "max_points",
                "submissions",
                "mean",
                "failures",
                "most_common_failure",
                "times",
            ],
        )
        writer.writeheader()
        writer.writerows(summary)
    print(f"{'assignment':<12} {'part':<40} {'mean':>6} {'max':>4} {'fail':>5}  most common failure")
    for item in summary:
        print(
            f"{item['assignment']:<12} {item['part']:<40} {item['mean']:>6.2f} {item['max_points']:>4g} "
            f"{item['failures']:>5}  {item['most_common_failure'][:70]}"
            + (f" (x{item['times']})" if item["times"] else "")
        )
    print(f"grades: {csv_path} ({len(rows)} rows); per-part summary: {summary_path}")
    return 0


def collect(args) -> int:
    from ._grade_collect import collect as run_collect
    from ._grade_course import Course

    course = Course.load(args.course_root, args.grading, args.db)
    report = run_collect(
        Path(args.source), course.submitted, course.assignments(), args.assignment, args.id_from
    )
    for line in report.lines():
        print(line)
    return 0


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course-root", default=".", help="folder of nbgrader_config.py (default: .)")
    common.add_argument("--grading", help="grading folder (default: $TCONV_GRADING_DIR or <course>/grading)")
    common.add_argument(
        "--db",
        help="gradebook URL, e.g. postgresql://user@host/db "
        "(default: $TCONV_GRADEBOOK_URL or SQLite in the grading folder)",
    )
    parser = argparse.ArgumentParser(prog="python -m tconv_lib.grade", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("collect", parents=[common], help="place a folder or LMS zip of submissions")
    p.add_argument("source", help="a folder or a .zip (Canvas, Moodle, or <student>/<assignment>.ipynb)")
    p.add_argument("--assignment", help="assign every notebook to this assignment, whatever its name")
    p.add_argument(
        "--id-from",
        choices=["name", "number"],
        default="name",
        help="student id from the LMS name (default) or its number",
    )
    p.set_defaults(func=collect)

    p = sub.add_parser("autograde", parents=[common], help="grade submissions in parallel, verified")
    p.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment with submissions"
    )
    p.add_argument("--students", nargs="+", metavar="STUDENT", help="only these students")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parallel workers (default: cores)"
    )
    p.add_argument(
        "--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT, help="seconds per cell (default 60)"
    )
    p.add_argument(
        "--memory-limit",
        type=_parse_bytes,
        default=DEFAULT_MEMORY_LIMIT,
        help="address-space limit per kernel, e.g. 8G (default 8G)",
    )
    p.add_argument("--force", action="store_true", help="grade again even what has not changed")
    p.add_argument("--dask", help="run on Dask: a scheduler address (tcp://host:8786) or local[:N]")
    p.add_argument(
        "--isolate",
        action="store_true",
        help="as root, run each worker's kernels as an unprivileged user of their own (experimental)",
    )
    p.set_defaults(func=autograde)

    p = sub.add_parser("feedback", parents=[common], help="nbgrader generate_feedback")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--students", nargs="+", metavar="STUDENT")
    p.set_defaults(func=feedback)

    p = sub.add_parser("export", parents=[common], help="grades as CSV, and a per-part summary")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--csv", help="grades CSV (default: <grading>/grades.csv)")
    p.add_argument("--summary", help="per-part summary CSV (default: <grading>/parts.csv)")
    p.set_defaults(func=export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
