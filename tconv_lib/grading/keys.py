"""Which hidden cases a student gets: drawn from a key that only the grader can make.

A class's graded cases come from :func:`graded_rng`, keyed by HMAC-SHA256 of the
course secret with the student and the part: the same submission regraded draws the
same cases, and no student can compute theirs, since the secret lives in the grading
folder (mode 600), which no sandbox sees.

Outside the grading command -- a student checking their work in Jupyter, or stock
``nbgrader autograde`` on trusted notebooks -- :func:`practice_rng` draws *practice*
cases from public information.  They cover the same parameters but are never the
graded ones.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import numpy as np

SECRET_FILE = "course-secret"


def course_secret(grading: Path) -> bytes:
    """The course's secret, created in ``grading`` (mode 600) on first use.

    Keep the file: a new secret draws new cases for every student, so a regrade would no
    longer reproduce the grades given.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     first = course_secret(Path(folder))
    ...     same = course_secret(Path(folder)) == first
    ...     mode = oct((Path(folder) / SECRET_FILE).stat().st_mode & 0o777)
    >>> len(first), same, mode
    (32, True, '0o600')
    """
    path = Path(grading) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        if os.fstat(f.fileno()).st_mode & 0o077:
            os.fchmod(f.fileno(), 0o600)
        text = f.read().strip()
    if len(text) < 32:
        raise ValueError(
            f"{path} does not hold a course secret (64 hex digits); restore it from a backup "
            f"or delete it to start a new one (every student's hidden cases then change)"
        )
    return bytes.fromhex(text)


def graded_rng(secret: bytes, student: str, part: str) -> np.random.Generator:
    """The generator of ``student``'s graded cases of ``part``.

    Examples
    --------
    >>> a = graded_rng(b"s" * 32, "alice", "geometry.output_size").integers(1 << 30)
    >>> b = graded_rng(b"s" * 32, "alice", "geometry.output_size").integers(1 << 30)
    >>> c = graded_rng(b"t" * 32, "alice", "geometry.output_size").integers(1 << 30)
    >>> bool(a == b), bool(a == c)
    (True, False)
    """
    digest = hmac.new(secret, f"graded\x00{student}\x00{part}".encode(), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def practice_rng(student: str, part: str) -> np.random.Generator:
    """The generator of practice cases: public, the same on every run, never the graded ones."""
    digest = hashlib.sha256(f"practice\x00{student}\x00{part}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))
