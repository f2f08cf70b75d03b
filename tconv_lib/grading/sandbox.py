"""The one place that knows how student code is isolated: bubblewrap.

Two kinds of sandbox run student code while a class is graded, both made here and by
nothing else (no other module calls ``bwrap``):

``notebook``
    The kernel that executes a submission (nbgrader talks to it over ZeroMQ's ``ipc``
    transport, through socket files in a private runtime folder: no network is needed).
    It sees the system's programs and libraries, the course's Python environment and
    ``tconv_lib``, all read-only; a private copy of the submission's folder in memory as
    its working directory; a private ``/tmp``; and nothing else: not ``solutions/``, not
    the grading folder, the gradebook or the course secret, not another student.
``verify``
    One graded function run on the hidden inputs (:mod:`tconv_lib.grading.runner`).  It
    sees the system, Python's standard library, NumPy and cloudpickle, and nothing else:
    no PyTorch, SciPy or tconv_lib, so delegating a part to them fails by construction.
    Its inputs are read-only; it writes results as JSON and ``.npy`` files into one folder.

What both guarantee (when run as root, as a grading container or CI runs it):

* their own pid, network, IPC, UTS and mount namespaces: no process, socket or file of
  the grader is visible, and when the sandbox ends every process it started ends with it
  (daemons included: they live in its pid namespace);
* an unprivileged user id of their own (:func:`sandbox_uid`), no capabilities, no groups,
  ``no_new_privs``; the folders they can write are private to one submission;
* a scrubbed environment: only the variables :func:`environment` names, never the
  gradebook's URL, a password or the grading folder;
* limits: address space, processes (per user id, threads included), file size, open files,
  and the size of every in-memory folder; time limits are the caller's.

What they do not guarantee: the kernel's runtime folder (its socket files) is on the
grader's disk, writable by the student up to the file-size limit per file until the
notebook's time runs out; CPU time is shared with the grader; a kernel exploit in Linux
itself is out of scope; without root, bubblewrap needs unprivileged user namespaces and
the code keeps the grading user's id (files outside the sandbox stay unreachable, since
they are not mounted).

Where bubblewrap is missing, :func:`problem` says how to install it; the grading command
then refuses to grade unless told ``--unsafe-no-sandbox``, when the same programs run as
plain processes (limits and scrubbed environment only).

The sandbox is started by this file run as a script, ``python -I .../sandbox.py SPEC.json
[CONNECTION_FILE]``: it reads a :class:`Spec`, sets the limits, and replaces itself with
``bwrap``.  A kernelspec's command is exactly that, so nbgrader starts sandboxed kernels
without knowing it.  (It imports nothing but the standard library, so that it starts fast.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

BWRAP_VARIABLE = "TCONV_BWRAP"  # the bwrap program to use (tests point it at a missing file)
UID_BASE = 200_000  # sandbox user ids: UID_BASE + (worker pid mod 100000)
HOME = "/home/student"
KERNEL_NAME = "tconv-sandboxed"
#: What graded code may import besides Python's standard library (the verification sandbox's packages).
ALLOWED_PACKAGES = ("numpy", "cloudpickle")
# variables that are not secrets and that the maths libraries need to behave the same inside
_PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TZ")
_MAX_WORK_FILES = 500
_MAX_WORK_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox.

    ``memory``: address space of every process (bytes); ``processes``: processes and threads
    of the sandbox's user; ``file_size``: largest file it may write; ``folder_size``: each
    in-memory folder (``/tmp``, the working folder); ``open_files``: descriptors per process.
    """

    memory: int = 8 * 2**30
    processes: int | None = 256
    file_size: int = 256 * 2**20
    folder_size: int = 512 * 2**20
    open_files: int = 1024


