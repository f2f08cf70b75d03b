"""``python -m tconv_lib.grade export``: one CSV row per (student, assignment), and a per-part summary."""

from __future__ import annotations

import re
from pathlib import Path

from .course import Course, State


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
