"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

torch = pytest.importorskip("torch")
F = torch.nn.functional

# float64 throughout: the views and torch differ only by summation order, so
# their results agree to a few ulps of the largest partial sum.
RTOL = 1e-10
ATOL = 1e-10


def t(a):
    """NumPy array (or None) -> float64-preserving torch tensor."""
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def assert_same(out, ref, case=""):
    """Shape first, then values, with the case named in the message."""
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert out.shape == ref.shape, f"{case}: shape {out.shape} != torch {ref.shape}"
    assert out.dtype == ref.dtype, f"{case}: dtype {out.dtype} != torch {ref.dtype}"
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL, err_msg=case)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def needs_sandbox() -> None:
    """Skip a test that grades in the sandbox where bubblewrap cannot run; in CI, fail it instead."""
    from tconv_lib.grading import sandbox

    problem = sandbox.problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must grade in the sandbox: {problem}")
        pytest.skip(problem)


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server a test started, by its process: politely, then for good."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """Build the book once per test session, with the flags of `python3 course.py site`.

    Returns the folder of the built HTML.  Shared by the book and browser tests.
    """
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return out / "_build" / "html"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (the site's and the feedback's browser tests)."""
    from playwright import sync_api

    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (.ci/run installs Debian's chromium: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, not skip them
        pytest.skip(message)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
