"""Grade one submission: stock nbgrader autograde in this process, the student's code elsewhere.

:func:`grade_one` is what the grading command's worker processes (or Dask workers) run
for every (assignment, student).  It

1. runs nbgrader's ``Autograde`` converter in this process with two changes made
   through nbgrader's own configuration: the kernel is started by
   :mod:`tconv_lib._grade_kernel` (memory limit, an unprivileged user when this
   process is root, no gradebook location in its environment), and the ``Execute``
   preprocessor is :class:`GuardedExecute`, which survives a dead or unresponsive
   kernel and runs each hidden test with ``check`` routed to ``tconv_lib.grade._defer``;
2. kills whatever the student's code left running;
3. verifies every spooled part in a separate process (:mod:`tconv_lib._grade_verify`)
   and writes the verified score of each test cell into the gradebook, and the
   verified message into the autograded notebook (where the feedback shows it).

A test cell earns its points only if it ran to its hidden test (no error before) and
the function it handed over passes the hidden cases in the verifier.  Everything else
scores 0 with a message saying why.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from io import StringIO
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from sqlalchemy.exc import SAWarning
from traitlets import Dict, Float

from ._grade_course import Course, GradedCell, defer_hidden_check, graded_cells
from ._grade_kernel import scrub_environment

KERNEL_NAME = "tconv-grading"
DEFERRED = "GradingDeferred"  # ename of the marker _defer raises in the kernel
SPOOL_LIMIT_BYTES = 64 * 2**20
OUTPUT_LIMIT_CHARS = 100_000  # per output of a cell
ISOLATED_UID_BASE = 200_000
TIMINGS: dict[str, float] = {}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error(ename: str, evalue: str):
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute, made to survive what a hostile notebook does to its kernel.

    * A kernel that dies (``os._exit``, a signal, a crash) no longer aborts the notebook
      (nbgrader 0.9.6 then deletes the autograded notebook and leaves the old scores of a
      previous submission in place): the cell gets a ``DeadKernelError`` output and every
      later code cell a "not run" error, so they score 0 and the notebook is still written.
    * After a cell times out, the kernel is asked for its info; if it does not answer (an
      interrupt-proof loop), it is killed and treated as dead.
    * Test cells listed in ``deferred`` run with ``check(part, f)`` replaced by
      ``_defer(part, f)``; the notebook keeps the original source.
    """

    deferred = Dict({}, help="grade_id -> [part, function name] of hidden tests to defer").tag(config=True)
    probe_timeout = Float(5.0, help="seconds a kernel has to answer after a timed-out cell").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._dead = None
        self._started = time.perf_counter()
        self._first_cell = None
        try:
            return super().preprocess(nb, resources, km)
        finally:
            end = time.perf_counter()
            first = self._first_cell or end
            TIMINGS["kernel_start"] = TIMINGS.get("kernel_start", 0.0) + first - self._started
            TIMINGS["cells"] = TIMINGS.get("cells", 0.0) + end - first

    def preprocess_cell(self, cell, resources, index):
        if self._first_cell is None:
            self._first_cell = time.perf_counter()
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._dead is not None:
            cell.outputs = [_error("NotRun", f"this cell was not run: {self._dead}")]
            return cell, resources
        original = cell.source
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in self.deferred:
            cell.source = defer_hidden_check(original, *self.deferred[grade_id])
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = "the kernel died in an earlier cell"
            cell.outputs.append(
                _error(
                    "DeadKernelError",
                    "the kernel died while running this cell (os._exit(), a crash, a signal "
                    "or the memory limit); the cells after it were not run and score 0",
                )
            )
        except CellTimeoutError as exc:  # e.g. output still streaming long after the reply
            cell.outputs.append(
                _error("CellTimeoutError", str(exc).splitlines()[0] if str(exc) else "timeout")
            )
        finally:
            cell.source = original
        _cut_outputs(cell)
        timed_out = any(
            o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error"
        )
        if self._dead is None and timed_out and not self._responsive():
            self._dead = "the kernel stopped responding after a cell ran past the time limit"
            cell.outputs.append(
                _error(
                    "KernelUnresponsive",
                    "the kernel ignored the interrupt after the time "
                    "limit and was stopped; the cells after this one were not run",
                )
            )
            self._kill()
        return cell, resources

    def _responsive(self) -> bool:
        from queue import Empty

        from jupyter_core.utils import ensure_async, run_sync

        async def probe() -> bool:
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + self.probe_timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
                except Empty:
                    return False
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
            return False

        try:
            return run_sync(probe)()
        except Exception:  # noqa: BLE001 -- a kernel that cannot even be asked is not responsive
            return False

    def _kill(self) -> None:
        from jupyter_core.utils import ensure_async, run_sync

        async def kill():
            await ensure_async(self.km.shutdown_kernel(now=True))

        try:
            run_sync(kill)()
        except Exception:  # noqa: BLE001 -- already gone
            pass


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut by the grader] ...\n{text[-half:]}"


