"""Sphinx extension for the course site: everything a page needs is served by the site.

By default Sphinx loads MathJax from a CDN, so pages render their maths blank
offline.  This extension copies MathJax 2.7 from the pinned
``jupyter-server-mathjax`` package into ``<site>/_vendor/mathjax/`` and points
Sphinx at it.  The copy goes outside ``_static/``: Jupyter Book would inject
every script under ``_static/`` into every page.

It also makes the pages' explorers (:mod:`tconv_lib.widgets`) static: it sets
``TCONV_STATIC_SITE=1`` before any notebook runs (the kernels inherit the
environment), so that ``explore(...)`` embeds every combination's panels as
JSON, and it serves the viewer that draws them, ``book/_explorers/`` copied
to ``<site>/_explorers/`` and linked from every page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

VENDOR_DIR = "_vendor"
EXPLORERS_DIR = "_explorers"
EXPLORERS_SOURCE = Path(__file__).resolve().parents[1] / EXPLORERS_DIR
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
# MathJax 2 as packaged by jupyter-server-mathjax ships the STIX-Web fonts only.  Its
# native-MathML styles (which Chrome applies to the hidden assistive MathML, e.g. for
# \mathcal) point at TeX .otf fonts that are not shipped: 404s.  Point them at fonts
# installed on the reader's machine instead, if any; a missing local() font loads nothing.
_NATIVE_MML_FONTS = ("Caligraphic-Regular", "Caligraphic-Bold", "AMS-Regular", "Script-Regular",
                     "Fraktur-Regular", "Fraktur-Bold")  # MathJax's "@font-face /*1*/" to "/*6*/"
MATHJAX2_CONFIG = {
    # MyST marks whole sections tex2jax_ignore and its maths with class "math".
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processRefs": False,
        "processEnvironments": False,
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
    },
    "HTML-CSS": {
        "availableFonts": [], "imageFont": None, "preferredFont": None, "webFont": "STIX-Web",
        # MathJax 2 declares its blank test font with src url('about:blank'), which Chrome
        # refuses with a console error; a local() font that does not exist fails as quietly
        # and loads nothing either.
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank_None')"}},
    },
    "NativeMML": {"styles": {
        f"@font-face /*{i}*/": {"src": f"local('MathJax_{name}')"}
        for i, name in enumerate(_NATIVE_MML_FONTS, 1)
    }},
    "SVG": {"font": "STIX-Web"},
    "menuSettings": {"zoom": "None"},
    "showMathMenu": False,
}


def _mathjax_source() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def _configure(app, config) -> None:
    # Sphinx joins a relative mathjax_path to "_static/"; step out of it to _vendor/.
    config.mathjax_path = f"../{VENDOR_DIR}/mathjax/MathJax.js?config={MATHJAX_CONFIG}"
    config.mathjax2_config = MATHJAX2_CONFIG
    config.mathjax3_config = None
    # pydata-sphinx-theme reads the colour mode from here and logs an error when it is empty
    config.html_context.setdefault("default_mode", "auto")
    # Explorers: notebooks executed from here on see the variable and export static data.
    os.environ["TCONV_STATIC_SITE"] = "1"
    # Relative paths are joined to "_static/" too: step out of it to _explorers/.
    app.add_js_file(f"../{EXPLORERS_DIR}/explorer.js", defer="defer")
    app.add_css_file(f"../{EXPLORERS_DIR}/explorer.css")


def _tidy_page(app, pagename, templatename, context, doctree) -> None:
    """Keep each page's head free of what makes a browser complain.

    Sphinx 7.4 adds an inline script registered after the builder started twice
    (once as filename None, once as ""): sphinx-thebe's ``const THEBE_JS_URL``
    then throws "already declared".  And without an icon link the browser asks
    the server for /favicon.ico, which the site does not have.
    """
    seen, scripts = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts
    context["metatags"] = context.get("metatags", "") + '\n<link rel="icon" href="data:,">'


def _copy_assets(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / VENDOR_DIR / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(_mathjax_source(), target, dirs_exist_ok=True)
    # the explorer viewer: small, copied on every build so that edits show up
    shutil.copytree(EXPLORERS_SOURCE, Path(app.outdir) / EXPLORERS_DIR, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("html-page-context", _tidy_page)
    app.connect("build-finished", _copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