@dataclasses.dataclass(frozen=True)
class Spec:
    """What the launcher needs to start one sandbox; written as JSON by the grader.

    Parameters
    ----------
    kind : {"notebook", "verify"}
    private : str
        The grader's private folder for this sandbox: ``runtime/`` (a kernel's socket
        files) or ``job/in`` and ``job/out`` (a verification's inputs and results), and
        the generated ``/etc`` files.
    argv : list of str
        The program to run inside; ``{connection_file}`` is replaced by the kernel's.
    env : dict
        Extra environment variables for the program (on top of :func:`environment`).
    uid : int or None
        The user id to run as (the grader must be root); None keeps the caller's.
    limits : Limits
    sandboxed : bool
        False only with ``--unsafe-no-sandbox`` or for a student's own practice check:
        the program then runs as a plain process, with the limits and environment only.
    """

    kind: str
    private: str
    argv: list
    env: dict
    uid: int | None
    limits: Limits = Limits()
    sandboxed: bool = True

    def write(self, path: Path) -> Path:
        data = dataclasses.asdict(self)
        path.write_text(json.dumps(data))
        return path

    @classmethod
    def read(cls, path: str) -> Spec:
        data = json.loads(Path(path).read_text())
        data["limits"] = Limits(**data["limits"])
        return cls(**data)


# --------------------------------------------------------------------------------------
# Is bubblewrap usable here?
# --------------------------------------------------------------------------------------


def bwrap() -> str | None:
    """The bubblewrap program: ``$TCONV_BWRAP``, else ``bwrap`` on the PATH."""
    chosen = os.environ.get(BWRAP_VARIABLE)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


INSTALL_HINT = (
    "install bubblewrap (Debian, Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
    "bubblewrap`; `python3 course.py setup` installs it when run as root), or grade with "
    "--unsafe-no-sandbox, where students' code runs as you and can read and change what you can"
)


@functools.cache
def problem() -> str | None:
    """Why sandboxes cannot be made on this machine (with what to do), or None if they can.

    Starts one trivial sandbox to find out; the answer is cached for the process.
    """
    if os.name != "posix" or not sys.platform.startswith("linux"):
        return f"sandboxes need Linux (this is {sys.platform}); " + INSTALL_HINT
    program = bwrap()
    if program is None:
        return "bubblewrap (bwrap) is not installed; " + INSTALL_HINT
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing: a sandbox cannot drop to an unprivileged user"
    argv = [program, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not be started ({exc}); " + INSTALL_HINT
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        return (
            f"bubblewrap cannot make a sandbox here ({reason}); as a normal user it needs "
            f"unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), "
            f"or run the grading command as root, e.g. in a container"
        )
    return None


def sandbox_uid() -> int | None:
    """This process's sandbox user id when it is root (unique among the workers of a machine), else None."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    return UID_BASE + os.getpid() % 100_000


def _namespaces() -> list[str]:
    flags = [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if os.geteuid() != 0:  # an unprivileged bwrap needs a user namespace for the others
        flags.insert(0, "--unshare-user")
    return flags


# --------------------------------------------------------------------------------------
# What a sandbox sees
# --------------------------------------------------------------------------------------


def environment(kind: str, extra: dict, home: str = HOME) -> dict:
    """The whole environment of a sandboxed program: nothing of the grader's but :data:`_PASSED_THROUGH`."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if kind == "notebook":
        env.update(
            PATH=f"{Path(sys.prefix) / 'bin'}:{env['PATH']}",
            HOME=home,
            USER="student",
            IPYTHONDIR=f"{home}/.ipython",
            MPLCONFIGDIR=f"{home}/.matplotlib",
            MPLBACKEND="agg",
        )
    env.update({k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ})
    env.update(extra)
    return env


def _python_roots() -> list[Path]:
    """Where the Python that runs students' code lives: its installation and the course's environment."""
    roots = [Path(sys.base_prefix).resolve()]
    if Path(sys.prefix).resolve() != roots[0]:
        roots.append(Path(sys.prefix).resolve())
    return roots


def _site_packages(prefix: Path) -> list[Path]:
    """The folder of third-party packages of the installation or environment at ``prefix``."""
    path = Path(sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})["purelib"])
    return [path] if path.is_dir() else []


