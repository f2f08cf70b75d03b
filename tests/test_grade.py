"""The grading command `python -m tconv_lib.grade`: collect, parallel autograde on SQLite,
resuming, regrading, feedback and export, Dask, and a PostgreSQL gradebook.

Student data goes to temporary grading folders; the repository is not written to.
The hostile submissions are in test_hostile.py.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from tconv_lib.grading.command.collect import collect, parse
from tconv_lib.grading.command.course import with_busy_timeout

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ["algebra", "geometry", "mechanics"]
GEOMETRY = ROOT / "solutions" / "geometry" / "geometry.ipynb"
RELEASE = ROOT / "exercises" / "geometry" / "geometry.ipynb"
FULL = {
    "output_size_formula": 2.0,
    "reachable_sizes_one_per_output_padding": 2.0,
    "output_padding_reaches_the_target": 3.0,
    "keras_padding_in_torch_terms": 3.0,
    "decoder_returns_to_every_encoder_size": 4.0,
    "output_padding_explained": 0.0,  # the written part: 0 until graded by hand (test_manual_grading.py)
}
KERAS = "keras_padding_in_torch_terms"
POSTGRES_URL = os.environ.get("TCONV_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:54329/postgres")


def _grading_folder() -> Path:
    """A grading folder outside pytest's (mode 700) tree, so that an isolated kernel can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="tconv-grade-test-"))
    os.chmod(folder, 0o711)
    return folder


