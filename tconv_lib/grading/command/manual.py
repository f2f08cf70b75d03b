"""``python -m tconv_lib.grade manual``: grade the written answers by hand, from the command line.

nbgrader's formgrader is one way to grade a written part (the grading command puts the part's
rubric under each answer in the autograded notebook, so the formgrader shows it there); this is
the other, for a terminal or a script, through nbgrader's Gradebook API:

* ``manual ASSIGNMENT`` prints, part by part, the rubric once and then every answer that waits
  for a grade, with the command that scores it (``--all``: the blank and graded ones too);
* ``manual ASSIGNMENT --student S --part P --score X [--comment TEXT]`` enters one score;
* ``manual ASSIGNMENT --scores FILE.csv`` enters many: columns ``student, part, score`` and
  optionally ``comment``, one row per answer.

A score is checked before anything is written (a written part of the assignment, a student
with a submission, ``0 <= score <= points``): a file with one bad row enters nothing. What is
entered is what formgrader enters: the grade's ``manual_score`` (which then counts instead of
the autograder's 0), ``needs_manual_grade`` cleared, and the comment the student's feedback shows.
``export`` then shows the sums.
"""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from pathlib import Path

from .course import Course, WrittenCell, written_cells


class ManualError(SystemExit):
    """A score that cannot be entered; the message says why and what would be valid."""


def _written(course: Course, assignment: str) -> dict[str, WrittenCell]:
    if assignment not in course.assignments():
        raise ManualError(
            f"manual: unknown assignment {assignment!r}; the course has {', '.join(course.assignments())}"
        )
    cells = {c.grade_id: c for c in written_cells(course.source_notebook(assignment))}
    if not cells:
        raise ManualError(f"manual: {assignment} has no written part; nothing is graded by hand")
    return cells


def _answer(course: Course, assignment: str, student: str, grade_id: str) -> str:
    """The student's answer, as the autograded notebook holds it."""
    path = course.autograded / student / assignment / f"{assignment}.ipynb"
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return "(no autograded notebook: run `python -m tconv_lib.grade autograde` first)"
    for cell in nb.get("cells", []):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else source
    return "(the answer cell is missing from the notebook)"


def _state(grade) -> str:
    from .worker import written_state

    return written_state(grade)


def show(course: Course, assignment: str, everything: bool, out=sys.stdout) -> int:
    """Print every written part's rubric and the answers that wait for a grade; return how many wait."""
    from nbgrader.api import Gradebook, MissingEntry

    cells = _written(course, assignment)
    waiting = 0
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        students = sorted(s.id for s in gb.students)
        for cell in cells.values():
            print(f"=== {assignment}: {cell.title} ({cell.points:g} points), part {cell.grade_id}", file=out)
            print(textwrap.indent(cell.rubric, "  | "), file=out)
            for student in students:
                try:
                    grade = gb.find_grade(cell.grade_id, assignment, assignment, student)
                except MissingEntry:
                    continue
                state = _state(grade)
                waiting += state == "to grade"
                if state != "to grade" and not everything:
                    continue
                score = "" if grade.manual_score is None else f": {grade.manual_score:g} / {cell.points:g}"
                print(f"--- {student} ({state}{score})", file=out)
                print(
                    textwrap.indent(_answer(course, assignment, student, cell.grade_id).strip(), "    "),
                    file=out,
                )
                if state == "to grade":
                    print(
                        f"    score it: python -m tconv_lib.grade manual {assignment} --student {student} "
                        f'--part {cell.grade_id} --score N [--comment "..."]',
                        file=out,
                    )
    print(f"{waiting} written answer(s) of {assignment} to grade by hand", file=out)
    return waiting


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ManualError(f"manual: {where}: the score {text!r} is not a number") from None


def enter(course: Course, assignment: str, scores: list[dict]) -> list[str]:
    """Enter manual scores ``[{"student", "part", "score"[, "comment"]}]``: all of them, or none.

    Returns one line per score entered.
    """
    from nbgrader.api import Gradebook, MissingEntry

    cells = _written(course, assignment)
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        checked = []
        for number, row in enumerate(scores, start=1):
            where = f"score {number} ({row.get('student')}, {row.get('part')})"
            cell = cells.get(row.get("part", ""))
            if cell is None:
                raise ManualError(
                    f"manual: {where}: {row.get('part')!r} is not a written part of {assignment}; "
                    f"its written parts are {', '.join(cells)}"
                )
            value = _number(row.get("score"), where)
            if not 0 <= value <= cell.points:
                raise ManualError(
                    f"manual: {where}: the score must be between 0 and {cell.points:g}, got {value:g}"
                )
            try:
                grade = gb.find_grade(cell.grade_id, assignment, assignment, row["student"])
            except MissingEntry:
                raise ManualError(
                    f"manual: {where}: no graded submission of {assignment} by {row['student']!r}; run "
                    f"`python -m tconv_lib.grade autograde` first"
                ) from None
            checked.append((row, cell, value, grade))
        lines = []
        for row, cell, value, grade in checked:
            grade.manual_score = value
            grade.needs_manual_grade = False
            if row.get("comment"):
                comment = gb.find_comment(cell.grade_id, assignment, assignment, row["student"])
                comment.manual_comment = row["comment"]
            lines.append(f"{assignment}/{row['student']}/{cell.grade_id}: {value:g} / {cell.points:g}")
        gb.db.commit()
    return lines


def _read_scores(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"student", "part", "score"} - set(reader.fieldnames or [])
        if missing:
            raise ManualError(
                f"manual: {path} needs the columns student, part, score (and optionally comment); "
                f"missing {', '.join(sorted(missing))}"
            )
        return [dict(row) for row in reader]


def run(args) -> int:
    course = Course.load(args.course_root, args.grading, args.db)
    if args.scores:
        rows = _read_scores(Path(args.scores))
    elif args.student or args.part or args.score is not None:
        if not (args.student and args.part and args.score is not None):
            raise ManualError("manual: to enter a score, give --student, --part and --score together")
        rows = [{"student": args.student, "part": args.part, "score": args.score, "comment": args.comment}]
    else:
        show(course, args.assignment, args.all)
        return 0
    for line in enter(course, args.assignment, rows):
        print(f"entered {line}")
    return 0
