"""Hostile and broken submissions, graded in one batch by `python -m tconv_lib.grade autograde`.

Each case is a source notebook edited programmatically (geometry, and algebra for array
results) and states the score of every test cell it must get and the message a failed
part must show.  One batch grades them all, with two workers, next to honest
submissions: the batch must complete, each case must cost only the parts it breaks (the
whole notebook where it is unreadable), and nobody else's grades may change.

Kernel-side attacks (monkeypatching the grader, forging results) cannot raise a score:
the hidden tests run outside the kernel (``tconv_lib._grade_verify``).  Writing into the
gradebook is undone by the audit at the end of the run (and, where the grading command
runs as root with `--isolate` and a Python other users can run, prevented by the isolated user).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # one batch of ~20 notebooks: about 2 to 3 minutes on 2 cores

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions"
CELL_TIMEOUT = 10

GEOMETRY = {
    "output_size_formula": 2.0,
    "reachable_sizes_one_per_output_padding": 2.0,
    "output_padding_reaches_the_target": 3.0,
    "keras_padding_in_torch_terms": 3.0,
}
ALGEBRA = {
    "conv1d_matrix_rows_are_shifted_kernels": 3.0,
    "transpose_1d_is_c_transpose_times_y": 2.0,
    "conv2d_matrix_is_doubly_block_toeplitz": 3.0,
    "input_gradient_is_c_transpose": 2.0,
}
A, B, C, D = GEOMETRY  # geometry's test cells, in order
MATRIX_2D = "conv2d_matrix_is_doubly_block_toeplitz"


# --------------------------------------------------------------------------------------
# Building submissions from the source notebook
# --------------------------------------------------------------------------------------


def _source(assignment: str):
    return nbformat.read(str(SOURCE / assignment / f"{assignment}.ipynb"), as_version=4)


def _cell(nb, grade_id: str):
    found = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(found) == 1, f"no cell {grade_id!r} in the source notebook; update {__file__}"
    return found[0]


def append(grade_id: str, code: str):
    """Add top-level code at the end of a solution cell."""

    def edit(nb):
        _cell(nb, grade_id).source += "\n" + code

    return edit


def replace_body(grade_id: str, body: str):
    """Replace what is between BEGIN and END SOLUTION."""

    def edit(nb):
        cell = _cell(nb, grade_id)
        start = cell.source.index("### BEGIN SOLUTION")
        end = cell.source.index("### END SOLUTION")
        cell.source = cell.source[:start] + "### BEGIN SOLUTION\n" + body + "    " + cell.source[end:]

    return edit


def prepend_body(grade_id: str, code: str):
    """Insert code at the start of the solution's body (before the honest code)."""

    def edit(nb):
        cell = _cell(nb, grade_id)
        cell.source = cell.source.replace("### BEGIN SOLUTION\n", "### BEGIN SOLUTION\n" + code, 1)

    return edit


def new_cell(after: str, code: str):
    """A new code cell after the cell with grade_id ``after`` ("end": at the end)."""

    def edit(nb):
        cell = nbformat.v4.new_code_cell(code)
        index = len(nb.cells) if after == "end" else nb.cells.index(_cell(nb, after)) + 1
        nb.cells.insert(index, cell)

    return edit


def delete(grade_id: str):
    def edit(nb):
        nb.cells.remove(_cell(nb, grade_id))

    return edit


def set_source(grade_id: str, code: str):
    def edit(nb):
        _cell(nb, grade_id).source = code

    return edit


@dataclass
class Case:
    """A submission, the score of each test cell it must get, and what a failed part's message says."""

    assignment: str
    edits: tuple
    lost: dict = field(default_factory=dict)  # grade_id -> substring of its message; these score 0
    raw: bytes | None = None  # the file as submitted, instead of an edited notebook
    status: str = "graded"

    def expected(self) -> dict[str, float]:
        points = GEOMETRY if self.assignment == "geometry" else ALGEBRA
        if self.raw is not None:
            return {grade_id: 0.0 for grade_id in points}
        return {grade_id: 0.0 if grade_id in self.lost else full for grade_id, full in points.items()}


