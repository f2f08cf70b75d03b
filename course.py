#!/usr/bin/env python3
"""One entry point for newcomers, authors and CI.  Needs nothing but Python 3.10+.

    python3 course.py site     set up .venv, build the book, print where it is
    python3 course.py test     set up .venv, run the whole test suite
    python3 course.py bench    set up .venv, run the quick benchmarks (operator, explorers)
    python3 course.py setup    only create / update .venv
    python3 course.py jupyter-config [--instructor] [--prefix PREFIX]
                               the course's JupyterLab: chapters open as notebooks; nbgrader's
                               exchange and instructor panels off (on with --instructor)

Setup creates a virtual environment in .venv, installs requirements.txt and
installs tconv_lib in editable mode; as root with apt-get it also installs
bubblewrap, which the grading command's sandboxes need.  It re-installs only when
requirements.txt or pyproject.toml change.  Extra arguments after `test` go to
pytest, e.g. `python3 course.py test tests/test_transposed.py -x`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TCONV_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".tconv-installed"
BOOK_BUILD = ROOT / "_build" / "html"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    # as if the environment were activated: tools that nbgrader starts (alembic) are found
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
               VIRTUAL_ENV=str(VENV))
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _system_packages() -> None:
    """bubblewrap, which the grading command's sandboxes need: installed when this runs as root with
    apt-get (a container, CI); otherwise the command that would install it is printed."""
    import shutil

    if shutil.which("bwrap") or os.name != "posix":
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing bubblewrap (the grading sandboxes)", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env)
        if subprocess.run(["apt-get", "install", "-y", "-qq", "bubblewrap"], env=env).returncode == 0:
            return
    print("note: bubblewrap is not installed; grading a class needs it (`sudo apt-get install bubblewrap`, "
          "or your system's package). Everything else works without it.", flush=True)


def setup() -> None:
    """Create .venv and install everything, unless it is already up to date."""
    _system_packages()
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, symlinks=os.name != "nt").create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "-r", ROOT / "requirements.txt")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ROOT)
    configure_jupyter(VENV)
    STAMP.write_text(_fingerprint())


# nbgrader's JupyterLab plugins and server extensions.  Students validate their notebooks; the
# course hands out and collects homework as files (README: the instructor's guide), so the
# exchange (assignment and course lists) and the instructor's panels only get in their way.
NBGRADER_LAB = {"@jupyter/nbgrader:validate-assignment": "student",
                "@jupyter/nbgrader:assignment-list": "instructor",
                "@jupyter/nbgrader:course-list": "instructor",
                "@jupyter/nbgrader:create-assignment": "instructor",
                "@jupyter/nbgrader:formgrader": "instructor",
                "@jupyter/nbgrader:menu": "instructor"}
NBGRADER_SERVER = {"nbgrader.server_extensions.validate_assignment": "student",
                   "nbgrader.server_extensions.assignment_list": "instructor",
                   "nbgrader.server_extensions.course_list": "instructor",
                   "nbgrader.server_extensions.formgrader": "instructor"}
# MyST text notebooks (book/*.md) open as notebooks, through jupytext
DEFAULT_VIEWERS = {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}


def _merge_json(path: Path, update: dict) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    for key, value in update.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def configure_jupyter(prefix: Path, instructor: bool = False) -> None:
    """Configure the JupyterLab installed in ``prefix`` (the course's .venv, or Binder's).

    Writes the files that ``jupyter labextension disable --level=sys_prefix`` and
    ``jupyter server extension disable --sys-prefix`` write, and JupyterLab's settings
    overrides; run again with ``instructor=True`` to turn the instructor's tools back on.
    """
    prefix = Path(prefix)
    on = {"student"} | ({"instructor"} if instructor else set())
    _merge_json(prefix / "etc" / "jupyter" / "labconfig" / "page_config.json",
                {"disabledExtensions": {name: who not in on for name, who in NBGRADER_LAB.items()}})
    _merge_json(prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "zz-tconv-course.json",
                {"ServerApp": {"jpserver_extensions": {
                    name: who in on for name, who in NBGRADER_SERVER.items()}}})
    _merge_json(prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json",
                {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": DEFAULT_VIEWERS}})
    print(f"JupyterLab in {prefix}: nbgrader's instructor tools {'on' if instructor else 'off'}; "
          f"chapters (.md) open as notebooks", flush=True)


def site(args: list[str]) -> None:
    setup()
    run(BIN / "jupyter-book", "build", ROOT, "-W", "-n", "--keep-going", *args)
    print(f"\nThe site is built: open {BOOK_BUILD / 'index.html'}")


def test(args: list[str]) -> None:
    setup()
    run(PYTHON, "-m", "pytest", *args)


def bench(args: list[str]) -> None:
    """The quick benchmarks; benchmarks/bench_grading.py (minutes) runs on its own."""
    setup()
    run(PYTHON, ROOT / "benchmarks" / "bench_conv_transpose.py", *args)
    run(PYTHON, ROOT / "benchmarks" / "bench_widgets.py")


def jupyter_config(args: list[str]) -> None:
    """``jupyter-config [--instructor] [--prefix PREFIX]``: (re)configure a JupyterLab for the course."""
    prefix = Path(args[args.index("--prefix") + 1]) if "--prefix" in args else None
    if prefix is None:
        setup()
        prefix = VENV
    configure_jupyter(prefix, instructor="--instructor" in args)


COMMANDS = {"site": site, "test": test, "bench": bench, "setup": lambda args: setup(),
            "jupyter-config": jupyter_config}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
