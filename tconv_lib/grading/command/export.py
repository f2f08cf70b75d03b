"""``python -m tconv_lib.grade export``: one CSV row per (student, assignment), and a per-part summary.

Scores are nbgrader's: a part's score is its manual score where a grader entered one
(formgrader or ``python -m tconv_lib.grade manual``), else its verified autograde score; a
written answer not graded yet counts 0 and is listed in ``to_grade_by_hand``, so that grades
are never exported as final while answers still wait for a grader.
"""

from __future__ import annotations

import re
from pathlib import Path

from .course import Course, State

#: A written answer that waits for a grader (not a failure, in the per-part summary).
TO_GRADE = "written answer not graded yet"


def _failure_kind(message: str) -> str:
    """A failure message with its numbers masked, so that the same mistake groups across students."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", last)[:200]


def run(args) -> int:
    import csv
    from collections import Counter, defaultdict

    from nbgrader.api import Gradebook, MissingEntry

    course = Course.load(args.course_root, args.grading, args.db)
    state = State(course.grading / "tconv-grade-state.json")
    rows, parts = [], defaultdict(list)
    with Gradebook(course.db_url, course_id=course.course_id) as gb:
        people = {s.id: (s.first_name or "", s.last_name or "", s.email or "") for s in gb.students}
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
                waiting = []
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row[grade.name] = grade.score
                        message = (recorded.get("messages") or {}).get(grade.name, "")
                        if grade.needs_manual_grade:
                            waiting.append(grade.name)
                            message = TO_GRADE
                        parts[(assignment.name, grade.name)].append((grade.score, grade.max_score, message))
                row["to_grade_by_hand"] = " ".join(waiting)
                rows.append(row)
    csv_path = Path(args.csv or course.grading / "grades.csv")
    summary_path = Path(args.summary or course.grading / "parts.csv")
    fields = [
        "student",
        "assignment",
        "status",
        "score",
        "max_score",
        "late_penalty",
        "timestamp",
        "to_grade_by_hand",
    ]
    fields += sorted({k for row in rows for k in row} - set(fields))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = []
    for (assignment, grade_id), entries in sorted(parts.items()):
        failures = [m for score, top, m in entries if score < top and m != TO_GRADE]
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
                "to_grade_by_hand": sum(m == TO_GRADE for _, _, m in entries),
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
                "to_grade_by_hand",
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
    lms = write_lms_files(csv_path.parent, rows, people)
    print(
        f"grades: {csv_path} ({len(rows)} rows); per-part summary: {summary_path}; "
        f"for learning platforms: {', '.join(str(p) for p in lms)}"
    )
    waiting = [f"{row['assignment']}/{row['student']}" for row in rows if row.get("to_grade_by_hand")]
    if waiting:
        print(
            f"WARNING: {len(waiting)} submission(s) have written answers not graded yet, counted as 0: "
            f"{', '.join(waiting[:10])}{' ...' if len(waiting) > 10 else ''}. Grade them in nbgrader's "
            f"formgrader or with `python -m tconv_lib.grade manual`, then export again."
        )
    return 0


def write_lms_files(folder: Path, rows: list[dict], people: dict[str, tuple[str, str, str]]) -> list[Path]:
    """``grades-canvas.csv`` and ``grades-moodle.csv``: one row per student, one column per assignment.

    Canvas (Grades > Import): the columns ``Student, ID, SIS User ID, SIS Login ID, Section``, then
    one per assignment, and a ``Points Possible`` row; Canvas matches students by ``ID`` (its user
    id: collect with ``--id-from number``) and makes a new assignment for each new column.
    Moodle (Grades > Import > CSV file): ``ID number, First name, Last name, Email address``, then
    one per assignment; map ``Email address`` (import a roster with emails:
    ``nbgrader db student import``) or ``ID number`` to Moodle's user field, and each assignment
    column to a grade item.  A missing submission scores 0.
    """
    import csv

    assignments = sorted({row["assignment"] for row in rows})
    maximum = {a: max(float(r["max_score"] or 0) for r in rows if r["assignment"] == a) for a in assignments}
    scores: dict[str, dict[str, float]] = {}
    for row in rows:
        scores.setdefault(row["student"], {})[row["assignment"]] = float(row["score"] or 0.0)
    canvas, moodle = folder / "grades-canvas.csv", folder / "grades-moodle.csv"
    with open(canvas, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments])
        writer.writerow(["    Points Possible", "", "", "", "", *(f"{maximum[a]:g}" for a in assignments)])
        for student in sorted(scores):
            first, last, _ = people.get(student, ("", "", ""))
            name = f"{last}, {first}" if first and last else student
            canvas_id = student if student.isdigit() else ""
            writer.writerow(
                [name, canvas_id, "", "", "", *(f"{scores[student].get(a, 0.0):g}" for a in assignments)]
            )
    with open(moodle, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ID number", "First name", "Last name", "Email address", *assignments])
        for student in sorted(scores):
            first, last, email = people.get(student, ("", "", ""))
            writer.writerow(
                [student, first, last, email, *(f"{scores[student].get(a, 0.0):g}" for a in assignments)]
            )
    return [canvas, moodle]
