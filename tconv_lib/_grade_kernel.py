"""Start a grading kernel for ``python -m tconv_lib.grade``: limits, a user of its own, a clean environment.

The grading command points nbgrader at a kernelspec whose command is this module; it
runs as the grading command's user, applies what the kernelspec's environment asks
for, then replaces itself with ``ipykernel_launcher``:

* ``TCONV_GRADE_MEMORY``: address-space limit (RLIMIT_AS) of the kernel and of every
  process it starts; an allocation of tens of gigabytes fails with ``MemoryError``;
* ``TCONV_GRADE_UID``: when the command runs as root, the kernel drops to this
  unprivileged user id (no groups), so the student's code cannot read or write the
  gradebook, the grading folder or the library, and its process count is limited;
* ``TCONV_GRADE_HOME``: a private home for caches (IPython, matplotlib).

Variables that could lead the student's code to the gradebook (its URL, the grading
folder) are removed from the kernel's environment.
"""

from __future__ import annotations

import os
import resource
import sys

# what a student's kernel must not see: where the gradebook and the grading folder are
_HIDDEN_VARIABLES = (
    "TCONV_GRADEBOOK_URL",
    "TCONV_GRADING_DIR",
    "TCONV_TEST_POSTGRES_URL",
    "DATABASE_URL",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICEFILE",
    "DASK_SCHEDULER_ADDRESS",
)
MAX_PROCESSES = 512  # per isolated user: a fork bomb stops here


def scrub_environment(env: dict) -> dict:
    """A copy of ``env`` without the variables that locate the gradebook or hold credentials."""
    return {k: v for k, v in env.items() if k not in _HIDDEN_VARIABLES and not k.startswith("TCONV_GRADE_")}


def drop_privileges(uid: int) -> None:
    """Become ``uid`` (group ``uid``, no supplementary groups), for good; refuse to continue otherwise."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit(f"could not drop privileges to uid {uid}")


def limit(memory_bytes: int | None, isolated: bool) -> None:
    """Address space, no core files, and (for an isolated user) a process count."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if isolated:
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))


def main(argv: list[str]) -> None:
    memory = int(os.environ.get("TCONV_GRADE_MEMORY") or 0)
    uid = os.environ.get("TCONV_GRADE_UID") or ""
    home = os.environ.get("TCONV_GRADE_HOME") or ""
    env = scrub_environment(os.environ)
    if home:
        env.update(
            HOME=home,
            IPYTHONDIR=os.path.join(home, ".ipython"),
            MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        )
    limit(memory, bool(uid))
    # the kernel's own stdout/stderr (not the notebook's outputs, which travel over ZMQ) go nowhere:
    # a student's os.write(2, ...) must not flood the grading command's terminal
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if uid:
        connection_file = argv[argv.index("-f") + 1]
        os.chown(connection_file, int(uid), int(uid))
        drop_privileges(int(uid))
    os.execve(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
