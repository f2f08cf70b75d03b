"""The five views of conv_transpose1d/2d against each other and against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, assert_same, t
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv_lib
from tconv_lib import VIEWS_1D, VIEWS_2D, geometry

# The cases a book teaches, by name: kernel, stride, padding, output_padding, dilation, groups.
GRID_2D = {
    "k2_s1_p0": dict(k=(2, 2), stride=1),
    "k3_s1_p1": dict(k=(3, 3), stride=1, padding=1),
    "k3_s2_p0": dict(k=(3, 3), stride=2),
    "k3_s2_p1": dict(k=(3, 3), stride=2, padding=1),
    "k3_s2_p1_op1": dict(k=(3, 3), stride=2, padding=1, output_padding=1),
    "k4_s2_p1_dcgan": dict(k=(4, 4), stride=2, padding=1),
    "k5_s2_p2_op1": dict(k=(5, 5), stride=2, padding=2, output_padding=1),
    "k1_s2_gaps": dict(k=(1, 1), stride=2),
    "k2_s3_gaps": dict(k=(2, 2), stride=3),
    "k3_s3": dict(k=(3, 3), stride=3),
    "k3_s1_d2": dict(k=(3, 3), stride=1, dilation=2),
    "k3_s1_d2_op1": dict(k=(3, 3), stride=1, dilation=2, output_padding=1),
    "k3_s2_d2_p2": dict(k=(3, 3), stride=2, dilation=2, padding=2),
    "k2x3_s1x2_nonsquare": dict(k=(2, 3), stride=(1, 2), padding=(0, 1), output_padding=(0, 1)),
    "k3_s2_g2": dict(k=(3, 3), stride=2, groups=2),
    "k3_s2_p4_crop_past_kernel": dict(k=(3, 3), stride=2, padding=(3, 4)),
}


def _random_case(rng, k, groups=1, n=2, c_in_g=2, c_out_g=3, size=(4, 5)):
    x = rng.standard_normal((n, c_in_g * groups, *size))
    weight = rng.standard_normal((c_in_g * groups, c_out_g, *k))
    bias = rng.standard_normal(c_out_g * groups)
    return x, weight, bias


@pytest.mark.parametrize("view", VIEWS_2D)
@pytest.mark.parametrize("case", GRID_2D)
def test_view_2d_matches_torch_on_book_grid(view, case, rng):
    params = dict(GRID_2D[case])
    k = params.pop("k")
    x, weight, bias = _random_case(rng, k, groups=params.get("groups", 1))
    out = VIEWS_2D[view](x, weight, bias, **params)
    ref = F.conv_transpose2d(t(x), t(weight), t(bias), **params)
    assert_same(out, ref, f"{view} {case}")


GRID_1D = {
    "k3_s2_p1_op1": dict(k=3, stride=2, padding=1, output_padding=1),
    "k4_s2_p1": dict(k=4, stride=2, padding=1),
    "k1_s2_gaps": dict(k=1, stride=2),
    "k3_s1_d3_op2": dict(k=3, stride=1, dilation=3, output_padding=2),
    "k2_s2_g3": dict(k=2, stride=2, groups=3),
}


@pytest.mark.parametrize("view", VIEWS_1D)
@pytest.mark.parametrize("case", GRID_1D)
def test_view_1d_matches_torch_on_book_grid(view, case, rng):
    params = dict(GRID_1D[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal((2, 2 * groups, 7))
    weight = rng.standard_normal((2 * groups, 2, k))
    bias = rng.standard_normal(2 * groups)
    out = VIEWS_1D[view](x, weight, bias, **params)
    ref = F.conv_transpose1d(t(x), t(weight), t(bias), **params)
    assert_same(out, ref, f"{view} {case}")


@st.composite
def transposed_cases(draw, nd):
    """Any valid argument set of conv_transpose{nd}d, small enough for the matrix view."""
    groups = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    # padding up to the largest value that still leaves an output of size >= 1
    padding = []
    for n, kk, s, d, op in zip(size, k, stride, dilation, output_padding):
        full = geometry.conv_transpose_output_size(n, kk, s, 0, op, d)
        padding.append(draw(st.integers(0, (full - 1) // 2)))
    c_in_g, c_out_g = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    batched = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(((2,) if batched else ()) + (c_in_g * groups, *size))
    weight = rng.standard_normal((c_in_g * groups, c_out_g, *k))
    bias = rng.standard_normal(c_out_g * groups) if draw(st.booleans()) else None
    params = dict(
        stride=stride, padding=tuple(padding), output_padding=output_padding,
        groups=groups, dilation=dilation,
    )
    return x, weight, bias, params


@settings(max_examples=150, deadline=None)
@given(transposed_cases(nd=2))
def test_every_2d_view_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    ref = F.conv_transpose2d(t(x), t(weight), t(bias), **params)
    for name, view in VIEWS_2D.items():
        assert_same(view(x, weight, bias, **params), ref, f"{name} {params}")


@settings(max_examples=100, deadline=None)
@given(transposed_cases(nd=1))
def test_every_1d_view_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    params = {key: v[0] if isinstance(v, tuple) else v for key, v in params.items()}
    ref = F.conv_transpose1d(t(x), t(weight), t(bias), **params)
    for name, view in VIEWS_1D.items():
        assert_same(view(x, weight, bias, **params), ref, f"{name} {params}")


FAST = {
    "conv_transpose2d": tconv_lib.conv_transpose2d,
    "polyphase": tconv_lib.conv_transpose2d_polyphase,
    "gemm": tconv_lib.conv_transpose2d_gemm,
}


@pytest.mark.parametrize("view", FAST)
@settings(max_examples=100, deadline=None)
@given(case=transposed_cases(nd=2))
def test_adjoint_identity(view, case):
    """<conv2d(z), y> == <z, conv_transpose2d(y)> for the same weight, stride, padding, dilation.

    This needs no hand-written answer: it is what "transposed" means.  When
    output_padding >= stride (allowed with a larger dilation) conv2d(z) has
    extra rows that y has no counterpart for; they are cut off.  Checked for
    the library's function and for both views it chooses between.
    """
    y, weight, _, params = case
    out = FAST[view](y, weight, **params)
    z = np.random.default_rng(0).standard_normal(out.shape)
    conv_params = {key: v for key, v in params.items() if key != "output_padding"}
    cz = tconv_lib.conv2d(z, weight, **conv_params)[..., : y.shape[-2], : y.shape[-1]]
    lhs, rhs = np.vdot(cz, y), np.vdot(z, out)
    assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-10), f"{view} {params}: {lhs} != {rhs}"


def test_conv_transpose_is_transpose_of_conv_matrix(rng):
    """The matrix view literally multiplies by C.T."""
    weight = rng.standard_normal((2, 3, 3, 3))  # conv: 3 -> 2 channels; transposed: 2 -> 3
    c = tconv_lib.conv_matrix(weight, (3, 6, 6), stride=2, padding=1)
    y = rng.standard_normal((2, 3, 3))
    out = tconv_lib.conv_transpose2d(y, weight, stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(out.ravel(), c.T @ y.ravel(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("view", VIEWS_2D)
def test_dtype_is_preserved(view, dtype, rng):
    x = rng.standard_normal((1, 2, 3, 3)).astype(dtype)
    weight = rng.standard_normal((2, 1, 3, 3)).astype(dtype)
    out = VIEWS_2D[view](x, weight, stride=2)
    assert out.dtype == dtype
    ref = F.conv_transpose2d(t(x), t(weight), stride=2).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("view", VIEWS_2D)
def test_unbatched_equals_batched(view, rng):
    x = rng.standard_normal((2, 4, 4))
    weight = rng.standard_normal((2, 3, 3, 3))
    unbatched = VIEWS_2D[view](x, weight, stride=2, padding=1)
    batched = VIEWS_2D[view](x[None], weight, stride=2, padding=1)
    assert unbatched.shape == batched.shape[1:]
    np.testing.assert_array_equal(unbatched, batched[0])


def test_empty_batch_is_allowed(rng):
    weight = rng.standard_normal((2, 3, 3, 3))
    out = tconv_lib.conv_transpose2d(np.zeros((0, 2, 4, 4)), weight, stride=2)
    assert out.shape == (0, 3, 9, 9)


@pytest.mark.parametrize("view", VIEWS_2D)
def test_views_are_fast_enough_for_32x32(view, rng):
    """Every view, the readable ones included, handles a 32x32 input in a test."""
    x = rng.standard_normal((1, 1, 32, 32))
    weight = rng.standard_normal((1, 1, 4, 4))
    out = VIEWS_2D[view](x, weight, stride=2, padding=1)
    assert_same(out, F.conv_transpose2d(t(x), t(weight), stride=2, padding=1), view)


def test_lists_are_accepted_as_arrays():
    out = tconv_lib.conv_transpose1d([[1.0, 2.0]], [[[1.0, 1.0]]])
    np.testing.assert_array_equal(out, [[1.0, 3.0, 2.0]])


@pytest.mark.parametrize("batch_last", [True, False], ids=["batch_last", "batch_middle"])
@pytest.mark.parametrize("case", GRID_2D)
def test_gemm_memory_layouts_agree_with_torch(case, batch_last, rng, monkeypatch):
    """The gemm view picks where the batch axis sits in memory by image size; both are right."""
    monkeypatch.setattr(tconv_lib.transposed, "BATCH_LAST_MAX_PIXELS", 10**9 if batch_last else 0)
    params = dict(GRID_2D[case])
    k = params.pop("k")
    x, weight, bias = _random_case(rng, k, groups=params.get("groups", 1))
    out = tconv_lib.conv_transpose2d_gemm(x, weight, bias, **params)
    assert_same(out, F.conv_transpose2d(t(x), t(weight), t(bias), **params), case)
