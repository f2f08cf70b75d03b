"""The course as the grading command sees it: nbgrader's configuration, the source notebooks'
graded parts (autograded test cells and written answers), fingerprints of submissions and the
state file that makes grading resumable."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

STATE_NAME = "tconv-grade-state.json"
GRADER_VERSION = "2"  # bump when the grading command changes how it scores: everything is regraded
SQLITE_BUSY_TIMEOUT_S = 120
HIDDEN_CHECK = re.compile(r'^check\("(?P<part>[\w.]+)", (?P<function>\w+)\)\s*$', re.M)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def with_busy_timeout(db_url: str) -> str:
    """An SQLite URL with a busy timeout, so that parallel workers wait for each other's writes."""
    if db_url.startswith("sqlite:") and "timeout=" not in db_url:
        return db_url + ("&" if "?" in db_url else "?") + f"timeout={SQLITE_BUSY_TIMEOUT_S}"
    return db_url


@dataclass
class Course:
    """Paths and nbgrader configuration, loaded from the course root's nbgrader_config.py."""

    root: Path
    config: object  # traitlets.config.Config

    @classmethod
    def load(cls, root: Path | str = ".", grading: str | None = None, db_url: str | None = None) -> Course:
        """Read nbgrader_config.py; ``grading`` and ``db_url`` override TCONV_GRADING_DIR and
        TCONV_GRADEBOOK_URL (set in this process's environment, so workers see the same)."""
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        if not (root / "nbgrader_config.py").is_file():
            raise SystemExit(
                f"no nbgrader_config.py in {root}: run the grading command from the course root "
                f"(or pass --course-root)"
            )
        if grading:
            os.environ["TCONV_GRADING_DIR"] = str(Path(grading).resolve())
        if db_url:
            os.environ["TCONV_GRADEBOOK_URL"] = db_url
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.db_url = with_busy_timeout(
            config.CourseDirectory.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
        )
        return cls(root, config)

    def _dir(self, name: str, default: str) -> Path:
        value = self.config.CourseDirectory.get(name) or default
        return (self.root / value).resolve()

    @property
    def source(self) -> Path:
        return self._dir("source_directory", "source")

    @property
    def release(self) -> Path:
        return self._dir("release_directory", "release")

    @property
    def submitted(self) -> Path:
        return self._dir("submitted_directory", "submitted")

    @property
    def autograded(self) -> Path:
        return self._dir("autograded_directory", "autograded")

    @property
    def feedback(self) -> Path:
        return self._dir("feedback_directory", "feedback")

    @property
    def grading(self) -> Path:
        """The folder of student data: where the state file lives (the submitted folder's parent)."""
        return self.submitted.parent

    @property
    def db_url(self) -> str:
        return self.config.CourseDirectory.db_url

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.get("course_id") or "default_course"

    def assignments(self) -> list[str]:
        """Assignments with a source notebook ``<source>/<a>/<a>.ipynb``."""
        return sorted(p.parent.name for p in self.source.glob("*/*.ipynb") if p.stem == p.parent.name)

    def known_assignments(self, names) -> list[str]:
        """``names`` if every one is an assignment of the course; else exit, listing the assignments."""
        known = self.assignments()
        unknown = [a for a in names if a not in known]
        if unknown:
            raise SystemExit(f"unknown assignment(s) {unknown}; the course has: {', '.join(known)}")
        return list(names)

    def source_notebook(self, assignment: str) -> Path:
        return self.source / assignment / f"{assignment}.ipynb"

    def students(self, assignment: str) -> list[str]:
        """Students with a submitted folder for ``assignment``."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if (p / assignment).is_dir())


@dataclass(frozen=True)
class GradedCell:
    """An autograded test cell of a source notebook and the part its hidden test checks."""

    grade_id: str
    points: float
    part: str | None  # None: the cell calls no check() (graded by nbgrader alone)


def graded_cells(source_notebook: Path) -> list[GradedCell]:
    """The autograded test cells of a source notebook, in order, with the part each one checks."""
    nb = json.loads(source_notebook.read_text())
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        block = HIDDEN_BLOCK.search(source)
        found = HIDDEN_CHECK.search(block.group(1)) if block else None
        cells.append(
            GradedCell(
                meta["grade_id"],
                float(meta.get("points", 0)),
                found["part"] if found else None,
            )
        )
    return cells


#: A part's heading in a source notebook: ``## Part F (written): what output_padding gives back (3 points)``.
PART_HEADING = re.compile(r"^## (?P<title>Part \w+.*?)\s*\((?P<points>\d+(?:\.\d+)?) points?\)\s*$", re.M)
SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


@dataclass(frozen=True)
class WrittenCell:
    """A written answer of a source notebook: a markdown cell that is graded by hand.

    nbgrader calls it a *manually graded answer* (``solution`` and ``grade``, with points).
    Its source holds the model answer and the rubric between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION``: ``nbgrader generate_assignment`` replaces them with *YOUR ANSWER
    HERE* in the release, so only the source (and the instructor) has them.
    """

    grade_id: str
    points: float
    title: str  # the heading of its part, without the points: "Part F (written): ..."
    rubric: str  # the model answer and the rubric, as markdown


def _source_text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def written_cells(source_notebook: Path) -> list[WrittenCell]:
    """The written answers of a source notebook, in order, each with its part's title and its rubric."""
    nb = json.loads(source_notebook.read_text())
    cells, title = [], ""
    for cell in nb["cells"]:
        source = _source_text(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "markdown" and not meta:
            headings = PART_HEADING.findall(source)
            title = headings[-1][0].replace("`", "") if headings else title
        if cell["cell_type"] == "markdown" and meta.get("grade") and meta.get("solution"):
            region = SOLUTION_REGION.search(source)
            cells.append(
                WrittenCell(
                    meta["grade_id"],
                    float(meta.get("points", 0)),
                    title or meta["grade_id"],
                    (region.group(1) if region else source).strip(),
                )
            )
    return cells


PRESENTATION_MODULES = ("plotting.py", "widgets.py")  # how things are drawn changes no grade


def library_fingerprint() -> str:
    """tconv_lib's version, its code (but the drawing modules) and its reference fixtures:
    a change in what grading runs regrades everything."""
    import tconv_lib

    digest = hashlib.sha256(f"{tconv_lib.__version__}\x00{GRADER_VERSION}".encode())
    package = Path(tconv_lib.__file__).parent
    files = [p for p in package.rglob("*.py") if p.name not in PRESENTATION_MODULES]
    files += [p for p in (package / "grading" / "reference_data").glob("*") if p.is_file()]
    for path in sorted(files):
        digest.update(str(path.relative_to(package)).encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()


def submission_fingerprint(submitted: Path, source_notebook: Path, library: str) -> str:
    """sha256 of the submitted files, the source notebook and the library fingerprint."""
    digest = hashlib.sha256(library.encode())
    digest.update(source_notebook.read_bytes())
    if submitted.is_dir():
        for path in sorted(p for p in submitted.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(submitted)).encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()


class State:
    """``<grading>/tconv-grade-state.json``: per submission, its fingerprint and verified result.

    Written only by the grading command's main process, atomically, after every notebook:
    a run that is stopped loses nothing, and the next run grades only what changed.
    """

    def __init__(self, path: Path):
        self.path = path
        self.data = {"submissions": {}, "sources": {}}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, ValueError):
                pass  # unreadable: grade everything again
        self.data.setdefault("submissions", {})
        self.data.setdefault("sources", {})

    @staticmethod
    def key(assignment: str, student: str) -> str:
        return f"{assignment}/{student}"

    def get(self, assignment: str, student: str) -> dict | None:
        return self.data["submissions"].get(self.key(assignment, student))

    def put(self, result: dict) -> None:
        self.data["submissions"][self.key(result["assignment"], result["student"])] = result
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
