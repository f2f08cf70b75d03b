"""The similarity report: planted copies are flagged, independently written solutions are not.

The corpus (tests/similarity_corpus/<part>/s1..s8.py) holds eight implementations of each of
four parts, written independently (each passes the part's practice cases).  Copies are
planted among them, the way students copy: a classmate's code with every name changed, the
same with statements reordered and the layout and comments changed, the course library's
function pasted in, the instructor's solution with new comments.  Precision and recall of
the report's threshold on this set are printed (run pytest with -s) and bounded below.
"""

from __future__ import annotations

import ast
import builtins
import csv
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tconv_lib.grading.command import similarity

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "similarity_corpus"
PARTS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and list(p.glob("s*.py")))
# what a student would paste from the course library for each part: (module, functions)
LIBRARY = {
    "mechanics.scatter_2d": ("transposed", ["_canvas_size", "_crop_padding", "conv_transpose2d_scatter"]),
    "mechanics.zero_insertion_2d": (
        "transposed",
        ["_pad_or_crop", "zero_insert2d", "conv_transpose2d_zero_insertion"],
    ),
    "mitigation.resize_conv": ("mitigation", ["upsample_nearest2d", "resize_conv2d"]),
    "artifacts.conv_transpose1d_polyphase": (
        "artifacts",
        ["polyphase_decompose", "conv_transpose1d_polyphase"],
    ),
}


# --------------------------------------------------------------------------------------
# How students copy
# --------------------------------------------------------------------------------------


class _Renamer(ast.NodeTransformer):
    """Every local name and argument gets a new name; the graded functions keep theirs."""

    def __init__(self, keep: set[str]):
        self.keep, self.names = keep, {}

    def _new(self, name: str) -> str:
        if name in self.keep or name in dir(builtins) or name in ("np", "numpy", "math", "itertools"):
            return name
        return self.names.setdefault(name, f"v_{len(self.names)}_{name[::-1]}")

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        return node


def renamed(code: str, keep: set[str]) -> str:
    return ast.unparse(_Renamer(keep).visit(ast.parse(code)))


def reordered(code: str) -> str:
    """Swap neighbouring statements that do not use each other's names, in every function."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for i in range(len(body) - 1):
            a, b = body[i], body[i + 1]
            if not all(isinstance(s, (ast.Assign, ast.AugAssign, ast.Expr)) for s in (a, b)):
                continue
            names = [{n.id for n in ast.walk(s) if isinstance(n, ast.Name)} for s in (a, b)]
            if not names[0] & names[1]:
                body[i], body[i + 1] = b, a
    # helpers after the functions that use them
    tree.body.sort(key=lambda s: isinstance(s, ast.FunctionDef) and s.name.startswith("_"))
    return ast.unparse(tree)


def recommented(code: str) -> str:
    """The same code, another layout: comments and docstrings gone, a comment of one's own per line."""
    lines = ast.unparse(ast.parse(code)).splitlines()
    return "\n".join(
        f"{line}  # my own step {i}" if line.strip() and not line.rstrip().endswith(":") else line
        for i, line in enumerate(lines)
    )


def graded_names(code: str) -> set[str]:
    return {node.name for node in ast.parse(code).body if isinstance(node, ast.FunctionDef)}


def library_paste(part: str) -> str:
    import importlib

    module_name, functions = LIBRARY[part]
    module = importlib.import_module(f"tconv_lib.{module_name}")
    return "\n\n".join(inspect.getsource(getattr(module, f)) for f in functions)


# --------------------------------------------------------------------------------------
# A class with the corpus and the planted copies
# --------------------------------------------------------------------------------------


def _source_notebook(assignment: str):
    return nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)


def _release_notebook(assignment: str):
    return nbformat.read(str(ROOT / "exercises" / assignment / f"{assignment}.ipynb"), as_version=4)


