"""A chapter in a real JupyterLab, as a student meets it: it opens as a notebook and runs, live.

The test starts the course environment's JupyterLab on 127.0.0.1 (a free port,
a random token), configured as ``python3 course.py setup`` configures it, in a
temporary folder holding a copy of one chapter (autosave off: nothing is
written back), and drives it with Debian's Chromium: the MyST text notebook
opens as a notebook, every cell runs on a live kernel, and the chapter's
gradient explorer answers a click on an output pixel -- computed by the
kernel, not looked up.  nbgrader's exchange and instructor panels are absent,
its Validate button present.  The server is stopped by its PID.  Screenshots
land in tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import stop_server

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHAPTER = "algebra"  # short to run, and it has the gradient explorer (a pixel to click)
RUN_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a copy of one chapter; yields (base URL, token)."""
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (.ci/run installs Debian's chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sys.path.insert(0, str(ROOT))
    try:
        import course
    finally:
        sys.path.pop(0)
    course.configure_jupyter(Path(sys.prefix))  # what setup does; idempotent
    work = tmp_path_factory.mktemp("lab")
    (work / "book").mkdir()
    shutil.copy(ROOT / "book" / f"{CHAPTER}.md", work / "book")
    settings = work / ".settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "TCONV_STATIC_SITE"}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(work / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / ".workspaces"),
               JUPYTER_RUNTIME_DIR=str(work / ".runtime"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root otherwise
    log = open(work / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log_text = (work / "server.log").read_text()
                raise AssertionError("JupyterLab did not start:\n" + log_text[-3000:])
            time.sleep(0.5)
        yield base, token, work
    finally:
        stop_server(server)
        log.close()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_students_get_validate_and_not_the_exchange_or_the_instructor_tools(lab):
    base, token, _ = lab
    assert _get(f"{base}/formgrader?token={token}") == 404
    assert _get(f"{base}/assignments?token={token}") == 404
    assert _get(f"{base}/courses?token={token}") == 404
    # nbgrader's validate handler answers (a GET without a path is a client error, not a 404)
    assert _get(f"{base}/assignments/validate?token={token}") != 404


def test_a_chapter_opens_as_a_notebook_runs_and_its_explorer_answers_a_click(lab):
    base, token, work = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        page.set_default_timeout(60_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/lab/tree/book/{CHAPTER}.md?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        assert page.locator(".jp-FileEditor").count() == 0, "the chapter opened as text, not as a notebook"
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "Nbgrader" not in menus, f"students see nbgrader's menu: {menus}"
        assert page.get_by_text("Formgrader").count() == 0
        assert page.get_by_text("Assignment List").count() == 0
        assert page.locator(".jp-NotebookPanel-toolbar").get_by_text("Validate").count() == 1

        # run every cell on the live kernel
        page.wait_for_function("() => window.jupyterapp && jupyterapp.shell.currentWidget"
                               " && jupyterapp.shell.currentWidget.sessionContext.session")
        page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            """() => {
              const panel = jupyterapp.shell.currentWidget;
              const cells = panel.content.widgets.filter(c => c.model.type === 'code');
              return panel.sessionContext.session.kernel.status === 'idle'
                && cells.every(c => c.model.executionCount !== null);
            }""", timeout=RUN_TIMEOUT_S * 1000)
        failed = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                              ":has-text('Traceback'), .jp-RenderedText[data-mime-type*='error']")
        assert failed.count() == 0, failed.first.inner_text()[:2000]

        # the gradient explorer, live: click output pixel (1, 3)
        explorer = page.locator(".tconv-live-explorer").first
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "jupyterlab_explorer_before.png"))
        before = explorer.locator(".widget-html-content").last.inner_text()
        assert "(2, 2)" in before, before[:300]
        explorer.locator(".tconv-pick-1-3").click()
        page.wait_for_function(
            "el => el.innerText.includes('is 1 at (1, 3)')",
            arg=explorer.locator(".widget-html-content").last.element_handle())
        after = explorer.locator(".widget-html-content").last.inner_text()
        assert "(1, 3)" in after and after != before
        picked = explorer.locator(".tconv-pick-1-3")
        assert "(picked)" in picked.get_attribute("title")
        page.screenshot(path=str(ARTIFACTS / "jupyterlab_explorer_after_click.png"))
        assert not errors, errors
        browser.close()
    written = (work / "book" / f"{CHAPTER}.ipynb").exists()
    assert not written, "JupyterLab wrote a notebook beside the chapter"
