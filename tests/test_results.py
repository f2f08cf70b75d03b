"""tconv_lib.results: slow experiments run once per key, and the key follows what they depend on."""

from __future__ import annotations

import numpy as np
import pytest

from tconv_lib import results


@pytest.fixture(autouse=True)
def results_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TCONV_RESULTS_DIR", str(tmp_path))
    return tmp_path


def _experiment(n, seed=0):
    return {"draws": np.random.default_rng(seed).standard_normal(n), "n": np.array(n)}


def _helper(x):
    return x + 1


def _helper_changed(x):
    return x + 2


def test_second_call_reads_the_stored_arrays(results_in_tmp):
    calls = []

    def compute(n):
        calls.append(n)
        return _experiment(n)

    first = results.cached("exp", compute, n=5)
    second = results.cached("exp", compute, n=5)
    assert calls == [5], f"computed {len(calls)} times"
    assert set(first) == set(second) == {"draws", "n"}
    np.testing.assert_array_equal(first["draws"], second["draws"])
    assert len(list(results_in_tmp.glob("exp-*.npz"))) == 1


def test_parameters_and_code_change_the_key():
    base = results.result_key("exp", _experiment, n=5)
    assert results.result_key("exp", _experiment, n=6) != base, "parameters"
    assert results.result_key("other", _experiment, n=5) != base, "name"
    assert results.result_key("exp", _experiment, (_helper,), n=5) != base, "a dependency"
    assert (results.result_key("exp", _experiment, (_helper,), n=5)
            != results.result_key("exp", _experiment, (_helper_changed,), n=5)), "the dependency's code"
    assert results.result_key("exp", _experiment, n=5) == base, "the key is deterministic"


class _Model:
    def forward(self, x):
        return x


class _ModelChanged:
    def forward(self, x):
        return -x


def test_a_class_counts_by_the_code_of_its_methods():
    _ModelChanged.__qualname__ = _Model.__qualname__  # the same name, other code
    try:
        keys = {results.result_key("exp", _experiment, (cls,), n=5) for cls in (_Model, _ModelChanged)}
    finally:
        _ModelChanged.__qualname__ = "_ModelChanged"
    assert len(keys) == 2, "the methods' code is part of the key"


def test_only_numbers_are_stored():
    with pytest.raises(TypeError, match="store numbers only"):
        results.cached("bad", lambda: {"names": np.array(["a", "b"])})
    with pytest.raises(TypeError, match="dict of arrays"):
        results.cached("bad", lambda: [1, 2])


def test_results_dir_defaults_to_the_build_folder(monkeypatch):
    monkeypatch.delenv("TCONV_RESULTS_DIR")
    assert results.results_dir().parts[-2:] == ("_build", "results")


def _define(source: str, name: str):
    """A function defined from source text, the way a notebook cell defines one."""
    import linecache

    filename = f"<cell {abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"np": np}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def test_trailing_blank_space_does_not_change_the_key():
    """A cell's last function may or may not end in a newline (Jupyter vs a script): same key."""
    with_newline = _define("def f(n):\n    return {'x': np.arange(n)}\n", "f")
    without = _define("def f(n):\n    return {'x': np.arange(n)}", "f")
    changed = _define("def f(n):\n    return {'x': np.arange(n + 1)}", "f")
    assert results.result_key("e", with_newline, n=1) == results.result_key("e", without, n=1)
    assert results.result_key("e", changed, n=1) != results.result_key("e", without, n=1)
