"""``python -m tconv_lib.grade autograde``: grade every submission that changed, in parallel.

The main process decides what to grade (fingerprints in the state file), registers
assignments in the gradebook, creates the course secret, and hands one job per
submission to workers: local processes (:func:`run_local`) or a Dask cluster
(:func:`run_dask`).  Each worker runs :func:`.worker.grade_one`.  A worker that dies
(killed, out of memory) costs the one submission it was grading, which is reported by
name and graded again on the next run; the batch goes on with a fresh worker.
"""

from __future__ import annotations

import os
import re
import sys
import time

from .. import keys, sandbox
from .course import Course, State, library_fingerprint, submission_fingerprint

DEFAULT_CELL_TIMEOUT = 60
DEFAULT_NOTEBOOK_TIMEOUT = 1800
DEFAULT_MEMORY_LIMIT = 8 * 2**30


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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
        to_grade = sum(state == "to grade" for state in (result.get("written") or {}).values())
        if to_grade:
            score += f" (+ {to_grade} written answer(s) to grade by hand)"
        print(
            f"[autograde] {self.done}/{self.total} done | {rate:.1f} notebooks/min | "
            f"~{_duration(left)} left | "
            f"{result['assignment']}/{result['student']}: {score}",
            file=self.stream,
            flush=True,
        )


def _generate_assignment(course: Course, assignment: str) -> None:
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


def prepare(course: Course, assignments: list[str], state: State) -> None:
    """The grading folder (closed to others), the course secret, and every assignment registered."""
    import hashlib

    from nbgrader.api import Gradebook, MissingEntry

    for folder in (course.grading, course.autograded):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(course.grading, 0o700)
    keys.course_secret(course.grading)
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
    for path in course.grading.glob("gradebook.db*"):
        os.chmod(path, 0o600)


# --------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------


def _worker_loop(connection) -> None:  # pragma: no cover -- runs in the worker processes
    from .worker import grade_one

    while True:
        job = connection.recv()
        if job is None:
            return
        try:
            result = grade_one(job)
        except BaseException as exc:  # noqa: BLE001 -- reported, and graded again on the next run
            if isinstance(exc, KeyboardInterrupt):
                raise
            result = error_result(job, f"{type(exc).__name__}: {exc}")
        connection.send(result)


