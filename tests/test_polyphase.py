"""The polyphase view, and the rule by which conv_transpose2d picks its view.

test_transposed.py holds the polyphase view to PyTorch and to every other view
like the other four (named grids, hypothesis cases over every argument, dtypes,
batching, the adjoint identity) and test_errors.py holds its errors to
PyTorch's.  Here is what only this view has: sub-kernels that must be the
artifacts chapter's polyphase decomposition, images taken in chunks, layers
larger than the matrix view can afford, and fastest_view's rule.  Comparisons
with PyTorch are in float64 with relative and absolute tolerance 1e-10
(conftest.assert_same) unless a test says otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, assert_same, t
from hypothesis import given, settings
from hypothesis import strategies as st
from test_transposed import transposed_cases

import tconv_lib
from tconv_lib import artifacts, transposed
from tconv_lib._checks import transposed_args

# Layers like the benchmark's, small enough for a test: N, C_in, C_out, H, W, k and the arguments.
LAYERS = {
    "image_3ch_k4_s2_p1": ((2, 3, 3, 40, 48), 4, dict(stride=2, padding=1)),
    "8ch_k3_s2_p1_op1": ((2, 8, 8, 24, 24), 3, dict(stride=2, padding=1, output_padding=1)),
    "3to16_k4_s2_p1": ((1, 3, 16, 32, 32), 4, dict(stride=2, padding=1)),
    "dcgan_k4_s2_p1_4x4": ((8, 32, 16, 4, 4), 4, dict(stride=2, padding=1)),
    "unet_k2_s2": ((4, 16, 8, 8, 8), 2, dict(stride=2)),
    "grouped_g4_k4_s2_p1": ((2, 16, 16, 12, 12), 4, dict(stride=2, padding=1, groups=4)),
    "dilated_k3_s1_d2_p2": ((2, 8, 8, 16, 16), 3, dict(stride=1, padding=2, dilation=2)),
    "stride1_k3_p1": ((2, 8, 8, 16, 16), 3, dict(stride=1, padding=1)),
    "k5_s3_p4_op2": ((2, 4, 6, 9, 7), 5, dict(stride=3, padding=4, output_padding=2)),
    "k3_s2_d2_p2_op1_gaps": ((2, 4, 4, 10, 10), 3, dict(stride=2, padding=2, output_padding=1, dilation=2)),
    "padding_past_the_kernel": ((1, 2, 3, 6, 6), 2, dict(stride=3, padding=4)),
}


def _layer(name, rng, dtype=np.float64):
    (n, c_in, c_out, h, w), k, params = LAYERS[name]
    groups = params.get("groups", 1)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    weight = rng.standard_normal((c_in, c_out // groups, k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    return x, weight, bias, params


@pytest.mark.parametrize("name", LAYERS)
def test_polyphase_matches_torch_and_gemm_on_benchmark_like_layers(name, rng):
    x, weight, bias, params = _layer(name, rng)
    ref = F.conv_transpose2d(t(x), t(weight), t(bias), **params)
    assert_same(tconv_lib.conv_transpose2d_polyphase(x, weight, bias, **params), ref, f"polyphase {name}")
    assert_same(tconv_lib.conv_transpose2d_gemm(x, weight, bias, **params), ref, f"gemm {name}")
    assert_same(tconv_lib.conv_transpose2d(x, weight, bias, **params), ref, f"conv_transpose2d {name}")


@pytest.mark.parametrize("name", ["image_3ch_k4_s2_p1", "dcgan_k4_s2_p1_4x4", "grouped_g4_k4_s2_p1"])
def test_polyphase_float32_matches_torch(name, rng):
    """float32 in, float32 out, within 1e-4 of PyTorch's float32 answer relative to its largest value."""
    x, weight, bias, params = _layer(name, rng, np.float32)
    out = tconv_lib.conv_transpose2d_polyphase(x, weight, bias, **params)
    ref = F.conv_transpose2d(t(x), t(weight), t(bias), **params).numpy()
    assert out.shape == ref.shape and out.dtype == np.float32, f"{name}: {out.shape} {out.dtype}"
    scale = float(np.abs(ref).max())
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=name)