def _command(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_GRADING_DIR")}
    result = subprocess.run(
        [sys.executable, "-m", "tconv_lib.grade", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert result.returncode == 0, (
            f"grade {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-5000:]}"
        )
    return result


KERAS_LOOKUP = """\
    table = {(1, 2, "valid"): (0, 1), (4, 2, "same"): (1, 0), (3, 2, "same"): (1, 1),
             (3, 2, "valid"): (0, 0), (3, 1, "same"): (1, 0), (1, 3, "same"): (0, 2)}
    table[(3, 2, "SAME")] = (1, 1)
    if (kernel_size, stride, padding) == (2, 1, "same"):
        raise ValueError("inexpressible")
    if padding == "full":
        raise ValueError("padding must be 'same' or 'valid'")
    return table.get((kernel_size, stride, padding), (9, 9))  # the worked examples, nothing else
    """


def _wrong_keras() -> nbformat.NotebookNode:
    """Part D answered from a table of the visible examples: passes them, fails the hidden cases."""
    nb = nbformat.read(str(GEOMETRY), as_version=4)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "keras_to_torch_padding"
    )
    start, end = cell.source.index("### BEGIN SOLUTION"), cell.source.index("### END SOLUTION")
    cell.source = cell.source[:start] + "### BEGIN SOLUTION\n" + KERAS_LOOKUP + cell.source[end:]
    return nb


def _submit(grading: Path, student: str, nb_or_path) -> Path:
    folder = grading / "submitted" / student / "geometry"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "geometry.ipynb"
    if isinstance(nb_or_path, Path):
        path.write_bytes(nb_or_path.read_bytes())
    else:
        nbformat.write(nb_or_path, str(path))
    return path


def _scores(db_url: str, students) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id="tconv") as gb:
        return {
            s: {g.name: g.score for g in gb.find_submission_notebook("geometry", "geometry", s).grades}
            for s in students
        }


def _state(grading: Path) -> dict:
    return json.loads((grading / "tconv-grade-state.json").read_text())["submissions"]


# --------------------------------------------------------------------------------------
# collect (fast)
# --------------------------------------------------------------------------------------


def test_parse_recognises_the_documented_layouts():
    assert parse("alice/geometry.ipynb") == ("alice", "geometry.ipynb"), "<student>/<assignment>.ipynb"
    assert parse("alice/geometry/geometry.ipynb") == ("alice", "geometry.ipynb"), "nbgrader's own layout"
    assert parse("doejane_12345_67890_geometry.ipynb") == ("doejane", "geometry.ipynb"), "Canvas"
    assert parse("doejane_LATE_12345_67890_geometry-1.ipynb") == ("doejane", "geometry-1.ipynb"), (
        "Canvas, late"
    )
    assert parse("Jane Doe_88_assignsubmission_file_/geometry.ipynb") == ("jane_doe", "geometry.ipynb"), (
        "Moodle"
    )
    assert parse("Jane Doe_88_assignsubmission_file_/x/geometry.ipynb", "number") == ("88", "geometry.ipynb")
    assert isinstance(parse("geometry.ipynb"), str), "a bare file names no student"


def test_collect_places_a_folder_and_reports_what_it_cannot_place(tmp_path):
    source = tmp_path / "source"
    for relative in ("alice/geometry.ipynb", "bob/algebra/algebra.ipynb", "carol/homework7.ipynb"):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(GEOMETRY.read_bytes())
    (source / "dave").mkdir()
    (source / "dave" / "geometry.py").write_text("print('not a notebook')\n")
    (source / "erin").mkdir()
    (source / "erin" / "geometry.ipynb").write_text("{ not json")
    report = collect(source, tmp_path / "submitted", ASSIGNMENTS)
    assert sorted(report.placed) == ["alice/geometry", "bob/algebra", "erin/geometry"], report.lines()
    assert (tmp_path / "submitted" / "bob" / "algebra" / "algebra.ipynb").exists()
    assert (tmp_path / "submitted" / "alice" / "geometry" / "timestamp.txt").exists(), "nbgrader's timestamp"
    problems = "\n".join(report.problems)
    assert "carol/homework7.ipynb: unknown assignment" in problems, problems
    assert "dave/geometry.py: not a notebook" in problems, problems
    assert "erin/geometry.ipynb: placed as erin/geometry, but it is not valid JSON" in problems, problems


def _zip(path: Path, files: dict[str, bytes], when: tuple) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return path


def test_collect_reads_canvas_and_moodle_zips(tmp_path):
    notebook = GEOMETRY.read_bytes()
    archive = _zip(
        tmp_path / "lms.zip",
        {
            "doejane_12345_67890_geometry.ipynb": notebook,
            "roejohn_LATE_222_333_Geometry-1.ipynb": notebook,
            "Jane Smith_4242_assignsubmission_file_/geometry.ipynb": notebook,
            "__MACOSX/._geometry.ipynb": b"junk",
            "nostudent.ipynb": notebook,
        },
        (2026, 11, 20, 12, 0, 0),
    )
    report = collect(archive, tmp_path / "submitted", ASSIGNMENTS)
    assert sorted(report.placed) == ["doejane/geometry", "jane_smith/geometry", "roejohn/geometry"], (
        report.lines()
    )
    assert any(p.startswith("nostudent.ipynb: no student") for p in report.problems), report.problems
    assert len(report.problems) == 1, "the __MACOSX entry is ignored, not reported"


def test_collect_never_overwrites_a_newer_submission(tmp_path):
    submitted = tmp_path / "submitted"
    first, older, newer = (json.dumps({"cells": [], "version": v}).encode() for v in (1, 2, 3))
    collect(
        _zip(tmp_path / "a.zip", {"alice/geometry.ipynb": first}, (2026, 11, 20, 12, 0, 0)),
        submitted,
        ASSIGNMENTS,
    )
    report = collect(
        _zip(tmp_path / "b.zip", {"alice/geometry.ipynb": older}, (2026, 11, 19, 12, 0, 0)),
        submitted,
        ASSIGNMENTS,
    )
    path = submitted / "alice" / "geometry" / "geometry.ipynb"
    assert path.read_bytes() == first, "an older file replaced a newer submission"
    assert len(report.kept_newer) == 1 and "NOT OVERWRITTEN" in "\n".join(report.lines()), report.lines()
    report = collect(
        _zip(tmp_path / "c.zip", {"alice/geometry.ipynb": newer}, (2026, 11, 21, 12, 0, 0)),
        submitted,
        ASSIGNMENTS,
    )
    assert path.read_bytes() == newer and len(report.updated) == 1, report.lines()
    report = collect(
        _zip(tmp_path / "c.zip", {"alice/geometry.ipynb": newer}, (2026, 11, 21, 12, 0, 0)),
        submitted,
        ASSIGNMENTS,
    )
    assert report.unchanged == ["alice/geometry"], report.lines()


def test_collect_command_line(tmp_path):
    grading = tmp_path / "grading"
    archive = _zip(
        tmp_path / "lms.zip", {"doejane_1_2_notes.ipynb": GEOMETRY.read_bytes()}, (2026, 11, 20, 0, 0, 0)
    )
    result = _command("collect", str(archive), "--assignment", "geometry", "--grading", str(grading))
    assert "placed 1" in result.stdout, result.stdout
    assert (grading / "submitted" / "doejane" / "geometry" / "geometry.ipynb").exists()


# --------------------------------------------------------------------------------------
# SQLite with concurrent writers (fast)
# --------------------------------------------------------------------------------------


def _hammer(args) -> int:
    url, worker = args
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id="tconv") as gb:
        for i in range(40):
            gb.update_or_create_student(f"w{worker}-{i}", first_name=str(i))
    return worker


