"""Third-party files the site serves (MathJax) and the browser tests inject (axe-core).

The site loads nothing from other hosts, and CI has no network but the package
registries, so these files are committed, exactly as their npm packages ship
them, with a manifest (``vendor.json`` beside them) that records each
package's version, its registry integrity hash and the SHA-256 of every file
taken from it.  ``tests/test_site.py`` checks the files against the manifest.

To update a package, change its version below and run, with npm installed::

    .venv/bin/python book/_ext/vendor.py

which ``npm pack``-s each pinned package into a temporary folder, copies the
files listed here and rewrites the manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# MathJax 3: only the components the site's configuration loads (book/_ext/tconv_book.py), the
# TeX extensions its autoloader may fetch, and the CHTML fonts.  No menu (ui/menu.js: 426 kB,
# and it makes every formula a Tab stop), no speech rule engine.
MATHJAX = {
    "package": "mathjax",
    "version": "3.2.2",
    "target": ROOT / "book" / "_vendor" / "mathjax",
    "files": ["LICENSE", "es5/startup.js", "es5/core.js", "es5/input/tex.js", "es5/output/chtml.js",
              "es5/output/chtml/fonts/tex.js", "es5/a11y/assistive-mml.js",
              "es5/input/tex/extensions/*.js", "es5/output/chtml/fonts/woff-v2/*.woff"],
    "strip": "es5/",
}
# The same MathJax, as one file with SVG output (no font files to load), inlined into every
# feedback file the grading command writes, so that a student's feedback typesets offline.
MATHJAX_FEEDBACK = {
    "package": "mathjax",
    "version": MATHJAX["version"],
    "target": ROOT / "tconv_lib" / "grading" / "command" / "vendor" / "mathjax",
    "files": ["LICENSE", "es5/tex-svg.js"],
    "strip": "es5/",
}
# axe-core: the accessibility engine the browser tests run on every page.
AXE = {
    "package": "axe-core",
    "version": "4.11.0",
    "target": ROOT / "tests" / "vendor" / "axe-core",
    "files": ["LICENSE", "axe.min.js"],
    "strip": "",
}
PACKAGES = (MATHJAX, MATHJAX_FEEDBACK, AXE)
MANIFEST = "vendor.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(spec: dict) -> None:
    """npm pack the pinned package and copy its listed files into ``spec['target']``."""
    target: Path = spec["target"]
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["npm", "pack", "--json", f"{spec['package']}@{spec['version']}"],
                             cwd=tmp, check=True, capture_output=True, text=True).stdout
        (info,) = json.loads(out)
        with tarfile.open(Path(tmp) / info["filename"]) as tar:
            tar.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        if target.exists():
            shutil.rmtree(target)
        files = {}
        for pattern in spec["files"]:
            matches = sorted(package.glob(pattern))
            if not matches:
                raise SystemExit(f"{spec['package']}@{spec['version']} has no {pattern}")
            for source in matches:
                name = source.relative_to(package).as_posix().removeprefix(spec["strip"])
                dest = target / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)
                files[name] = sha256(dest)
    manifest = {"package": spec["package"], "version": spec["version"], "integrity": info["integrity"],
                "files": files}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    size = sum((target / n).stat().st_size for n in files)
    print(f"{spec['package']}@{spec['version']}: {len(files)} files, {size / 1e6:.2f} MB -> "
          f"{target.relative_to(ROOT)}")


def check(target: Path) -> list[str]:
    """Differences between a vendored folder and its manifest (empty when they agree)."""
    manifest = json.loads((target / MANIFEST).read_text())
    problems = []
    present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()} - {MANIFEST}
    for name, digest in manifest["files"].items():
        if name not in present:
            problems.append(f"{name}: missing")
        elif sha256(target / name) != digest:
            problems.append(f"{name}: differs from {manifest['package']}@{manifest['version']}")
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(manifest["files"]))]
    return problems


if __name__ == "__main__":
    for spec in PACKAGES:
        fetch(spec)
    sys.exit(0)
