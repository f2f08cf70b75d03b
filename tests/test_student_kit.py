"""The student kit: installed in an empty folder, it runs a homework notebook as the course environment does.

The site serves the course library as a wheel (book/_ext/student_kit.py); a student runs
``pip install "<wheel>[student]"`` in a fresh virtual environment and never sees the
repository.  Here, from an empty folder: build the wheel, install it with its ``student``
extra, run a release notebook and the same notebook with its parts solved, and compare
what every test cell did with the course environment.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import student_kit  # noqa: E402

ASSIGNMENT = "geometry"  # the lightest notebook: no experiment cell needs PyTorch


def test_the_kit_pins_what_the_course_pins():
    block = re.search(r"^student = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M)
    kit = re.findall(r'"([^"]+)"', block.group(1))
    course = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            course[match[1].lower()] = match[2]
    assert kit, "pyproject.toml has no student extra"
    for requirement in kit:
        name, version = requirement.split("==")
        assert course.get(name.lower()) == version, f"{requirement}: requirements.txt pins {course.get(name)}"


def test_the_wheel_holds_the_library_and_nothing_else(tmp_path):
    wheel = student_kit.build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "tconv_lib/grading/__init__.py" in names and "tconv_lib/transposed.py" in names
    assert any(n.startswith("tconv_lib/grading/reference_data/") for n in names)
    dist_info = wheel.name.split("-py3")[0] + ".dist-info"
    outside = sorted({n.split("/")[0] for n in names} - {"tconv_lib", dist_info})
    assert outside == [], f"the wheel carries {outside}"
    assert not [n for n in names if "solutions" in n or n.endswith(".ipynb")], "solutions in the student kit"


def _test_cells(nb) -> dict[str, list[str]]:
    """grade_id -> the error names of each test cell's outputs."""
    return {c.metadata["nbgrader"]["grade_id"]: [o.ename for o in c.outputs if o.output_type == "error"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _run(python: Path, notebook: Path, cwd: Path):
    subprocess.run([str(python), "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    "--allow-errors", "--ExecutePreprocessor.timeout=300", str(notebook)],
                   cwd=cwd, check=True, capture_output=True, text=True, timeout=900)
    return nbformat.read(str(notebook), as_version=4)


@pytest.mark.slow
def test_a_fresh_kit_runs_a_notebook_as_the_course_does(tmp_path):
    empty = tmp_path / "student"
    empty.mkdir()
    wheel = student_kit.build_wheel(tmp_path / "site")
    subprocess.run([sys.executable, "-m", "venv", str(empty / "tconv")], check=True, timeout=300)
    kit = empty / "tconv" / "bin" / "python"
    result = subprocess.run([str(kit), "-m", "pip", "install", "--quiet", f"{wheel}[student]"],
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    listing = subprocess.run([str(kit), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                             text=True)
    for absent in ("torch", "scipy", "nbgrader"):
        assert f"{absent}==" not in listing.stdout.lower(), f"the kit installs {absent}"

    release = nbformat.read(str(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4)
    solved = nbformat.read(str(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4)
    outcomes = {}
    for name, nb in (("release", release), ("solved", solved)):
        for where, python in (("kit", kit), ("course", Path(sys.executable))):
            folder = tmp_path / f"{name}-{where}"
            folder.mkdir()
            path = folder / f"{ASSIGNMENT}.ipynb"
            nbformat.write(nb, str(path))
            outcomes[name, where] = _test_cells(_run(python, path, folder))
    assert outcomes["release", "kit"] == outcomes["release", "course"], outcomes
    assert set(sum(outcomes["release", "kit"].values(), [])) == {"NotImplementedError"}, outcomes
    assert outcomes["solved", "kit"] == outcomes["solved", "course"], outcomes
    assert all(errors == [] for errors in outcomes["solved", "kit"].values()), outcomes
