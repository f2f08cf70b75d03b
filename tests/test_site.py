"""The built site in a real browser: pages load clean, explorers respond, maths is typeset.

Playwright drives Debian's Chromium (never a downloaded browser).  The site is
served over http from 127.0.0.1 on a free port; every request is routed, and
one that would leave the site fails the test.  One page is also opened from
file://, as a reader who downloads the site would.  Screenshots of the
explorers land in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tconv_lib import geometry

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
EXPLORERS_PAGE = "book/explorers.html"
TIMEOUT_MS = 20_000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def server(site):
    """The site over http on 127.0.0.1 and a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (.ci/run installs Debian's chromium: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, not skip them
        pytest.skip(message)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Visit:
    """A fresh browser context and page that records console errors and off-site requests."""

    def __init__(self, browser, allowed_schemes=("http",)):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.allowed_schemes = allowed_schemes
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("response", self._response)
        self.context.route("**/*", self._route)

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _response(self, response):
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status}: {response.url}")

    def _route(self, route):
        url = urlparse(route.request.url)
        local = url.scheme in self.allowed_schemes and (url.scheme == "file" or url.hostname == "127.0.0.1")
        if local or url.scheme in ("data", "blob"):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def open(self, url: str):
        self.page.goto(url, wait_until="load")
        self.settle()
        return self.page

    def settle(self):
        """Wait until MathJax (if the page has it) has typeset everything.

        A page that redirects (index.html) navigates away meanwhile: then wait for
        the page it goes to.
        """
        for _ in range(3):
            try:
                self.page.wait_for_load_state("load")
                return self.page.evaluate(
                    "() => new Promise(done => (window.MathJax && MathJax.Hub)"
                    " ? MathJax.Hub.Queue(() => done(true)) : done(false))"
                )
            except sync_api.Error as error:
                if "context was destroyed" not in str(error):
                    raise
        raise AssertionError(f"{self.page.url} keeps navigating")

    def check_clean(self, what: str):
        assert not self.errors, f"{what}: " + "; ".join(self.errors)
        assert not self.foreign, f"{what} requested off-site: {self.foreign}"

    def close(self):
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def visit(browser):
    visits = []

    def make(**kwargs):
        visits.append(Visit(browser, **kwargs))
        return visits[-1]

    yield make
    for v in visits:
        v.close()


def _pages(site: Path) -> list[str]:
    """Every page of the book (not Sphinx's template fragments or MathJax's files)."""
    return sorted(
        p.relative_to(site).as_posix() for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith(("_static", "_vendor", "_explorers"))
    )


def _explorers(page) -> list:
    page.wait_for_selector(".tconv-explorer.tconv-ready")
    return page.query_selector_all(".tconv-explorer")


def _shown(explorer) -> str:
    """What an explorer shows: its panels' DOM."""
    return explorer.eval_on_selector(".tconv-panels", "node => node.innerHTML")


def _choose(explorer, name: str, value) -> None:
    """Click the button of control `name` that shows `value`."""
    buttons = explorer.query_selector_all(f'.tconv-control[data-name="{name}"] .tconv-button')
    labels = [b.inner_text() for b in buttons]
    assert str(value) in labels, f"{name}: no button {value!r} among {labels}"
    buttons[labels.index(str(value))].click()


def _move(explorer, name: str) -> None:
    """Move control `name` to another value: the next button or slider position (or the first)."""
    control = explorer.query_selector(f'.tconv-control[data-name="{name}"]')
    slider = control.query_selector('input[type="range"]')
    if slider is not None:
        top, now = int(slider.get_attribute("max")), int(slider.input_value())
        slider.fill(str(now + 1 if now < top else 0))
        return
    buttons = control.query_selector_all(".tconv-button")
    pressed = [b.get_attribute("aria-pressed") == "true" for b in buttons]
    now = pressed.index(True)
    buttons[now + 1 if now + 1 < len(buttons) else 0].click()


def test_every_page_loads_clean(site, server, visit):
    pages = _pages(site)
    assert EXPLORERS_PAGE in pages
    v = visit()
    for page in pages:
        v.errors.clear()
        v.foreign.clear()
        v.open(server + page)
        v.check_clean(page)


