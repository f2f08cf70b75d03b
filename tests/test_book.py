"""The book builds clean with the README's command and makes a self-contained site."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        for key in ("chapters", "sections", "parts"):
            for child in node.get(key, []):
                if "file" in child:
                    files.append(child["file"])
                walk(child)

    walk(toc)
    return files


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.loaded: list[str] = []  # what the browser fetches by itself
        self.links: list[str] = []  # what a reader can click

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe") and attrs.get("src"):
            self.loaded.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.loaded.append(attrs["href"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def test_every_toc_entry_has_a_page(site):
    for name in _toc_files():
        assert (site / f"{name}.html").is_file(), f"{name} is in _toc.yml but was not built"


def test_no_page_shows_an_error(site):
    for page in _pages(site):
        text = page.read_text(encoding="utf-8")
        assert "Traceback (most recent call last)" not in text, page
        # myst-nb marks error outputs and stderr with these classes
        assert not re.search(r'class="[^"]*\boutput (traceback|stderr)\b', text), page


def test_nothing_is_loaded_from_a_third_party_host(site):
    for page in _pages(site):
        for url in _parse(page).loaded:
            parsed = urlparse(url)
            assert not parsed.netloc and parsed.scheme in ("", "data"), f"{page.name} loads {url}"


def test_every_internal_link_resolves(site):
    for page in _pages(site):
        for href in _parse(page).links:
            parsed = urlparse(href)
            if parsed.scheme or parsed.netloc or not parsed.path:
                continue
            target = (page.parent / parsed.path).resolve()
            assert target.exists(), f"{page.relative_to(site)} links to missing {href}"