@pytest.mark.parametrize("chunk_numbers", [1, 10**12], ids=["one_image_per_chunk", "one_chunk"])
@pytest.mark.parametrize("name", ["8ch_k3_s2_p1_op1", "dcgan_k4_s2_p1_4x4", "k5_s3_p4_op2"])
def test_chunks_of_images_do_not_change_the_result(name, chunk_numbers, rng, monkeypatch):
    """The view multiplies the batch in chunks; one image at a time and all at once agree with torch."""
    monkeypatch.setattr(transposed, "POLYPHASE_CHUNK_NUMBERS", chunk_numbers)
    x, weight, bias, params = _layer(name, rng)
    out = tconv_lib.conv_transpose2d_polyphase(x, weight, bias, **params)
    assert_same(out, F.conv_transpose2d(t(x), t(weight), t(bias), **params), f"{name} chunks {chunk_numbers}")


@settings(max_examples=100, deadline=None)
@given(
    k=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    s=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    d=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    groups=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_stacked_kernels_are_the_polyphase_decomposition(k, s, d, groups, seed):
    """Row (co, rh, rw), column (ci, qh, qw) of the view's matrix is artifacts.polyphase_decompose's tap.

    The decomposition the artifacts chapter teaches and the one the operator
    runs are the same: every sub-kernel tap at the same place, and the window
    offsets the view leaves out hold no tap.
    """
    c_in_g, c_out_g = 2, 3
    weight = np.random.default_rng(seed).standard_normal((c_in_g * groups, c_out_g, *k))
    a = transposed_args(np.zeros((1, c_in_g * groups, 3, 3)), weight, None, s, 0, 0, groups, d,
                        nd=2, fname="test")
    kernels, offsets_h, offsets_w = transposed._polyphase_kernels(a)
    subs = artifacts.polyphase_decompose(weight, s, d)  # (sH, sW, C_in, C_out/g, LH, LW)
    (sh, sw), (lh, lw) = s, subs.shape[-2:]
    # (sH, sW, g, C_in/g, C_out/g, LH, LW) -> (g, C_out/g, sH, sW, C_in/g, LH, LW)
    subs = subs.reshape(sh, sw, groups, c_in_g, c_out_g, lh, lw).transpose(2, 4, 0, 1, 3, 5, 6)
    unused_h = [q for q in range(lh) if q not in offsets_h]
    unused_w = [q for q in range(lw) if q not in offsets_w]
    assert not subs[..., unused_h, :].any() and not subs[..., unused_w].any(), (
        f"k={k} s={s} d={d}: an offset the view leaves out holds a tap"
    )
    expected = subs[..., offsets_h, :][..., offsets_w].reshape(kernels.shape)
    np.testing.assert_array_equal(kernels, expected, err_msg=f"k={k} s={s} d={d} groups={groups}")


def test_dilation_reads_only_the_offsets_its_taps_use():
    """k = 3, s = 1, d = 2: the window reads offsets 0, 2, 4 (a dilated im2col), not all five."""
    assert transposed._tap_offsets(3, 1, 2) == [0, 2, 4]
    assert transposed._tap_offsets(4, 2, 1) == [0, 1], "k = 4, s = 2: a window of ceil(4 / 2) = 2"
    assert transposed._tap_offsets(3, 2, 3) == [0, 1, 3], "taps at 0, 3, 6 = periods 0, 1, 3"


def test_1d_polyphase_is_the_one_the_homework_grader_uses():
    """artifacts.conv_transpose1d_polyphase (the grader's reference) is this view, with its worked example."""
    assert artifacts.conv_transpose1d_polyphase is tconv_lib.conv_transpose1d_polyphase
    assert artifacts.conv_transpose2d_polyphase is tconv_lib.conv_transpose2d_polyphase
    x, h = np.array([[1.0, 2.0]]), np.array([[[1.0, 10.0, 100.0]]])
    y = artifacts.conv_transpose1d_polyphase(x, h, stride=2)
    np.testing.assert_array_equal(y, [[1.0, 10.0, 102.0, 20.0, 200.0]])


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 9), k=st.integers(1, 8), s=st.integers(1, 4), p=st.integers(0, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_1d_polyphase_on_the_homework_signature(n, k, s, p, seed):
    """What part D's grader computes: one channel, stride and padding, against PyTorch."""
    full = (n - 1) * s + k
    if full - 2 * p < 1:
        p = (full - 1) // 2
    rng = np.random.default_rng(seed)
    x, weight = rng.standard_normal(n), rng.standard_normal(k)
    out = artifacts.conv_transpose1d_polyphase(x[None], weight[None, None], stride=s, padding=p)[0]
    ref = F.conv_transpose1d(t(x[None, None]), t(weight[None, None]), stride=s, padding=p)[0, 0]
    assert_same(out, ref, f"n={n} k={k} s={s} p={p}")


# ---------------------------------------------------------------------------------------------
# fastest_view: the rule
# ---------------------------------------------------------------------------------------------

# x shape, weight shape, arguments, and the view the rule must pick; the name says why.
RULE_CASES = {
    "image_3ch_256_k4_s2_memory_bound": (
        (1, 3, 256, 256), (3, 3, 4, 4), dict(stride=2, padding=1), "polyphase",
    ),
    "image_1ch_256_k4_s2": ((1, 1, 256, 256), (1, 1, 4, 4), dict(stride=2, padding=1), "polyphase"),
    "unet_k2_s2_no_zero_taps": ((32, 128, 16, 16), (128, 64, 2, 2), dict(stride=2), "polyphase"),
    "grouped_g4": ((8, 64, 32, 32), (64, 16, 4, 4), dict(stride=2, padding=1, groups=4), "polyphase"),
    "dilated_s1_d2": ((8, 64, 32, 32), (64, 64, 3, 3), dict(padding=2, dilation=2), "polyphase"),
    "dcgan_4x4_odd_padding": ((64, 512, 4, 4), (512, 256, 4, 4), dict(stride=2, padding=1), "gemm"),
    "many_in_few_out_im2col_too_big": ((64, 128, 32, 32), (128, 3, 4, 4), dict(stride=2, padding=1), "gemm"),
    "k3_s2_many_channels_zero_taps": (
        (16, 64, 32, 32), (64, 32, 3, 3), dict(stride=2, padding=1, output_padding=1), "gemm",
    ),
}


@pytest.mark.parametrize("case", RULE_CASES)
def test_fastest_view_picks_the_view_the_rule_names(case):
    x_shape, w_shape, params, expected = RULE_CASES[case]
    assert tconv_lib.fastest_view(np.empty(x_shape), np.empty(w_shape), **params) == expected, case


def test_fastest_view_is_the_documented_formula():
    """A 3-channel 256x256 image, k = 4, s = 2, p = 1, worked by hand.

    Q = 2 offsets per axis, M = 257 periods per axis (padding 1 is not a
    multiple of 2: one more period than the 256 rows), so
    polyphase = 2*2 * 257*257 * (3*2*2*3 + 32*3) = 34,873,872 and
    gemm = 4*4 * 256*256 * 3 * (3 + 2*32) = 210,763,776.
    """
    assert transposed.MOVE_COST == 32
    polyphase = 2 * 2 * 257 * 257 * (3 * 2 * 2 * 3 + 32 * 3)
    gemm = 4 * 4 * 256 * 256 * 3 * (3 + 2 * 32)
    assert (polyphase, gemm) == (34_873_872, 210_763_776)
    assert tconv_lib.fastest_view(np.empty((1, 3, 256, 256)), np.empty((3, 3, 4, 4)), 2, 1) == "polyphase"
    # 96 input channels, 1 output channel: im2col would copy far more than col2im adds
    assert tconv_lib.fastest_view(np.empty((1, 96, 64, 64)), np.empty((96, 1, 4, 4)), 2, 1) == "gemm"


@settings(max_examples=100, deadline=None)
@given(transposed_cases(nd=2))
def test_conv_transpose2d_runs_the_view_fastest_view_names(case):
    """Same algorithm, same rounding: conv_transpose2d equals the named view's output exactly."""
    x, weight, bias, params = case
    view = tconv_lib.fastest_view(x, weight, **params)
    assert view in ("polyphase", "gemm")
    out = tconv_lib.conv_transpose2d(x, weight, bias, **params)
    np.testing.assert_array_equal(out, tconv_lib.VIEWS_2D[view](x, weight, bias, **params), err_msg=view)


def test_conv_transpose1d_uses_the_rule_on_a_height_1_image(rng):
    x, weight = rng.standard_normal((2, 3, 50)), rng.standard_normal((3, 4, 4))
    out = tconv_lib.conv_transpose1d(x, weight, stride=2, padding=1)
    view = tconv_lib.fastest_view(x[:, :, None], weight[:, :, None], stride=(1, 2), padding=(0, 1))
    np.testing.assert_array_equal(out, tconv_lib.VIEWS_1D[view](x, weight, stride=2, padding=1))
    assert_same(out, F.conv_transpose1d(t(x), t(weight), stride=2, padding=1), "conv_transpose1d")


def test_fastest_view_rejects_what_conv_transpose2d_rejects():
    with pytest.raises(ValueError, match="output_padding"):
        tconv_lib.fastest_view(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), output_padding=1)
