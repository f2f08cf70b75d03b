"""Grading a class: ``python -m tconv_lib.grade collect|autograde|manual|feedback|export|similarity``.

A thin layer over stock nbgrader (same course folder, same gradebook, same files) that
makes grading a real class fast, resumable and safe against hostile notebooks:

* ``collect`` puts a folder or an LMS zip (Canvas, Moodle) into nbgrader's submitted layout;
* ``autograde`` runs nbgrader's autograder in parallel workers (or on a Dask cluster); every
  kernel runs in a sandbox (:mod:`tconv_lib.grading.sandbox`) with time, memory and output
  limits; each part's hidden cases are drawn from the course secret and run in a second,
  NumPy-only sandbox; only verified scores reach the gradebook; a dead kernel or worker
  costs only its own notebook; a state file makes a re-run grade only what changed;
* ``manual`` lists the written answers with their rubrics and enters the scores a grader
  gives them (nbgrader's formgrader is the other way);
* ``feedback`` and ``export`` generate nbgrader's feedback and a CSV of grades, with a
  per-part summary; manual scores count once entered;
* ``similarity`` reports how much code each student's parts share with classmates', the
  instructor's solutions and the course library's.

One module per subcommand (:mod:`.collect`, :mod:`.autograde`, :mod:`.manual`, :mod:`.feedback`,
:mod:`.export`, :mod:`.similarity`); :mod:`.worker` grades one submission, :mod:`.execute` runs its notebook,
:mod:`.course` knows the course's folders, fingerprints and state.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import autograde, collect, export, feedback, manual, similarity

__all__ = ["main", "build_parser"]


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
    p.set_defaults(func=collect.run)

    p = sub.add_parser("autograde", parents=[common], help="grade submissions in parallel, verified")
    p.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment with submissions"
    )
    p.add_argument("--students", nargs="+", metavar="STUDENT", help="only these students")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parallel workers (default: cores)"
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=autograde.DEFAULT_CELL_TIMEOUT,
        help="seconds per cell (default 60)",
    )
    p.add_argument(
        "--memory-limit",
        type=autograde.parse_bytes,
        default=autograde.DEFAULT_MEMORY_LIMIT,
        help="address-space limit per kernel, e.g. 8G (default 8G)",
    )
    p.add_argument("--force", action="store_true", help="grade again even what has not changed")
    p.add_argument("--dask", help="run on Dask: a scheduler address (tcp://host:8786) or local[:N]")
    p.add_argument(
        "--notebook-timeout",
        type=int,
        default=autograde.DEFAULT_NOTEBOOK_TIMEOUT,
        help="seconds a whole notebook may run (default 1800); later cells are not run and score 0",
    )
    p.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade without bubblewrap: students' code runs as you (only for notebooks you trust)",
    )
    p.set_defaults(func=autograde.run)

    p = sub.add_parser(
        "manual", parents=[common], help="grade written answers by hand: rubrics, answers, scores"
    )
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--all", action="store_true", help="list the blank and graded answers too")
    p.add_argument("--student", help="enter a score for this student")
    p.add_argument("--part", help="the written part's grade id, as the listing shows it")
    p.add_argument("--score", type=float, help="points, from 0 to the part's maximum")
    p.add_argument("--comment", help="what the student's feedback says about the answer")
    p.add_argument(
        "--scores", metavar="CSV", help="enter many scores: columns student, part, score[, comment]"
    )
    p.set_defaults(func=manual.run)

    p = sub.add_parser("feedback", parents=[common], help="nbgrader generate_feedback")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--students", nargs="+", metavar="STUDENT")
    p.set_defaults(func=feedback.run)

    p = sub.add_parser("export", parents=[common], help="grades as CSV, and a per-part summary")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--csv", help="grades CSV (default: <grading>/grades.csv)")
    p.add_argument("--summary", help="per-part summary CSV (default: <grading>/parts.csv)")
    p.set_defaults(func=export.run)

    p = sub.add_parser("similarity", parents=[common], help="how alike students' code is, part by part")
    p.add_argument(
        "assignments", nargs="*", metavar="ASSIGNMENT", help="default: every assignment with submissions"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=similarity.THRESHOLD,
        help=f"report pairs whose score reaches this (default {similarity.THRESHOLD:g})",
    )
    p.add_argument("--csv", help="every shared pair (default: <grading>/similarity.csv)")
    p.add_argument("--html", help="the report (default: <grading>/similarity.html)")
    p.set_defaults(func=similarity.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
