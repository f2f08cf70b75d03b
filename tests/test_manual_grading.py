"""Written answers, graded by hand: the grading command's route and nbgrader's formgrader, end to end.

One class is graded once with ``python -m tconv_lib.grade autograde``: geometry notebooks whose
autograded parts are all right, one with its written answer left blank, three with an answer.
Then: a blank answer earns nothing and needs no grader, an answer waits for one and the export
says so; the rubric sits under each answer in the autograded notebook (what the formgrader shows)
and never in the student's feedback; scores entered with ``python -m tconv_lib.grade manual``
(one at a time and from a CSV file) and through the formgrader's own web API reach the export
(grades.csv, parts.csv and the files for Canvas and Moodle) as the sum of the autograded and the
manual points.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import needs_sandbox, stop_server
from test_grade import _command

from tconv_lib.grading.command.course import written_cells

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "geometry" / "geometry.ipynb"
(WRITTEN,) = written_cells(SOURCE)
AUTOGRADED_POINTS = 14.0  # geometry's autograded parts; the written one adds WRITTEN.points
STUDENT_ANSWER = (
    "Two encoder inputs such as 7 and 8 lose different remainders to the floor and leave with the same "
    "size; the decoder needs output_padding to say which to return to. Past the stamps it holds 0."
)

pytestmark = pytest.mark.slow


def _notebook(answer: str | None) -> nbformat.NotebookNode:
    """The source notebook (every autograded part right) with ``answer`` as its written answer."""
    nb = nbformat.read(str(SOURCE), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == WRITTEN.grade_id)
    cell.source = "YOUR ANSWER HERE" if answer is None else answer  # None: as the release has it
    return nb


@pytest.fixture(scope="module")
def grading():
    needs_sandbox()
    folder = Path(tempfile.mkdtemp(prefix="tconv-manual-test-"))
    os.chmod(folder, 0o711)
    for student, answer in [
        ("blank", None),
        ("writer", STUDENT_ANSWER),
        ("listed", STUDENT_ANSWER),
        ("formgraded", STUDENT_ANSWER),
    ]:
        target = folder / "submitted" / student / "geometry"
        target.mkdir(parents=True)
        nbformat.write(_notebook(answer), str(target / "geometry.ipynb"))
    result = _command("autograde", "geometry", "--grading", str(folder), "--workers", "2")
    assert "written answer(s) to grade by hand" in result.stderr, result.stderr
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _grade(folder: Path, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", course_id="tconv") as gb:
        grades = gb.find_submission_notebook("geometry", "geometry", student).grades
        return {g.name: (g.score, g.needs_manual_grade) for g in grades}


def _export(folder: Path) -> tuple[dict, dict, str]:
    """grades.csv's rows by student, parts.csv's row of the written part, and what export printed."""
    printed = _command("export", "--grading", str(folder)).stdout
    with open(folder / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    with open(folder / "parts.csv", newline="") as f:
        parts = {row["part"]: row for row in csv.DictReader(f)}
    return rows, parts[WRITTEN.grade_id], printed


def _lms(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "grades-canvas.csv", newline="") as f:
        canvas = {row[0]: row[-1] for row in list(csv.reader(f))[2:]}
    with open(folder / "grades-moodle.csv", newline="") as f:
        moodle = {row[0]: row[-1] for row in list(csv.reader(f))[1:]}
    return {"canvas": canvas, "moodle": moodle}


def test_a_blank_written_answer_earns_the_autograded_points_only(grading):
    grades = _grade(grading, "blank")
    assert grades.pop(WRITTEN.grade_id) == (0.0, False), "a blank answer scores 0 and waits for no grader"
    assert sum(score for score, _ in grades.values()) == AUTOGRADED_POINTS, grades
    rows, _, _ = _export(grading)
    assert float(rows["blank"]["score"]) == AUTOGRADED_POINTS, rows["blank"]
    assert float(rows["blank"]["max_score"]) == AUTOGRADED_POINTS + WRITTEN.points, rows["blank"]
    assert rows["blank"]["to_grade_by_hand"] == "", rows["blank"]


def test_an_answer_waits_for_a_grader_and_the_export_says_so(grading):
    assert _grade(grading, "listed")[WRITTEN.grade_id] == (0.0, True)
    rows, part, printed = _export(grading)
    assert float(rows["listed"]["score"]) == AUTOGRADED_POINTS, rows["listed"]
    assert rows["listed"]["to_grade_by_hand"] == WRITTEN.grade_id, rows["listed"]
    assert int(part["to_grade_by_hand"]) >= 1, part
    assert "written answers not graded yet" in printed and "geometry/listed" in printed, printed
    listing = _command("manual", "geometry", "--grading", str(grading)).stdout
    assert WRITTEN.rubric.splitlines()[0] in listing, "the listing shows the rubric"
    assert "--- listed (to grade)" in listing and STUDENT_ANSWER[:40] in listing, listing
    assert "--- blank" not in listing, "a blank answer is not listed (--all lists it)"
    assert "--- blank (blank)" in _command("manual", "geometry", "--grading", str(grading), "--all").stdout


def test_the_rubric_sits_under_the_answer_for_the_grader_and_never_in_feedback(grading):
    nb = nbformat.read(str(grading / "autograded" / "writer" / "geometry" / "geometry.ipynb"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    answer = ids.index(WRITTEN.grade_id)
    assert nb.cells[answer].source == STUDENT_ANSWER, "the student's answer is kept as written"
    rubric = nb.cells[answer + 1]
    assert rubric.cell_type == "markdown" and WRITTEN.rubric in rubric.source, rubric.source[:300]
    assert "For the grader" in rubric.source and WRITTEN.title in rubric.source, rubric.source[:300]
    _command("feedback", "geometry", "--grading", str(grading), "--students", "writer")
    html = (grading / "feedback" / "writer" / "geometry" / "geometry.html").read_text()
    assert "For the grader" not in html and "Rubric (3 points" not in html, "the rubric reached the student"
    assert "not graded yet" in html, "the feedback says the written part waits for a grader"


def test_scores_entered_on_the_command_line_reach_the_export(grading, tmp_path):
    refused = _command(
        "manual",
        "geometry",
        "--grading",
        str(grading),
        "--student",
        "writer",
        "--part",
        WRITTEN.grade_id,
        "--score",
        "4",
        check=False,
    )
    assert refused.returncode != 0 and "between 0 and 3" in refused.stderr, refused.stderr
    refused = _command(
        "manual",
        "geometry",
        "--grading",
        str(grading),
        "--student",
        "writer",
        "--part",
        "output_size_formula",
        "--score",
        "1",
        check=False,
    )
    assert refused.returncode != 0 and f"its written parts are {WRITTEN.grade_id}" in refused.stderr, refused
    assert _grade(grading, "writer")[WRITTEN.grade_id] == (0.0, True), "a refused score enters nothing"

    entered = _command(
        "manual",
        "geometry",
        "--grading",
        str(grading),
        "--student",
        "writer",
        "--part",
        WRITTEN.grade_id,
        "--score",
        "2.5",
        "--comment",
        "Right about the floor; say why 0.",
    )
    assert f"entered geometry/writer/{WRITTEN.grade_id}: 2.5 / 3" in entered.stdout, entered.stdout
    scores = tmp_path / "scores.csv"
    scores.write_text(
        f"student,part,score,comment\nblank,{WRITTEN.grade_id},0,No answer.\nlisted,{WRITTEN.grade_id},3,\n"
    )
    _command("manual", "geometry", "--grading", str(grading), "--scores", str(scores))
    assert _grade(grading, "writer")[WRITTEN.grade_id] == (2.5, False)

    rows, part, printed = _export(grading)
    for student, total in [
        ("writer", AUTOGRADED_POINTS + 2.5),
        ("listed", AUTOGRADED_POINTS + 3.0),
        ("blank", AUTOGRADED_POINTS),
    ]:
        assert float(rows[student]["score"]) == total, rows[student]
        assert float(rows[student][WRITTEN.grade_id]) == total - AUTOGRADED_POINTS, rows[student]
        assert rows[student]["to_grade_by_hand"] == "", rows[student]
    lms = _lms(grading)
    assert lms["canvas"]["writer"] == lms["moodle"]["writer"] == "16.5", lms
    assert lms["canvas"]["listed"] == "17", lms

    _command("feedback", "geometry", "--grading", str(grading), "--students", "writer")
    html = (grading / "feedback" / "writer" / "geometry" / "geometry.html").read_text()
    assert "2.5 / 3, graded by hand" in html and "Right about the floor; say why 0." in html, "the feedback"


# --------------------------------------------------------------------------------------
# nbgrader's formgrader, through its own web API (what its manual-grading page calls)
# --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def formgrader(grading, tmp_path):
    """A Jupyter server with nbgrader's formgrader on 127.0.0.1, over the course and the grading folder."""
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "TCONV_GRADEBOOK_URL"}
    env.update(
        TCONV_GRADING_DIR=str(grading),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    extensions = "nbgrader.server_extensions.formgrader"  # on for this server only
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.jpserver_extensions={extensions}=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(f"{base}/api/status?token={token}"):
            if server.poll() is not None or time.monotonic() > deadline:
                log_text = (tmp_path / "server.log").read_text()
                raise AssertionError(f"the server did not start:\n{log_text[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        stop_server(server)
        log.close()


def _request(base: str, token: str, path: str, data: dict | None = None) -> str:
    request = urllib.request.Request(
        f"{base}{path}",
        method="GET" if data is None else "PUT",
        data=None if data is None else json.dumps(data).encode(),
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.read().decode()


def test_formgrader_shows_the_rubric_and_its_scores_reach_the_export(grading, formgrader):
    base, token = formgrader
    submissions = json.loads(_request(base, token, "/formgrader/api/submitted_notebooks/geometry/geometry"))
    (submission,) = [s for s in submissions if s["student"] == "formgraded"]
    page = _request(base, token, f"/formgrader/submissions/{submission['id']}/")
    assert STUDENT_ANSWER[:40] in page, "the formgrader shows the student's answer"
    assert "For the grader: the rubric of Part F (written)" in page, "the formgrader shows the rubric cell"
    assert f"Rubric ({WRITTEN.points:g} points" in page, "with the rubric itself"

    grades = json.loads(_request(base, token, f"/formgrader/api/grades?submission_id={submission['id']}"))
    (grade,) = [g for g in grades if g["name"] == WRITTEN.grade_id]
    assert grade["needs_manual_grade"] and grade["max_score"] == WRITTEN.points, grade
    saved = json.loads(_request(base, token, f"/formgrader/api/grade/{grade['id']}", {"manual_score": 2.0}))
    assert saved["manual_score"] == 2.0 and not saved["needs_manual_grade"], saved

    rows, _, _ = _export(grading)
    assert float(rows["formgraded"]["score"]) == AUTOGRADED_POINTS + 2.0, rows["formgraded"]
    assert rows["formgraded"]["to_grade_by_hand"] == "", rows["formgraded"]
