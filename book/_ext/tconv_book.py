"""Sphinx extension for the course site: everything a page needs, served by the site, and no more.

Maths
    MathJax 3, vendored from npm (``book/_vendor/mathjax/``, see ``vendor.py``)
    and copied to ``<site>/_vendor/mathjax/``: only the TeX input, the CHTML
    output with its fonts and the assistive MathML that screen readers read.
    No menu: it costs 426 kB and makes every formula a Tab stop that does
    nothing.  ``site/site.css`` undoes the theme's ``span.math`` flex box
    (which lifts inline maths off the baseline and clips its descenders) and
    lets a display equation that is wider than a phone scroll;
    ``site/site.js`` makes such an equation focusable only while it overflows.

Weight
    The theme's Font Awesome script (1.5 MB) is not loaded: the few icons the
    pages use are written into ``<site>/_site/icons.css`` at the end of the
    build, as CSS masks cut from the theme's own copy of Font Awesome, and the
    icon fonts the theme's CSS uses are cut down to the glyphs it names.  The
    style sheets lose the rules no page can match (``purgecss.py``).  The
    search index and its scripts load on the search page only (the search box
    opens that page).  Each page links only the extensions' assets it uses
    (sphinx-design, togglebutton, copybutton, sphinx-exercise, myst-nb's cell
    styles, the explorers), and its images load lazily.

Navigation
    The theme's top bar is empty in this book's layout but still held
    duplicates of the sidebar buttons, and the theme's script bound its
    handlers to those hidden duplicates: its navbar items are switched off
    here, so the visible buttons are the ones that work, and the search box
    lives in the sidebar only (a button in the article header on phones).

Figures
    myst-nb writes an image output's file path as its alt text.  Figures from
    :mod:`tconv_lib.plotting` say what they show in their output's metadata
    (``{"image/png": {"alt": ...}}``); :func:`_render_image_with_alt` passes it on.

Notebooks
    Chapters are MyST text notebooks: JupyterLab opens them as notebooks
    through jupytext (``python3 course.py jupyter-config``), and so does Binder
    (``.binder/``).  Colab opens only ``.ipynb`` files from GitHub: the build
    writes each chapter as a notebook, ``<site>/_notebooks/book/<page>.ipynb``
    (jupytext, no outputs, a first cell that installs ``tconv_lib`` where it is
    missing), the publishing workflow pushes them to the branch
    ``tconv_notebooks_branch``, and the Colab button points there.

Explorers
    ``TCONV_STATIC_SITE=1`` is set before any notebook runs (the kernels
    inherit the environment), so that ``explore(...)`` embeds every
    combination's panels; the viewer that draws them, ``book/_explorers/``,
    is copied to ``<site>/_explorers/``.

Every folder the site serves besides Sphinx's own sits next to ``_static/``,
not inside it: Jupyter Book would inject every script under ``_static/`` into
every page.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import purgecss  # noqa: E402  (beside this file; Sphinx imports this module by path)

HERE = Path(__file__).resolve().parent
BOOK = HERE.parent
VENDOR_DIR = "_vendor"
SITE_DIR = "_site"
EXPLORERS_DIR = "_explorers"
EXPLORERS_SOURCE = BOOK / EXPLORERS_DIR
MATHJAX_SOURCE = BOOK / VENDOR_DIR / "mathjax"
SITE_SOURCE = HERE / "site"
TEMPLATES = HERE / "templates"
NOTEBOOKS_DIR = "_notebooks"
COLAB_SETUP = """\
# On Colab (or anywhere tconv_lib is missing): install the course's library.  It needs only
# NumPy; Colab already has PyTorch, matplotlib, ipywidgets and scikit-learn.
import importlib.util, subprocess, sys
if importlib.util.find_spec("tconv_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "git+{repository}@{branch}"], check=True)"""

# The classes MyST marks its maths with (myst-parser's default), and the classes it marks whole
# sections with so that MathJax leaves everything else alone.
MATH_CLASSES = "tex2jax_process|mathjax_process|math|output_area"
MATHJAX3_CONFIG = {
    "loader": {"load": ["input/tex", "output/chtml", "a11y/assistive-mml"]},
    "tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]},
    "options": {"processHtmlClass": MATH_CLASSES, "ignoreHtmlClass": "tex2jax_ignore|mathjax_ignore"},
    "chtml": {"matchFontHeight": False},
}

# Assets of the book's extensions, and what a page's body must contain to need them.
_OPTIONAL_ASSETS = {
    "sphinx-design": r'class="[^"]*\bsd-',
    "design-tabs": r'class="[^"]*\bsd-tab',
    "sphinx-thebe": r"thebe",
    "togglebutton": r'class="[^"]*\b(toggle|dropdown)',
    "copybutton": r"<pre",
    "clipboard": r"<pre",
    "exercise": r'class="[^"]*\b(exercise|solution)',
    "mystnb": r'class="[^"]*\bcell',
    f"{EXPLORERS_DIR}/explorer": r'class="tconv-explorer',
}


def _mathjax_path() -> str:
    # Sphinx joins a relative path to "_static/": step out of it.
    return f"../{VENDOR_DIR}/mathjax/startup.js"


def _configure(app, config) -> None:
    config.mathjax_path = _mathjax_path()
    config.mathjax3_config = json.loads(json.dumps(MATHJAX3_CONFIG))
    config.mathjax2_config = None
    # pydata-sphinx-theme reads the colour mode from here and logs an error when it is empty
    config.html_context.setdefault("default_mode", "auto")
    # No top bar: sphinx-book-theme puts its buttons in the article header, and a top bar
    # would hold hidden duplicates of them (and a second search box).
    options = config.html_theme_options
    for slot in ("navbar_start", "navbar_center", "navbar_end", "navbar_persistent"):
        options[slot] = []
    options["search_as_you_type"] = False
    # Templates: ours (book/_ext/templates), then the theme's asset macros without Font Awesome.
    generated = Path(app.outdir).parent / "tconv_templates"
    _write_asset_macros(generated)
    config.templates_path = [str(TEMPLATES), str(generated), *config.templates_path]
    # Explorers: notebooks executed from here on see the variable and export static data.
    os.environ["TCONV_STATIC_SITE"] = "1"
    # Relative paths are joined to "_static/" too: step out of it.
    app.add_css_file(f"../{SITE_DIR}/icons.css")
    app.add_css_file(f"../{SITE_DIR}/site.css")
    app.add_js_file(f"../{SITE_DIR}/site.js", defer="defer")
    app.add_js_file(f"../{EXPLORERS_DIR}/explorer.js", defer="defer")
    app.add_css_file(f"../{EXPLORERS_DIR}/explorer.css")


def _theme_static() -> Path:
    import pydata_sphinx_theme

    return Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static"


def _write_asset_macros(folder: Path) -> None:
    """The theme's ``static/webpack-macros.html`` without its Font Awesome script."""
    source = (_theme_static() / "webpack-macros.html").read_text()
    trimmed, count = re.subn(r"\s*<script [^>]*scripts/fontawesome\.js[^>]*></script>", "", source)
    if count != 1:
        raise RuntimeError("pydata-sphinx-theme's webpack-macros.html no longer loads fontawesome.js "
                           "as book/_ext/tconv_book.py expects: check the pinned theme version")
    (folder / "static").mkdir(parents=True, exist_ok=True)
    target = folder / "static" / "webpack-macros.html"
    if not target.exists() or target.read_text() != trimmed:
        target.write_text(trimmed)


def _asset_name(asset) -> str:
    return str(getattr(asset, "filename", asset) or "")


def _tidy_page(app, pagename, templatename, context, doctree) -> None:
    """Keep each page's head to what the page uses, and free of what makes a browser complain.

    Sphinx 7.4 adds an inline script registered after the builder started twice
    (once as filename None, once as ""): sphinx-thebe's ``const THEBE_JS_URL``
    then throws "already declared".  Without an icon link the browser asks the
    server for /favicon.ico, which the site does not have.
    """
    body = context.get("body", "")
    unused = [name for name, needed in _OPTIONAL_ASSETS.items() if not re.search(needed, body)]

    def used(asset) -> bool:
        name = _asset_name(asset)
        return not any(re.search(rf"(^|/){re.escape(u)}[.-]", name) for u in unused)

    seen, scripts = set(), []
    for script in context.get("script_files", []):
        key = (_asset_name(script), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen and used(script):
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts
    context["css_files"] = [css for css in context.get("css_files", []) if used(css)]
    context["metatags"] = context.get("metatags", "") + '\n<link rel="icon" href="data:,">'
    if body:
        body = re.sub(r"<img (?![^>]*\bloading=)", '<img loading="lazy" ', body)
        # docutils puts citations (role doc-biblioentry) in a role="list", which ARIA requires to hold
        # listitems: screen readers then skip the entries.  Each entry is a list item.
        body = body.replace('role="doc-biblioentry"', 'role="listitem"')
        context["body"] = body


def _repository(app) -> tuple[str, str]:
    options = app.config.html_theme_options
    return options.get("repository_url", "").rstrip("/"), options.get("repository_branch", "main") or "main"


def chapter_notebook(source: Path, repository: str, branch: str):
    """A MyST text notebook as an ``.ipynb`` for Colab: no outputs, an install cell first."""
    import jupytext
    import nbformat

    notebook = jupytext.read(source, fmt="md:myst")
    setup = nbformat.v4.new_code_cell(COLAB_SETUP.format(repository=repository, branch=branch))
    setup.metadata["tags"] = ["colab-setup"]
    notebook.cells.insert(0, setup)
    notebook.metadata.pop("jupytext", None)
    return notebook


def _colab_url(app, pagename: str) -> str | None:
    repository, _ = _repository(app)
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(\.git)?", repository)
    if not match:
        return None
    colab = app.config.html_theme_options.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    return (f"{colab}/github/{match.group(1)}/{match.group(2)}/blob/{app.config.tconv_notebooks_branch}/"
            f"{pagename}.ipynb")


def _launch_buttons(app, pagename, templatename, context, doctree) -> None:
    """Point the Colab button at the chapter's notebook on the notebooks branch."""
    url = _colab_url(app, pagename)

    def walk(items):
        for item in items or []:
            if isinstance(item, dict):
                if item.get("text") == "Colab" and url:
                    item["url"] = url
                walk(item.get("buttons"))

    walk(context.get("header_buttons"))


def _write_notebooks(app) -> None:
    out = Path(app.outdir) / NOTEBOOKS_DIR
    repository, branch = _repository(app)
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".md" or "jupytext:" not in source.read_text(encoding="utf-8")[:400]:
            continue
        target = out / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        import nbformat

        nbformat.write(chapter_notebook(source, repository, branch), target)


def _render_image_with_alt(original):
    """Wrap myst-nb's image renderer: an output's ``alt`` metadata becomes the image's alt text,
    and the image loads when the reader scrolls near it (``loading="lazy"``), so that a long
    chapter's first load stays small on a phone."""

    def render_image(self, data):
        nodes = original(self, data)
        alt = data.output_metadata.get(data.mime_type, {}).get("alt")
        for node in nodes:
            if alt and not node.get("alt"):
                node["alt"] = str(alt)
            if node.tagname == "image" and "loading" not in node.attributes:
                node["loading"] = "lazy"
        return nodes

    render_image.tconv_alt = True
    return render_image


def _install_alt_text() -> None:
    from myst_nb.core.render import NbElementRenderer

    if not getattr(NbElementRenderer.render_image, "tconv_alt", False):
        NbElementRenderer.render_image = _render_image_with_alt(NbElementRenderer.render_image)


# --------------------------------------------------------------------------- icons
_PACKS = {"fab": ("fa-brands", "fab"), "far": ("fa-regular", "far"), "fas": ("fa-solid", "fas")}


def _font_awesome_icons() -> dict[tuple[str, str], tuple[int, int, str]]:
    """``{(pack, name): (width, height, svg path)}`` from the theme's copy of Font Awesome."""
    source = (_theme_static() / "scripts" / "fontawesome.js").read_text()
    # The bundle defines each pack as an object literal followed by d("fab", ...), d("far", ...), ...
    ends = [(m.start(), m.group(1)) for m in re.finditer(r'\b\w\("(fa[bsr])",\w\)', source)]
    icons, start = {}, 0
    entry = re.compile(r'(?:"([a-z0-9-]+)"|\b([a-z][a-z0-9]*)):'
                       r'\[(\d+),(\d+),\[[^\]]*\],"[0-9a-f]+","([^"]+)"\]')
    for end, pack in ends:
        for m in entry.finditer(source, start, end):
            icons.setdefault((pack, m.group(1) or m.group(2)), (int(m.group(3)), int(m.group(4)), m.group(5)))
        start = end
    return icons


def _icons_css(html_files) -> str:
    """CSS that draws every Font Awesome icon the pages use, as a mask in the text colour."""
    wanted = set()
    pattern = re.compile(r'class="([^"]*\bfa-(?:solid|brands|regular)\b[^"]*)"')
    for path in html_files:
        for classes in pattern.findall(path.read_text(encoding="utf-8")):
            names = classes.split()
            pack = {"fa-solid": "fas", "fa-brands": "fab", "fa-regular": "far"}[
                next(n for n in names if n in ("fa-solid", "fa-brands", "fa-regular"))]
            wanted |= {(pack, n[3:]) for n in names if n.startswith("fa-") and n[3:] not in
                       ("solid", "brands", "regular", "lg", "sm", "xs", "fw", "2x")}
    icons = _font_awesome_icons()
    missing = sorted(f"{p} {n}" for p, n in wanted if (p, n) not in icons)
    if missing:
        raise RuntimeError(f"icons used by the pages are not in the theme's Font Awesome: {missing}")
    rules = [
        "/* Generated by book/_ext/tconv_book.py from pydata-sphinx-theme's copy of Font Awesome Free"
        " (icons: CC BY 4.0, fontawesome.com/license/free): only the icons this site's pages use. */",
        ".fa-solid::before,.fa-brands::before,.fa-regular::before{content:\"\";display:inline-block;"
        "height:1em;vertical-align:-0.125em;background-color:currentColor;"
        "-webkit-mask:var(--tconv-icon) center/contain no-repeat;"
        "mask:var(--tconv-icon) center/contain no-repeat}",
        ".fa-lg{font-size:1.25em;line-height:.05em;vertical-align:-.075em}",
    ]
    for pack, name in sorted(wanted):
        width, height, path = icons[(pack, name)]
        svg = (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}'>"
               f"<path d='{path}'/></svg>")
        uri = "data:image/svg+xml," + svg.replace("#", "%23").replace('"', "'")
        rules.append(f'.{_PACKS[pack][0]}.fa-{name}::before{{--tconv-icon:url("{uri}");'
                     f"width:{width / height:.4f}em}}")
    return "\n".join(rules) + "\n"


def _subset_icon_fonts(css: str, folder: Path) -> str:
    """The theme's CSS icons (admonitions, downloads) need Font Awesome's fonts: only their glyphs.

    Subsets each font to the private-use characters the style sheet names (a few kB instead
    of 270 kB), writes them as WOFF into ``folder`` and points the style sheet at them.
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont

    codepoints = {ord(c) for c in css if 0xE000 <= ord(c) <= 0xF8FF}
    codepoints |= {int(h, 16) for h in re.findall(r"\\([ef][0-9a-f]{3})", css)}
    folder.mkdir(parents=True, exist_ok=True)
    webfonts = _theme_static() / "vendor" / "fontawesome" / "webfonts"
    for font_file in sorted(webfonts.glob("*.ttf")):
        font = TTFont(font_file)
        subsetter = subset.Subsetter(subset.Options(flavor="woff", layout_features=[]))
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        font.flavor = "woff"
        font.save(folder / f"{font_file.stem}.woff")
    pattern = (r'url\(\.\./vendor/fontawesome/webfonts/(fa-[a-z]+-\d+)\.woff2\) format\("woff2"\),'
               r'url\(\.\./vendor/fontawesome/webfonts/\1\.ttf\) format\("truetype"\)')
    css, count = re.subn(pattern, rf'url(../../{SITE_DIR}/fonts/\1.woff) format("woff")', css)
    if count != 3:
        raise RuntimeError(f"expected the theme's 3 Font Awesome @font-face rules, found {count}")
    return css


def _copy_assets(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    shutil.copytree(MATHJAX_SOURCE, out / VENDOR_DIR / "mathjax", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("vendor.json"))
    # the explorer viewer and the site's own CSS and script: small, copied on every build
    shutil.copytree(EXPLORERS_SOURCE, out / EXPLORERS_DIR, dirs_exist_ok=True)
    shutil.copytree(SITE_SOURCE, out / SITE_DIR, dirs_exist_ok=True)
    pages = [p for p in out.rglob("*.html") if p.relative_to(out).parts[0] not in
             ("_static", "_sources", VENDOR_DIR, SITE_DIR, EXPLORERS_DIR, NOTEBOOKS_DIR)]
    (out / SITE_DIR / "icons.css").write_text(_icons_css(pages))
    _write_notebooks(app)
    # the theme's Font Awesome script is linked from no page: do not publish 3 MB of it
    for name in ("fontawesome.js", "fontawesome.js.LICENSE.txt"):
        (out / "_static" / "scripts" / name).unlink(missing_ok=True)
    shutil.rmtree(out / "_static" / "vendor" / "fontawesome", ignore_errors=True)
    # the theme's style sheet, less the rules that match nothing on any page (400 kB -> ~110 kB)
    corpus = set()
    for path in [*pages, *(p for p in out.rglob("*.js") if VENDOR_DIR not in p.relative_to(out).parts)]:
        corpus |= purgecss.words(path.read_text(encoding="utf-8", errors="replace"))
    sheet = _theme_static() / "styles" / "pydata-sphinx-theme.css"
    purged = _subset_icon_fonts(purgecss.purge(sheet.read_text(), corpus), out / SITE_DIR / "fonts")
    (out / "_static" / "styles" / sheet.name).write_text(purged)
    # and the extensions' style sheets (myst-nb's, Sphinx's basic.css, pygments', ...)
    for css in (out / "_static").glob("*.css"):
        css.write_text(purgecss.purge(css.read_text(encoding="utf-8"), corpus), encoding="utf-8")
    # source maps of minified theme files: 1.7 MB that no reader loads
    for path in [*(out / "_static" / "styles").glob("*.map"), *(out / "_static" / "scripts").glob("*.map")]:
        path.unlink()


def _slim_code_blocks(app, exception) -> None:
    """Code blocks: names, punctuation and whitespace drawn in the block's own colour need no span
    of their own (about a third of a chapter's HTML).  Runs after the theme has written its
    light and dark pygments.css (its own build-finished handler), which says which tokens those are."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    plain = purgecss.plain_token_classes((out / "_static" / "pygments.css").read_text(encoding="utf-8"))
    for page in out.rglob("*.html"):
        if page.relative_to(out).parts[0] in ("_static", "_sources", VENDOR_DIR, SITE_DIR, EXPLORERS_DIR):
            continue
        text = page.read_text(encoding="utf-8")
        slim = purgecss.unwrap_plain_tokens(text, plain)
        if slim != text:
            page.write_text(slim, encoding="utf-8")


def setup(app):
    _install_alt_text()
    app.connect("config-inited", _configure, priority=900)
    app.add_config_value("tconv_notebooks_branch", "notebooks", "html")
    app.connect("html-page-context", _tidy_page, priority=900)
    app.connect("html-page-context", _launch_buttons, priority=901)
    app.connect("build-finished", _copy_assets)
    app.connect("build-finished", _slim_code_blocks, priority=950)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