def _cut_outputs(cell, limit: int = OUTPUT_LIMIT_CHARS) -> None:
    """Megabytes of printing must not make megabytes of notebook (nbgrader's LimitOutput counts lines)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            output["text"] = _cut(
                "".join(output["text"]) if isinstance(output["text"], list) else output["text"], limit
            )
        elif output.get("output_type") == "error":
            output["evalue"] = _cut(output.get("evalue", ""), limit)
            output["traceback"] = [_cut(line, limit) for line in output.get("traceback", [])[:200]]
        for mime, value in list(output.get("data", {}).items()):
            text = "".join(value) if isinstance(value, list) else value
            if isinstance(text, str) and mime.startswith("text/") and len(text) > limit:
                output["data"][mime] = _cut(text, limit)
            elif isinstance(text, str) and len(text) > 20 * limit:  # an image of megabytes
                del output["data"][mime]


# --------------------------------------------------------------------------------------
# Isolation
# --------------------------------------------------------------------------------------


def isolated_uid() -> int | None:
    """A user id of this worker's own for the student's processes, or None when not root.

    Unique among the workers on one machine (it derives from the worker's pid), so killing
    every process of that user after a notebook touches no other worker's kernel.
    """
    if os.name != "posix" or os.geteuid() != 0:
        return None
    return ISOLATED_UID_BASE + os.getpid() % 100_000


def isolation_problem() -> str | None:
    """Why students' kernels cannot run as an unprivileged user here, or None if they can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the grading command is not running as root"
    uid = isolated_uid()
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import json, ipykernel, numpy, cloudpickle, tconv_lib"],
            user=uid,
            group=uid,
            extra_groups=[],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
            env=scrub_environment(os.environ),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"an unprivileged user cannot start {sys.executable} ({exc})"
    finally:
        kill_user_processes(uid)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"an unprivileged user cannot run {sys.executable} with the course's packages ({last}); "
            f"every folder from / to the Python installation, the virtual environment and the course "
            f"must be searchable by others (e.g. a Python under /root, mode 700)"
        )
    return None


def kill_user_processes(uid: int) -> None:
    """SIGKILL every process of ``uid`` (from a child that becomes ``uid``: kill(-1) reaches them all)."""
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001 -- nothing left to kill
                pass
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not any(_owner(p) == uid for p in Path("/proc").iterdir() if p.name.isdigit()):
            return
        time.sleep(0.05)