def run_local(jobs: list[dict], workers: int):
    """Yield results as they finish, from ``workers`` spawned processes, each grading one job at a time.

    A worker that dies yields an error result for its job, naming it, and is replaced.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    pending = list(reversed(jobs))
    busy: dict = {}  # connection -> (process, job)
    idle: list = []

    def start():
        parent, child = context.Pipe()
        process = context.Process(target=_worker_loop, args=(child,), daemon=True)
        process.start()
        child.close()
        idle.append((parent, process))

    for _ in range(max(1, min(workers, len(jobs)))):
        start()
    try:
        while pending or busy:
            while pending and idle:
                connection, process = idle.pop()
                job = pending.pop()
                connection.send(job)
                busy[connection] = (process, job)
            ready = wait([*busy, *(p.sentinel for p, _ in busy.values())])
            for connection in list(busy):
                process, job = busy[connection]
                if connection in ready or process.sentinel in ready:
                    try:
                        result = connection.recv() if connection.poll() else None
                    except (EOFError, OSError):
                        result = None
                    del busy[connection]
                    if result is None:  # the worker died with this job
                        process.join(5)
                        yield error_result(
                            job,
                            f"the grading worker died while grading this notebook "
                            f"(exit code {process.exitcode}); it is graded again on the next run",
                        )
                        connection.close()
                        start()
                    else:
                        yield result
                        idle.append((connection, process))
    finally:
        for connection, process in idle + [(c, p) for c, (p, _) in busy.items()]:
            try:
                connection.send(None)
            except (OSError, BrokenPipeError):
                pass
            process.join(10)
            if process.is_alive():
                process.kill()


def run_dask(jobs: list[dict], address: str):
    """Yield results as they finish on a Dask cluster: ``local[:N]`` starts a LocalCluster here."""
    from distributed import Client, LocalCluster, as_completed

    from .worker import grade_one

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
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 -- a worker that died, or an error in the grader
                yield error_result(futures[future], f"{type(exc).__name__}: {exc}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def error_result(job: dict, reason: str) -> dict:
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
        "written": {},
        "log_tail": reason,
    }


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def audit(course: Course, results: list[dict]) -> list[str]:
    """Re-read the gradebook after the run; put back any verified score that changed meanwhile.

    Student code cannot reach the gradebook from its sandbox; this catches anyone else
    (another grader's process, a hand edit of ``auto_score``) and says so.  Only
    ``auto_score`` is compared: manual scores are the graders'.
    """
    from nbgrader.api import Gradebook, MissingEntry

    fixed = []
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        for result in results:
            for grade_id, value in result["scores"].items():
                try:
                    grade = gb.find_grade(
                        grade_id, result["assignment"], result["assignment"], result["student"]
                    )
                except MissingEntry:
                    continue
                if grade.auto_score != value:
                    fixed.append(
                        f"{result['assignment']}/{result['student']}/{grade_id}: "
                        f"{grade.auto_score} -> {value}"
                    )
                    grade.auto_score = value
        gb.db.commit()
    return fixed


def run(args) -> int:
    course = Course.load(args.course_root, args.grading, args.db)
    course.known_assignments(args.assignments)
    problem = sandbox.problem()
    if problem and not args.unsafe_no_sandbox:
        raise SystemExit(f"autograde: students' code must run in a sandbox, and {problem}.")
    if args.unsafe_no_sandbox:
        print(
            "[autograde] WARNING: --unsafe-no-sandbox: students' code runs as you, with your files, "
            "network and processes in reach (only for notebooks you trust)",
            file=sys.stderr,
        )
    assignments = args.assignments or [a for a in course.assignments() if course.students(a)]
    state = State(course.grading / "tconv-grade-state.json")
    prepare(course, assignments, state)
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
                    "notebook_timeout": args.notebook_timeout,
                    "memory_limit": args.memory_limit,
                    "sandboxed": not args.unsafe_no_sandbox,
                }
            )
    for item in missing:
        print(f"[autograde] no submission: {item}", file=sys.stderr)
    where = f" on {args.dask}" if args.dask else f" with {min(args.workers, max(len(jobs), 1))} worker(s)"
    print(
        f"[autograde] {len(jobs)} to grade, {skipped} unchanged since the last run{where}",
        file=sys.stderr,
        flush=True,
    )
    progress = Progress(len(jobs))
    results = []
    for result in run_dask(jobs, args.dask) if args.dask else run_local(jobs, args.workers):
        state.put(result)
        results.append(result)
        progress.update(result)
        if result["status"] == "error":
            print(
                f"[autograde] ERROR grading {result['assignment']}/{result['student']}: {result['log_tail']}",
                file=sys.stderr,
            )
    graded = [r for r in state.data["submissions"].values() if r.get("status") in ("graded", "unreadable")]
    for line in audit(course, graded):
        print(f"[autograde] WARNING: the gradebook changed during the run; restored {line}", file=sys.stderr)
    errors = sum(r["status"] == "error" for r in results)
    unreadable = sum(r["status"] == "unreadable" for r in results)
    failed = [f"{r['assignment']}/{r['student']}" for r in results if r["status"] == "failed"]
    elapsed = time.perf_counter() - progress.start
    print(
        f"graded {len(results) - errors} notebook(s) in {_duration(elapsed)} ({skipped} unchanged, "
        f"{unreadable} unreadable, {errors} error(s)); gradebook: {redact(course.db_url)}"
    )
    if failed:
        print(f"nbgrader could not grade: {', '.join(failed)} (their messages say why)")
    to_grade = sorted(
        f"{r['assignment']}/{r['student']}"
        for r in results
        if "to grade" in (r.get("written") or {}).values()
    )
    if to_grade:
        print(
            f"written answers to grade by hand in {len(to_grade)} notebook(s): nbgrader's formgrader, or "
            f"`python -m tconv_lib.grade manual ASSIGNMENT` to list them with their rubrics"
        )
    return 1 if errors else 0


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"://([^:/@]+):[^@/]+@", r"://\1:***@", url)


def parse_bytes(text: str) -> int:
    """'8G', '512M', '1073741824' -> bytes."""
    import argparse

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?", text.strip(), re.I)
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 8G, 512M or a number of bytes, got {text!r}"
        )
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)
