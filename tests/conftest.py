"""Shared fixtures and helpers for the test suite."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

# float64 throughout: the views and torch differ only by summation order, so
# their results agree to a few ulps of the largest partial sum.
RTOL = 1e-10
ATOL = 1e-10


def t(a):
    """NumPy array (or None) -> float64-preserving torch tensor."""
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def assert_same(out, ref, case=""):
    """Shape first, then values, with the case named in the message."""
    ref = ref.detach().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    assert out.shape == ref.shape, f"{case}: shape {out.shape} != torch {ref.shape}"
    assert out.dtype == ref.dtype, f"{case}: dtype {out.dtype} != torch {ref.dtype}"
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL, err_msg=case)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)