KERAS_LOOKUP = """\
    table = {(1, 2, "valid"): (0, 1), (4, 2, "same"): (1, 0), (3, 2, "same"): (1, 1),
             (3, 2, "valid"): (0, 0), (3, 1, "same"): (1, 0), (1, 3, "same"): (0, 2)}
    if (kernel_size, stride, padding) == (2, 1, "same"):
        raise ValueError("inexpressible")
    return table.get((kernel_size, stride, padding), (9, 9))  # the visible examples, nothing else
"""
TORCH_BY_GETATTR = """\
    import torch
    transpose = getattr(torch.nn.functional, "conv_" + "transpose1d")  # no "conv_transpose1d" in sight
    out = transpose(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, output_padding=op,
                    dilation=d)
    return int(out.shape[-1])
"""
INTERRUPT_PROOF_LOOP = """\
import time
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""
MONKEYPATCH_GRADER = """\
import numpy.testing
import tconv_lib.grading
tconv_lib.grading.check = lambda part, function, **kw: print(f"{part}: all hidden cases passed")
tconv_lib.grading.compare = lambda *args, **kwargs: None
tconv_lib.grading.assert_close = lambda *args, **kwargs: None
numpy.testing.assert_allclose = lambda *args, **kwargs: None
"""
PATCH_DEFERRAL = """\
import tconv_lib.grade
tconv_lib.grade._defer = lambda part, function: print(f"{part}: all hidden cases passed")
"""


def _write_attack(grading: Path) -> str:
    return f"""\
import pathlib, sqlite3
GRADING = pathlib.Path({str(grading)!r})
try:
    db = sqlite3.connect(str(GRADING / "gradebook.db"), timeout=60)
    db.execute("UPDATE grade SET auto_score = 99")
    db.commit()
    print("wrote into the gradebook")
except Exception as error:
    print("could not write into the gradebook:", error)
for name in ("tconv-grade-state.json", "pwned.txt"):
    try:
        (GRADING / name).write_text("{{}}")
        print("wrote", name)
    except Exception as error:
        print("could not write", name, error)
