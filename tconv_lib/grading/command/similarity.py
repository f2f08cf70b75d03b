"""``python -m tconv_lib.grade similarity``: how much of each part's code a student shares with others.

No test can tell a copy from work, but an instructor needs to see one.  For every part of
every assignment this compares each student's solution code with every classmate's, with
the instructor's ``solutions/`` and with the course library's source (``tconv_lib:<module>``,
which is public), and writes

* ``similarity.csv`` in the grading folder: ``assignment, part, student, other, score``,
  one row per pair that shares code, ``score`` in [0, 1] being the share of the student's
  code (for that part) that also appears in ``other``;
* ``similarity.html``: the pairs at or above the threshold, highest first, with the
  student's and the other's code side by side and the shared passages marked.

It never reads or changes a grade.

How code is compared: `copydetect <https://github.com/blingenf/copydetect>`_ (0.5, MIT),
chosen over the alternatives because it is maintained, pure Python and offline (MOSS is
a web service, JPlag needs Java, Dolos needs Node, pycode-similar is unmaintained since
2020).  It tokenises with Pygments, replaces every name by one symbol, drops comments and
layout, and fingerprints the token stream by winnowing (Schleimer et al., 2003), as MOSS
does (here keeping every k-gram, so that the scores are the same on every run): renamed
variables, changed comments and reformatting change nothing, and reordered statements keep
their fingerprints.  The release notebook's text of each part (signature,
docstring, ``raise NotImplementedError()``) is boilerplate and never counts.

What it cannot see: a copy rewritten into another algorithm, and two students who wrote the
same short, canonical code independently (a part whose code is too short to fingerprint is
listed without a score).  A high score is a reason to look, not a verdict.
"""

from __future__ import annotations

import csv
import html
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course

#: Pairs whose score reaches this are listed in the HTML report (the CSV has every shared pair).
#: Chosen on tests/similarity_corpus: there, planted copies score 0.74 and more, independently
#: written solutions 0.45 and less.
THRESHOLD = 0.7
NOISE = 25  # characters of filtered code in one fingerprinted k-gram (copydetect's noise threshold)
# Every k-gram is kept (winnowing window 1): the code of a part is short enough, and the scores then
# do not depend on which hashes a window picks -- copydetect hashes with Python's hash(), which is
# salted per process, so a wider window would make two runs of the report differ.
WINDOW = 1
MIN_FINGERPRINTS = 10  # fewer k-grams than this: a part's code is too short to judge
LIBRARY_MODULES = (
    "conv",
    "transposed",
    "matrix",
    "geometry",
    "artifacts",
    "mitigation",
    "gradients",
    "init",
    "spectral",
    "_checks",
)


@dataclass
class Code:
    """One piece of code to compare: a student's part, the instructor's solution or a library module."""

    owner: str  # a student id, "solutions" or "tconv_lib:<module>"
    text: str
    fingerprint: object = field(default=None, repr=False)

    @property
    def judged(self) -> bool:
        return self.fingerprint is not None and len(self.fingerprint.hashes) >= MIN_FINGERPRINTS


@dataclass
class Match:
    assignment: str
    part: str
    student: Code
    other: Code
    score: float
    slices: tuple = field(repr=False, default=())


def fingerprint(text: str, boilerplate=()):
    """copydetect's fingerprint of Python code, boilerplate hashes removed; None for empty code."""
    from copydetect import CodeFingerprint

    if not text.strip():
        return None
    return CodeFingerprint(
        "part.py",
        NOISE,
        WINDOW,
        boilerplate=list(boilerplate),
        fp=io.StringIO(text),
        language="python",
    )


def part_cells(notebook: dict) -> dict[str, list[str]]:
    """part -> the grade_ids of the solution cells before its test cell (since the previous one)."""
    from .course import HIDDEN_BLOCK, HIDDEN_CHECK

    parts, pending = {}, []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if meta.get("solution") and cell["cell_type"] == "code":
            pending.append(meta["grade_id"])
        elif meta.get("grade") and not meta.get("solution"):
            block = HIDDEN_BLOCK.search(source)
            found = HIDDEN_CHECK.search(block.group(1)) if block else None
            if found:
                parts[found["part"]] = pending
                pending = []
    return parts


def cells_code(notebook: dict, grade_ids: list[str]) -> str:
    """The source of the cells with these grade_ids, in the notebook's order."""
    wanted = set(grade_ids)
    chunks = []
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict):
            continue
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in wanted:
            source = cell.get("source", "")
            chunks.append("".join(source) if isinstance(source, list) else str(source))
    return "\n\n".join(chunks)


def _read(path: Path) -> dict | None:
    try:
        notebook = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError):
        return None
    return notebook if isinstance(notebook, dict) else None


def library_code() -> list[Code]:
    """The course library's modules, which any student can read (and copy)."""
    import tconv_lib

    package = Path(tconv_lib.__file__).parent
    return [
        Code(f"tconv_lib:{name}", (package / f"{name}.py").read_text())
        for name in LIBRARY_MODULES
        if (package / f"{name}.py").is_file()
    ]


