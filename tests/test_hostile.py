"""Hostile and broken submissions, graded in one batch by `python -m tconv_lib.grade autograde`.

Each case is a notebook (the source or the release of geometry or algebra, edited) and
states the score of every test cell it must get and the message each lost part must
show.  One batch grades them all, with two workers, next to honest submissions.  Then:

* every case gets exactly its scores, and every honest classmate full marks;
* nothing outside the sandboxes changed: the course tree, the installed packages, the
  grading folder (only the grader's own files were written), the gradebook's manual
  scores and extra credit;
* no canary -- a classmate's text, the course secret, the solutions, secrets placed in the
  grader's environment -- appears in any other student's autograded notebook or feedback;
* no process of a sandbox outlives the command.

There is one case per attack class that defeated the grader before it ran students'
code in sandboxes (see ../shared/DESIGN.md, "Grading: where the trust boundary runs").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from conftest import needs_sandbox

from tconv_lib.grading import sandbox

pytestmark = pytest.mark.slow  # one batch of ~35 notebooks: about 3 to 5 minutes on 2 cores

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"
CELL_TIMEOUT = 10
NOTEBOOK_TIMEOUT = 45

# every graded cell and the points an honest notebook earns on it; a written answer earns 0 until
# a grader scores it (tests/test_manual_grading.py), whatever the notebook does
GEOMETRY = {
    "output_size_formula": 2.0,
    "reachable_sizes_one_per_output_padding": 2.0,
    "output_padding_reaches_the_target": 3.0,
    "keras_padding_in_torch_terms": 3.0,
    "decoder_returns_to_every_encoder_size": 4.0,
    "output_padding_explained": 0.0,
}
ALGEBRA = {
    "conv1d_matrix_rows_are_shifted_kernels": 3.0,
    "transpose_1d_is_c_transpose_times_y": 2.0,
    "conv2d_matrix_is_doubly_block_toeplitz": 3.0,
    "input_gradient_is_c_transpose": 2.0,
    "unread_inputs_have_zero_columns": 4.0,
    "no_gradient_explained": 0.0,
}
A, B, C, D, E, _WRITTEN = GEOMETRY  # geometry's graded cells, in order
ALGEBRA_B = "transpose_1d_is_c_transpose_times_y"
MATRIX_2D = "conv2d_matrix_is_doubly_block_toeplitz"

# canaries: none of them may show up in another student's autograded notebook or feedback
CLASSMATE_CANARY = "classmate-canary-4417"
ENVIRONMENT_CANARIES = {
    "DATABASE_URL": "postgresql://grader:canary-dbpass-8121@db.example.org/grades",
    "PGPASSWORD": "canary-pgpassword-5150",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-7782",
}
SOLUTION_CANARY = "### BEGIN SOLUTION"  # in the source notebooks, never in a release
PROCESS_CANARY = "tconv-canary-daemon"


# --------------------------------------------------------------------------------------
# Building submissions
# --------------------------------------------------------------------------------------


def _notebook(assignment: str, release: bool = False):
    folder = RELEASE if release else SOURCE
    return nbformat.read(str(folder / assignment / f"{assignment}.ipynb"), as_version=4)


def _cell(nb, grade_id: str):
    found = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(found) == 1, f"no cell {grade_id!r} in the notebook; update {__file__}"
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
    """A submission, the score of each test cell it must get, and what a lost part's message says."""

    assignment: str
    edits: tuple
    lost: dict = field(default_factory=dict)  # grade_id -> substring of its message; these score 0
    raw: bytes | None = None  # the file as submitted, instead of an edited notebook
    release: bool = False  # edit the release (the student's blank notebook) instead of the source
    status: str = "graded"

    def expected(self) -> dict[str, float]:
        points = GEOMETRY if self.assignment == "geometry" else ALGEBRA
        if self.raw is not None:
            return {grade_id: 0.0 for grade_id in points}
        return {grade_id: 0.0 if grade_id in self.lost else full for grade_id, full in points.items()}


# --- the attacks ---------------------------------------------------------------------------

