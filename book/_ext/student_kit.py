"""The student kit: the course library as a wheel, served by the site, without ``solutions/``.

Students should never need the instructor's repository (it holds the solutions).  Every
HTML build writes ``<site>/student/tconv_lib-<version>-py3-none-any.whl``, built from a copy
of ``tconv_lib/``, ``pyproject.toml`` and ``README.md`` alone (so nothing else of the
repository can end up in it), and the *Hands-on* page tells students to run::

    pip install "tconv_lib-<version>-py3-none-any.whl[student]"

which brings NumPy, JupyterLab, the visible-test helpers and the explorers
(``[project.optional-dependencies] student`` in ``pyproject.toml``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "student"


def wheel_name() -> str:
    """The wheel's file name, from tconv_lib's version."""
    namespace: dict = {}
    for line in (ROOT / "tconv_lib" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            exec(line, namespace)
    return f"tconv_lib-{namespace['__version__']}-py3-none-any.whl"


def build_wheel(out: Path) -> Path:
    """Build the wheel into ``out`` from a clean copy of the package (no network: no build isolation)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tconv-kit-") as tmp:
        source = Path(tmp) / "source"
        shutil.copytree(ROOT / "tconv_lib", source / "tconv_lib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", str(out), str(source)], check=True, capture_output=True)
    path = out / wheel_name()
    if not path.is_file():
        raise RuntimeError(f"pip wheel did not make {path.name}")
    return path


def _finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        build_wheel(Path(app.outdir) / FOLDER)


def setup(app):
    app.connect("build-finished", _finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