def _tconv_lib_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _system_binds(private: Path, uid: int | None) -> list[str]:
    """Programs and libraries read-only, and a minimal /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    etc = private / "etc"
    etc.mkdir(exist_ok=True)
    who = uid if uid is not None else os.getuid()
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nstudent:x:{who}:{who}:student:{HOME}:/bin/sh\n"
    )
    (etc / "group").write_text(f"root:x:0:\nstudent:x:{who}:\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
    (etc / "hostname").write_text("sandbox\n")
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ("passwd", "group", "hosts", "hostname"):
        args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf"):
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def _parents(paths: list[Path]) -> list[str]:
    """``--dir`` for every folder above ``paths`` (else bwrap makes them mode 700, closed to the sandbox)."""
    made: set[Path] = set()
    args = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made and not str(parent).startswith("/usr"):
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _python_binds(kind: str) -> list[str]:
    """The interpreter, read-only; for a notebook also the course's environment and tconv_lib."""
    roots = _python_roots()
    if kind == "verify":
        roots = roots[:1]  # the interpreter and its standard library, no environment
    roots = [r for r in roots if not r.is_relative_to("/usr")]
    binds = list(roots)
    if kind == "notebook" and not any(_tconv_lib_dir().is_relative_to(r) for r in roots):
        binds.append(_tconv_lib_dir())  # an editable install: the package, not the course beside it
    args = _parents(binds)
    for path in binds:
        args += ["--ro-bind", str(path), str(path)]
    for folder in _other_packages(kind):  # hidden under an empty folder
        args += ["--tmpfs", str(folder)]
    return args


def _other_packages(kind: str) -> list[Path]:
    """Folders of Python packages a sandbox must not see: the system's and the interpreter's own.

    A notebook keeps the course's environment; a verification keeps none (NumPy and
    cloudpickle are mounted for it alone), so a child process it starts finds none either.
    """
    lib = [Path("/usr/lib"), Path("/usr/local/lib")]
    candidates = {Path("/usr/lib/python3/dist-packages"), *_site_packages(Path(sys.base_prefix))}
    for folder in lib:
        candidates.update(folder.glob("python3*/site-packages"))
        candidates.update(folder.glob("python3*/dist-packages"))
    keep = {p.resolve() for p in _site_packages(Path(sys.prefix))} if kind == "notebook" else set()
    return sorted({p.resolve() for p in candidates if p.is_dir()} - keep)


