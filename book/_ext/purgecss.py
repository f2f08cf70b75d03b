"""Drop the rules of a style sheet that can match nothing on the site.

pydata-sphinx-theme ships one 400 kB style sheet (most of Bootstrap) for every
page; a page of this book uses a fraction of it.  :func:`purge` keeps every
at-rule that is not a grouping rule (``@font-face``, ``@keyframes``, ...),
recurses into grouping rules (``@media``, ``@supports``, ...) and keeps a
style rule's selector when every class and id it requires occurs as a word
somewhere in the site's pages or scripts -- so classes that a script adds
later (``show``, ``collapsing``) are kept too.  Classes inside ``:not()``,
``:is()``, ``:where()`` and ``:has()`` are not required.  A rule with nested
rules is kept whole.

Examples
--------
>>> purge(".a{x:1}.b,.c .a{y:2}@media (min-width:1px){.b{z:3}}#d{w:4}", {"a", "d"})
'.a{x:1}#d{w:4}'
"""

from __future__ import annotations

import re

GROUPING = ("@media", "@supports", "@layer", "@container", "@document")
ALWAYS_KEPT_PREFIXES = ("bs-",)  # Bootstrap builds these class names at run time (bs-tooltip-auto)
_WORD = re.compile(r"[A-Za-z0-9_-]+")
_REQUIRED = re.compile(r"([.#])((?:\\.|[A-Za-z0-9_-])+)")


def words(text: str) -> set[str]:
    """Every word (a run of letters, digits, ``_`` and ``-``) of a page or script."""
    return set(_WORD.findall(text))


def _skip_string(css: str, i: int) -> int:
    quote, i = css[i], i + 1
    while i < len(css) and css[i] != quote:
        i += 2 if css[i] == "\\" else 1
    return i + 1


def _items(css: str) -> list[tuple[str, str | None]]:
    """The top-level items of a style sheet: ``(prelude, block)``, or ``(statement, None)``."""
    items, i, start, n = [], 0, 0, len(css)
    while i < n:
        c = css[i]
        if css.startswith("/*", i):
            end = css.find("*/", i + 2)
            after = n if end < 0 else end + 2
            if not css[start:i].strip():  # a comment between rules: not part of the next prelude
                start = after
            i = after
            continue
        if c in "\"'":
            i = _skip_string(css, i)
        elif c == ";":
            items.append((css[start:i + 1].strip(), None))
            i = start = i + 1
        elif c == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                if css.startswith("/*", j):
                    end = css.find("*/", j + 2)
                    j = n if end < 0 else end + 2
                    continue
                if css[j] in "\"'":
                    j = _skip_string(css, j)
                    continue
                depth += {"{": 1, "}": -1}.get(css[j], 0)
                j += 1
            items.append((css[start:i].strip(), css[i + 1:j - 1]))
            i = start = j
        else:
            i += 1
    return items


def _split_selectors(prelude: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(prelude):
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            parts.append(prelude[start:i])
            start = i + 1
    parts.append(prelude[start:])
    return [p.strip() for p in parts if p.strip()]


def _strip_functional(selector: str) -> str:
    """The selector without the arguments of its functional pseudo-classes (and attributes)."""
    out, depth = [], 0
    for c in selector:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0:
            out.append(c)
    return "".join(out)


def _used(selector: str, corpus: set[str]) -> bool:
    for _, name in _REQUIRED.findall(_strip_functional(selector)):
        name = name.replace("\\", "")
        if name not in corpus and not name.startswith(ALWAYS_KEPT_PREFIXES):
            return False
    return True


def purge(css: str, corpus: set[str]) -> str:
    """The style sheet without the rules no page can use (see the module docstring)."""
    out = []
    for prelude, block in _items(css):
        if block is None:
            out.append(prelude)
        elif prelude.startswith("@"):
            if prelude.lower().startswith(GROUPING):
                inner = purge(block, corpus)
                if inner:
                    out.append(f"{prelude}{{{inner}}}")
            else:
                out.append(f"{prelude}{{{block}}}")
        elif "{" in block:
            out.append(f"{prelude}{{{block}}}")
        else:
            kept = [s for s in _split_selectors(prelude) if _used(s, corpus)]
            if kept:
                out.append(f"{','.join(kept)}{{{block}}}")
    return "".join(out)


_TOKEN_RULE = re.compile(r"^(.*?)\.highlight \.([A-Za-z0-9]+) \{ *([^}]*?) *\}", re.M)
_BLOCK_RULE = re.compile(r"^(.*?)\.highlight \{[^}]*?color: *(#[0-9A-Fa-f]+)", re.M)
_CODE_BLOCK = re.compile(r'(<div class="highlight"><pre>)(.*?)(</pre>)', re.S)


def plain_token_classes(pygments_css: str) -> set[str]:
    """Pygments' token classes whose every rule only repeats the code block's own colour.

    A ``<span>`` of such a class draws its text exactly as the text around it; in Python code
    these are names, punctuation and whitespace, most of the spans of a highlighted page.

    >>> plain_token_classes(".highlight { background: #fff; color: #080808 }\\n"
    ...                     ".highlight .n { color: #080808 } /* Name */\\n"
    ...                     ".highlight .k { color: #8045E5 } /* Keyword */\\n"
    ...                     ".highlight .p { color: #080808; font-weight: bold }")
    {'n'}
    """
    base = {prefix: colour.lower() for prefix, colour in _BLOCK_RULE.findall(pygments_css)}
    plain, styled = set(), set()
    for prefix, token, declarations in _TOKEN_RULE.findall(pygments_css):
        colour = base.get(prefix)
        if colour and declarations.rstrip(";").strip().lower() == f"color: {colour}":
            plain.add(token)
        else:
            styled.add(token)
    return plain - styled


def unwrap_plain_tokens(html: str, classes: set[str]) -> str:
    """``html`` with the spans of ``classes`` inside code blocks replaced by their text.

    >>> unwrap_plain_tokens('<div class="highlight"><pre><span class="n">x</span>'
    ...                     '<span class="o">=</span><span class="n">y</span></pre>', {"n"})
    '<div class="highlight"><pre>x<span class="o">=</span>y</pre>'
    """
    if not classes:
        return html
    names = "|".join(map(re.escape, sorted(classes)))
    span = re.compile(rf'<span class="(?:{names})">([^<]*)</span>')
    return _CODE_BLOCK.sub(lambda m: m.group(1) + span.sub(r"\1", m.group(2)) + m.group(3), html)
