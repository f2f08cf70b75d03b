"""The instructor's guide (book/instructors.md): its commands run as written.

Every ``{code-block} bash`` with ``:class: run-by-the-tests`` is run by bash from the
repository root, with ``set -euo pipefail``: a failing command, or a ``grep`` that finds
nothing of what the guide says will be printed, fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "book" / "instructors.md"
BLOCK = re.compile(r"```\{code-block\} bash\n:class: run-by-the-tests\n\n(.*?)\n```", re.S)


def blocks() -> list[str]:
    return BLOCK.findall(GUIDE.read_text())


def test_the_guide_has_blocks_the_tests_run():
    assert len(blocks()) >= 2, "book/instructors.md lost its tested commands"


@pytest.mark.slow
@pytest.mark.parametrize("number", range(len(blocks())), ids=lambda n: f"block{n + 1}")
def test_the_guides_commands_run_as_written(number):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TCONV_GRADEBOOK_URL", "TCONV_GRADING_DIR", "VIRTUAL_ENV")
    }
    script = "set -euo pipefail\n" + blocks()[number]
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, (
        f"{script}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )
