"""``python -m tconv_lib.grade collect``: put students' files where nbgrader expects them.

Sources (a folder, or a ``.zip`` of one) and the layouts recognised, per file:

=====================================================  ==========================================
layout                                                 student id
=====================================================  ==========================================
``<student>/<assignment>.ipynb``                       ``<student>``
``<student>/<assignment>/<assignment>.ipynb``          ``<student>``
Canvas: ``<lastfirst>[_LATE]_<user>_<sub>_<file>``     ``<lastfirst>`` (``--id-from number``: ``<user>``)
Moodle: ``<Full Name>_<n>_assignsubmission_file_/..``  ``full_name`` (``--id-from number``: ``<n>``)
=====================================================  ==========================================

The assignment is the file's name (``geometry.ipynb``; Canvas' ``geometry-1.ipynb`` for a
resubmission counts too), matched without case against the course's assignments, or the
one given with ``--assignment``.  Each notebook lands in
``<submitted>/<student>/<assignment>/<assignment>.ipynb`` with a ``timestamp.txt`` (the
file's time: its modification time, or its date in the zip).  A notebook already there
is replaced only by a newer one; an older or same-time different one is kept and
reported.  Every file that cannot be placed is reported with the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9-]+?)(?:_LATE)?_(?P<number>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<number>\d+)_assignsubmission_(?:file|onlinetext)_?$")
RESUBMISSION = re.compile(r"^(?P<stem>.+?)(?:[-_ ]\(?\d+\)?)?$")
IGNORED = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"


@dataclass
class Entry:
    path: str  # relative, with "/"
    data: bytes
    time: datetime


@dataclass
class Report:
    placed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_newer: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"placed {len(self.placed)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"kept newer {len(self.kept_newer)}, not placed {len(self.problems)}"
        ]
        out += [f"  updated: {line}" for line in self.updated]
        out += [f"  NOT OVERWRITTEN: {line}" for line in self.kept_newer]
        out += [f"  NOT PLACED: {line}" for line in self.problems]
        return out


def _entries(source: Path):
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield Entry(
                        info.filename, archive.read(info), datetime(*info.date_time).astimezone(timezone.utc)
                    )
    elif source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            yield Entry(
                path.relative_to(source).as_posix(),
                path.read_bytes(),
                datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
            )
    else:
        raise SystemExit(f"{source}: not a folder or a zip file")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def parse(path: str, id_from: str = "name") -> tuple[str, str] | str:
    """(student, file name) of an entry, or the reason it cannot be placed.

    Examples
    --------
    >>> parse("alice/geometry.ipynb")
    ('alice', 'geometry.ipynb')
    >>> parse("alice/geometry/geometry.ipynb")
    ('alice', 'geometry.ipynb')
    >>> parse("doejane_LATE_12345_67890_geometry-1.ipynb")
    ('doejane', 'geometry-1.ipynb')
    >>> parse("Jane Doe_4242_assignsubmission_file_/geometry.ipynb")
    ('jane_doe', 'geometry.ipynb')
    >>> parse("Jane Doe_4242_assignsubmission_file_/geometry.ipynb", id_from="number")
    ('4242', 'geometry.ipynb')
    >>> parse("geometry.ipynb")
    'no student in the name (expected <student>/<file>, Canvas or Moodle names)'
    """
    parts = PurePosixPath(path).parts
    moodle = next((MOODLE.match(p) for p in parts[:-1] if MOODLE.match(p)), None)
    if moodle:
        return (moodle["number"] if id_from == "number" else _slug(moodle["name"])), parts[-1]
    canvas = CANVAS.match(parts[-1])
    if canvas and len(parts) <= 2:
        return (canvas["number"] if id_from == "number" else canvas["name"].lower()), canvas["file"]
    if len(parts) >= 2:
        return parts[0], parts[-1]
    return "no student in the name (expected <student>/<file>, Canvas or Moodle names)"


def assignment_of(filename: str, assignments: list[str], forced: str | None) -> str | None:
    """The assignment a notebook file belongs to, or None."""
    if forced:
        return forced
    stem = filename[: -len(".ipynb")].lower()
    known = {a.lower(): a for a in assignments}
    if stem in known:
        return known[stem]
    match = RESUBMISSION.match(stem)
    return known.get(match["stem"]) if match else None


def _existing_time(folder: Path, notebook: Path) -> datetime:
    stamp = folder / "timestamp.txt"
    if stamp.exists():
        try:
            from dateutil.parser import parse as parse_date

            value = parse_date(stamp.read_text().strip())
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        except (ValueError, OverflowError):
            pass
    return datetime.fromtimestamp(notebook.stat().st_mtime, timezone.utc)


def collect(
    source: Path, submitted: Path, assignments: list[str], forced: str | None = None, id_from: str = "name"
) -> Report:
    """Place every notebook of ``source`` into ``submitted``; see the module's docstring."""
    if forced and forced not in assignments:
        raise SystemExit(f"unknown assignment {forced!r}; the course has: {', '.join(assignments)}")
    report = Report()
    chosen: dict[tuple[str, str], Entry] = {}
    for entry in _entries(Path(source)):
        name = PurePosixPath(entry.path).name
        if any(part in IGNORED or part.startswith("._") for part in PurePosixPath(entry.path).parts):
            continue
        if not name.lower().endswith(".ipynb"):
            report.problems.append(f"{entry.path}: not a notebook (.ipynb)")
            continue
        parsed = parse(entry.path, id_from)
        if isinstance(parsed, str):
            report.problems.append(f"{entry.path}: {parsed}")
            continue
        student, filename = parsed
        if not re.fullmatch(r"[\w.@+-]+", student) or student.startswith("."):
            report.problems.append(f"{entry.path}: the student id {student!r} is not a safe folder name")
            continue
        assignment = assignment_of(filename, assignments, forced)
        if assignment is None:
            report.problems.append(
                f"{entry.path}: unknown assignment {filename!r} "
                f"(the course has: {', '.join(assignments)}; or pass --assignment)"
            )
            continue
        key = (student, assignment)
        if key in chosen:
            older, newer = sorted([chosen[key], entry], key=lambda e: e.time)
            report.problems.append(
                f"{older.path}: an older copy of {student}/{assignment} in the same "
                f"source (kept {newer.path})"
            )
            chosen[key] = newer
        else:
            chosen[key] = entry
    for (student, assignment), entry in sorted(chosen.items()):
        _place(entry, submitted / student / assignment, assignment, f"{student}/{assignment}", report)
    return report


def _place(entry: Entry, folder: Path, assignment: str, label: str, report: Report) -> None:
    notebook = folder / f"{assignment}.ipynb"
    try:
        json.loads(entry.data)
    except ValueError:
        report.problems.append(f"{entry.path}: placed as {label}, but it is not valid JSON (it will score 0)")
    if notebook.exists():
        if hashlib.sha256(notebook.read_bytes()).digest() == hashlib.sha256(entry.data).digest():
            report.unchanged.append(label)
            return
        existing = _existing_time(folder, notebook)
        if existing >= entry.time:
            report.kept_newer.append(
                f"{label}: the submission already collected ({existing:%Y-%m-%d %H:%M:%S}) "
                f"is not older than {entry.path} ({entry.time:%Y-%m-%d %H:%M:%S}); "
                f"remove it first to replace it"
            )
            return
        report.updated.append(f"{label}: {existing:%Y-%m-%d %H:%M:%S} -> {entry.time:%Y-%m-%d %H:%M:%S}")
    else:
        report.placed.append(label)
    folder.mkdir(parents=True, exist_ok=True)
    notebook.write_bytes(entry.data)
    (folder / "timestamp.txt").write_text(
        entry.time.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT) + "\n"
    )


def run(args) -> int:
    """``python -m tconv_lib.grade collect SOURCE``: place the notebooks, print what was done."""
    from .course import Course

    course = Course.load(args.course_root, args.grading, args.db)
    report = collect(Path(args.source), course.submitted, course.assignments(), args.assignment, args.id_from)
    for line in report.lines():
        print(line)
    return 0