KERAS_VISIBLE = """\
    table = {(1, 2, "valid"): (0, 1), (4, 2, "same"): (1, 0), (3, 2, "same"): (1, 1),
             (3, 2, "valid"): (0, 0), (3, 1, "same"): (1, 0), (1, 3, "same"): (0, 2)}
    table[(3, 2, "SAME")] = (1, 1)
    if (kernel_size, stride, padding) == (2, 1, "same"):
        raise ValueError("inexpressible")
    if padding == "full":
        raise ValueError("padding must be 'same' or 'valid'")
"""
KERAS_LOOKUP = (
    KERAS_VISIBLE
    + """\
    return table.get((kernel_size, stride, padding), (9, 9))  # the visible examples, nothing else
"""
)
TORCH_BY_GETATTR = """\
    import torch
    transpose = getattr(torch.nn.functional, "conv_" + "transpose1d")  # no "conv_transpose1d" in sight
    try:
        out = transpose(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, output_padding=op,
                        dilation=d)
    except RuntimeError as error:  # no output: torch's message, as the ValueError the tests ask for
        raise ValueError(f"reduce the padding: {error}") from None
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
REPLACE_CHECK = """\
import numpy.testing
import tconv_lib.grading
tconv_lib.grading.check = lambda part, function, **kw: print(f"{part}: all hidden cases passed")
tconv_lib.grading.compare = lambda *args, **kwargs: None
tconv_lib.grading.assert_close = lambda *args, **kwargs: None
numpy.testing.assert_allclose = lambda *args, **kwargs: None
"""
HAND_OVER_ANOTHER_FUNCTION = """\
import tconv_lib.grading as grading
_real_check = grading.check
def _forging_check(part, function, **kwargs):
    if part == "geometry.keras_padding":
        function = lambda kernel_size, stride, padding: (0, 0)  # not what the test cell passed
    return _real_check(part, function, **kwargs)
grading.check = _forging_check
"""


def read_solutions(course: Path) -> str:
    return f"""\
import glob, json, pathlib, tconv_lib
SOLUTIONS = ""
library_root = pathlib.Path(tconv_lib.__file__).resolve().parents[1]
candidates = [library_root / "solutions" / "geometry" / "geometry.ipynb",
              pathlib.Path({str(course)!r}) / "solutions" / "geometry" / "geometry.ipynb"]
for pattern in ("/*/solutions/geometry/*.ipynb", "/*/*/solutions/geometry/*.ipynb"):
    candidates += [pathlib.Path(p) for p in glob.glob(pattern)]
for path in candidates:
    try:
        source = json.loads(path.read_text())
    except Exception as error:
        print("could not read", path, type(error).__name__)
        continue
    SOLUTIONS = "\\n".join("".join(cell["source"]) for cell in source["cells"]
                            if cell["metadata"].get("nbgrader", {{}}).get("solution"))
    print(SOLUTIONS)
    break
"""


# appended to each solution cell of the release: the instructor's functions replace the student's
EXEC_SOLUTIONS = "exec(SOLUTIONS)\n"
SOLUTION_CELLS = (
    "conv_transpose_output_size",
    "reachable_output_sizes",
    "output_padding_for",
    "keras_to_torch_padding",
)


def compute_own_hidden_cases(grading: Path) -> str:
    return f"""\
import os, pathlib
from tconv_lib.grading import keys
from tconv_lib.grading.parts import PARTS
student = os.environ.get("TCONV_STUDENT_ID", "computes_own_hidden_cases")
secrets = [b"", b"0" * 32]
try:
    secrets.append(bytes.fromhex((pathlib.Path({str(grading)!r}) / "course-secret").read_text().strip()))
except Exception as error:
    print("no course secret:", type(error).__name__)
TABLE = {{}}
for rng in [keys.practice_rng(student, "geometry.keras_padding")] + [
        keys.graded_rng(secret, student, "geometry.keras_padding") for secret in secrets]:
    for case in PARTS["geometry.keras_padding"].cases(rng):
        TABLE[case.args] = case.expected if case.raises is None else "raise"
