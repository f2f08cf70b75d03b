"""conv1d / conv2d, the forward operator, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, assert_same, t
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv_lib

GRID = {
    "k3_s1_p1": dict(k=(3, 3), padding=1),
    "k3_s2_p1": dict(k=(3, 3), stride=2, padding=1),
    "k4_s2_p1": dict(k=(4, 4), stride=2, padding=1),
    "k3_d2": dict(k=(3, 3), dilation=2),
    "k2x3_nonsquare_s1x2": dict(k=(2, 3), stride=(1, 2), padding=(1, 0)),
    "k3_same": dict(k=(3, 3), padding="same"),
    "k4_same_even": dict(k=(4, 4), padding="same"),
    "k2x3_same_d2": dict(k=(2, 3), padding="same", dilation=2),
    "k3_valid": dict(k=(3, 3), padding="valid"),
    "k3_g2": dict(k=(3, 3), groups=2, padding=1),
}


@pytest.mark.parametrize("case", GRID)
def test_conv2d_matches_torch_on_grid(case, rng):
    params = dict(GRID[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal((2, 2 * groups, 7, 8))
    weight = rng.standard_normal((3 * groups, 2, *k))
    bias = rng.standard_normal(3 * groups)
    assert_same(
        tconv_lib.conv2d(x, weight, bias, **params),
        F.conv2d(t(x), t(weight), t(bias), **params),
        case,
    )


@settings(max_examples=100, deadline=None)
@given(
    k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 3),
    groups=st.integers(1, 3), n=st.integers(4, 9), batched=st.booleans(), seed=st.integers(0, 999),
)
def test_conv1d_matches_torch_hypothesis(k, s, p, d, groups, n, batched, seed):
    rng = np.random.default_rng(seed)
    if d * (k - 1) + 1 > n + 2 * p:
        return  # torch rejects it too; see test_errors
    x = rng.standard_normal(((2,) if batched else ()) + (2 * groups, n))
    weight = rng.standard_normal((2 * groups, 2, k))
    params = dict(stride=s, padding=p, dilation=d, groups=groups)
    assert_same(tconv_lib.conv1d(x, weight, **params), F.conv1d(t(x), t(weight), **params))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv1d_string_padding(padding, rng):
    x = rng.standard_normal((1, 6))
    weight = rng.standard_normal((2, 1, 4))
    assert_same(
        tconv_lib.conv1d(x, weight, padding=padding), F.conv1d(t(x), t(weight), padding=padding)
    )
