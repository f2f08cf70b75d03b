"""The book's prose types no measured number: numbers that code can compute come from `glue`.

Each page asserts its own claims in code cells (a false one fails `jupyter-book build -W`);
what a page states without code is covered by tests/test_claims.py.  This test guards the other
half of the rule: a decimal number, a percentage or a number in scientific notation typed into
the prose, outside maths, code and roles, is a measurement that will drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").glob("*.md"))

# (page, the text as it appears in the prose): why it may stay typed
ALLOWED = {
    ("geometry.md", "3.15.1"): "a version of Keras, not a measurement",
    ("mechanics.md", "0.75 and 1.25"): "a worked exercise answer, asserted in its solution's cell",
    ("homework.md", "Python 3.10 or later"): "a version of Python, not a measurement",
    ("instructors.md", "nbgrader 0.9.6"): "a version of nbgrader, not a measurement",
    ("instructors.md", "127.0.0.1:54329"): "an address and a port, not a measurement",
}

NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?:\.\d+)*|\b\d+(?:\.\d+)?\s*%|\b\d+(?:\.\d+)?e[-+]?\d+\b")


def prose(text: str) -> str:
    """A page with its code, maths, roles, inline code and link targets removed."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code cells and fenced directives
    text = re.sub(r":::.*?:::", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    text = re.sub(r"\{[a-z:-]+\}`[^`]*`", "", text)  # {glue:text}`...`, {doc}`...`, {term}`...`
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def test_the_scanner_sees_what_it_must():
    """The scanner is not blind: it finds typed numbers and ignores glued, coded and maths ones."""
    page = ("A ratio of 0.96, 3 % and 1e-3 typed.\n$x = 0.5$ {glue:text}`n` `0.25`\n"
            "```{code-cell}\ny = 2.5\n```\n")
    assert [m.group(0) for m in NUMBER.finditer(prose(page))] == ["0.96", "3 %", "1e-3"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_no_measured_number_is_typed_into_the_prose(page):
    text = prose(page.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        for match in NUMBER.finditer(line):
            if not any(page.name == name and match.group(0) in allowed and allowed in line
                       for name, allowed in ALLOWED):
                found.append(f"{match.group(0)!r} in: {line.strip()}")
    assert not found, f"{page.name}: glue these numbers from code, or allow them with a reason: {found}"


def test_every_allowed_number_is_still_there():
    """An allowance for text that no longer exists is removed, not kept."""
    for (name, allowed), _ in ALLOWED.items():
        assert allowed in prose((ROOT / "book" / name).read_text(encoding="utf-8")), (name, allowed)