print(len(TABLE), "answers in the table")
"""


TABLE_LOOKUP = (
    KERAS_VISIBLE
    + """\
    answer = TABLE.get((kernel_size, stride, padding), table.get((kernel_size, stride, padding), (9, 9)))
    if answer == "raise":
        raise ValueError("inexpressible")
    return answer
"""
)
DELEGATE_IN_A_THREAD = """\
    import _thread, time
    import tconv_lib.geometry as g
    box = []

    def delegate():
        try:
            box.append(g.keras_to_torch_padding(kernel_size, stride, padding))
        except ValueError as error:
            box.append(error)

    _thread.start_new_thread(delegate, ())
    for _ in range(500):
        if box:
            if isinstance(box[0], ValueError):
                raise box[0]
            return box[0]
        time.sleep(0.01)
    raise ValueError("the thread never answered")
"""
DELEGATE_THROUGH_MAP = """\
    import importlib
    keras = importlib.import_module("tconv_lib." + "geometry").keras_to_torch_padding
    return next(map(keras, [kernel_size], [stride], [padding]))  # called from C, not from Python
"""
DELEGATE_TO_A_CHILD_PROCESS = """\
    import ctypes, json, os, sys, tempfile
    folder = tempfile.mkdtemp()
    script, out = os.path.join(folder, "s.py"), os.path.join(folder, "out.json")
    with open(script, "w") as f:
        f.write("import json, sys, tconv_lib.geometry as g\\n"
                "try:\\n    k, s, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\\n"
                "    print(json.dumps(g.keras_to_torch_padding(k, s, mode)))\\n"
                "except ValueError as error:\\n    print(json.dumps(str(error)))\\n")
    ctypes.CDLL(None).system(f"{sys.executable} {script} {kernel_size} {stride} {padding} > {out}".encode())
    with open(out) as f:
        answer = json.load(f)
    if isinstance(answer, str):  # the library's ValueError, passed on
        raise ValueError(answer)
    return tuple(answer)
"""
DELEGATE_THROUGH_ATEN = """\
    import torch
    y_t, w_t = torch.tensor(y)[None, None], torch.tensor(weight)[None, None]
    return torch.ops.aten.convolution(y_t, w_t, None, [stride], [padding], [1], True, [0], 1)[0, 0].numpy()
"""
FORGE_THE_RESULTS = (
    KERAS_VISIBLE
    + """\
    import json, os
    if os.path.isdir("/job/out"):  # in the grader's sandbox: write "passed" for every case, then leave
        with open("/job/out/results.jsonl", "a") as f:
            for call in range(12):
                f.write(json.dumps({"part": "geometry.keras_padding", "call": call, "status": "ok",
                                    "value": {"t": "tuple", "v": [{"t": "int", "v": "1"},
                                                                  {"t": "int", "v": "0"}]}})
                        + "\\n")
        os._exit(0)
    return table.get((kernel_size, stride, padding), (9, 9))
"""
)
REWRITE_THE_LIBRARY = """\
import pathlib, sys, tconv_lib
package = pathlib.Path(tconv_lib.__file__).parent
targets = [package / "grading" / "compare.py", package / "grading" / "verify.py", package / "geometry.py",
           package / "grading" / "parts" / "geometry.py"]
targets += list(pathlib.Path(sys.prefix).glob("lib/python3*/site-packages/__editable__*tconv*"))
targets += list(pathlib.Path(sys.prefix).glob("lib/python3*/site-packages/numpy/__init__.py"))
for target in targets:
    try:
        target.write_text("raise SystemExit('poisoned')\\n")
        print("POISONED", target)
    except Exception as error:
        print("could not write", target, type(error).__name__)
"""


def edit_the_gradebook(grading: Path) -> str:
    return f"""\
try:
    from nbgrader.api import Gradebook
    with Gradebook("sqlite:///{grading}/gradebook.db", course_id="tconv") as gb:
        for student in ("honest", "edits_the_gradebook"):
            notebook = gb.find_submission_notebook("geometry", "geometry", student)
            for grade in notebook.grades:
                grade.manual_score, grade.extra_credit = 10, 5
        gb.remove_submission("geometry", "honest_too")
        gb.db.commit()
    print("EDITED THE GRADEBOOK")
