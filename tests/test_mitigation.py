"""tconv_lib.mitigation against PyTorch, and what each mitigation does to a checkerboard.

The last section measures, with artifacts.checkerboard_score, the output of
stacks of freshly initialised layers fed a constant image: which designs
draw a checkerboard before any training, and which do not.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from conftest import F, assert_same, t
from hypothesis import given, settings
from hypothesis import strategies as st
from test_transposed import transposed_cases

import tconv_lib
from tconv_lib import artifacts, geometry, mitigation

# ---------------------------------------------------------------------------------------------
# Upsampling matches torch.nn.functional.interpolate
# ---------------------------------------------------------------------------------------------

SCALES = {"s1": 1, "s2": 2, "s3": 3, "s4": 4, "s5": 5, "s2x3": (2, 3)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [(1, 1), (3, 4), (7, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scale", SCALES)
def test_upsample_nearest_matches_torch(scale, size, dtype, rng):
    x = rng.standard_normal((2, 3, *size)).astype(dtype)
    out = mitigation.upsample_nearest2d(x, SCALES[scale])
    ref = F.interpolate(t(x), scale_factor=SCALES[scale], mode="nearest")
    assert_same(out, ref, f"nearest {scale} {size}")


@pytest.mark.parametrize("align_corners", [False, True], ids=["centres", "corners"])
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scale", SCALES)
def test_upsample_bilinear_matches_torch(scale, size, align_corners, rng):
    x = rng.standard_normal((2, 3, *size))
    out = mitigation.upsample_bilinear2d(x, SCALES[scale], align_corners=align_corners)
    ref = F.interpolate(t(x), scale_factor=SCALES[scale], mode="bilinear", align_corners=align_corners)
    assert_same(out, ref, f"bilinear {scale} {size} align_corners={align_corners}")


def test_upsample_bilinear_keeps_float32(rng):
    x = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    out = mitigation.upsample_bilinear2d(x, 2)
    assert out.dtype == np.float32, f"dtype {out.dtype}: float32 in, float32 out"
    ref = F.interpolate(t(x), scale_factor=2, mode="bilinear").numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6, err_msg="bilinear float32")


# ---------------------------------------------------------------------------------------------
# Resize-convolution
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("padding", ["same", 0, 1, (2, 1)], ids=["same", "p0", "p1", "p2x1"])
def test_resize_conv_matches_torch_interpolate_then_conv(mode, padding, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    weight, bias = rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    out = mitigation.resize_conv2d(x, weight, bias, scale=2, mode=mode, padding=padding)
    up = F.interpolate(t(x), scale_factor=2, mode=mode)
    assert_same(out, F.conv2d(up, t(weight), t(bias), padding=padding), f"{mode} {padding}")


def test_resize_conv_takes_negative_padding_as_a_crop(rng):
    x, weight = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 2, 2))
    out = mitigation.resize_conv2d(x, weight, padding=((-1, 0), (0, -2)))
    full = mitigation.resize_conv2d(x, weight, padding="valid")
    np.testing.assert_array_equal(out, full[:, :, 1:, :-2], err_msg="negative padding crops")


@st.composite
def transposed_layer_cases(draw):
    """(n, k, s, p, op, d, K) of a transposed layer with a valid resize-conv replacement."""
    n, k = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    op = draw(st.integers(0, max(s, d) - 1))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = draw(st.integers(0, (full - 1) // 2))
    conv_k = draw(st.integers(1, 5))
    return n, k, s, p, op, d, conv_k


@settings(max_examples=200, deadline=None)
@given(transposed_layer_cases())
def test_resize_conv_padding_reaches_the_transposed_output_size(case):
    n, k, s, p, op, d, conv_k = case
    before, after = geometry.resize_conv_padding(k, s, p, op, d, conv_kernel_size=conv_k)
    target = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    assert n * s + before + after - conv_k + 1 == target, f"{case}"
    if n * s + min(before, 0) + min(after, 0) < 1 or n * s + before + after < conv_k:
        return  # the crop would eat the whole upsampled image: no resize-conv of this size
    x = np.random.default_rng(0).standard_normal((1, 1, n, n))
    out = mitigation.resize_conv2d(
        x, np.ones((1, 1, conv_k, conv_k)), scale=s, padding=((before, after), (before, after))
    )
    assert out.shape[-2:] == (target, target), f"{case}"


@settings(max_examples=200, deadline=None)
@given(transposed_layer_cases(), st.integers(0, 20))
def test_resize_conv_padding_aligns_within_half_an_output_pixel(case, j):
    """Output j of both layers sits at the same input coordinate, or half an output pixel apart."""
    _, k, s, p, op, d, conv_k = case
    before, _ = geometry.resize_conv_padding(k, s, p, op, d, conv_kernel_size=conv_k)
    transposed = geometry.receptive_field_centre(j, k, s, p, d)
    # resize-conv: output j reads upsampled u = j - before + (K - 1)/2, which lies at (u + 1/2)/s - 1/2
    u = j - before + Fraction(conv_k - 1, 2)
    resized = (u + Fraction(1, 2)) / s - Fraction(1, 2)
    assert (transposed - resized) * s in (0, Fraction(1, 2)), f"{case}, j={j}"


# ---------------------------------------------------------------------------------------------
# The bilinear kernel: FCN's initialisation of an upsampling layer
# ---------------------------------------------------------------------------------------------


def test_bilinear_kernel_is_diagonal_in_channels():
    weight = mitigation.bilinear_kernel(4, channels=3)
    assert weight.shape == (3, 3, 4, 4), f"shape {weight.shape}: (C, C, k, k) expected"
    for c_in in range(3):
        for c_out in range(3):
            expected = mitigation.bilinear_kernel(4) if c_in == c_out else np.zeros((4, 4))
            np.testing.assert_array_equal(
                weight[c_in, c_out], expected, err_msg=f"channels ({c_in}, {c_out})"
            )


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5, 8])
def test_fcn_bilinear_kernel_has_unit_phase_gains(s):
    params = mitigation.fcn_bilinear_params(s)
    gains = artifacts.phase_gains(mitigation.bilinear_kernel(params["kernel_size"]), s)
    np.testing.assert_allclose(gains, np.ones((s, s)), rtol=1e-12, err_msg=f"s={s}")


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_fcn_bilinear_layer_equals_torch_bilinear_except_a_border_of_s_over_2(s, rng):
    """k = 2s - s%2, p = ceil((s-1)/2): equal to interpolate(bilinear, align_corners=False)
    on rows and columns floor(s/2) .. n s - 1 - floor(s/2); different on the border, where
    PyTorch replicates the edge pixel and the transposed convolution adds zeros."""
    params = mitigation.fcn_bilinear_params(s)
    x = rng.uniform(0.5, 1.5, (1, 2, 5, 6))
    weight = mitigation.bilinear_kernel(params["kernel_size"], channels=2)
    out = tconv_lib.conv_transpose2d(x, weight, stride=s, padding=params["padding"])
    ref = F.interpolate(t(x), scale_factor=s, mode="bilinear", align_corners=False).numpy()
    assert out.shape == ref.shape == (1, 2, 5 * s, 6 * s), f"s={s}: shapes {out.shape} vs torch {ref.shape}"
    # output j lies at input coordinate (j + 1/2)/s - 1/2 in both
    torch_offset = Fraction(1, 2 * s) - Fraction(1, 2)
    assert geometry.alignment_offset(params["kernel_size"], s, params["padding"]) == torch_offset, (
        f"s={s}: output 0 should sit at input coordinate {torch_offset}"
    )
    b = s // 2
    np.testing.assert_allclose(
        out[..., b : 5 * s - b, b : 6 * s - b],
        ref[..., b : 5 * s - b, b : 6 * s - b],
        rtol=1e-12,
        atol=1e-12,
        err_msg=f"s={s}: interior rows and columns {b}..n*s-{b + 1} should equal torch bilinear",
    )
    if b:
        assert np.all(np.abs(out[..., :b, :] - ref[..., :b, :]) > 1e-3), (
            f"s={s}: the first {b} rows should differ from torch (zeros vs replicated edge)"
        )
        assert np.all(np.abs(out[..., :, -b:] - ref[..., :, -b:]) > 1e-3), (
            f"s={s}: the last {b} columns should differ from torch (zeros vs replicated edge)"
        )


@pytest.mark.parametrize("s", [3, 5])
def test_kernel_2s_with_odd_s_is_flat_but_half_a_pixel_off(s, rng):
    """The kernel 2s also has unit phase gains for odd s, but no padding lines it up with PyTorch."""
    k = 2 * s
    np.testing.assert_allclose(
        artifacts.phase_gains(mitigation.bilinear_kernel(k), s), 1.0, err_msg=f"k={k}, s={s}"
    )
    torch_offset = Fraction(1, 2 * s) - Fraction(1, 2)
    assert all(geometry.alignment_offset(k, s, p) != torch_offset for p in range(2 * s)), (
        f"k={k}, s={s}: some padding lines up with torch"
    )
    x = rng.uniform(0.5, 1.5, (1, 1, 6, 6))
    ref = F.interpolate(t(x), scale_factor=s, mode="bilinear", align_corners=False).numpy()
    for p, op in [((s - 1) // 2, 0), ((s + 1) // 2, 1)]:
        out = tconv_lib.conv_transpose2d(
            x, mitigation.bilinear_kernel(k, 1), stride=s, padding=p, output_padding=op
        )
        h = min(out.shape[-1], ref.shape[-1])
        assert not np.allclose(out[..., s : h - s, s : h - s], ref[..., s : h - s, s : h - s]), (
            f"k={k}, s={s}, p={p}, op={op}: unexpectedly equal to torch bilinear"
        )


# ---------------------------------------------------------------------------------------------
# Pixel shuffle, sub-pixel convolution, ICNR
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,r",
    [((2, 12, 3, 4), 2), ((1, 18, 2, 3), 3), ((4, 3, 5), 1), ((8, 1, 1), 2)],
    ids=["r2", "r3", "r1_unbatched", "r2_unbatched"],
)
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r, rng):
    x = rng.standard_normal(shape)
    shuffled = mitigation.pixel_shuffle(x, r)
    assert_same(shuffled, F.pixel_shuffle(t(x), r), f"shuffle {shape} r={r}")
    assert_same(
        mitigation.pixel_unshuffle(shuffled, r),
        F.pixel_unshuffle(t(shuffled.copy()), r),
        f"unshuffle {shape} r={r}",
    )
    np.testing.assert_array_equal(
        mitigation.pixel_unshuffle(shuffled, r), x, err_msg=f"round trip {shape} r={r}"
    )


def test_pixel_shuffle_with_a_pair_follows_its_formula(rng):
    x = rng.standard_normal((1, 12, 2, 3))  # C = 2, rH = 2, rW = 3
    out = mitigation.pixel_shuffle(x, (2, 3))
    assert out.shape == (1, 2, 4, 9), f"shape {out.shape}"
    for c in range(2):
        for i in range(2):
            for j in range(3):
                np.testing.assert_array_equal(
                    out[0, c, i::2, j::3],
                    x[0, c * 6 + i * 3 + j],
                    err_msg=f"channel {c}, sub-pixel ({i}, {j})",
                )
    np.testing.assert_array_equal(mitigation.pixel_unshuffle(out, (2, 3)), x, err_msg="round trip (2, 3)")


def test_pixel_shuffle_rejects_channels_not_divisible():
    with pytest.raises(ValueError, match="divisible by upscale"):
        mitigation.pixel_shuffle(np.zeros((1, 3, 2, 2)), 2)


def test_icnr_repeats_each_base_kernel_over_its_sub_pixels():
    w = mitigation.icnr((12, 2, 3, 3), 2, rng=7)
    for c in range(3):
        for sub in range(4):
            np.testing.assert_array_equal(w[4 * c + sub], w[4 * c], err_msg=f"channel {c}, sub-pixel {sub}")
    assert not np.allclose(w[0], w[4]), "different output channels should get different base kernels"


def test_icnr_layer_starts_as_nearest_resize_convolution(rng):
    """pixel_shuffle(conv2d(x, icnr)) == upsample_nearest2d(conv2d(x, base)), for any x."""
    w = mitigation.icnr((8, 3, 3, 3), 2, rng=1)
    x = rng.standard_normal((2, 3, 5, 4))
    out = mitigation.pixel_shuffle(tconv_lib.conv2d(x, w, padding=1), 2)
    expected = mitigation.upsample_nearest2d(tconv_lib.conv2d(x, w[::4], padding=1), 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, err_msg="ICNR vs nearest resize-conv")
    assert artifacts.checkerboard_score(out, 2).max() == 0.0, (
        "an ICNR layer has constant 2x2 blocks, so the score is exactly 0"
    )


def test_icnr_default_is_he_normal_and_takes_an_init():
    w = mitigation.icnr((4 * 64, 32, 3, 3), 2, rng=0)
    assert np.isclose(w.std(), np.sqrt(2 / (32 * 9)), rtol=0.05), (
        f"std {w.std()} vs He std {np.sqrt(2 / (32 * 9))}"
    )
    ones = mitigation.icnr((8, 1, 1, 1), 2, init=lambda shape, rng: np.ones(shape))
    np.testing.assert_array_equal(ones, np.ones((8, 1, 1, 1)), err_msg="custom init")


def test_icnr_rejects_channels_not_divisible_by_scale_squared():
    with pytest.raises(ValueError, match="multiple of scale"):
        mitigation.icnr((6, 1, 3, 3), 2)


@settings(max_examples=150, deadline=None)
@given(transposed_cases(nd=2))
def test_transposed_conv_is_a_subpixel_conv(case):
    """Shi et al. (2016): every transposed convolution equals a stride-1 convolution with
    sH*sW times the output channels, a pixel shuffle and a crop."""
    x, weight, bias, params = case
    sub = mitigation.subpixel_from_conv_transpose2d(weight, bias, **params)
    assert min(min(pair) for pair in sub.crop) >= 0, f"crops {sub.crop} must not be negative"
    assert_same(sub(x), F.conv_transpose2d(t(x), t(weight), t(bias), **params), f"{params}")


def test_subpixel_weight_holds_the_polyphase_sub_kernels(rng):
    weight = rng.standard_normal((2, 3, 4, 4))
    sub = mitigation.subpixel_from_conv_transpose2d(weight, stride=2, padding=1)
    assert sub.weight.shape == (3 * 4, 2, 2, 2), (
        f"shape {sub.weight.shape}: (C_out * s^2, C_in, L, L) expected"
    )
    phases = artifacts.polyphase_decompose(weight, 2)
    for c in range(3):
        for rh in range(2):
            for rw in range(2):
                expected = artifacts.conv_weight_from_transposed(phases[rh, rw])[c]
                np.testing.assert_array_equal(
                    sub.weight[c * 4 + rh * 2 + rw], expected, err_msg=f"channel {c}, phase ({rh}, {rw})"
                )


# ---------------------------------------------------------------------------------------------
# Checkerboards at initialisation, on a constant input
# ---------------------------------------------------------------------------------------------

CHANNELS, SIZE, LAYERS = 4, 12, 3


def _he(rng, shape, fan_in):
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def _transposed_stack(weights, k, s, p, op):
    """Run a constant image through stacked transposed layers; return the interior of the output."""
    x, inside, n = np.ones((1, CHANNELS, SIZE, SIZE)), range(SIZE), SIZE
    for weight in weights:
        x = tconv_lib.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op)
        inside = geometry.interior_range(n, k, s, p, op, input_range=inside)
        n = x.shape[-1]
    assert len(inside) >= 4 * s, "the interior is too small to measure"
    return x[0, :, inside.start : inside.stop, inside.start : inside.stop]


def _random_transposed_weights(k, seed):
    rng = np.random.default_rng(seed)
    # He initialisation of a transposed layer: each output sums about C k^2 / s^2 products
    return [_he(rng, (CHANNELS, CHANNELS, k, k), CHANNELS * k * k / 4) for _ in range(LAYERS)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_k3_s2_stack_draws_checkerboards(seed):
    """Coverage 1, 2 alternates and random sub-kernels differ: every channel is clearly uneven."""
    interior = _transposed_stack(_random_transposed_weights(3, seed), k=3, s=2, p=1, op=1)
    assert artifacts.checkerboard_score(interior, 2).min() > 0.01, (
        f"seed {seed}: scores {artifacts.checkerboard_score(interior, 2)}"
    )


def test_k4_s2_removes_the_uneven_overlap():
    """k divisible by s: coverage is uniform (variance 0), so a kernel of ones gives a flat output."""
    assert artifacts.coverage_variance(4, 2) == 0, "k=4, s=2 has uniform coverage"
    ones = [np.ones((CHANNELS, CHANNELS, 4, 4)) / (CHANNELS * 4)] * LAYERS
    assert artifacts.checkerboard_score(_transposed_stack(ones, k=4, s=2, p=1, op=0), 2).max() < 1e-12, (
        "a ones kernel with k=4, s=2 must give a flat interior"
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k4_s2_with_random_weights_still_draws_checkerboards(seed):
    """Uniform coverage is not enough: each output phase adds its own 2x2 taps of a random
    kernel, and those sums differ. k divisible by s removes the structural part only."""
    weights = _random_transposed_weights(4, seed)
    gains = artifacts.phase_gains(weights[0], 2)  # (2, 2, C_in, C_out)
    assert np.ptp(gains, axis=(0, 1)).min() > 0, f"seed {seed}: some (C_in, C_out) pair has equal phase gains"
    interior = _transposed_stack(weights, k=4, s=2, p=1, op=0)
    assert artifacts.checkerboard_score(interior, 2).min() > 0.01, (
        f"seed {seed}: scores {artifacts.checkerboard_score(interior, 2)}"
    )


def test_bilinear_initialised_stack_is_flat():
    params = mitigation.fcn_bilinear_params(2)
    weights = [mitigation.bilinear_kernel(params["kernel_size"], CHANNELS)] * LAYERS
    interior = _transposed_stack(weights, k=params["kernel_size"], s=2, p=params["padding"], op=0)
    assert np.allclose(interior, 1.0), (
        f"interior values {interior.min()}..{interior.max()}: bilinear layers keep a constant"
    )
    assert artifacts.checkerboard_score(interior, 2).max() < 1e-12, (
        "bilinear-initialised stack should be flat"
    )


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_resize_conv_stack_is_flat(mode):
    """Random 3x3 convolutions after each upsampling: a constant stays constant away from the
    zero padding.  A border of b pixels becomes 2b after nearest upsampling (2b + 1 after
    bilinear, which also reads the next pixel), then one more after the 3x3 convolution."""
    rng = np.random.default_rng(0)
    x, border = np.ones((1, CHANNELS, SIZE, SIZE)), 0
    for _ in range(LAYERS):
        weight = _he(rng, (CHANNELS, CHANNELS, 3, 3), CHANNELS * 9)
        x = mitigation.resize_conv2d(x, weight, scale=2, mode=mode, padding=1)
        border = 2 * border + (1 if mode == "nearest" else 2)
    interior = x[0, :, border:-border, border:-border]
    assert artifacts.checkerboard_score(interior, 2).max() < 1e-12, (
        f"{mode}: scores {artifacts.checkerboard_score(interior, 2)}"
    )
    assert np.ptp(x) > 0, (
        f"{mode}: the output should not be flat at its zero-padded border"
    )  # the border is not flat, the interior is


def test_icnr_initialised_subpixel_stack_is_flat_everywhere():
    """ICNR layers give constant 2x2 blocks for any input: no border to crop."""
    rng = np.random.default_rng(0)
    x = np.ones((1, CHANNELS, SIZE, SIZE))
    for _ in range(LAYERS):
        weight = mitigation.icnr((CHANNELS * 4, CHANNELS, 3, 3), 2, rng=rng)
        x = mitigation.subpixel_conv2d(x, weight, upscale=2, padding=1)
    assert x.shape[-1] == SIZE * 2**LAYERS, f"width {x.shape[-1]}"
    assert artifacts.checkerboard_score(x[0], 2).max() == 0.0, (
        f"scores {artifacts.checkerboard_score(x[0], 2)}"
    )
