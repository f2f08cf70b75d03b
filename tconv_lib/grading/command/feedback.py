"""``python -m tconv_lib.grade feedback``: a feedback file a student can read, offline.

nbgrader's ``generate_feedback`` renders each autograded notebook as HTML; this command runs
it with three changes, so that what a student receives is about their work and nothing else:

* **Maths offline.**  The page carries MathJax 3 itself (the pinned ``tex-svg.js``, vendored
  with a manifest by ``book/_ext/vendor.py``): formulas typeset from a file opened straight
  from disk, with no network and no request to another host (stock feedback loads MathJax 2
  from cdnjs).
* **No grader internals.**  Tracebacks keep the student's own cells and the error, not the
  frames of tconv_lib or of installed packages; paths of the grading machine are hidden.
* **A summary in the course's words.**  Each graded part is named by its title ("Part B:
  stamping in 2D, with padding"), not "Test cell", with its score; every lost point says
  what failed (the verified message) and what to check.  A written part shows its manual
  score and the grader's comment, or that it is not graded yet; the rubric that the grading
  command put beside the answer for the grader is left out.
"""

from __future__ import annotations

import html
import re
import sys
from functools import cache
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from .course import Course, State, graded_cells, written_cells
from .worker import RUBRIC_METADATA

TEMPLATES = Path(__file__).with_name("templates")
MATHJAX = Path(__file__).with_name("vendor") / "mathjax" / "tex-svg.js"
MATHJAX_CONFIG = (
    "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true, "
    "tags: 'ams'}, svg: {fontCache: 'global'}, options: {enableMenu: false}};"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------------------
# What to check, for each kind of lost point
# --------------------------------------------------------------------------------------

ADVICE = (
    ("NotImplementedError", "Replace `raise NotImplementedError()` with your code."),
    (
        "never reached",
        "Run the part's test cell: its visible tests must pass before the hidden tests run, and "
        "`check(...)` must be left as it is.",
    ),
    (
        "an import of",
        "Build the function from NumPy's array operations and Python's standard library: graded "
        "code cannot use PyTorch, SciPy or tconv_lib.",
    ),
    (
        "used numpy.",
        "Build the function from NumPy's array operations: `numpy.convolve` and "
        "`numpy.correlate` are not available to graded code.",
    ),
    ("took longer than", "Look for a loop that does not end, or runs far too long, on the case shown."),
    (
        "MemoryError",
        "Your function allocated far more memory than the case needs: check the sizes you allocate.",
    ),
    (
        "kernel died",
        "An earlier cell ended the kernel (os._exit(), a crash or the memory limit), so the cells "
        "after it did not run.",
    ),
    (
        "not run",
        "An earlier cell stopped the notebook, so this one did not run: fix the first error above it.",
    ),
    ("total time limit", "The notebook ran longer than allowed as a whole: remove long experiments."),
    ("has shape", "Check your output size against the chapter's formula on the case shown."),
    ("has dtype", "Return an array of the dtype asked for (the input's)."),
    ("not finite", "Your result contains NaN or infinity on the case shown: look for a division by zero."),
    ("expected your function to raise", "Raise the error the part describes for inputs like the case shown."),
    (
        "differs at index",
        "Run your function on the case shown and compare with the chapter's rule: the index is "
        "the first wrong value.",
    ),
    ("expected", "Run your function on the case shown and compare with the chapter's rule."),
)


def advice(message: str) -> str:
    """What a student should check, for a lost part's message.

    Examples
    --------
    >>> advice("NotImplementedError")
    'Replace `raise NotImplementedError()` with your code.'
    """
    for marker, text in ADVICE:
        if marker in message:
            return text
    return "Read the error in the test cell below: it names the case that failed."


# --------------------------------------------------------------------------------------
# The preprocessor
# --------------------------------------------------------------------------------------


@cache
def _state(path: str) -> dict:
    return State(Path(path)).data["submissions"]


@cache
def _titles(source_notebook: str) -> dict[str, str]:
    """grade_id -> the part's title, from the registry of parts (else the notebook's heading)."""
    from ..parts import PARTS

    titles = {
        c.grade_id: PARTS[c.part].title if c.part in PARTS else c.grade_id
        for c in graded_cells(Path(source_notebook))
    }
    return titles | {c.grade_id: c.title for c in written_cells(Path(source_notebook))}


class StudentFacing(Preprocessor):
    """Clean tracebacks and paths, and put the summary and MathJax where the template finds them."""

    enabled = Bool(True, help="on whenever it is registered").tag(config=True)
    state_path = Unicode(help="the grading command's state file").tag(config=True)
    source_directory = Unicode(help="the folder of the source notebooks").tag(config=True)
    hidden_paths = Unicode(help="paths of the grading machine, separated by os.pathsep").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment", ""), info.get("student", "")
        recorded = _state(self.state_path).get(f"{assignment}/{student}", {}) if self.state_path else {}
        source = Path(self.source_directory) / assignment / f"{assignment}.ipynb"
        titles = _titles(str(source)) if source.is_file() else {}
        items = []
        # the rubrics the grader saw beside the written answers are not the student's to read
        nb.cells = [cell for cell in nb.cells if not cell.metadata.get(RUBRIC_METADATA)]
        pending = _to_grade_by_hand(info, nb)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    self._clean(output)
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "markdown" and meta.get("solution"):
                grade_id = meta["grade_id"]
                items.append(
                    _written_item(grade_id, titles.get(grade_id, grade_id), meta, grade_id in pending)
                )
            if meta.get("grade") and cell.cell_type == "code" and not meta.get("solution"):
                grade_id = meta["grade_id"]
                items.append(
                    _item(
                        grade_id,
                        titles.get(grade_id, grade_id),
                        meta.get("score"),
                        meta.get("points"),
                        (recorded.get("messages") or {}).get(grade_id, ""),
                    )
                )
        resources["tconv"] = {
            "summary": "<ol class='tconv-summary'>" + "".join(items) + "</ol>",
            "mathjax": MATHJAX.read_text(),
            "mathjax_config": MATHJAX_CONFIG,
        }
        return nb, resources

    def _clean(self, output) -> None:
        """Keep the student's cells and the error; drop library frames; hide the machine's paths."""
        frames = [_ANSI.sub("", f) for f in output.get("traceback", [])]
        # IPython's header ("----", "ValueError   Traceback (most recent call last)") and library frames go;
        # the frames of the student's own cells ("Cell In[3], line 2") and the error itself stay
        kept = [f for f in frames if not f.lstrip().startswith(("File ", "---")) and "Traceback (" not in f]
        output["traceback"] = [self._hide(f) for f in kept]
        output["evalue"] = self._hide(output.get("evalue", ""))

    def _hide(self, text: str) -> str:
        for path in sorted(filter(None, self.hidden_paths.split("\x00")), key=len, reverse=True):
            text = text.replace(path, "…")
        return text


def _item(grade_id: str, title: str, score, points, message: str) -> str:
    score, points = float(score or 0), float(points or 0)
    line = f"<a href='#{html.escape(grade_id)}'>{html.escape(title)}</a>: {score:g} / {points:g}"
    if score >= points or not message:
        return f"<li class='tconv-passed'>{line}</li>"
    first = "\n".join(message.strip().splitlines()[:3])
    return (
        f"<li class='tconv-lost'>{line}<div class='tconv-failed'><b>What failed:</b> "
        f"<pre>{html.escape(first)}</pre></div><div class='tconv-check'><b>What to check:</b> "
        f"{html.escape(advice(message))}</div></li>"
    )


def _to_grade_by_hand(info: dict, nb) -> set[str]:
    """The written answers of this notebook that still wait for a manual grade, from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    written = [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    ]
    if not written or not info.get("db_url"):
        return set()
    pending = set()
    with Gradebook(info["db_url"]) as gb:
        for grade_id in written:
            try:
                grade = gb.find_grade(grade_id, info["notebook"], info["assignment"], info["student"])
            except MissingEntry:
                continue
            if grade.needs_manual_grade:
                pending.add(grade_id)
    return pending


def _written_item(grade_id: str, title: str, meta: dict, pending: bool) -> str:
    """A written part in the summary: its manual score and the grader's comment, or that it waits."""
    points = float(meta.get("points") or 0)
    line = f"<a href='#{html.escape(grade_id)}'>{html.escape(title)}</a>"
    if pending:
        return f"<li class='tconv-pending'>{line}: graded by hand, not graded yet (out of {points:g})</li>"
    score = float(meta.get("score") or 0)
    kind = "tconv-passed" if score >= points else "tconv-lost"
    comment = meta.get("comment") or ""
    if comment == "No response.":  # nbgrader's word for an answer left as the release had it
        return f"<li class='{kind}'>{line}: {score:g} / {points:g}, no answer was written</li>"
    said = f"<div class='tconv-check'><b>Your grader:</b> {html.escape(comment)}</div>" if comment else ""
    return f"<li class='{kind}'>{line}: {score:g} / {points:g}, graded by hand{said}</li>"


def hidden_paths(course: Course) -> list[str]:
    """Folders of the grading machine that must not appear in a student's feedback."""
    import tconv_lib

    roots = {
        str(course.root),
        str(course.grading),
        sys.prefix,
        sys.base_prefix,
        str(Path(tconv_lib.__file__).resolve().parent),
        "/home/student",
    }
    return sorted(roots, key=len, reverse=True)


def run(args) -> int:
    import nbgrader
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    course = Course.load(args.course_root, args.grading, args.db)
    assignments = args.assignments or [
        a
        for a in course.assignments()
        if course.autograded.is_dir() and any(course.autograded.glob(f"*/{a}"))
    ]
    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    failed = 0
    for assignment in assignments:
        for student in args.students or ["*"]:
            config = Config(course.config)
            config.HTMLExporter.template_name = "tconv_feedback"
            config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
            config.StudentFacing.state_path = str(course.grading / "tconv-grade-state.json")
            config.StudentFacing.source_directory = str(course.source)
            config.StudentFacing.hidden_paths = "\x00".join(hidden_paths(course))
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id, coursedir.student_id = assignment, student
            app = GenerateFeedback(coursedir=coursedir, config=config)
            # nbgrader sets its own template paths in __init__; add the folder that holds its feedback
            # template, which tconv_feedback extends as 'feedback/index.html.j2'
            paths = list(app.config.HTMLExporter.get("extra_template_paths", []))
            app.config.HTMLExporter.extra_template_paths = [*paths, str(nbgrader_templates)]
            app.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, StudentFacing]
            app.force = True
            app.log.setLevel("WARNING")
            try:
                app.start()
            except NbGraderException as exc:
                failed += 1
                print(f"[feedback] {assignment}/{student}: {exc}", file=sys.stderr)
    _state.cache_clear()
    count = len(list(course.feedback.glob("*/*/*.html"))) if course.feedback.is_dir() else 0
    print(f"feedback: {count} HTML file(s) under {course.feedback}")
    return 1 if failed else 0