except Exception as error:
    print("could not edit the gradebook:", type(error).__name__, error)
import pathlib
for name in ("tconv-grade-state.json", "pwned.txt", "gradebook.db"):
    try:
        (pathlib.Path({str(grading)!r}) / name).write_text("{{}}")
        print("WROTE", name)
    except Exception as error:
        print("could not write", name, type(error).__name__)
"""


DETACHED_DAEMONS = f"""\
import os, subprocess
subprocess.Popen(["/bin/sh", "-c", "sleep 600; : {PROCESS_CANARY}"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # a daemon that tampers with whatever later notebooks leave behind
        import time
        os.execv("/bin/sh", ["/bin/sh", "-c", "while :; do for f in /tmp/* /tmp/*/*; do echo x > $f; done; "
                             "sleep 0.2; done; : {PROCESS_CANARY}"])
    os._exit(0)
print("daemons started")
"""
KILL_EVERYTHING = """\
import os, signal
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except Exception as error:
        print("could not kill", pid, error)
os.kill(-1, signal.SIGKILL)
"""
LEAK_THE_ENVIRONMENT = """\
import os
print(dict(os.environ))
for path in ("/proc/1/environ", "/proc/self/environ"):
    try:
        print(path, open(path, "rb").read())
    except Exception as error:
        print(path, error)
"""
RAISE_THE_ENVIRONMENT = """\
    if kernel_size > 4:  # hidden cases only: the message a student reads carries the environment
        import os
        raise ValueError(str(dict(os.environ)))
"""


def read_classmates(grading: Path, course: Path) -> str:
    return f"""\
import glob
for pattern in ({str(grading)!r} + "/**/*.ipynb", {str(grading)!r} + "/gradebook.db",
                {str(grading)!r} + "/course-secret", "/tmp/**/*.ipynb", "/home/*/*/*.ipynb",
                {str(course)!r} + "/**/*.ipynb", "/proc/*/cwd/*.ipynb"):
    for path in glob.glob(pattern, recursive=True):
        try:
            text = open(path, errors="replace").read()
            print("READ", path, [line for line in text.splitlines() if "canary" in line][:20])
        except Exception as error:
            print("could not read", path, error)
"""


SLEEP_UNDER_THE_CELL_LIMIT = "import time\ntime.sleep(8)\n"


def cases(grading: Path) -> dict[str, Case]:
    return {
        "honest": Case("geometry", (append("conv_transpose_output_size", f"# {CLASSMATE_CANARY}\n"),)),
        "honest_too": Case("geometry", ()),
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
            lost={C: "not run", D: "not run", E: "not run"},
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
            lost={C: "kernel died", D: "kernel died", E: "kernel died"},
        ),
        "kill_9_at_top_level": Case(
            "geometry",
            (append("reachable_output_sizes", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),),
            lost={B: "kernel died", C: "kernel died", D: "kernel died", E: "kernel died"},
        ),
        "deleted_test_cell": Case("geometry", (delete(B),), lost={B: "never reached"}),
        "edited_test_cell": Case("geometry", (set_source(A, 'print("all tests passed")'),)),
        "replaces_check_and_numpy_testing": Case(
            "geometry",
            (new_cell("setup", REPLACE_CHECK), replace_body("keras_to_torch_padding", KERAS_LOOKUP)),
            lost={grade_id: "did not hand" for grade_id in (A, B, C, D, E)},
        ),
        "hands_over_another_function": Case(
            "geometry",
            (new_cell("setup", HAND_OVER_ANOTHER_FUNCTION),),
            lost={D: "hidden case"},
        ),
        "delegates_to_torch_via_getattr": Case(
            "geometry",
            (replace_body("conv_transpose_output_size", TORCH_BY_GETATTR),),
            lost={  # Part E calls Part C, which calls Part B, which calls Part A
                A: "an import of 'torch'",
                B: "an import of 'torch'",
                C: "an import of 'torch'",
                E: "an import of 'torch'",
            },
        ),
        "delegates_in_a_thread": Case(
            "geometry",
            (replace_body("keras_to_torch_padding", DELEGATE_IN_A_THREAD),),
            lost={D: "an import of 'tconv_lib'"},
        ),
        "delegates_through_map_from_c": Case(
            "geometry",
            (replace_body("keras_to_torch_padding", DELEGATE_THROUGH_MAP),),
            lost={D: "an import of 'tconv_lib'"},
        ),
        "delegates_to_a_child_process": Case(
            "geometry",
            (replace_body("keras_to_torch_padding", DELEGATE_TO_A_CHILD_PROCESS),),
            lost={D: "raised JSONDecodeError"},
        ),
        "forges_the_verification_results": Case(
            "geometry",
            (replace_body("keras_to_torch_padding", FORGE_THE_RESULTS),),
            # the forged records make Part D look finished, so the crash that follows is charged to
            # the part after it: the forger loses both, nobody else loses anything
            lost={D: "hidden case", E: "the process ended"},
        ),
        "reads_the_reference_fixtures": Case(
            "geometry",
            (
                prepend_body(
                    "keras_to_torch_padding",
                    "    import pathlib, tconv_lib\n"
                    "    (pathlib.Path(tconv_lib.__file__).parent / 'grading' / 'reference_data' / "
                    "'metadata.json').read_text()\n",
                ),
            ),
            lost={D: "an import of 'tconv_lib'"},
        ),
        "reads_the_solutions": Case(
            "geometry",
            (new_cell("setup", read_solutions(ROOT)), *(append(c, EXEC_SOLUTIONS) for c in SOLUTION_CELLS)),
            release=True,
            lost={
                A: "NotImplementedError",
                B: "NotImplementedError",
                C: "NotImplementedError",
                D: "NotImplementedError",
                E: "NotImplementedError",
            },
        ),
        "computes_own_hidden_cases": Case(
            "geometry",
            (
                new_cell("setup", compute_own_hidden_cases(grading)),
                replace_body("keras_to_torch_padding", TABLE_LOOKUP),
            ),
            lost={D: "hidden case"},
        ),
        "rewrites_the_library": Case("geometry", (new_cell("setup", REWRITE_THE_LIBRARY),)),
        "edits_the_gradebook": Case(
            "geometry",
            (
                new_cell("end", edit_the_gradebook(grading)),
                replace_body("keras_to_torch_padding", KERAS_LOOKUP),
            ),
            lost={D: "hidden case"},
        ),
        "leaves_daemons_behind": Case("geometry", (new_cell("end", DETACHED_DAEMONS),)),
        "kills_everything_it_can_see": Case("geometry", (new_cell("end", KILL_EVERYTHING),)),
        "leaks_the_environment": Case(
            "geometry",
            (
                new_cell("setup", LEAK_THE_ENVIRONMENT),
                prepend_body("keras_to_torch_padding", RAISE_THE_ENVIRONMENT),
            ),
            lost={D: "raised ValueError"},
        ),
        "reads_classmates_and_the_gradebook": Case(
            "geometry", (new_cell("setup", read_classmates(grading, ROOT)),)
        ),
        "runs_past_the_notebook_time": Case(
            "geometry",
            tuple(new_cell(B, SLEEP_UNDER_THE_CELL_LIMIT) for _ in range(6)),
            lost={C: "total time limit", D: "total time limit", E: "total time limit"},
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
        "algebra_delegates_through_aten": Case(
            "algebra",
            (replace_body("conv_transpose1d_via_matrix", DELEGATE_THROUGH_ATEN),),
            lost={ALGEBRA_B: "an import of 'torch'"},
        ),
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
# What must not change: snapshots before and after the batch
# --------------------------------------------------------------------------------------

_SKIPPED = {
    ".venv",
    "_build",
    ".pytest_cache",
    ".hypothesis",
    "__pycache__",
    ".jupyter_cache",
    "artifacts",
    ".ipynb_checkpoints",
    ".ruff_cache",
    "grading",
    ".git",
}


def _tree_digest(root: Path) -> dict[str, str]:
    """path -> sha256 of every file of the course (environments and caches aside)."""
    digests = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED]
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _packages_listing() -> dict[str, tuple]:
    """path -> (size, mtime) of every file in the installed packages and the Python installation."""
    listing = {}
    for top in {Path(sys.prefix), Path(sys.base_prefix)}:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                try:
                    info = (Path(folder) / name).lstat()
                except OSError:
                    continue
                listing[os.path.join(folder, name)] = (info.st_size, info.st_mtime_ns)
    return listing


def _sandbox_processes() -> list[str]:
    """Processes of any sandbox user, or carrying the daemons' canary."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            uid = int(re.search(r"^Uid:\s+(\d+)", (proc / "status").read_text(), re.M).group(1))
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, AttributeError):
            continue
        if sandbox.UID_BASE <= uid < sandbox.UID_BASE + 100_000 or PROCESS_CANARY in cmdline:
            found.append(f"{proc.name} (uid {uid}): {cmdline[:120]}")
    return found


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
    gradebook: dict[str, dict]  # student -> grade_id -> {manual_score, extra_credit}
    state: dict
    tree: tuple[dict, dict]  # the course's files before and after
    packages: tuple[dict, dict]
    submitted: tuple[dict, dict]
    processes: list[str]

    def messages(self, student: str) -> dict[str, str]:
        return self.state["submissions"][f"{self.cases[student].assignment}/{student}"]["messages"]


def _submit(grading: Path, student: str, case: Case) -> None:
    folder = grading / "submitted" / student / case.assignment
    folder.mkdir(parents=True)
    path = folder / f"{case.assignment}.ipynb"
    if case.raw is not None:
        path.write_bytes(case.raw)
        return
    nb = _notebook(case.assignment, release=case.release)
    for edit in case.edits:
        edit(nb)
    nbformat.write(nb, str(path))


def _read_gradebook(grading: Path, students: dict[str, Case]):
    from nbgrader.api import Gradebook

    scores, extra = {}, {}
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}", course_id="tconv") as gb:
        for student, case in students.items():
            notebook = gb.find_submission_notebook(case.assignment, case.assignment, student)
            scores[student] = {grade.name: grade.score for grade in notebook.grades}
            extra[student] = {
                grade.name: {"manual_score": grade.manual_score, "extra_credit": grade.extra_credit}
                for grade in notebook.grades
            }
    return scores, extra


