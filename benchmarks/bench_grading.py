"""Benchmark: grading a class with plain `nbgrader autograde` and with `python -m tconv_lib.grade`.

Builds N synthetic students for every assignment in solutions/ (a mix of correct,
partly wrong, blank and hostile notebooks, the same for both runs), then grades them
in the same run, each in its own temporary grading folder:

1. plain nbgrader, as an instructor would: `nbgrader generate_assignment` and
   `nbgrader autograde <assignment>` for each assignment, one after the other;
2. the grading command: `python -m tconv_lib.grade autograde --workers W`.

Prints throughput (notebooks per minute), the speedup, where the grading command's time
goes (kernel start, running the cells, verifying the hidden tests, nbgrader's own work;
summed over notebooks, from its state file), and how many notebooks the two disagree on
(stock nbgrader runs practice cases in the student's kernel, believes what the kernel reports and
drops crashed notebooks).  Then it measures what the sandbox itself costs: starting a kernel
and verifying a trivial function, with and without bubblewrap.

    python benchmarks/bench_grading.py                 # 60 students x every assignment
    python benchmarks/bench_grading.py --students 6    # smaller

Target (issue): the grading command >= 1.8x plain nbgrader on 2 cores.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KINDS = (
    "correct",
    "correct",
    "correct",
    "partly_wrong",
    "partly_wrong",
    "blank",
    "hostile_exit",
    "hostile_print",
    "hostile_patch",
    "correct",
)


def _solution_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def make_submission(assignment: str, kind: str, rng: random.Random):
    source = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    release = nbformat.read(str(ROOT / "exercises" / assignment / f"{assignment}.ipynb"), as_version=4)
    if kind == "blank":
        return release
    nb = source
    cells = _solution_cells(nb)
    if kind == "partly_wrong":  # one part left as released
        index = rng.randrange(len(cells))
        cells[index].source = _solution_cells(release)[index].source
    elif kind == "hostile_exit":  # the kernel dies in the middle
        cells[rng.randrange(len(cells))].source += "\nimport os\nos._exit(1)\n"
    elif kind == "hostile_print":
        cells[0].source += '\nprint("spam " * 2_000_000)\n'
    elif kind == "hostile_patch":  # forge the grader's verdicts in the kernel
        nb.cells.insert(
            1,
            nbformat.v4.new_code_cell(
                "import tconv_lib.grading\n"
                "tconv_lib.grading.check = lambda *a, **k: print('all hidden cases passed')\n"
            ),
        )
        index = rng.randrange(len(cells))
        cells[index].source = _solution_cells(release)[index].source.replace(
            "raise NotImplementedError()", "pass"
        )
    return nb


def build(folder: Path, assignments: list[str], students: int, seed: int) -> int:
    rng = random.Random(seed)
    count = 0
    for assignment in assignments:
        for i in range(students):
            kind = KINDS[i % len(KINDS)]
            target = folder / "submitted" / f"student{i:03d}" / assignment
            target.mkdir(parents=True)
            nbformat.write(make_submission(assignment, kind, rng), str(target / f"{assignment}.ipynb"))
            count += 1
    return count


def _env(grading: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_STUDENT_ID")}
    env["TCONV_GRADING_DIR"] = str(grading)
    return env


def run_plain(grading: Path, assignments: list[str]) -> float:
    env = _env(grading)
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={grading / 'release'}",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        # exits non-zero when a kernel dies; the others are graded all the same
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", assignment],
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
    return time.perf_counter() - start


def run_command(grading: Path, workers: int, cell_timeout: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tconv_lib.grade",
            "autograde",
            "--grading",
            str(grading),
            "--workers",
            str(workers),
            "--cell-timeout",
            str(cell_timeout),
        ],
        cwd=ROOT,
        env=_env(grading),
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - start


def sandbox_costs(repeats: int = 3) -> dict[str, float]:
    """Seconds to start a kernel and to verify a trivial function, with and without the sandbox.

    The best of ``repeats`` runs of each.
    """
    import pickle

    from jupyter_client.manager import KernelManager

    from tconv_lib.grading import sandbox, verify
    from tconv_lib.grading.cases import Case, Part

    costs = {}
    for sandboxed in (False, True):
        uid = sandbox.sandbox_uid() if sandboxed else None
        kernel, verification = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                private = Path(tmp)
                private.chmod(0o711)
                spec = sandbox.notebook_spec(private, uid, sandbox.Limits(), {}, sandboxed)
                sandbox.kernelspec(private, spec.write(private / "spec.json"))
                os.environ["JUPYTER_PATH"] = str(private)
                start = time.perf_counter()
                km = KernelManager(kernel_name=sandbox.KERNEL_NAME, transport="ipc",
                                   ip=str(private / "runtime" / "kernel"),
                                   connection_file=str(private / "runtime" / "kernel.json"))
                km.start_kernel(cwd=tmp)
                kc = km.client()
                kc.start_channels()
                kc.wait_for_ready(timeout=120)
                kernel.append(time.perf_counter() - start)
                kc.stop_channels()
                km.shutdown_kernel(now=True)
            part = Part("p", "p", lambda rng: Case("one", (1,), expected=1), n_cases=1)
            start = time.perf_counter()
            verify.verify(
                {"p": pickle.dumps(abs)},
                {"p": part.cases(None)},
                {"p": part},
                verify.Isolation(sandboxed=sandboxed, uid=uid),
            )
            verification.append(time.perf_counter() - start)
        label = "sandboxed" if sandboxed else "plain"
        costs[f"kernel_start_{label}"] = min(kernel)
        costs[f"verification_{label}"] = min(verification)
    return costs


def scores(grading: Path) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}", course_id="tconv") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                out[(assignment.name, submission.student.id)] = submission.score
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=60, help="students per assignment (default 60)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--assignments", nargs="+", help="default: every assignment in solutions/")
    parser.add_argument("--cell-timeout", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    assignments = args.assignments or sorted(
        p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name
    )
    base = Path(tempfile.mkdtemp(prefix="tconv-bench-grading-"))
    os.chmod(base, 0o711)
    try:
        plain_dir, command_dir = base / "plain", base / "command"
        for folder in (plain_dir, command_dir):
            folder.mkdir(mode=0o711)
            n = build(folder, assignments, args.students, args.seed)
        print(
            f"{n} notebooks ({args.students} students x {', '.join(assignments)}); {os.cpu_count()} cores; "
            f"{args.workers} workers",
            flush=True,
        )
        plain = run_plain(plain_dir, assignments)
        print(
            f"plain nbgrader autograde (sequential): {plain:7.1f} s  {n / plain * 60:6.1f} notebooks/min",
            flush=True,
        )
        command = run_command(command_dir, args.workers, args.cell_timeout)
        print(
            f"python -m tconv_lib.grade autograde:   {command:7.1f} s  {n / command * 60:6.1f} notebooks/min",
            flush=True,
        )
        print(f"speedup: {plain / command:.2f}x (target >= 1.8x on 2 cores)")

        state = json.loads((command_dir / "tconv-grade-state.json").read_text())["submissions"]
        parts = {
            key: sum(r["timings"][key] for r in state.values())
            for key in ("kernel_start", "cells", "verify", "nbgrader", "total")
        }
        print("where the grading command's time goes (summed over notebooks, across workers):")
        for key, label in (
            ("kernel_start", "starting kernels"),
            ("cells", "running the cells"),
            ("verify", "verifying hidden tests"),
            ("nbgrader", "nbgrader's own work"),
        ):
            print(
                f"  {label:<24} {parts[key]:7.1f} s  {parts[key] / parts['total'] * 100:5.1f} %"
                f"  ({parts[key] / len(state):.2f} s per notebook)"
            )
        costs = sandbox_costs()
        print(
            "the sandbox's cost per notebook (best of 3; a kernel, and verifying a trivial function):"
        )
        print(
            f"  kernel start     {costs['kernel_start_plain']:.2f} s plain, "
            f"{costs['kernel_start_sandboxed']:.2f} s sandboxed "
            f"(+{costs['kernel_start_sandboxed'] - costs['kernel_start_plain']:.2f} s)"
        )
        print(
            f"  verification     {costs['verification_plain']:.2f} s plain process, "
            f"{costs['verification_sandboxed']:.2f} s sandboxed "
            f"(+{costs['verification_sandboxed'] - costs['verification_plain']:.2f} s)"
        )
        a, b = scores(plain_dir), scores(command_dir)
        differ = sorted(key for key in b if a.get(key) != b[key])
        print(
            f"scores differ on {len(differ)} of {len(b)} notebooks "
            f"(plain nbgrader runs practice cases in the student's kernel, trusts its verdict "
            f"and drops crashed notebooks)"
        )
        results = ROOT / "benchmarks" / "results"
        results.mkdir(exist_ok=True)
        (results / "bench_grading.json").write_text(
            json.dumps(
                {
                    "notebooks": n,
                    "students": args.students,
                    "assignments": assignments,
                    "workers": args.workers,
                    "cores": os.cpu_count(),
                    "plain_s": plain,
                    "command_s": command,
                    "speedup": plain / command,
                    "time_split_s": parts,
                    "sandbox_costs_s": costs,
                    "differ": [list(k) for k in differ],
                },
                indent=1,
            )
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