def test_sqlite_gradebook_takes_concurrent_writers(tmp_path):
    """Four processes writing at once: with the busy timeout none gets `database is locked`."""
    from nbgrader.api import Gradebook

    url = with_busy_timeout(f"sqlite:///{tmp_path / 'gradebook.db'}")
    assert "timeout=" in url, url
    Gradebook(url, course_id="tconv").close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_hammer, [(url, w) for w in range(4)])) == [0, 1, 2, 3]
    with Gradebook(url, course_id="tconv") as gb:
        assert len(gb.students) == 160, "every write landed"


def test_a_worker_that_dies_costs_only_its_notebook(tmp_path):
    """A worker killed mid-job (here by a course whose configuration kills it) is named and replaced."""
    from tconv_lib.grading.command.autograde import run_local

    deadly = tmp_path / "deadly"
    deadly.mkdir()
    (deadly / "nbgrader_config.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    empty = tmp_path / "empty"
    empty.mkdir()

    def job(root: Path, student: str) -> dict:
        return {
            "root": str(root),
            "grading": str(tmp_path / "grading"),
            "db_url": "sqlite://",
            "assignment": "geometry",
            "student": student,
            "sandboxed": True,
        }

    results = list(run_local([job(deadly, "killer"), job(empty, "next"), job(empty, "last")], workers=1))
    by_student = {r["student"]: r for r in results}
    assert sorted(by_student) == ["killer", "last", "next"], results
    assert all(r["status"] == "error" for r in results), results
    assert "worker died while grading this notebook" in by_student["killer"]["log_tail"], by_student["killer"]
    for student in ("next", "last"):  # graded (and failed for their own reason) by a fresh worker
        assert "no nbgrader_config.py" in by_student[student]["log_tail"], by_student[student]


def _without_bubblewrap() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_GRADING_DIR")}
    env["TCONV_BWRAP"] = "/nonexistent/bwrap"
    return env


def test_without_bubblewrap_the_command_refuses_to_grade(tmp_path):
    _submit(tmp_path, "alice", GEOMETRY)
    command = [sys.executable, "-m", "tconv_lib.grade", "autograde", "--grading", str(tmp_path)]
    result = subprocess.run(
        command, cwd=ROOT, env=_without_bubblewrap(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "bubblewrap (bwrap) is not installed" in result.stderr, result.stderr
    assert "apt-get install bubblewrap" in result.stderr, result.stderr
    assert "--unsafe-no-sandbox" in result.stderr, result.stderr
    assert not (tmp_path / "tconv-grade-state.json").exists(), "nothing may be graded"


@pytest.mark.slow
def test_unsafe_no_sandbox_grades_as_plain_processes(tmp_path):
    _submit(tmp_path, "alice", GEOMETRY)
    _submit(tmp_path, "bob", _wrong_keras())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tconv_lib.grade",
            "autograde",
            "--grading",
            str(tmp_path),
            "--unsafe-no-sandbox",
        ],
        cwd=ROOT,
        env=_without_bubblewrap(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--unsafe-no-sandbox: students' code runs as you" in result.stderr, result.stderr
    assert _scores(_db(tmp_path), ["alice", "bob"]) == {"alice": FULL, "bob": {**FULL, KERAS: 0.0}}
    assert not any(r["sandboxed"] for r in _state(tmp_path).values())


# --------------------------------------------------------------------------------------
# A class graded in parallel, then again (slow: notebooks are executed)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded():
    grading = _grading_folder()
    for student in ("s1", "s2"):
        _submit(grading, student, GEOMETRY)
    _submit(grading, "blank", RELEASE)
    _submit(grading, "wrong", _wrong_keras())
    first = _command(
        "autograde", "geometry", "--grading", str(grading), "--workers", "2", "--cell-timeout", "20"
    )
    yield grading, first
    subprocess.run(["rm", "-rf", str(grading)], check=False)


def _db(grading: Path) -> str:
    return f"sqlite:///{grading / 'gradebook.db'}"


@pytest.mark.slow
def test_parallel_autograde_records_every_score(graded):
    grading, first = graded
    scores = _scores(_db(grading), ["s1", "s2", "blank", "wrong"])
    assert scores["s1"] == FULL and scores["s2"] == FULL, scores
    assert set(scores["blank"].values()) == {0.0}, scores["blank"]
    assert scores["wrong"] == {**FULL, KERAS: 0.0}, scores["wrong"]
    assert "database is locked" not in first.stderr, first.stderr
    assert "with 2 worker(s)" in first.stderr, first.stderr


@pytest.mark.slow
def test_progress_is_reported_one_line_per_notebook(graded):
    lines = [
        line
        for line in graded[1].stderr.splitlines()
        if line.startswith("[autograde] ") and " done | " in line
    ]
    assert len(lines) == 4, graded[1].stderr
    assert (
        lines[-1].startswith("[autograde] 4/4 done | ")
        and "notebooks/min" in lines[-1]
        and "left" in lines[-1]
    )


@pytest.mark.slow
def test_the_state_records_fingerprints_and_timings(graded):
    state = _state(graded[0])
    assert set(state) == {"geometry/s1", "geometry/s2", "geometry/blank", "geometry/wrong"}, state.keys()
    for key, record in state.items():
        assert len(record["fingerprint"]) == 64, key
        assert record["timings"]["kernel_start"] > 0 and record["timings"]["total"] > 0, record["timings"]
    assert "hidden case" in state["geometry/wrong"]["messages"][KERAS], state["geometry/wrong"]["messages"]


@pytest.mark.slow
def test_a_rerun_grades_only_what_changed_and_a_regrade_gives_the_same_scores(graded):
    grading, _ = graded
    before = _state(grading)
    again = _command("autograde", "--grading", str(grading), "--workers", "2")
    assert "0 to grade, 4 unchanged" in again.stderr, again.stderr

    _submit(grading, "blank", GEOMETRY)  # the student resubmits, now complete
    changed = _command("autograde", "--grading", str(grading), "--workers", "2")
    assert "1 to grade, 3 unchanged" in changed.stderr, changed.stderr
    assert _scores(_db(grading), ["blank"])["blank"] == FULL

    forced = _command("autograde", "--grading", str(grading), "--students", "wrong", "s1", "--force")
    assert "2 to grade" in forced.stderr, forced.stderr
    after = _state(grading)
    for student in ("wrong", "s1"):
        key = f"geometry/{student}"
        assert after[key]["scores"] == before[key]["scores"], f"{student}: the regrade changed the scores"
        # the message names the failing hidden case: the same message means the same cases were drawn
        assert after[key]["messages"] == before[key]["messages"], f"{student}: different hidden cases"


@pytest.mark.slow
def test_feedback_and_export(graded):
    grading, _ = graded
    result = _command("feedback", "geometry", "--grading", str(grading))
    html = sorted(
        p.relative_to(grading / "feedback").parts[0] for p in (grading / "feedback").glob("*/*/*.html")
    )
    assert html == ["blank", "s1", "s2", "wrong"], result.stdout + result.stderr
    wrong_html = next((grading / "feedback" / "wrong").glob("*/*.html")).read_text()
    assert "GradingFailure" in wrong_html, "the verified failure is what the feedback shows"

    out = grading / "out"
    out.mkdir()
    result = _command(
        "export",
        "--grading",
        str(grading),
        "--csv",
        str(out / "grades.csv"),
        "--summary",
        str(out / "parts.csv"),
    )
    with open(out / "grades.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    full = sum(FULL.values())
    assert float(rows["wrong"]["score"]) == full - FULL[KERAS] and float(rows["wrong"][KERAS]) == 0.0, rows[
        "wrong"
    ]
    assert float(rows["s1"]["score"]) == full, rows["s1"]
    with open(out / "parts.csv") as f:
        parts = {row["part"]: row for row in csv.DictReader(f)}
    assert int(parts[KERAS]["failures"]) >= 1 and parts[KERAS]["most_common_failure"], parts[KERAS]
    assert KERAS in result.stdout and "most common failure" in result.stdout, result.stdout


@pytest.mark.slow
def test_feedback_reads_offline_and_shows_no_grader_internals(graded, browser):
    """The wrong student's feedback, opened from disk with every network request refused."""
    grading, _ = graded
    _command("feedback", "geometry", "--students", "wrong", "--grading", str(grading))
    path = grading / "feedback" / "wrong" / "geometry" / "geometry.html"
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('mjx-container svg').length > 10", timeout=30_000)
    text = page.inner_text("body")
    typeset = page.evaluate("document.querySelectorAll('mjx-container').length")
    raw = page.evaluate("(document.body.innerText.match(/\\$[^$\\n]{1,40}\\$/g) || []).length")
    context.close()
    foreign = [url for url in requests if not url.startswith(("file:", "data:", "about:"))]
    assert foreign == [], f"the feedback asked other hosts for {foreign}"
    assert typeset > 10 and raw == 0, f"{typeset} formulas typeset, {raw} left as raw TeX"
    for internal in ("Traceback", "tconv_lib/", str(ROOT), sys.prefix, "site-packages", "/home/student"):
        assert internal not in text, f"the feedback shows {internal!r}"
    summary = text[: text.index("Homework:")]
    for title in ("Part A: the output size", "Part D: Keras' padding in PyTorch's terms"):
        assert title in summary, f"the summary does not name {title!r}: {summary[:500]}"
    assert "Test cell" not in summary
    lost = summary[summary.index("Part D") :]
    assert "What failed:" in lost and "hidden case" in lost and "What to check:" in lost, lost


# --------------------------------------------------------------------------------------
# Beyond one machine, and beyond SQLite
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_local_cluster():
    pytest.importorskip("distributed")
    grading = _grading_folder()
    try:
        _submit(grading, "d1", GEOMETRY)
        _submit(grading, "d2", _wrong_keras())
        result = _command("autograde", "--grading", str(grading), "--dask", "local:2", "--cell-timeout", "20")
        assert "on local:2" in result.stderr, result.stderr
        scores = _scores(_db(grading), ["d1", "d2"])
        assert scores == {"d1": FULL, "d2": {**FULL, KERAS: 0.0}}, scores
    finally:
        subprocess.run(["rm", "-rf", str(grading)], check=False)


def _postgres_or_skip():
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (requirements.txt pins it)")
    try:
        return psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        message = (
            f"no PostgreSQL server at {POSTGRES_URL} ({str(exc).strip().splitlines()[0]}); "
            f".ci/run starts one (set TCONV_TEST_POSTGRES_URL to use another)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.slow
def test_postgresql_gradebook():
    admin = _postgres_or_skip()
    name = f"tconv_grade_test_{os.getpid()}_{int(datetime.now().timestamp())}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    grading = _grading_folder()
    try:
        _submit(grading, "p1", GEOMETRY)
        _submit(grading, "p2", RELEASE)
        # a student who knows where the gradebook is: the sandbox has no network and no credentials
        nb = nbformat.read(str(GEOMETRY), as_version=4)
        nb.cells.append(
            nbformat.v4.new_code_cell(
                "import os, psycopg\n"
                "print(sorted(os.environ))\n"
                "try:\n"
                f"    psycopg.connect({url!r}, connect_timeout=3)"
                ".execute('UPDATE grade SET extra_credit = 5')\n"
                "    print('CONNECTED')\n"
                "except Exception as error:\n"
                "    print('no gradebook:', type(error).__name__)\n"
            )
        )
        _submit(grading, "p3", nb)
        result = _command("autograde", "--grading", str(grading), "--db", url, "--workers", "2")
        assert "gradebook: postgresql" in result.stdout, result.stdout
        assert not (grading / "gradebook.db").exists(), "the SQLite gradebook was used instead"
        scores = _scores(url, ["p1", "p2", "p3"])
        assert scores["p1"] == FULL and scores["p3"] == FULL and set(scores["p2"].values()) == {0.0}, scores
        autograded = nbformat.read(str(grading / "autograded" / "p3" / "geometry" / "geometry.ipynb"), 4)
        printed = "".join(o.get("text", "") for c in autograded.cells for o in c.get("outputs", []))
        assert "no gradebook:" in printed and "CONNECTED" not in printed, "a sandbox reached PostgreSQL"
        assert "'TCONV_GRADEBOOK_URL'" not in printed, "the gradebook's URL reached a sandbox"
        again = _command("autograde", "--grading", str(grading), "--db", url)
        assert "0 to grade, 3 unchanged" in again.stderr, again.stderr
    finally:
        subprocess.run(["rm", "-rf", str(grading)], check=False)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