def _submission(part: str, code: str):
    """The release of the part's assignment with ``code`` in the part's solution cells."""
    assignment = part.split(".")[0]
    nb = _release_notebook(assignment)
    cells = similarity.part_cells(json.loads(nbformat.writes(_source_notebook(assignment))))[part]
    targets = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in cells]
    targets[0].source = code
    for extra in targets[1:]:
        extra.source = ""
    return nb


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    grading = tmp_path_factory.mktemp("similarity")
    planted = {}  # (part, student) -> what it copies
    for part in PARTS:
        assignment = part.split(".")[0]
        corpus = {p.stem: p.read_text() for p in sorted((CORPUS / part).glob("s*.py"))}
        solution_cells = similarity.part_cells(json.loads(nbformat.writes(_source_notebook(assignment))))[
            part
        ]
        solution = similarity.cells_code(
            json.loads(nbformat.writes(_source_notebook(assignment))), solution_cells
        )
        keep = graded_names(corpus["s1"])
        copies = {
            "copy_renamed": (renamed(corpus["s1"], keep), "s1"),
            "copy_reordered": (reordered(renamed(corpus["s2"], keep)), "s2"),
            "copy_recommented": (recommented(corpus["s3"]), "s3"),
            "copy_of_library": (library_paste(part), f"tconv_lib:{LIBRARY[part][0]}"),
            "copy_of_solutions": (recommented(solution), "solutions"),
        }
        students = {**{s: (code, None) for s, code in corpus.items()}, **copies}
        for student, (code, source) in students.items():
            name = f"{student}_{part.replace('.', '_')}"
            folder = grading / "submitted" / name / assignment
            folder.mkdir(parents=True)
            nbformat.write(_submission(part, code), str(folder / f"{assignment}.ipynb"))
            if source is not None:
                planted[(part, name)] = (
                    source
                    if source.startswith(("tconv_lib", "solutions"))
                    else f"{source}_{part.replace('.', '_')}"
                )
    result = subprocess.run(
        [sys.executable, "-m", "tconv_lib.grade", "similarity", "--grading", str(grading)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with open(grading / "similarity.csv") as f:
        rows = list(csv.DictReader(f))
    yield grading, rows, planted, result.stdout
    shutil.rmtree(grading, ignore_errors=True)


def test_the_corpus_is_there():
    assert set(PARTS) == set(LIBRARY), f"tests/similarity_corpus holds {PARTS}"
    for part in PARTS:
        assert len(list((CORPUS / part).glob("s*.py"))) == 8, part


def test_planted_copies_are_flagged_and_independent_work_is_not(report):
    grading, rows, planted, stdout = report
    flagged = {
        (r["part"], r["student"], r["other"]) for r in rows if float(r["score"]) >= similarity.THRESHOLD
    }
    # a planted copy is found if the copy is flagged against what it copies (or that against the copy)
    truth = {(part, student, other) for (part, student), other in planted.items()}
    truth |= {
        (part, other, student) for part, student, other in truth if not other.startswith(("tconv", "sol"))
    }
    found = flagged & truth
    recall = len({(p, s) for (p, s), o in planted.items() if (p, s, o) in found}) / len(planted)
    false = sorted(flagged - truth)
    precision = len(found) / len(flagged) if flagged else 1.0
    print(
        f"similarity: {len(planted)} planted copies, {len(flagged)} flagged pairs at {similarity.THRESHOLD}: "
        f"recall {recall:.2f}, precision {precision:.2f}; false alarms: {false}"
    )
    independent = [float(r["score"]) for r in rows if "copy" not in r["student"] + r["other"]]
    copied = [float(r["score"]) for r in rows if (r["part"], r["student"], r["other"]) in truth]
    print(f"independent work: {len(independent)} pairs share some code, the highest score "
          f"{max(independent, default=0):.2f}; planted copies score {min(copied, default=0):.2f} and more")
    missed = sorted((p, s, o) for (p, s), o in planted.items() if (p, s, o) not in found)
    assert recall == 1.0, f"planted copies not flagged: {missed}"
    assert precision >= 0.9, f"independent work flagged: {false}"


def test_the_report_shows_the_shared_code_side_by_side(report):
    grading, rows, planted, _ = report
    page = (grading / "similarity.html").read_text()
    assert page.count("<table class='pair'>") == sum(float(r["score"]) >= similarity.THRESHOLD for r in rows)
    assert "<mark>" in page and "copy_renamed_mechanics_scatter_2d" in page
    assert "<script" not in page, "the report runs no code, the students' least of all"
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_student_code_is_escaped_in_the_report(tmp_path):
    text = (
        "def part(x, weight, stride):\n    note = '<script>alert(1)</script>'\n"
        "    out = np.zeros((len(x) - 1) * stride + len(weight))\n"
        "    for i, value in enumerate(x):\n"
        "        out[i * stride : i * stride + len(weight)] += value * weight\n"
        "    return out if note else None\n"
    )
    code = similarity.Code("mallory", text)
    code.fingerprint = similarity.fingerprint(code.text)
    other = similarity.Code("eve", code.text, code.fingerprint)
    (match,) = similarity.compare("a", "p", [code], [other])
    page = similarity.report([match], [], 0.5)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_grades_are_never_touched(report):
    grading, *_ = report
    assert not (grading / "gradebook.db").exists() and not (grading / "autograded").exists()