def test_every_control_of_every_explorer_changes_the_display(server, visit):
    v = visit()
    page = v.open(server + EXPLORERS_PAGE)
    explorers = _explorers(page)
    names = [e.get_attribute("data-explorer") for e in explorers]
    assert names == ["stamps", "geometry", "overlap", "mitigation", "gradients"]
    # screenshots first, as a reader finds them: a viewport tall enough for a whole explorer,
    # which is centred in it, clear of the theme's sticky header
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 2400})
    for name, explorer in zip(names, explorers):
        explorer.evaluate("node => node.scrollIntoView({block: 'center'})")
        explorer.screenshot(path=str(ARTIFACTS / f"explorer_{name}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    for name, explorer in zip(names, explorers):
        controls = [c.get_attribute("data-name") for c in explorer.query_selector_all(".tconv-control")]
        assert controls, f"{name}: no controls were built"
        for control in controls:
            before = _shown(explorer)
            _move(explorer, control)
            assert _shown(explorer) != before, f"{name}: moving {control!r} changed nothing"
    v.check_clean(EXPLORERS_PAGE)


def test_stamp_stepper_plays(server, visit):
    v = visit()
    page = v.open(server + EXPLORERS_PAGE)
    stepper = _explorers(page)[0]
    _choose(stepper, "step", 0)
    title = lambda: stepper.eval_on_selector(".tconv-panel:nth-child(3) .tconv-title", "n => n.textContent")
    assert title().startswith("canvas after 0 of")
    stepper.query_selector(".tconv-play").click()
    page.wait_for_function(
        "node => node.querySelector('.tconv-panel:nth-child(3) .tconv-title').textContent"
        ".startsWith('canvas after 2 of')", arg=stepper)
    v.check_clean("stamp stepper")


@pytest.fixture(scope="module")
def geometry_page(server, browser):
    """One explorers page shared by the geometry cases: each sets every control it needs."""
    v = Visit(browser)
    yield v, v.open(server + EXPLORERS_PAGE)
    v.close()


@pytest.mark.parametrize("settings", [
    dict(input_size=4, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=1),
    dict(input_size=2, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=1),
    dict(input_size=3, kernel_size=1, stride=3, padding=0, output_padding=2, dilation=1),
    dict(input_size=3, kernel_size=5, stride=1, padding=2, output_padding=0, dilation=2),
    dict(input_size=2, kernel_size=4, stride=2, padding=2, output_padding=0, dilation=2),
    dict(input_size=2, kernel_size=2, stride=1, padding=2, output_padding=0, dilation=1),  # size 0: refused
], ids=lambda s: "n{input_size}_k{kernel_size}_s{stride}_p{padding}_op{output_padding}_d{dilation}"
                 .format(**s))
def test_geometry_shows_the_library_output_size(geometry_page, settings):
    v, page = geometry_page
    explorer = page.query_selector('.tconv-explorer[data-explorer="geometry"]')
    for name, value in settings.items():
        _choose(explorer, name, value)
    formula = explorer.eval_on_selector(".tconv-formula", "n => n.textContent")
    shown = int(re.search(r"= (-?\d+)\s*$", formula).group(1))
    expected = geometry.conv_transpose_output_size(*settings.values())
    assert shown == expected, f"{settings}: the page says {shown}, tconv_lib {expected}"
    titles = explorer.eval_on_selector_all(".tconv-title", "ns => ns.map(n => n.textContent)")
    if expected > 0 and settings["output_padding"] < max(settings["stride"], settings["dilation"]):
        assert f"output {expected}×{expected}: stamps per pixel" in titles
        grid = explorer.query_selector_all(".tconv-panel")[2].query_selector("table")
        assert len(grid.query_selector_all("tr")) == expected
    else:
        assert explorer.query_selector(".tconv-error") is not None, "an impossible setting shows no error"
    v.check_clean("geometry explorer")


def test_maths_is_typeset(server, visit):
    for page_name in ("book/intro.html", EXPLORERS_PAGE):
        v = visit()
        page = v.open(server + page_name)
        # MyST marks each formula span.math.notranslate (inline) or div.math.notranslate (display)
        sources = page.eval_on_selector_all(".math.notranslate", "ns => ns.length")
        assert sources > 0, f"{page_name} has no maths to typeset"
        # MathJax 2's HTML-CSS output puts a span.MathJax frame in each (inside a div.MathJax_Display
        # for display maths), next to the script it parsed the TeX into.
        rendered = page.eval_on_selector_all(".math.notranslate span.MathJax", "ns => ns.length")
        scripts = page.eval_on_selector_all('.math.notranslate script[type^="math/tex"]', "ns => ns.length")
        assert rendered == sources and scripts == sources, (
            f"{page_name}: {sources} formulas, {rendered} typeset, {scripts} parsed")
        raw = page.eval_on_selector_all(
            ".math.notranslate", r"ns => ns.filter(n => /\\\(|\\\[/.test(n.innerText)).length")
        assert raw == 0, f"{page_name}: {raw} formulas still show their TeX source"
        errors = page.eval_on_selector_all(".MathJax_Error, merror", "ns => ns.length")
        assert errors == 0, f"{page_name}: MathJax reported {errors} errors"
        v.check_clean(page_name)


def test_explorers_work_from_file_urls(site, visit):
    v = visit(allowed_schemes=("file",))
    page = v.open((site / EXPLORERS_PAGE).as_uri())
    explorers = _explorers(page)
    assert len(explorers) == 5
    geometry_explorer = explorers[1]
    before = _shown(geometry_explorer)
    _move(geometry_explorer, "stride")
    assert _shown(geometry_explorer) != before
    v.check_clean(f"{EXPLORERS_PAGE} from file://")