def _work_files(source: Path, dest: str) -> tuple[list[str], list[int]]:
    """``--file`` arguments that copy the regular files under ``source`` into ``dest`` (in memory).

    Symbolic links and special files are skipped; at most :data:`_MAX_WORK_FILES` files and
    :data:`_MAX_WORK_BYTES` bytes.  Returns the arguments and the descriptors to keep open.
    """
    args, fds, total = ["--perms", "0777", "--dir", dest], [], 0
    for folder, dirs, files in os.walk(source, followlinks=False):
        rel = Path(folder).relative_to(source)
        dirs[:] = sorted(d for d in dirs if not (Path(folder) / d).is_symlink())
        for d in dirs:
            args += ["--perms", "0777", "--dir", f"{dest}/{rel / d}"]
        for name in sorted(files):
            path = Path(folder) / name
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue  # a link, or gone
            size = os.fstat(fd).st_size
            if not _is_regular(fd) or len(fds) >= _MAX_WORK_FILES or total + size > _MAX_WORK_BYTES:
                os.close(fd)
                continue
            total += size
            os.set_inheritable(fd, True)
            fds.append(fd)
            args += ["--perms", "0666", "--file", str(fd), f"{dest}/{rel / name}"]
    return args, fds


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def bwrap_argv(spec: Spec, cwd: Path, connection_file: str | None) -> tuple[list[str], list[int]]:
    """The bwrap command line for ``spec`` and the descriptors it reads (see the module's docstring)."""
    private = Path(spec.private)
    size = str(spec.limits.folder_size)
    args = [bwrap() or "bwrap", *_namespaces(), "--clearenv"]
    for key, value in environment(spec.kind, spec.env).items():
        args += ["--setenv", key, value]
    args += _system_binds(private, spec.uid)
    # the in-memory folders first: a bind below them (the course's environment in a clone
    # under /tmp, as CI makes) is mounted on top of them, not hidden by them
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        size,
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--size",
        size,
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
    ]
    args += _python_binds(spec.kind)
    fds: list[int] = []
    if spec.kind == "notebook":
        runtime = private / "runtime"
        workdir = f"{HOME}/{cwd.name}"
        files, fds = _work_files(cwd, workdir)
        # the student's home and working folder: in memory, writable by the sandbox's user
        args += ["--perms", "0755", "--dir", "/home", "--size", size, "--perms", "1777", "--tmpfs", HOME]
        args += files
        args += _parents([runtime]) + ["--bind", str(runtime), str(runtime), "--chdir", workdir]
    else:
        runner = Path(__file__).with_name("runner.py")
        site = Path("/opt/tconv/site")
        args += [
            "--perms",
            "0755",
            "--dir",
            "/opt",
            "--perms",
            "0755",
            "--dir",
            "/opt/tconv",
            "--perms",
            "0755",
            "--dir",
            str(site),
            "--ro-bind",
            str(runner),
            "/opt/tconv/runner.py",
        ]
        for package in _allowed_packages():
            args += ["--ro-bind", str(package), str(site / package.name)]
        args += [
            "--perms",
            "0755",
            "--dir",
            "/job",
            "--ro-bind",
            str(private / "job" / "in"),
            "/job/in",
            "--bind",
            str(private / "job" / "out"),
            "/job/out",
            "--chdir",
            "/tmp",
        ]
    if spec.uid is not None:
        args += [
            "setpriv",
            f"--reuid={spec.uid}",
            f"--regid={spec.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    args += [connection_file if a == "{connection_file}" else a for a in spec.argv]
    return args, fds


def _allowed_packages() -> list[Path]:
    """The folders of NumPy (and its bundled libraries) and cloudpickle in the course's environment."""
    found = []
    for site in _site_packages(Path(sys.prefix)) + [Path(p) for p in sys.path if p.endswith("-packages")]:
        for name in ALLOWED_PACKAGES:
            for candidate in (site / name, site / f"{name}.libs"):
                if candidate.is_dir() and candidate.name not in {p.name for p in found}:
                    found.append(candidate)
    return found


# --------------------------------------------------------------------------------------
# Starting one
# --------------------------------------------------------------------------------------


def apply_limits(limits: Limits) -> None:
    """Set the limits on this process; everything it starts inherits them (POSIX only)."""
    try:
        import resource
    except ImportError:  # Windows: a student's practice check runs without limits
        return
    for name, value in (
        ("RLIMIT_AS", limits.memory),
        ("RLIMIT_NPROC", limits.processes),
        ("RLIMIT_FSIZE", limits.file_size),
        ("RLIMIT_NOFILE", limits.open_files),
        ("RLIMIT_CORE", 0),
    ):
        if value is not None and hasattr(resource, name):
            resource.setrlimit(getattr(resource, name), (value, value))


def launch(spec: Spec, connection_file: str | None = None) -> None:
    """Replace this process with the sandbox that ``spec`` describes (never returns)."""
    cwd = Path.cwd()
    if connection_file and spec.uid is not None:
        os.chown(connection_file, spec.uid, spec.uid)  # the kernel reads its own connection file
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # what the student prints goes over ZeroMQ or nowhere, never to the grader
        os.dup2(devnull, fd)
    home = HOME
    if spec.sandboxed:
        argv, _open_for_bwrap = bwrap_argv(spec, cwd, connection_file)
    else:  # --unsafe-no-sandbox, or a student's own check: a plain process in the private folder
        argv = [connection_file if a == "{connection_file}" else a for a in spec.argv]
        home = str(Path(spec.private) / "home")
        os.makedirs(home, exist_ok=True)
    # the process count is per user: only a sandbox user of its own can be limited without harm
    # (root, which runs the launcher and bwrap, is exempt from it)
    apply_limits(spec.limits if spec.uid is not None else dataclasses.replace(spec.limits, processes=None))
    os.execvpe(argv[0], argv, environment(spec.kind, spec.env, home))


def _launcher(spec_path: Path) -> list[str]:
    """The command that starts the sandbox of ``spec_path``: this file run as a script, which needs no
    package (a tenth of a second rather than the half second that importing tconv_lib takes)."""
    return [sys.executable, "-I", str(Path(__file__).resolve()), str(spec_path)]


def kernelspec(folder: Path, spec_path: Path) -> Path:
    """Write the kernelspec :data:`KERNEL_NAME` under ``folder``, whose kernel is ``spec_path``'s sandbox."""
    kernel = folder / "kernels" / KERNEL_NAME
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [*_launcher(spec_path), "{connection_file}"],
                "display_name": "Python 3 (sandboxed for grading)",
                "language": "python",
                "interrupt_mode": "message",  # a signal to bwrap would not reach the kernel
                "metadata": {"debugger": False},
            }
        )
    )
    return kernel


