"""``python -m tconv_lib.grade feedback``: nbgrader's feedback for every autograded notebook."""

from __future__ import annotations

import sys

from .course import Course


def run(args) -> int:
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

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