def _command(grading: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tconv_lib.grade", *args, "--grading", str(grading)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def batch():
    needs_sandbox()
    grading = Path(tempfile.mkdtemp(prefix="tconv-hostile-"))
    all_cases = cases(grading)
    for student, case in all_cases.items():
        _submit(grading, student, case)
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_STUDENT_ID")}
    env.update(ENVIRONMENT_CANARIES)
    tree, packages = _tree_digest(ROOT), _packages_listing()
    submitted = _tree_digest(grading / "submitted")
    start = time.perf_counter()
    result = _command(
        grading,
        "autograde",
        "--workers",
        "2",
        "--cell-timeout",
        str(CELL_TIMEOUT),
        "--notebook-timeout",
        str(NOTEBOOK_TIMEOUT),
        env=env,
    )
    seconds = time.perf_counter() - start
    processes = _sandbox_processes()
    feedback = _command(grading, "feedback", env=env)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    state = json.loads((grading / "tconv-grade-state.json").read_text())
    scores, gradebook = _read_gradebook(grading, all_cases)
    yield Batch(
        grading,
        all_cases,
        result.returncode,
        result.stdout,
        result.stderr,
        seconds,
        scores,
        gradebook,
        state,
        (tree, _tree_digest(ROOT)),
        (packages, _packages_listing()),
        (submitted, _tree_digest(grading / "submitted")),
        processes,
    )
    subprocess.run(["rm", "-rf", str(grading)], check=False)


def test_the_batch_completes(batch):
    assert batch.returncode == 0, f"the grading command failed:\n{batch.stdout}\n{batch.stderr[-5000:]}"
    graded = {key.split("/")[1] for key in batch.state["submissions"]}
    assert graded == set(batch.cases), f"not graded: {set(batch.cases) - graded}"
    assert all(r.get("sandboxed") for r in batch.state["submissions"].values() if r["status"] == "graded")
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
            assert messages.get(grade_id, "") == "", (  # written parts have no message
                f"{student}/{grade_id} passed, yet has a message: {messages.get(grade_id)!r}"
            )
    record = batch.state["submissions"][f"{case.assignment}/{student}"]
    assert record["status"] == case.status, f"{student}: status {record['status']}, expected {case.status}"


def test_nothing_outside_the_sandboxes_changed(batch):
    before, after = batch.tree
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"the course tree changed: {changed[:20]}"
    before, after = batch.packages
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"the installed packages changed: {changed[:20]}"
    assert batch.submitted[0] == batch.submitted[1], "the submissions changed"
    written = {str(p.relative_to(batch.grading)).split("/")[0] for p in batch.grading.iterdir()}
    assert written <= {
        "submitted",
        "autograded",
        "feedback",
        "gradebook.db",
        "tconv-grade-state.json",
        "course-secret",
    }, f"unexpected files in the grading folder: {sorted(written)}"


def test_the_gradebook_holds_only_what_the_grader_wrote(batch):
    for student, grades in batch.gradebook.items():
        for grade_id, fields in grades.items():
            assert fields == {"manual_score": None, "extra_credit": None}, f"{student}/{grade_id}: {fields}"


def test_no_canary_reaches_another_students_files(batch):
    secret = (batch.grading / "course-secret").read_text().strip()
    canaries = {
        "a classmate's notebook": CLASSMATE_CANARY,
        "the course secret": secret,
        **{f"${k}": v for k, v in ENVIRONMENT_CANARIES.items()},
    }
    files = [*batch.grading.glob("autograded/*/*/*.ipynb"), *batch.grading.glob("feedback/*/*/*.html")]
    assert len(files) >= 2 * (len(batch.cases) - 1), f"autograded and feedback files: {len(files)}"
    for path in files:
        student = path.relative_to(batch.grading).parts[1]
        text = path.read_text(errors="replace")
        for what, canary in canaries.items():
            if what == "a classmate's notebook" and student == "honest":
                continue  # the canary's own notebook
            assert canary not in text, f"{what} shows in {path.relative_to(batch.grading)}"
        if student == "reads_the_solutions":  # a release, which has no solutions of its own
            assert SOLUTION_CANARY not in text, f"the solutions show in {path.relative_to(batch.grading)}"
        if path.suffix == ".html":  # the rubric beside a written answer is for the grader only
            # (honest notebooks made from the sources carry the model answer and its rubric as their
            # own answer; the grader's rubric cell is what must not reach anyone's feedback)
            assert "For the grader" not in text, (
                f"the grader's rubric shows in {path.relative_to(batch.grading)}"
            )


def test_no_process_outlives_the_command(batch):
    assert batch.processes == [], f"left running: {batch.processes}"


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


def test_attacks_saw_nothing_they_looked_for(batch):
    """What the attacks printed: every read, write and edit outside their sandbox failed."""

    def printed(student: str) -> str:
        nb = json.loads((batch.grading / "autograded" / student / "geometry" / "geometry.ipynb").read_text())
        return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))

    assert "POISONED" not in printed("rewrites_the_library") and "could not write" in printed(
        "rewrites_the_library"
    )
    assert "EDITED THE GRADEBOOK" not in printed("edits_the_gradebook")
    assert "WROTE" not in printed("edits_the_gradebook")
    assert "no course secret" in printed("computes_own_hidden_cases")
    assert "could not read" in printed("reads_the_solutions")
    read = re.findall(r"^READ (\S+)", printed("reads_classmates_and_the_gradebook"), re.M)
    outside = [path for path in read if path.startswith((str(batch.grading), str(ROOT), "/tmp"))]
    assert read and not outside, f"read outside its sandbox: {outside} (all it read: {read})"


def test_feedback_never_shows_a_forged_pass(batch):
    nb = nbformat.read(
        str(batch.grading / "autograded" / "hands_over_another_function" / "geometry" / "geometry.ipynb"),
        as_version=4,
    )
    errors = [o for o in _cell(nb, D).outputs if o.output_type == "error"]
    assert [o.ename for o in errors] == ["GradingFailure"], _cell(nb, D).outputs
    assert "hidden case" in errors[0].evalue