def notebook_spec(private: Path, uid: int | None, limits: Limits, env: dict, sandboxed: bool) -> Spec:
    """The spec of a grading kernel: ``ipykernel`` in the course's environment."""
    runtime = private / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    if uid is not None:
        os.chown(runtime, uid, uid)
    argv = [str(Path(sys.prefix) / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return Spec("notebook", str(private), argv, env, uid, limits, sandboxed)


def run_verification(
    private: Path,
    *,
    uid: int | None,
    limits: Limits,
    sandboxed: bool,
    idle_timeout: float,
    startup: float = 30.0,
) -> str | None:
    """Run :mod:`tconv_lib.grading.runner` on ``private/job`` and wait; return why it stopped early, or None.

    ``private/job/in`` must hold the job; results appear in ``private/job/out``.  The
    sandbox is killed when ``results.jsonl`` has not grown for ``idle_timeout`` seconds
    (``startup`` more for the first result): ``"timeout"``.  A runner that dies returns how
    (``"exit status 1"``, ``"killed by SIGKILL"``).
    """
    out = private / "job" / "out"
    out.mkdir(parents=True, exist_ok=True)
    if uid is not None:
        os.chown(out, uid, uid)
    python = str(Path(sys.executable).resolve())
    if sandboxed:
        argv = [python, "-I", "-S", "/opt/tconv/runner.py", "/job", "/opt/tconv/site"]
    else:
        site = next(iter(_site_packages(Path(sys.prefix))), None)
        argv = [
            python,
            "-I",
            "-S",
            str(Path(__file__).with_name("runner.py")),
            str(private / "job"),
            str(site) if site else "",
        ]
    spec = Spec("verify", str(private), argv, {}, uid if sandboxed else None, limits, sandboxed)
    path = spec.write(private / "verify.json")
    launcher = _launcher(path)
    process = subprocess.Popen(
        launcher
        if os.name == "posix"
        else argv,  # Windows has no exec: a practice check runs the runner itself
        cwd=str(private),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = out / "results.jsonl"
    size, deadline = -1, time.monotonic() + idle_timeout + startup
    try:
        while True:
            try:
                code = process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            now_size = results.lstat().st_size if results.exists() or results.is_symlink() else 0
            if now_size != size:
                size, deadline = now_size, time.monotonic() + idle_timeout + (startup if now_size == 0 else 0)
            elif time.monotonic() > deadline:
                _kill_group(process)
                return "timeout"
    finally:
        if uid is not None and sandboxed:
            kill_user_processes(uid)
    if code == 0:
        return None
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _kill_group(process: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # Windows (a student's practice check)
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def kill_user_processes(uid: int) -> None:
    """SIGKILL every process of ``uid`` on this machine (from a child that becomes ``uid``: kill(-1)).

    The pid namespace already ends a sandbox's processes with it; this is the second lock.
    """
    if os.geteuid() != 0:
        return
    for _ in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001 -- nothing left to kill
                pass
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not any(_owner(p) == uid for p in Path("/proc").iterdir() if p.name.isdigit()):
            return
        time.sleep(0.05)


def _owner(proc: Path) -> int | None:
    try:
        match = re.search(r"^Uid:\s+(\d+)", (proc / "status").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


if __name__ == "__main__":
    launch(Spec.read(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
