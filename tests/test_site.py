"""The built site in a real browser, as readers use it: at 1366 and 390 px, by keyboard, with axe-core.

Playwright drives Debian's Chromium (never a downloaded browser).  The site is
served over http from 127.0.0.1 on a free port; every request is routed, and
one that would leave the site fails the test.  One page is also opened from
file://, as a reader who downloads the site would.

Every page is visited once at each width (the ``survey`` fixture) and measured:
its first-load bytes, axe-core's findings (tests/vendor/axe-core, injected into
the page), horizontal overflow, Tab stops that do nothing, and every formula --
where an inline formula's baseline sits against the text's, whether any glyph
is cut off, whether a display equation fits or scrolls.  The tests below assert
on those measurements; ``tests/artifacts/site-survey.json`` keeps them, and
screenshots (phone and desktop) land in tests/artifacts/ too (git-ignored).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tconv_lib import geometry

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
EXPLORERS_PAGE = "book/explorers.html"
TIMEOUT_MS = 20_000
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1366, "phone": 390}
FIRST_LOAD_LIMIT = 1_500_000  # bytes, uncompressed, per page
BASELINE_TOLERANCE = 0.5  # px between an inline formula's baseline and its text's
# chapter pages: each has an explorer where its text discusses it
CHAPTERS = ["algebra", "mechanics", "geometry", "artifacts", "mitigation", "gradients", "applications"]


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


class Visit:
    """A fresh browser context and page that records console errors and off-site requests."""

    def __init__(self, browser, allowed_schemes=("http",), width=1280, height=900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.bytes: dict[str, int] = {}
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
        try:
            self.bytes[response.url] = len(response.body())
        except sync_api.Error:  # a redirect, or a page that navigated away meanwhile
            pass

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
        """Wait until MathJax (if the page has it) has typeset everything and fonts have loaded.

        A page that redirects (index.html) navigates away meanwhile: then wait for
        the page it goes to.
        """
        for _ in range(3):
            try:
                self.page.wait_for_load_state("load")
                typeset = self.page.evaluate(
                    "() => (window.MathJax && MathJax.startup && MathJax.startup.promise)"
                    " ? MathJax.startup.promise.then(() => document.fonts.ready).then(() => true)"
                    " : false"
                )
                self.page.wait_for_load_state("networkidle")
                return typeset
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
        if not p.relative_to(site).parts[0].startswith(
            ("_static", "_vendor", "_explorers", "_site", "_sources", "_notebooks"))
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
    for page_name in ("book/intro.html", EXPLORERS_PAGE, "book/geometry.html"):
        v = visit()
        page = v.open(server + page_name)
        # MyST marks each formula span.math (inline) or div.math (display); MathJax 3 puts an
        # mjx-container in each, with the assistive MathML that screen readers read
        sources = page.eval_on_selector_all(".math.notranslate", "ns => ns.length")
        assert sources > 0, f"{page_name} has no maths to typeset"
        rendered = page.eval_on_selector_all(".math.notranslate mjx-container", "ns => ns.length")
        spoken = page.eval_on_selector_all(".math.notranslate mjx-assistive-mml math", "ns => ns.length")
        assert rendered == sources == spoken, (
            f"{page_name}: {sources} formulas, {rendered} typeset, {spoken} with MathML for screen readers")
        raw = page.eval_on_selector_all(
            ".math.notranslate", r"ns => ns.filter(n => /\\\(|\\\[/.test(n.innerText)).length")
        assert raw == 0, f"{page_name}: {raw} formulas still show their TeX source"
        errors = page.eval_on_selector_all("mjx-merror, .MathJax_Error", "ns => ns.length")
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


# ------------------------------------------------------------------------------------------------
# Every page at both widths: weight, axe-core, overflow, Tab stops, maths (one visit each)
# ------------------------------------------------------------------------------------------------

MEASURE_JS = r"""() => {
  const out = {};
  const root = document.documentElement;
  out.overflow = root.scrollWidth - root.clientWidth;
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  function probe() {
    const p = document.createElement("span");
    p.style.cssText = "display:inline-block;width:0;height:0;margin:0;padding:0;border:0;" +
                      "vertical-align:baseline";
    return p;
  }
  // a glyph on the formula's own baseline: not in a sub- or superscript, a fraction, a limit, a
  // root's index or sign, or a table (the base of a script is on the baseline)
  const off = new Set(["MJX-SCRIPT", "MJX-MFRAC", "MJX-UNDER", "MJX-OVER", "MJX-ROOT", "MJX-SURD",
                       "MJX-MTABLE"]);
  function onBaseline(math) {
    for (const c of math.querySelectorAll("mjx-c")) {
      let ok = true;
      for (let a = c.parentElement; a && a !== math; a = a.parentElement) if (off.has(a.tagName)) ok = false;
      if (ok) return c;
    }
    return null;
  }
  // how far (px) the ancestors that clip cut into a box
  function cut(node, box) {
    let worst = 0;
    for (let a = node.parentElement; a && a !== document.body && a !== root; a = a.parentElement) {
      const st = getComputedStyle(a);
      const r = a.getBoundingClientRect();
      if (st.overflowY !== "visible") worst = Math.max(worst, r.top - box.top, box.bottom - r.bottom);
      if (st.overflowX === "hidden" || st.overflowX === "clip") {
        worst = Math.max(worst, r.left - box.left, box.right - r.right);
      }
    }
    return worst;
  }
  out.inline = [];
  document.querySelectorAll("span.math > mjx-container").forEach(c => {
    if (!visible(c)) return;
    const math = c.querySelector("mjx-math");
    // the text's baseline where the formula starts: a probe inside the container, kept on the
    // formula's line (nowrap while measuring)
    const text = probe(), wrap = c.style.whiteSpace;
    c.style.whiteSpace = "nowrap";
    c.insertBefore(text, c.firstChild);
    let offset = null;
    const leaf = onBaseline(math);
    if (leaf) {
      const inner = probe();
      leaf.insertAdjacentElement("afterend", inner);
      offset = inner.getBoundingClientRect().bottom - text.getBoundingClientRect().bottom;
      inner.remove();
    }
    text.remove();
    c.style.whiteSpace = wrap;
    const tex = (c.querySelector("mjx-assistive-mml") || c).textContent.slice(0, 40);
    out.inline.push({tex: tex, offset: offset, clipped: cut(c, math.getBoundingClientRect())});
  });
  out.display = [];
  document.querySelectorAll("div.math > mjx-container").forEach(c => {
    if (!visible(c)) return;
    const st = getComputedStyle(c);
    const box = c.getBoundingClientRect(), math = c.querySelector("mjx-math").getBoundingClientRect();
    out.display.push({
      tex: (c.querySelector("mjx-assistive-mml") || c).textContent.slice(0, 40),
      fits: c.scrollWidth <= c.clientWidth + 1,
      scrolls: (st.overflowX === "auto" || st.overflowX === "scroll") && c.hasAttribute("tabindex") &&
               c.tabIndex >= 0,
      cut_vertically: c.scrollHeight > c.clientHeight + 1 ||
                      cut(c, {top: math.top, bottom: math.bottom, left: box.left, right: box.right}) > 0.5,
    });
  });
  // Tab stops that do nothing: focusable, visible, neither a control nor a region that scrolls
  const controls = new Set(["A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY", "IFRAME"]);
  const roles = new Set(["button", "link", "checkbox", "radio", "slider", "tab", "menuitem", "switch",
                         "textbox", "combobox", "option", "spinbutton", "searchbox"]);
  out.inert_tab_stops = [];
  document.querySelectorAll("a[href], button, input, select, textarea, summary, [tabindex]").forEach(e => {
    if (e.tabIndex < 0 || e.disabled || !visible(e)) return;
    if (e.closest("dialog:not([open]), [inert], [hidden]")) return;
    if (controls.has(e.tagName) || roles.has(e.getAttribute("role"))) return;
    if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) return;
    out.inert_tab_stops.push(e.tagName.toLowerCase() + "." + String(e.className).split(" ")[0]);
  });
  out.formulas_in_tab_order = document.querySelectorAll("mjx-container[tabindex='0']").length;
  out.search_boxes = Array.from(
    document.querySelectorAll(".search-button-field, .search-button, form.bd-search"))
    .filter(e => visible(e) && !e.closest("dialog")).length;
  return out;
}"""

AXE_JS = """() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, nodes: v.nodes.length,
  where: v.nodes.slice(0, 3).map(n => n.target.join(" "))})))"""

SCREENSHOTS = ("book/algebra.html", "book/geometry.html", "book/mechanics.html", EXPLORERS_PAGE)


@pytest.fixture(scope="module")
def survey(site, server, browser):
    """``{(page, width name): measurements}`` for every page at both widths, and their screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for width_name, width in WIDTHS.items():
        for page_name in _pages(site):
            v = Visit(browser, width=width, height=900)
            page = v.open(server + page_name)
            page.evaluate("() => window.tconvMarkScrollers && window.tconvMarkScrollers()")
            page.wait_for_timeout(200)
            measured = page.evaluate(MEASURE_JS)
            measured["bytes"] = sum(v.bytes.values())
            measured["errors"] = list(v.errors) + [f"off-site: {u}" for u in v.foreign]
            page.add_script_tag(path=str(AXE))
            measured["axe"] = page.evaluate(AXE_JS)
            if page_name in SCREENSHOTS:
                stem = page_name.rsplit("/", 1)[-1].removesuffix(".html")
                page.screenshot(path=str(ARTIFACTS / f"{stem}_{width_name}.png"))
            results[page_name, width_name] = measured
            v.close()
    report = {f"{p} @ {w}": {k: m[k] for k in m if k not in ("inline", "display")} |
              {"inline_formulas": len(m["inline"]), "display_formulas": len(m["display"]),
               "largest_baseline_offset": max(
                   (abs(f["offset"]) for f in m["inline"] if f["offset"] is not None), default=None),
               "inline_clipped": sum(f["clipped"] > 0.5 for f in m["inline"])}
              for (p, w), m in results.items()}
    (ARTIFACTS / "site-survey.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return results


def test_every_page_loads_at_most_one_and_a_half_megabytes(survey):
    heavy = {f"{p} @ {w}": f"{m['bytes'] / 1e6:.2f} MB" for (p, w), m in survey.items()
             if m["bytes"] > FIRST_LOAD_LIMIT}
    assert not heavy, f"first loads over {FIRST_LOAD_LIMIT / 1e6} MB: {heavy}"
    assert all(m["bytes"] > 50_000 for m in survey.values()), "a page loaded almost nothing: measured wrong?"


def test_axe_finds_nothing_critical_or_serious_on_any_page(survey):
    assert any(m["axe"] is not None for m in survey.values())
    found = {f"{p} @ {w}": [f"{a['id']} ({a['impact']}, {a['nodes']}: {a['where']})" for a in m["axe"]
                            if a["impact"] in ("critical", "serious")]
             for (p, w), m in survey.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"axe-core: {found}"


def test_no_page_scrolls_sideways_on_a_phone(survey):
    wide = {p: m["overflow"] for (p, w), m in survey.items() if w == "phone" and m["overflow"] > 0}
    assert not wide, f"pages wider than 390 px (by px): {wide}"


def test_pages_load_clean_at_both_widths(survey):
    dirty = {f"{p} @ {w}": m["errors"] for (p, w), m in survey.items() if m["errors"]}
    assert not dirty, dirty


def test_inline_maths_sits_on_the_baseline_and_nothing_is_cut(survey):
    measured = [(p, w, f) for (p, w), m in survey.items() for f in m["inline"]]
    assert len(measured) > 300, "too few inline formulas measured: is MathJax typesetting?"
    unmeasured = [(p, w, f["tex"]) for p, w, f in measured if f["offset"] is None]
    assert len(unmeasured) < len(measured) // 20, f"formulas without a glyph on their baseline: {unmeasured}"
    off = [(p, w, f["tex"], round(f["offset"], 2)) for p, w, f in measured
           if f["offset"] is not None and abs(f["offset"]) > BASELINE_TOLERANCE]
    assert not off, f"inline formulas off the baseline by more than {BASELINE_TOLERANCE} px: {off[:10]}"
    cut = [(p, w, f["tex"], round(f["clipped"], 1)) for p, w, f in measured if f["clipped"] > 0.5]
    assert not cut, f"inline formulas cut off: {cut[:10]}"


def test_every_display_equation_fits_or_scrolls(survey):
    measured = [(p, w, f) for (p, w), m in survey.items() for f in m["display"]]
    assert len(measured) > 20
    bad = [(p, w, f["tex"]) for p, w, f in measured
           if f["cut_vertically"] or not (f["fits"] or f["scrolls"])]
    assert not bad, f"display equations cut off (neither fit nor scroll by keyboard): {bad}"
    phone_scrolls = [f for (p, w), m in survey.items() if w == "phone" for f in m["display"] if not f["fits"]]
    desktop_scrolls = [f for (p, w), m in survey.items() if w == "desktop"
                       for f in m["display"] if not f["fits"]]
    assert len(desktop_scrolls) <= len(phone_scrolls)


def test_no_tab_stop_does_nothing(survey):
    inert = {f"{p} @ {w}": m["inert_tab_stops"] for (p, w), m in survey.items() if m["inert_tab_stops"]}
    assert not inert, f"focusable elements that are neither controls nor scrolling regions: {inert}"
    math_stops = {f"{p} @ {w}": m["formulas_in_tab_order"] for (p, w), m in survey.items()}
    fitting = {k: n for k, n in math_stops.items() if n and "phone" not in k}
    assert not fitting, f"formulas that fit are Tab stops on the desktop: {fitting}"


def test_one_search_box_at_each_width(survey):
    counts = {f"{p} @ {w}": m["search_boxes"] for (p, w), m in survey.items() if p != "search.html"}
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}


@pytest.mark.parametrize("toggle, dialog", [(".primary-toggle", "#pst-primary-sidebar-modal"),
                                            (".secondary-toggle", "#pst-secondary-sidebar-modal")],
                         ids=["sidebar", "contents"])
def test_phone_navigation_opens_and_closes(server, visit, toggle, dialog):
    v = visit(width=390, height=844)
    page = v.open(server + "book/geometry.html")
    button = page.locator(f".bd-header-article {toggle}")
    assert button.is_visible(), f"no visible {toggle} on a phone"
    button.click()
    page.wait_for_selector(f"{dialog}[open]")
    links = page.locator(f"{dialog} a[href]")
    assert links.count() > 3 and links.first.is_visible(), f"{dialog} opened without its links"
    if toggle == ".primary-toggle":
        page.screenshot(path=str(ARTIFACTS / "geometry_phone_navigation.png"))
        assert page.locator(f"{dialog} a", has_text="Experiments").is_visible()
    page.keyboard.press("Escape")
    page.wait_for_selector(f"{dialog}:not([open])", state="attached")
    assert not page.locator(dialog).evaluate("d => d.open")
    v.check_clean("phone navigation")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_a_live_explorer(server, visit, chapter):
    """Without a kernel: the chapter's explorer builds its controls, and a control changes what it shows."""
    v = visit()
    page = v.open(server + f"book/{chapter}.html")
    explorers = _explorers(page)
    assert explorers, f"{chapter}: no explorer"
    explorer = explorers[0]
    explorer.scroll_into_view_if_needed()
    assert not page.evaluate("() => 'Jupyter' in window && !!window.Jupyter")
    controls = [c.get_attribute("data-name") for c in explorer.query_selector_all(".tconv-control")]
    assert controls, f"{chapter}: the explorer built no controls"
    for control in controls[:2]:
        before = _shown(explorer)
        _move(explorer, control)
        assert _shown(explorer) != before, f"{chapter}: moving {control!r} changed nothing"
    v.check_clean(chapter)


def test_explorer_controls_are_named_and_say_their_state(server, visit):
    v = visit()
    page = v.open(server + EXPLORERS_PAGE)
    _explorers(page)
    unnamed = page.evaluate("""() => {
      const name = e => {
        const ids = (e.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean);
        return ids.map(id => (document.getElementById(id) || {}).textContent || "").join(" ").trim()
               || e.getAttribute("aria-label") || "";
      };
      const bad = [];
      const named = ".tconv-explorer [role=group], .tconv-explorer input, .tconv-play, .tconv-pick";
      document.querySelectorAll(named).forEach(e => { if (!name(e)) bad.push(e.outerHTML.slice(0, 80)); });
      document.querySelectorAll(".tconv-button, .tconv-play, .tconv-pick").forEach(b => {
        const state = b.getAttribute("aria-pressed");
        if (state !== "true" && state !== "false") bad.push("no state: " + b.outerHTML.slice(0, 60));
      });
      document.querySelectorAll(".tconv-explorer input[type=range]").forEach(i => {
        if (!i.getAttribute("aria-valuetext")) bad.push("no value text: " + i.outerHTML.slice(0, 60));
      });
      return bad;
    }""")
    assert not unnamed, unnamed
    groups = page.evaluate("() => Array.from(document.querySelectorAll('.tconv-explorer [role=group]'))"
                           ".map(g => g.getAttribute('aria-labelledby'))"
                           ".map(id => document.getElementById(id).textContent)")
    assert "stride s" in groups and "kernel" in groups


def test_picking_a_pixel_by_keyboard(server, visit):
    v = visit()
    page = v.open(server + EXPLORERS_PAGE)
    gradients = [e for e in _explorers(page) if e.get_attribute("data-explorer") == "gradients"][0]
    pick = gradients.query_selector_all("button.tconv-pick")[1]
    pick.focus()
    page.keyboard.press("Enter")
    pressed = gradients.eval_on_selector("button.tconv-pick[aria-pressed=true]",
                                         "b => b.getAttribute('aria-label')")
    assert "pixel (0, 1) = " in pressed, pressed
    assert page.evaluate("() => document.activeElement.getAttribute('aria-pressed')") == "true"
    row = gradients.query_selector('.tconv-control[data-name="row"] input[type=range]')
    assert row is None or row.get_attribute("aria-valuetext") == "0"
    v.check_clean("picking by keyboard")


def test_vendored_files_are_the_pinned_packages():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import vendor
    finally:
        sys.path.pop(0)
    for spec in vendor.PACKAGES:
        manifest = json.loads((spec["target"] / vendor.MANIFEST).read_text())
        assert (manifest["package"], manifest["version"]) == (spec["package"], spec["version"])
        assert manifest["integrity"].startswith("sha512-")
        assert vendor.check(spec["target"]) == [], f"{spec['package']}: files differ from the manifest"


def test_launch_buttons_open_runnable_notebooks(site):
    """Binder opens a chapter's MyST source in the course's environment; Colab a notebook the build wrote."""
    config = __import__("yaml").safe_load((ROOT / "_config.yml").read_text())
    org_repo = urlparse(config["repository"]["url"]).path.strip("/")
    for chapter in CHAPTERS:
        html = (site / "book" / f"{chapter}.html").read_text(encoding="utf-8")
        links = {host: url for url, host in re.findall(
            r'href="(https://(mybinder\.org|colab\.research\.google\.com)/[^"]+)"', html)}
        binder = urlparse(links["mybinder.org"])
        assert binder.path == f"/v2/gh/{org_repo}/{config['repository']['branch']}", binder.path
        (target,) = parse_qs(binder.query)["urlpath"]
        assert target == f"lab/tree/book/{chapter}.md" and (ROOT / target.removeprefix("lab/tree/")).is_file()
        colab = urlparse(links["colab.research.google.com"])
        assert colab.path == f"/github/{org_repo}/blob/notebooks/book/{chapter}.ipynb", colab.path
        assert (site / "_notebooks" / "book" / f"{chapter}.ipynb").is_file()
    assert (ROOT / ".binder" / "requirements.txt").read_text().count("-r ../requirements.txt") == 1


def test_generated_notebooks_are_the_chapters_and_run(site, tmp_path):
    """Each chapter's notebook holds the chapter's cells after the install cell; the shortest one runs."""
    import jupytext
    import nbclient
    import nbformat

    sizes = {}
    for chapter in CHAPTERS:
        built = nbformat.read(site / "_notebooks" / "book" / f"{chapter}.ipynb", as_version=4)
        source = jupytext.read(ROOT / "book" / f"{chapter}.md", fmt="md:myst")
        assert built.cells[0].metadata["tags"] == ["colab-setup"]
        assert [c.source for c in built.cells[1:]] == [c.source for c in source.cells]
        assert all(not c.get("outputs") for c in built.cells if c.cell_type == "code")
        sizes[chapter] = sum(c.cell_type == "code" for c in built.cells)
    shortest = min(sizes, key=sizes.get)
    notebook = nbformat.read(site / "_notebooks" / "book" / f"{shortest}.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "TCONV_STATIC_SITE"}
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "book")}},
                            kernel_manager_kwargs={"env": env}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{shortest}: {errors[:1]}"
