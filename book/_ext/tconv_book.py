"""Sphinx extension for the course site: everything a page needs is served by the site.

By default Sphinx loads MathJax from a CDN, so pages render their maths blank
offline.  This extension copies MathJax 2.7 from the pinned
``jupyter-server-mathjax`` package into ``<site>/_vendor/mathjax/`` and points
Sphinx at it.  The copy goes outside ``_static/``: Jupyter Book would inject
every script under ``_static/`` into every page.
"""

from __future__ import annotations

import shutil
from pathlib import Path

VENDOR_DIR = "_vendor"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
# MathJax 2 as packaged by jupyter-server-mathjax ships the STIX-Web fonts only.
MATHJAX2_CONFIG = {
    # MyST marks whole sections tex2jax_ignore and its maths with class "math".
    "tex2jax": {
        "inlineMath": [["\\(", "\\)"]],
        "displayMath": [["\\[", "\\]"]],
        "processRefs": False,
        "processEnvironments": False,
        "processClass": "tex2jax_process|mathjax_process|math|output_area",
    },
    "HTML-CSS": {"availableFonts": [], "imageFont": None, "preferredFont": None, "webFont": "STIX-Web"},
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


def _copy_assets(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / VENDOR_DIR / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(_mathjax_source(), target, dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("build-finished", _copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
