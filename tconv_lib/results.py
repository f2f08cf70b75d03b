"""The book's slow experiments, computed once and kept on disk.

A few pages train small networks (several seeds, a few minutes of CPU in
all).  Their numbers must still come from code on the page, and a false claim
must still fail the build; only the *computation* is reused.  :func:`cached`
runs ``compute(**params)`` once and stores its arrays under a key made of
everything the result depends on:

* the experiment's name and parameters;
* the source code of ``compute`` and of the functions named in
  ``depends_on`` (the page's model and training loop);
* the source code of :mod:`tconv_lib` (every module at its top level);
* the versions of NumPy and, when it is imported, PyTorch.

Change any of them and the key changes: the experiment runs again.  The page
then asserts its claims on the arrays, exactly as if it had just computed
them.  Results live in ``_build/results/`` of the course repository (git
ignores ``_build``), or where ``TCONV_RESULTS_DIR`` points.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["cached", "results_dir", "result_key"]

_PACKAGE = Path(__file__).resolve().parent


def results_dir() -> Path:
    """Where results are kept: ``$TCONV_RESULTS_DIR``, else ``_build/results`` of the repository.

    Returns
    -------
    pathlib.Path
        The folder (not created here).  Outside a checkout of the course (no
        ``_toc.yml`` next to the package) it is ``~/.cache/tconv_lib/results``.

    Examples
    --------
    >>> results_dir().name
    'results'
    """
    if os.environ.get("TCONV_RESULTS_DIR"):
        return Path(os.environ["TCONV_RESULTS_DIR"])
    root = _PACKAGE.parent
    if (root / "_toc.yml").is_file():
        return root / "_build" / "results"
    return Path.home() / ".cache" / "tconv_lib" / "results"


def _source(obj) -> str:
    """The code of a function, or of every function a class defines (a class's own source is not
    available for classes defined in a notebook, its methods' is)."""
    if inspect.isclass(obj):
        methods = [value for _, value in sorted(vars(obj).items()) if inspect.isfunction(value)]
        return obj.__qualname__ + "".join(_source(method) for method in methods)
    # trailing blank space is not code: a notebook cell's last function may or may not end in "\n"
    return inspect.getsource(obj).rstrip() + "\n"


def result_key(name: str, compute: Callable, depends_on=(), **params) -> str:
    """The hex digest that names one result: everything the arrays depend on.

    Parameters
    ----------
    name : str
        The experiment's name.
    compute : callable
        The function that computes it.
    depends_on : iterable of callables
        Other functions whose code the result depends on; for a class, the
        code of every method it defines.
    **params
        ``compute``'s keyword arguments; JSON-serialisable.

    Returns
    -------
    str
        64 hex digits (SHA-256).

    Examples
    --------
    >>> def twice(x):
    ...     return {"y": np.array([2 * x])}
    >>> result_key("t", twice, x=1) == result_key("t", twice, x=1) != result_key("t", twice, x=2)
    True
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"name": name, "params": params}, sort_keys=True).encode())
    for function in (compute, *depends_on):
        digest.update(_source(function).encode())
    for module in sorted(_PACKAGE.glob("*.py")):
        digest.update(module.name.encode() + module.read_bytes())
    versions = {"numpy": np.__version__}
    if "torch" in sys.modules:
        versions["torch"] = sys.modules["torch"].__version__
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


def cached(name: str, compute: Callable, depends_on=(), **params) -> dict:
    """``compute(**params)``, run once per key and then read back from disk.

    Parameters
    ----------
    name : str
        The experiment's name (part of the file name).
    compute : callable
        ``compute(**params) -> dict[str, array_like]``: numbers only.
    depends_on : iterable of callables
        Functions ``compute`` calls whose code changes the result.
    **params
        Keyword arguments of ``compute``; JSON-serialisable, part of the key.

    Returns
    -------
    dict of str to numpy.ndarray
        The same arrays whether just computed or read back.

    Raises
    ------
    TypeError
        When ``compute`` returns something other than a dict of numeric arrays.

    Examples
    --------
    >>> calls = []
    >>> def slow(n):
    ...     calls.append(n)
    ...     return {"squares": np.arange(n) ** 2}
    >>> import tempfile, os
    >>> os.environ["TCONV_RESULTS_DIR"] = tempfile.mkdtemp()
    >>> cached("squares", slow, n=4)["squares"], cached("squares", slow, n=4)["squares"], calls
    (array([0, 1, 4, 9]), array([0, 1, 4, 9]), [4])
    >>> del os.environ["TCONV_RESULTS_DIR"]
    """
    depends_on = tuple(depends_on)
    path = results_dir() / f"{name}-{result_key(name, compute, depends_on, **params)[:20]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    result = compute(**params)
    if not isinstance(result, dict) or not result:
        raise TypeError(f"{name}: compute must return a non-empty dict of arrays, "
                        f"got {type(result).__name__}")
    arrays = {}
    for key, value in result.items():
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name}: result {key!r} has dtype {array.dtype}; store numbers only")
        arrays[key] = array
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        np.savez(handle, **arrays)
    os.replace(handle.name, path)  # atomic: a reader never sees half a file
    return arrays