"""


def cases(grading: Path) -> dict[str, Case]:
    return {
        "honest": Case("geometry", ()),
        "loop_in_graded_function": Case(
            "geometry",
            (
                prepend_body(
                    "keras_to_torch_padding",
                    "    while kernel_size > 4:  # hidden cases only\n        pass\n",
                ),
            ),
            lost={D: "longer than 10 s"},
        ),
        "loop_at_top_level": Case(
            "geometry", (append("conv_transpose_output_size", "while True:\n    pass\n"),)
        ),
        "interrupt_proof_loop_at_top_level": Case(
            "geometry",
            (append("output_padding_for", INTERRUPT_PROOF_LOOP),),
            lost={C: "not run", D: "not run"},
        ),
        "allocates_80_gb_at_top_level": Case(
            "geometry", (append("conv_transpose_output_size", "big = np.ones(10**10)\n"),)
        ),
        "allocates_40_gb_in_graded_function": Case(
            "geometry",
            (
                prepend_body(
                    "keras_to_torch_padding", "    if kernel_size > 4:\n        np.ones(5 * 10**9)\n"
                ),
            ),
            lost={D: "MemoryError"},
        ),
        "sys_exit_at_top_level": Case(
            "geometry", (append("reachable_output_sizes", "import sys\nsys.exit()\n"),)
        ),
        "os_exit_at_top_level": Case(
            "geometry",
            (append("output_padding_for", "import os\nos._exit(0)\n"),),
            lost={C: "kernel died", D: "kernel died"},
        ),
        "kill_9_at_top_level": Case(
            "geometry",
            (append("reachable_output_sizes", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),),
            lost={B: "kernel died", C: "kernel died", D: "kernel died"},
        ),
        "deleted_test_cell": Case("geometry", (delete(B),), lost={B: "never reached"}),
        "edited_test_cell": Case("geometry", (set_source(A, 'print("all tests passed")'),)),
        "monkeypatched_grader_and_numpy_testing": Case(
            "geometry",
            (new_cell("setup", MONKEYPATCH_GRADER), replace_body("keras_to_torch_padding", KERAS_LOOKUP)),
            lost={D: "hidden case"},
        ),
        "patched_deferral": Case(
            "geometry",
            (new_cell("setup", PATCH_DEFERRAL), replace_body("keras_to_torch_padding", KERAS_LOOKUP)),
            lost={A: "never reached", B: "never reached", C: "never reached", D: "never reached"},
        ),
        "delegates_to_torch_via_getattr": Case(
            "geometry",
            (replace_body("conv_transpose_output_size", TORCH_BY_GETATTR),),
            lost={A: "conv_transpose1d", B: "conv_transpose1d", C: "conv_transpose1d"},
        ),
        "reads_the_reference_fixtures": Case(
            "geometry",
            (
                prepend_body(
                    "keras_to_torch_padding",
                    "    import pathlib, tconv_lib\n"
                    "    (pathlib.Path(tconv_lib.__file__).parent / 'reference_data' / "
                    "'metadata.json').read_text()\n",
                ),
            ),
            lost={D: "reference fixtures"},
        ),
        "writes_into_gradebook_and_grading_folder": Case(
            "geometry",
            (new_cell("end", _write_attack(grading)), replace_body("keras_to_torch_padding", KERAS_LOOKUP)),
            lost={D: "hidden case"},
        ),
        "prints_megabytes": Case(
            "geometry",
            (
                append("conv_transpose_output_size", 'print("x" * 30_000_000)\n'),
                prepend_body("keras_to_torch_padding", '    print("y" * 10_000_000)\n'),
            ),
        ),
        "not_valid_json": Case("geometry", (), raw=b'{"cells": [ this is not JSON', status="unreadable"),
        "algebra_honest": Case("algebra", ()),
        "algebra_nan_and_inf": Case(
            "algebra",
            (
                append(
                    "conv2d_matrix",
                    "_honest = conv2d_matrix\n"
                    "def conv2d_matrix(weight, input_shape, stride, padding):\n"
                    "    C = _honest(weight, input_shape, stride, padding)\n"
                    "    if tuple(input_shape) != (3, 3):\n"
                    "        C[0, 0], C[-1, -1] = np.nan, np.inf\n"
                    "    return C\n",
                ),
            ),
            lost={MATRIX_2D: "not finite"},
        ),
        "algebra_wrong_shape": Case(
            "algebra",
            (
                append(
                    "conv2d_matrix",
                    "_honest = conv2d_matrix\n"
                    "def conv2d_matrix(weight, input_shape, stride, padding):\n"
                    "    C = _honest(weight, input_shape, stride, padding)\n"
                    "    return C if tuple(input_shape) == (3, 3) else C.T\n",
                ),
            ),
            lost={MATRIX_2D: "has shape"},
        ),
        "algebra_wrong_dtype": Case(
            "algebra",
            (
                append(
                    "conv2d_matrix",
                    "_honest = conv2d_matrix\n"
                    "def conv2d_matrix(weight, input_shape, stride, padding):\n"
                    "    C = _honest(weight, input_shape, stride, padding)\n"
                    "    return C if tuple(input_shape) == (3, 3) else C.astype(np.float32)\n",
                ),
            ),
            lost={MATRIX_2D: "dtype float32"},
        ),
    }


# --------------------------------------------------------------------------------------
# One batch for the whole module
# --------------------------------------------------------------------------------------


@dataclass
class Batch:
    grading: Path
    cases: dict[str, Case]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    scores: dict[str, dict[str, float]]  # student -> grade_id -> score, from the gradebook
    state: dict

    def messages(self, student: str) -> dict[str, str]:
        return self.state["submissions"][f"{self.cases[student].assignment}/{student}"]["messages"]


def _submit(grading: Path, student: str, case: Case) -> None:
    folder = grading / "submitted" / student / case.assignment
    folder.mkdir(parents=True)
    path = folder / f"{case.assignment}.ipynb"
    if case.raw is not None:
        path.write_bytes(case.raw)
        return
    nb = _source(case.assignment)
    for edit in case.edits:
        edit(nb)
    nbformat.write(nb, str(path))


def _gradebook_scores(grading: Path, students: dict[str, Case]) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}", course_id="tconv") as gb:
        for student, case in students.items():
            notebook = gb.find_submission_notebook(case.assignment, case.assignment, student)
            scores[student] = {grade.name: grade.score for grade in notebook.grades}
    return scores


@pytest.fixture(scope="module")
def batch():
    # not under pytest's tmp_path: an isolated kernel must be able to pass through the folders above
    grading = Path(tempfile.mkdtemp(prefix="tconv-hostile-"))
    os.chmod(grading, 0o711)
    all_cases = cases(grading)
    for student, case in all_cases.items():
        _submit(grading, student, case)
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_STUDENT_ID")}
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tconv_lib.grade",
            "autograde",
            "--grading",
            str(grading),
            "--workers",
            "2",
            "--cell-timeout",
            str(CELL_TIMEOUT),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - start
    state = json.loads((grading / "tconv-grade-state.json").read_text())
    yield Batch(
        grading,
        all_cases,
        result.returncode,
        result.stdout,
        result.stderr,
        seconds,
        _gradebook_scores(grading, all_cases),
        state,
    )
    subprocess.run(["rm", "-rf", str(grading)], check=False)


def test_the_batch_completes(batch):
    assert batch.returncode == 0, f"the grading command failed:\n{batch.stdout}\n{batch.stderr[-5000:]}"
    graded = {key.split("/")[1] for key in batch.state["submissions"]}
    assert graded == set(batch.cases), f"not graded: {set(batch.cases) - graded}"
    print(f"{len(batch.cases)} hostile and honest submissions graded in {batch.seconds:.0f} s")


@pytest.mark.parametrize("student", list(cases(Path("/grading"))))
def test_each_case_costs_only_the_parts_it_breaks(batch, student):
    case = batch.cases[student]
    expected = case.expected()
    assert batch.scores[student] == expected, (
        f"{student}: gradebook {batch.scores[student]}, expected {expected}; "
        f"messages {batch.messages(student)}"
    )
    messages = batch.messages(student)
    for grade_id, wanted in case.lost.items():
        assert wanted in messages[grade_id], (
            f"{student}/{grade_id}: message {messages[grade_id]!r} lacks {wanted!r}"
        )
    for grade_id in expected:
        if grade_id not in case.lost and case.raw is None:
            assert messages[grade_id] == "", (
                f"{student}/{grade_id} passed, yet has a message: {messages[grade_id]!r}"
            )
    record = batch.state["submissions"][f"{case.assignment}/{student}"]
    assert record["status"] == case.status, f"{student}: status {record['status']}, expected {case.status}"


def test_unreadable_notebook_scores_zero_with_a_reason(batch):
    messages = batch.messages("not_valid_json")
    assert all("could not grade" in m or "JSON" in m or "json" in m for m in messages.values()), messages


def test_megabytes_of_output_are_cut(batch):
    path = batch.grading / "autograded" / "prints_megabytes" / "geometry" / "geometry.ipynb"
    assert path.stat().st_size < 2 * 2**20, f"the autograded notebook is {path.stat().st_size} bytes"


def test_a_dead_kernel_keeps_the_notebook_and_what_ran_before(batch):
    nb = nbformat.read(
        str(batch.grading / "autograded" / "kill_9_at_top_level" / "geometry" / "geometry.ipynb"),
        as_version=4,
    )
    errors = {
        c.metadata["nbgrader"]["grade_id"]: [o.ename for o in c.outputs if o.output_type == "error"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }
    assert errors[A] == [], f"part A ran before the crash and passed: {errors}"
    assert errors[B] == ["NotRun"] and errors[D] == ["NotRun"], errors


def test_forged_results_do_not_reach_the_gradebook(batch):
    """The attack wrote 99 into every grade during the run; the audit put the verified scores back."""
    assert (
        "restored" in batch.stderr
        or "readonly" in json.dumps(batch.state)
        or all(s != 99 for scores in batch.scores.values() for s in scores.values())
    ), batch.stderr[-3000:]
    assert all(score != 99 for scores in batch.scores.values() for score in scores.values()), batch.scores
    # the state file the attack overwrote was written again by the grading command
    assert len(batch.state["submissions"]) == len(batch.cases)


def test_feedback_never_shows_the_kernels_forged_pass(batch):
    nb = nbformat.read(
        str(
            batch.grading
            / "autograded"
            / "monkeypatched_grader_and_numpy_testing"
            / "geometry"
            / "geometry.ipynb"
        ),
        as_version=4,
    )
    cell = _cell(nb, D)
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert [o.ename for o in errors] == ["GradingFailure"], cell.outputs
    assert "hidden case" in errors[0].evalue