def _owner(proc: Path) -> int | None:
    try:
        match = re.search(r"^Uid:\s+(\d+)", (proc / "status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def check_reachable(folder: Path) -> None:
    """An isolated kernel runs in ``<autograded>/<student>/<assignment>``: every folder above must be
    searchable by others (o+x), though not readable."""
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise SystemExit(
                f"student kernels run as an unprivileged user and cannot enter {parent} "
                f"(mode {oct(parent.stat().st_mode & 0o777)}): `chmod o+x {parent}`, or put the "
                f"grading folder elsewhere (TCONV_GRADING_DIR / --grading)"
            )


# --------------------------------------------------------------------------------------
# Grading one submission
# --------------------------------------------------------------------------------------

_COURSES: dict[tuple, Course] = {}
_CELLS: dict[tuple, list[GradedCell]] = {}


def _course(job: dict) -> Course:
    key = (job["root"], job["grading"], job["db_url"])
    if key not in _COURSES:
        _COURSES[key] = Course.load(job["root"], job["grading"], job["db_url"])
    return _COURSES[key]


def _cells(course: Course, assignment: str) -> list[GradedCell]:
    path = course.source_notebook(assignment)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _CELLS:
        _CELLS[key] = graded_cells(path)
    return _CELLS[key]


def grade_one(job: dict) -> dict:
    """Autograde and verify one submission; return its result (scores, messages, timings).

    ``job`` holds ``root``, ``grading``, ``db_url`` (for :class:`Course`), ``assignment``,
    ``student``, ``fingerprint``, ``cell_timeout``, ``memory_limit`` and ``isolate``.
    """
    from ._grade_verify import not_dumpable

    start = time.perf_counter()
    TIMINGS.clear()
    not_dumpable()  # students' processes of the same user cannot attach to this one
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's add_submission autoflushes early
    course = _course(job)
    assignment, student = job["assignment"], job["student"]
    cells = _cells(course, assignment)
    uid = isolated_uid() if job.get("isolate", True) else None
    saved_env = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    with tempfile.TemporaryDirectory(prefix="tconv-grade-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o711)
        spool, home, runtime = tmp / "spool", tmp / "home", tmp / "runtime"
        for folder, mode in ((spool, 0o700), (home, 0o700), (runtime, 0o711)):
            folder.mkdir(mode=mode)
            if uid is not None and folder is not runtime:
                os.chown(folder, uid, uid)
        _write_kernelspec(
            tmp / "kernels" / KERNEL_NAME,
            {
                "TCONV_GRADE_UID": "" if uid is None else str(uid),
                "TCONV_GRADE_MEMORY": str(job.get("memory_limit") or 0),
                "TCONV_GRADE_HOME": str(home),
                "TCONV_GRADING_SPOOL": str(spool),
                "TCONV_STUDENT_ID": student,
            },
        )
        os.environ.update(JUPYTER_PATH=str(tmp), JUPYTER_RUNTIME_DIR=str(runtime))
        try:
            if uid is not None:
                kill_user_processes(uid)  # nothing of a previous student may still be running
            log, crashed = _autograde(course, job, cells)
        finally:
            for key, value in saved_env.items():
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
            if uid is not None:
                kill_user_processes(uid)
        executed = time.perf_counter()
        spooled = _read_spool(spool)
        result = _score(course, job, cells, spooled, uid, home, log, crashed)
        if uid is not None:
            kill_user_processes(uid)
    end = time.perf_counter()
    result["timings"] = {
        "kernel_start": round(TIMINGS.get("kernel_start", 0.0), 3),
        "cells": round(TIMINGS.get("cells", 0.0), 3),
        "nbgrader": round(executed - start - TIMINGS.get("kernel_start", 0.0) - TIMINGS.get("cells", 0.0), 3),
        "verify": round(TIMINGS.get("verify", 0.0), 3),
        "total": round(end - start, 3),
    }
    result["isolated"] = uid is not None
    return result


def _write_kernelspec(folder: Path, env: dict) -> None:
    folder.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "tconv_lib._grade_kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (tconv grading)",
        "language": "python",
        "env": env,
        "metadata": {"debugger": False},
    }
    (folder / "kernel.json").write_text(json.dumps(spec))


def _autograde(course: Course, job: dict, cells: list[GradedCell]) -> tuple[str, str | None]:
    """nbgrader autograde for one student and assignment, in this process.  Returns its log and,
    if nbgrader gave up on the notebook, why."""
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
    from traitlets.config import Config

    config = Config(course.config)
    config.merge(
        Config(
            {
                "Autograde": {
                    "autograde_preprocessors": [
                        GuardedExecute,
                        IgnorePattern,
                        ClearMetadataPreprocessor,
                        LimitOutput,
                        SaveAutoGrades,
                        AssignLatePenalties,
                        CheckCellMetadata,
                    ]
                },
                "Execute": {"timeout": int(job.get("cell_timeout") or 60), "kernel_name": KERNEL_NAME},
                "GuardedExecute": {"deferred": {c.grade_id: [c.part, c.function] for c in cells if c.part}},
            }
        )
    )
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = job["assignment"]
    coursedir.student_id = job["student"]
    app = Autograde(coursedir=coursedir, config=config)
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


def _read_spool(spool: Path) -> dict[str, bytes]:
    spooled = {}
    for path in spool.glob("*.pickle"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= SPOOL_LIMIT_BYTES:
            spooled[path.name[: -len(".pickle")]] = path.read_bytes()
    return spooled


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


def _score(course, job, cells, spooled, uid, home, log, crashed) -> dict:
    import nbformat

    assignment, student = job["assignment"], job["student"]
    path = course.autograded / student / assignment / f"{assignment}.ipynb"
    notebook = None
    if path.exists():
        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception:  # noqa: BLE001 -- treated as not graded
            notebook = None
    errors = _cell_errors(notebook) if notebook is not None else {}
    # a test cell reached its hidden test if the deferral marker is its one error
    reached = [
        c for c in cells if c.part in spooled and [e[0] for e in errors.get(c.grade_id, [])] == [DEFERRED]
    ]
    verified = _verify(student, [(c.part, spooled[c.part]) for c in reached], uid, home) if reached else {}

    scores, messages, maximum = {}, {}, {}
    nbgrader_scores = (
        _nbgrader_scores(course, assignment, student) if any(c.part is None for c in cells) else {}
    )
    for c in cells:
        maximum[c.grade_id] = c.points
        if notebook is None:
            scores[c.grade_id] = 0.0
            messages[c.grade_id] = crashed or "the notebook was not graded"
        elif c.part is None:  # no hidden check: nbgrader's own score stands
            scores[c.grade_id] = float(nbgrader_scores.get(c.grade_id) or 0.0)
            messages[c.grade_id] = _first_error(errors.get(c.grade_id, []))
        elif c.part in verified:
            passed, message = verified[c.part]
            scores[c.grade_id] = c.points if passed else 0.0
            messages[c.grade_id] = "" if passed else message
        else:
            scores[c.grade_id] = 0.0
            messages[c.grade_id] = _first_error(errors.get(c.grade_id, [])) or (
                "the hidden tests were never reached: the test cell was not run to its end"
            )
    if notebook is not None:
        _annotate(path, notebook, cells, verified)
    _write_gradebook(course, assignment, student, scores)
    status = (
        "graded"
        if notebook is not None
        else "unreadable"
        if not _readable(course.submitted / student / assignment / f"{assignment}.ipynb")
        else "failed"
    )
    return {
        "assignment": assignment,
        "student": student,
        "fingerprint": job.get("fingerprint"),
        "status": status,
        "scores": scores,
        "max_scores": maximum,
        "messages": messages,
        "score": sum(scores.values()),
        "max_score": sum(maximum.values()),
        "log_tail": "" if notebook is not None else log[-3000:],
    }


def _readable(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
        return True
    except (OSError, ValueError):
        return False


def _first_error(errors: list[tuple[str, str]]) -> str:
    for ename, evalue in errors:
        if ename != DEFERRED:
            first = evalue.strip().splitlines()[0] if evalue.strip() else ""
            return f"{ename}: {first}"[:500] if first else ename
    return ""


def _verify(student: str, parts: list[tuple[str, bytes]], uid: int | None, home: Path) -> dict:
    """part -> (passed, message), from a verifier process (see :mod:`tconv_lib._grade_verify`)."""
    from .grading import PARTS

    start = time.perf_counter()
    job = {
        "student": student,
        "uid": uid,
        "parts": [{"part": p, "payload": base64.b64encode(b).decode()} for p, b in parts],
    }
    limit = sum(PARTS[p].call_timeout * PARTS[p].n_cases + 60 for p, _ in parts if p in PARTS) + 60
    env = scrub_environment(os.environ)
    env.update(HOME=str(home), OMP_NUM_THREADS="1", MPLCONFIGDIR=str(home / ".matplotlib"))
    verified = {}
    if uid is None:  # not isolated: verify here (this process is not dumpable; results are read safely)
        from ._grade_verify import verify

        for item in verify(student, parts):
            verified[item["part"]] = (item["passed"], item["message"])
        TIMINGS["verify"] = TIMINGS.get("verify", 0.0) + time.perf_counter() - start
        return verified
    try:
        process = subprocess.run(
            [sys.executable, "-m", "tconv_lib._grade_verify"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=limit,
            env=env,
            cwd=str(home),
            start_new_session=True,
        )
        for item in json.loads(process.stdout)["results"]:
            verified[item["part"]] = (
                bool(item["passed"]) and item["part"] in dict(parts),
                str(item["message"]),
            )
    except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as exc:
        reason = "it ran out of time" if isinstance(exc, subprocess.TimeoutExpired) else "it ended abnormally"
        for part, _ in parts:
            verified.setdefault(part, (False, f"the hidden tests could not be verified ({reason})"))
    for part, _ in parts:
        verified.setdefault(part, (False, "the hidden tests could not be verified (no result)"))
    TIMINGS["verify"] = TIMINGS.get("verify", 0.0) + time.perf_counter() - start
    return verified


def _annotate(path: Path, notebook, cells: list[GradedCell], verified: dict) -> None:
    """Replace the deferral marker in each test cell by the verified outcome, as feedback shows it."""
    import nbformat
    from nbformat.v4 import new_output

    by_id = {c.grade_id: c for c in cells if c.part}
    changed = False
    for cell in notebook.cells:
        c = by_id.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
        if c is None:
            continue
        kept = [
            o
            for o in cell.get("outputs", [])
            if not (o.get("output_type") == "error" and o.get("ename") == DEFERRED)
        ]
        if len(kept) == len(cell.get("outputs", [])) and c.part not in verified:
            continue
        if c.part in verified:
            passed, message = verified[c.part]
            kept.append(
                new_output("stream", name="stdout", text=f"{message} (verified by the grader)\n")
                if passed
                else _error("GradingFailure", message)
            )
        else:
            kept.append(_error("GradingFailure", "the function could not be handed to the grader"))
        cell.outputs = kept
        changed = True
    if changed:
        mode = path.stat().st_mode & 0o777
        os.chmod(path, mode | 0o200)
        nbformat.write(notebook, str(path))
        os.chmod(path, mode)


def _nbgrader_scores(course: Course, assignment: str, student: str) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        try:
            notebook = gb.find_submission_notebook(assignment, assignment, student)
        except MissingEntry:
            return {}
        return {g.name: g.auto_score for g in notebook.grades}


def _write_gradebook(course: Course, assignment: str, student: str, scores: dict) -> None:
    """The verified scores, through nbgrader's Gradebook API; the submission row is made if missing."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        gb.update_or_create_student(student)
        try:
            gb.find_submission(assignment, student)
        except MissingEntry:
            gb.add_submission(assignment, student)
        for grade_id, score in scores.items():
            grade = gb.find_grade(grade_id, assignment, assignment, student)
            grade.auto_score = score
            grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