def compare(assignment: str, part: str, students: list[Code], references: list[Code]) -> list[Match]:
    """Every (student, other) pair of ``part`` that shares fingerprints, scored from the student's side.

    Only pairs that share a fingerprint are compared in full (an index from fingerprint to
    owner finds them), so a class of hundreds takes seconds per part.
    """
    from copydetect import compare_files

    owners: dict[int, list[Code]] = {}
    for code in students + references:
        if code.judged:
            for value in code.fingerprint.hashes:
                owners.setdefault(int(value), []).append(code)
    matches = []
    for student in students:
        if not student.judged:
            continue
        candidates = {
            id(o): o
            for value in student.fingerprint.hashes
            for o in owners.get(int(value), [])
            if o is not student
        }
        for other in candidates.values():
            _, (score, _), slices = compare_files(student.fingerprint, other.fingerprint)
            if score > 0:
                matches.append(Match(assignment, part, student, other, float(score), slices))
    return matches


def run(args) -> int:
    course = Course.load(args.course_root, args.grading, args.db)
    course.known_assignments(args.assignments)
    assignments = args.assignments or [a for a in course.assignments() if course.students(a)]
    start = time.perf_counter()
    library = library_code()
    matches, unjudged, compared = [], [], 0
    for assignment in assignments:
        source = _read(course.source_notebook(assignment))
        release = _read(course.release / assignment / f"{assignment}.ipynb") or {"cells": []}
        notebooks = {
            s: _read(course.submitted / s / assignment / f"{assignment}.ipynb")
            for s in course.students(assignment)
        }
        for part, grade_ids in part_cells(source).items():
            boilerplate = getattr(fingerprint(cells_code(release, grade_ids)), "hashes", [])

            def coded(owner: str, text: str) -> Code:
                return Code(owner, text, fingerprint(text, boilerplate))  # noqa: B023 -- used at once

            students = [coded(s, cells_code(nb, grade_ids)) for s, nb in notebooks.items() if nb is not None]
            references = [coded("solutions", cells_code(source, grade_ids))]
            references += [coded(code.owner, code.text) for code in library]
            unjudged += [(assignment, part, s.owner) for s in students if not s.judged]
            compared += len(students)
            matches += compare(assignment, part, students, references)
    matches.sort(key=lambda m: (-m.score, m.assignment, m.part, m.student.owner, m.other.owner))
    csv_path = Path(args.csv or course.grading / "similarity.csv")
    html_path = Path(args.html or course.grading / "similarity.html")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["assignment", "part", "student", "other", "score"])
        for m in matches:
            writer.writerow([m.assignment, m.part, m.student.owner, m.other.owner, f"{m.score:.3f}"])
    flagged = [m for m in matches if m.score >= args.threshold]
    html_path.write_text(report(flagged, unjudged, args.threshold))
    print(
        f"similarity: {compared} part solutions of {len(assignments)} assignment(s) compared in "
        f"{time.perf_counter() - start:.1f} s; {len(flagged)} pair(s) at or above {args.threshold:g}"
    )
    for m in flagged[:20]:
        print(f"  {m.score:.2f}  {m.assignment}/{m.part}: {m.student.owner} ~ {m.other.owner}")
    print(f"table: {csv_path}; report: {html_path}", file=sys.stderr)
    return 0


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; }
table.pair { width: 100%; border-collapse: collapse; table-layout: fixed; margin-bottom: 2rem; }
table.pair td { vertical-align: top; border: 1px solid #ccc; padding: .5rem; }
pre { white-space: pre-wrap; font-size: .85rem; margin: 0; }
mark { background: #ffd54f; color: #000; }
h2 { font-size: 1.1rem; margin-top: 2rem; }
"""


def report(matches: list[Match], unjudged: list[tuple], threshold: float) -> str:
    """The HTML report: every pair at or above ``threshold``, the shared code marked on both sides."""
    from copydetect.utils import highlight_overlap

    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Code similarity</title>"
        f"<style>{_STYLE}</style></head><body><h1>Code similarity</h1>",
        f"<p>{len(matches)} pair(s) whose score is at least {threshold:g}: the share of the student's "
        f"code for the part that also appears in the other's. Marked: the shared passages. A high "
        f"score is a reason to look, not a verdict; grades are not changed.</p>",
    ]
    for m in matches:
        sides = []
        for code, slices in ((m.student, m.slices[0]), (m.other, m.slices[1])):
            if len(slices) and slices.shape[-1]:
                marked, _ = highlight_overlap(
                    code.fingerprint.raw_code, slices, "<mark>", "</mark>", escape_html=True
                )
            else:
                marked = html.escape(code.text)
            sides.append(f"<td><pre>{marked}</pre></td>")
        parts.append(
            f"<h2>{m.score:.2f} &mdash; {html.escape(m.assignment)} / {html.escape(m.part)}: "
            f"{html.escape(m.student.owner)} and {html.escape(m.other.owner)}</h2>"
            f"<table class='pair'><tr><th>{html.escape(m.student.owner)}</th>"
            f"<th>{html.escape(m.other.owner)}</th></tr><tr>{''.join(sides)}</tr></table>"
        )
    if unjudged:
        items = "".join(
            f"<li>{html.escape(a)} / {html.escape(p)}: {html.escape(s)}</li>" for a, p, s in unjudged
        )
        parts.append(f"<h2>Too short to judge (or missing)</h2><ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
