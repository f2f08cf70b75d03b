"""Run a student's function in a separate, limited process.

:mod:`tconv_lib.grading` never calls student code in the notebook's own
kernel.  It serialises the function with cloudpickle and runs it here, in a
fresh interpreter, so that

* an infinite loop is stopped by a per-call timer and, failing that, killed;
* an allocation of tens of gigabytes fails inside the sandbox (address-space limit);
* ``sys.exit()``, ``os._exit()`` or a crash ends the sandbox, not the kernel;
* anything the notebook monkeypatched (NumPy, tconv_lib, the grader) is not
  seen: the sandbox imports everything afresh;
* a call into a library's convolution (PyTorch, SciPy, NumPy, tconv_lib's
  operators), however it is reached (an alias, ``getattr``, a
  ``functools.partial``, an ``nn.Module``), and any attempt to read the
  reference fixtures, is recorded and reported;
* megabytes of printing go nowhere.

Protocol: the parent writes one pickled job to the child's stdin; the child
appends one pickled record per call to the result file named on its command
line, flushing after each, so the parent knows how far it got even if the
child dies.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import sys
import threading
import traceback
from pathlib import Path

# Names of compiled functions that compute a convolution (PyTorch's ATen ops and NumPy's core).
FORBIDDEN_BUILTINS = frozenset(
    {
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "convolution", "_convolution", "_convolution_mode", "conv_tbc", "mkldnn_convolution",
        "cudnn_convolution", "cudnn_convolution_transpose", "slow_conv_transpose2d",
        "slow_conv_transpose3d", "thnn_conv2d", "_slow_conv2d_forward", "slow_conv_dilated2d",
        "_conv_depthwise2d", "col2im", "im2col", "fold", "unfold", "correlate", "correlate2",
        "convolution_backward", "_nnpack_spatial_convolution",
    }
)
# Python functions of these libraries that compute a convolution, by (package, function name).
FORBIDDEN_PY = {
    "numpy": {"convolve", "correlate"},
    "scipy": {"convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
              "convolve1d", "correlate1d", "sepfir2d", "upfirdn", "resample_poly"},
    "torch": {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "fold", "unfold", "_conv_forward"},
}
# Calls that would switch the tripwire off, and audit events that start another process.
_HOOK_FUNCTIONS = frozenset({"setprofile", "settrace", "getprofile", "gettrace", "setprofile_all_threads",
                             "settrace_all_threads"})
_PROCESS_EVENTS = frozenset({"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn",
                             "os.spawn", "subprocess.Popen", "os.startfile"})
_PACKAGE_DIRS: dict[str, str] = {}


def _package_dir(name: str) -> str | None:
    if name not in _PACKAGE_DIRS:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        _PACKAGE_DIRS[name] = str(Path(file).parent) + os.sep if file else ""
    return _PACKAGE_DIRS[name] or None


class _Tripwire:
    """A profile hook that records calls to forbidden functions."""

    def __init__(self, forbidden_tconv: frozenset[str]):
        import tconv_lib

        self.tconv_dir = str(Path(tconv_lib.__file__).parent) + os.sep
        self.fixture_dir = self.tconv_dir + "reference_data"
        self.forbidden_tconv = forbidden_tconv  # qualified names such as "transposed.conv_transpose2d"
        self.hits: list[str] = []
        self.armed = False  # True while the student's function runs

    def profile(self, frame, event, arg):
        if event == "c_call":
            name = getattr(arg, "__name__", "")
            if name in _HOOK_FUNCTIONS and self.armed:
                self._hit(f"sys.{name} (switching off the grader's checks)")
            elif name in FORBIDDEN_BUILTINS:
                owner = getattr(arg, "__self__", None)
                where = getattr(owner, "__name__", type(owner).__name__)
                self._hit(f"{where}.{name}")
        elif event == "call":
            code = frame.f_code
            filename = code.co_filename
            if filename.startswith(self.tconv_dir):
                module = Path(filename).stem
                if f"{module}.{code.co_name}" in self.forbidden_tconv or (
                    f"{module}.*" in self.forbidden_tconv and not code.co_name.startswith("_")
                ):
                    self._hit(f"tconv_lib.{module}.{code.co_name}")
                return
            if code.co_name in _HOOK_FUNCTIONS and filename == threading.__file__ and self.armed:
                self._hit(f"threading.{code.co_name} (switching off the grader's checks)")
            for package, names in FORBIDDEN_PY.items():
                if code.co_name in names:
                    directory = _package_dir(package)
                    if directory and filename.startswith(directory):
                        self._hit(f"{package}: {code.co_name}")

    def audit(self, event, args):
        if event in _PROCESS_EVENTS and self.armed:
            self._hit(f"{event} (work done in another process cannot be checked)")
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            if os.path.abspath(path).startswith(self.fixture_dir):
                self._hit("reading the reference fixtures")

    def _hit(self, what: str) -> None:
        if what not in self.hits:
            self.hits.append(what)


class _CallTimeout(BaseException):
    """Raised by the timer inside student code (BaseException: a bare `except Exception` won't eat it)."""


def _on_alarm(signum, frame):
    raise _CallTimeout()


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    # keep the student's frames only: the sandbox's own frames mean nothing to them
    mine = [f for f in frames if not f.filename.endswith(("_sandbox.py",))]
    where = f" (line {mine[-1].lineno} of {mine[-1].name})" if mine else ""
    text = f"{type(exc).__name__}: {exc}"
    if len(text) > 500:
        text = text[:500] + "..."
    return text + where


def _limit_resources(memory_bytes: int | None) -> None:
    import resource

    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(result_path: str) -> None:
    """Child side: read the job from stdin, run every call, append results."""
    job = pickle.load(sys.stdin.buffer)
    sys.stdin = io.StringIO()
    import cloudpickle  # noqa: F401 -- unpickling the function needs it
    import numpy as np

    import tconv_lib  # noqa: F401 -- so that the tripwire knows where it lives

    _limit_resources(job["memory_bytes"])
    tripwire = _Tripwire(frozenset(job["forbidden_tconv"]))
    sys.addaudithook(tripwire.audit)
    signal.signal(signal.SIGALRM, _on_alarm)
    with open(result_path, "ab", buffering=0) as results:
        try:
            function = pickle.loads(job["function"])
        except BaseException as exc:  # noqa: BLE001 -- any failure is reported, none escapes
            pickle.dump(("unloadable", _describe_exception(exc)), results)
            return
        for args, kwargs in job["calls"]:
            tripwire.hits.clear()
            signal.setitimer(signal.ITIMER_REAL, job["call_timeout"])
            threading.setprofile(tripwire.profile)  # threads the student starts are watched too
            sys.setprofile(tripwire.profile)
            tripwire.armed = True
            try:
                value = function(*args, **kwargs)
                record = ("ok", value)
            except _CallTimeout:
                record = ("timeout", job["call_timeout"])
            except MemoryError:
                record = ("error", "MemoryError: your function tried to allocate more memory than allowed")
            except BaseException as exc:  # noqa: BLE001 -- SystemExit included
                record = ("error", _describe_exception(exc))
            finally:
                tripwire.armed = False
                sys.setprofile(None)
                threading.setprofile(None)
                signal.setitimer(signal.ITIMER_REAL, 0)
            if tripwire.hits:
                record = ("forbidden", ", ".join(tripwire.hits))
            elif record[0] == "ok":
                record = _portable(record, np)
            try:
                payload = pickle.dumps(record)
            except Exception as exc:  # noqa: BLE001 -- e.g. a torch tensor, a generator
                payload = pickle.dumps(("error", f"the returned value cannot be used: {exc}"))
            results.write(payload)
            if record[0] in ("timeout", "forbidden"):
                return  # the part has failed; spare the time of the other calls


def _portable(record, np):
    """Convert results to plain NumPy / Python so the parent needs no third-party types."""
    value = record[1]
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        return ("error", f"returned a {type(value).__name__}; return a NumPy array (np.ndarray) instead")
    return ("ok", value)


if __name__ == "__main__":
    main(sys.argv[1])
