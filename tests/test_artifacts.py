"""tconv_lib.artifacts: coverage, gaps, polyphase decomposition and the checkerboard score.

Every count is computed three ways — by the operator, by brute force and in
closed form — and the three are held against each other; the polyphase view
is held against PyTorch.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np
import pytest
from conftest import F, assert_same, t
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_transposed import GRID_1D, GRID_2D, _random_case, transposed_cases

import tconv_lib
from tconv_lib import artifacts, geometry, mitigation

# ---------------------------------------------------------------------------------------------
# Coverage: operator == brute force == closed form
# ---------------------------------------------------------------------------------------------

# (input_size, kernel_size, stride, padding, output_padding, dilation)
COVERAGE_GRID = {
    "k2_s1_lecture": (2, 2, 1, 0, 0, 1),
    "k3_s2": (5, 3, 2, 0, 0, 1),
    "k3_s2_p1_op1_unet": (4, 3, 2, 1, 1, 1),
    "k4_s2_p1_dcgan": (5, 4, 2, 1, 0, 1),
    "k5_s3": (4, 5, 3, 0, 0, 1),
    "k1_s2_gaps": (3, 1, 2, 0, 0, 1),
    "k2_s3_gaps": (4, 2, 3, 0, 0, 1),
    "k2_s2_d2_holes": (4, 2, 2, 0, 0, 2),
    "k2_s2_d3_no_holes": (4, 2, 2, 0, 0, 3),
    "k3_s4_d2": (4, 3, 4, 1, 1, 2),
    "k3_s1_d3_op2": (3, 3, 1, 0, 2, 3),
    "k3_s2_p4_crop_past_kernel": (5, 3, 2, 4, 0, 1),
}


@st.composite
def coverage_cases(draw):
    """(n, k, s, p, op, d) with a non-empty output."""
    n, k = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    s, d = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    op = draw(st.integers(0, max(s, d) - 1))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = draw(st.integers(0, (full - 1) // 2))
    return n, k, s, p, op, d


@pytest.mark.parametrize("case", COVERAGE_GRID)
def test_coverage1d_operator_equals_brute_force_on_grid(case):
    args = COVERAGE_GRID[case]
    op_count = artifacts.coverage1d(*args)
    brute = artifacts.coverage1d_brute_force(*args)
    assert op_count.shape == brute.shape, f"{case}: {op_count.shape} != {brute.shape}"
    np.testing.assert_array_equal(op_count, brute, err_msg=case)


@settings(max_examples=200, deadline=None)
@given(coverage_cases())
def test_coverage1d_operator_equals_brute_force(case):
    np.testing.assert_array_equal(
        artifacts.coverage1d(*case), artifacts.coverage1d_brute_force(*case), err_msg=str(case)
    )


@settings(max_examples=60, deadline=None)
@given(coverage_cases(), coverage_cases())
def test_coverage2d_is_the_outer_product_of_the_axes(rows, cols):
    """Operator, brute force and the product of the two 1D counts agree in 2D."""
    args2d = [tuple(pair) for pair in zip(rows, cols)]
    op_count = artifacts.coverage2d(*args2d)
    brute = artifacts.coverage2d_brute_force(*args2d)
    outer = np.outer(artifacts.coverage1d(*rows), artifacts.coverage1d(*cols))
    assert op_count.shape == brute.shape == outer.shape, f"{rows} x {cols}"
    np.testing.assert_array_equal(op_count, brute, err_msg=f"{rows} x {cols}: operator vs brute force")
    np.testing.assert_array_equal(op_count, outer, err_msg=f"{rows} x {cols}: operator vs outer product")


def _interior_counts(k, s, p, d, periods=3):
    """Brute-force coverage of a long input, restricted to its interior."""
    n = (d * (k - 1) + 2 * p) // s + 2 * periods + 2
    counts = artifacts.coverage1d_brute_force(n, k, s, p, 0, d)
    interior = geometry.interior_range(n, k, s, p, 0, d)
    return counts, interior


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 5), p=st.integers(0, 6))
def test_coverage_period_is_the_interior_of_the_brute_force_count(k, s, d, p):
    counts, interior = _interior_counts(k, s, p, d)
    period = artifacts.coverage_period(k, s, d, padding=p)
    assert len(interior) >= s, f"k={k} s={s} d={d} p={p}: interior {interior} too short"
    for j in interior:
        assert counts[j] == period[j % s], f"k={k} s={s} d={d} p={p}: position {j}"
    assert period.sum() == k, f"k={k} s={s} d={d}: the phases must share all k taps"


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k", range(1, 12))
def test_without_dilation_r_phases_get_q_plus_1(k, s):
    """k = q s + r: r phases get q + 1, s - r phases get q."""
    q, r = divmod(k, s)
    counts = sorted(artifacts.coverage_period(k, s).tolist())
    assert counts == [q] * (s - r) + [q + 1] * r, (
        f"k={k} s={s}: expected {s - r} phases with {q} and {r} with {q + 1}, got {counts}"
    )


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 6))
def test_with_dilation_the_phases_share_k_over_s_over_gcd(k, s, d):
    """g = gcd(d, s): s - s/g phases get 0; of the rest, r' get q' + 1, the others q'."""
    g = gcd(d, s)
    q, r = divmod(k, s // g)
    counts = sorted(artifacts.coverage_period(k, s, d).tolist())
    assert counts == [0] * (s - s // g) + [q] * (s // g - r) + [q + 1] * r, (
        f"k={k} s={s} d={d} (g={g}): got {counts}"
    )


def _population_variance(values) -> Fraction:
    values = [Fraction(int(v)) for v in values]
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 6))
def test_coverage_variance_closed_form_equals_counted_variance(k, s, d):
    """The closed form equals the variance of the counts, over one period and over the interior."""
    variance = artifacts.coverage_variance(k, s, d)
    assert variance == _population_variance(artifacts.coverage_period(k, s, d)), (
        f"k={k} s={s} d={d}: closed form {variance} != variance of the period"
    )
    counts, interior = _interior_counts(k, s, 0, d, periods=2)
    whole_periods = interior.start + (len(interior) // s) * s
    assert variance == _population_variance(counts[interior.start : whole_periods]), (
        f"k={k} s={s} d={d}: closed form {variance} != variance of the brute-force interior"
    )


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k", range(1, 12))
def test_coverage_variance_without_dilation_is_r_over_s_times_1_minus_r_over_s(k, s):
    r = Fraction(k % s, s)
    assert artifacts.coverage_variance(k, s) == r * (1 - r), (
        f"k={k} s={s}: expected (r/s)(1 - r/s) = {r * (1 - r)}"
    )


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 12), s=st.integers(1, 6), d=st.integers(1, 6))
def test_coverage_is_uniform_iff_s_divides_k_and_d_is_coprime_to_s(k, s, d):
    uniform = len(set(artifacts.coverage_period(k, s, d).tolist())) == 1
    assert uniform == (artifacts.coverage_variance(k, s, d) == 0), (
        f"k={k} s={s} d={d}: uniform={uniform} but variance {artifacts.coverage_variance(k, s, d)}"
    )
    assert uniform == (k % s == 0 and gcd(d, s) == 1), (
        f"k={k} s={s} d={d}: uniform={uniform}, expected s | k and gcd(d, s) == 1"
    )


# ---------------------------------------------------------------------------------------------
# Interiors: where the borders do not reach
# ---------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(coverage_cases(), st.integers(0, 2**32 - 1))
def test_interior_sees_an_endless_constant_input(case, seed):
    """In the interior, a constant input of length n gives what a much longer one gives."""
    n, k, s, p, op, d = case
    weight = np.random.default_rng(seed).standard_normal((1, 1, k))
    short = tconv_lib.conv_transpose1d(np.ones((1, 1, n)), weight, None, s, p, op, 1, d)
    extra = d * (k - 1) // s + 2  # input elements added on each side
    long = tconv_lib.conv_transpose1d(np.ones((1, 1, n + 2 * extra)), weight, None, s, p, op, 1, d)
    for j in geometry.interior_range(n, k, s, p, op, d):
        # input 0 of the short signal is input `extra` of the long one: s * extra positions later
        assert np.isclose(short[0, 0, j], long[0, 0, j + s * extra]), f"{case}: position {j}"


def test_interior_of_a_stack_composes():
    """range -> range: the second layer's interior is computed from the first's."""
    first = geometry.interior_range(8, 3, 2, 1, 1)
    second = geometry.interior_range(16, 3, 2, 1, 1, input_range=first)
    assert (first, second) == (range(1, 14), range(3, 26)), f"interiors {first}, {second}"


def test_interior_is_empty_when_the_input_is_too_short():
    assert len(geometry.interior_range(1, 5, 2)) == 0, "a 1-element input with k=5, s=2 has no interior"


# ---------------------------------------------------------------------------------------------
# Gaps
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", COVERAGE_GRID)
def test_gaps_are_the_zeros_of_the_coverage(case):
    args = COVERAGE_GRID[case]
    counts = artifacts.coverage1d_brute_force(*args)
    np.testing.assert_array_equal(artifacts.gaps1d(*args), np.flatnonzero(counts == 0), err_msg=case)


def test_gaps2d_are_rows_or_columns_that_are_gaps():
    rows, cols = (3, 1, 2, 0, 1, 1), (3, 2, 3, 0, 0, 1)
    mask = artifacts.gaps2d(*[tuple(pair) for pair in zip(rows, cols)])
    row_gap = np.isin(np.arange(mask.shape[0]), artifacts.gaps1d(*rows))
    col_gap = np.isin(np.arange(mask.shape[1]), artifacts.gaps1d(*cols))
    np.testing.assert_array_equal(mask, row_gap[:, None] | col_gap[None, :], err_msg="2D gaps vs 1D gaps")


def _zero_runs(counts) -> list[int]:
    """Lengths of the runs of zeros in a 1D array (brute force for gap_lengths)."""
    runs, run = [], 0
    for c in counts:
        if c == 0:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return runs + ([run] if run else [])


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 8), s=st.integers(1, 6), d=st.integers(1, 5))
def test_gap_lengths_are_the_interior_runs_of_zeros(k, s, d):
    """Between two covered positions of the interior, the runs repeat gap_lengths every period."""
    counts, interior = _interior_counts(k, s, 0, d, periods=3)
    # start on a covered position of phase 0 and read whole periods
    start = interior.start + (-interior.start) % s
    periods = (interior.stop - start - 1) // s
    window = counts[start : start + periods * s + 1]  # ends on phase 0 again
    assert _zero_runs(window) == artifacts.gap_lengths(k, s, d) * periods, (
        f"k={k} s={s} d={d}: runs {_zero_runs(window)} vs gap_lengths {artifacts.gap_lengths(k, s, d)}"
    )


def test_dilation_makes_holes_although_the_span_covers_the_stride():
    """k=2, d=2, s=2: the dilated kernel spans 3 >= 2 positions, yet every odd position is empty."""
    assert geometry.effective_kernel_size(2, 2) >= 2, "the dilated span d(k-1)+1 = 3 is at least the stride"
    assert artifacts.gap_lengths(2, 2, dilation=2) == [1], (
        "k=2, d=2, s=2 should leave runs of 1 empty position"
    )
    np.testing.assert_array_equal(
        artifacts.gaps1d(4, 2, 2, dilation=2), [1, 3, 5, 7], err_msg="odd positions"
    )
    # a dilation coprime to the stride closes them
    assert artifacts.gap_lengths(2, 2, dilation=3) == [], "d=3 is coprime to s=2: no interior gap"


# ---------------------------------------------------------------------------------------------
# Polyphase decomposition
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7])
def test_polyphase_without_dilation_takes_every_sth_tap(k, s):
    """h_r[q] = w[q s + r], zero-padded to a common length."""
    w = np.arange(1.0, k + 1)
    subs = artifacts.polyphase_decompose(w, s)
    assert subs.shape == (s, (k - 1) // s + 1), f"k={k} s={s}: sub-kernel shape {subs.shape}"
    for r in range(s):
        taps = w[r::s]
        np.testing.assert_array_equal(subs[r, : len(taps)], taps, err_msg=f"k={k} s={s} r={r}")
        np.testing.assert_array_equal(subs[r, len(taps) :], 0, err_msg=f"k={k} s={s} r={r}: zero padding")


@settings(max_examples=100, deadline=None)
@given(
    kh=st.integers(1, 6),
    kw=st.integers(1, 6),
    sh=st.integers(1, 4),
    sw=st.integers(1, 4),
    dh=st.integers(1, 4),
    dw=st.integers(1, 4),
)
def test_polyphase_puts_every_tap_in_exactly_one_phase(kh, kw, sh, sw, dh, dw):
    """Tap (a, b) sits in phase ((a dH) mod sH, (b dW) mod sW) at ((a dH) // sH, (b dW) // sW)."""
    w = np.arange(1.0, kh * kw + 1).reshape(kh, kw)  # distinct non-zero taps
    subs = artifacts.polyphase_decompose(w, (sh, sw), (dh, dw))
    assert np.count_nonzero(subs) == kh * kw, f"k={kh}x{kw} s={sh}x{sw} d={dh}x{dw}: every tap exactly once"
    for a in range(kh):
        for b in range(kw):
            (qa, ra), (qb, rb) = divmod(a * dh, sh), divmod(b * dw, sw)
            assert subs[ra, rb, qa, qb] == w[a, b], (
                f"tap ({a}, {b}) should sit in phase ({ra}, {rb}) at ({qa}, {qb})"
            )


def test_polyphase_keeps_channel_axes():
    w = np.random.default_rng(0).standard_normal((3, 2, 4, 5))
    subs = artifacts.polyphase_decompose(w, 2)
    assert subs.shape == (2, 2, 3, 2, 2, 3), f"shape {subs.shape}: (sH, sW, C_in, C_out, LH, LW) expected"
    np.testing.assert_array_equal(
        subs[1, 0, :, :, 1, 2], w[:, :, 3, 4], err_msg="tap (3, 4) -> phase (1, 0) at (1, 2)"
    )


@pytest.mark.parametrize("case", GRID_2D)
def test_polyphase_view_matches_torch_on_book_grid(case, rng):
    params = dict(GRID_2D[case])
    k = params.pop("k")
    x, weight, bias = _random_case(rng, k, groups=params.get("groups", 1))
    out = artifacts.conv_transpose2d_polyphase(x, weight, bias, **params)
    assert_same(out, F.conv_transpose2d(t(x), t(weight), t(bias), **params), f"polyphase {case}")


@settings(max_examples=150, deadline=None)
@given(transposed_cases(nd=2))
def test_polyphase_view_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    out = artifacts.conv_transpose2d_polyphase(x, weight, bias, **params)
    assert_same(out, F.conv_transpose2d(t(x), t(weight), t(bias), **params), f"{params}")
    assert_same(out, tconv_lib.conv_transpose2d(x, weight, bias, **params), f"{params}")


@pytest.mark.parametrize("case", GRID_1D)
def test_polyphase_1d_matches_torch_on_book_grid(case, rng):
    params = dict(GRID_1D[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal((2, 2 * groups, 7))
    weight = rng.standard_normal((2 * groups, 2, k))
    bias = rng.standard_normal(2 * groups)
    out = artifacts.conv_transpose1d_polyphase(x, weight, bias, **params)
    assert_same(out, F.conv_transpose1d(t(x), t(weight), t(bias), **params), f"polyphase {case}")


@settings(max_examples=100, deadline=None)
@given(transposed_cases(nd=1))
def test_polyphase_1d_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    params = {key: v[0] if isinstance(v, tuple) else v for key, v in params.items()}
    out = artifacts.conv_transpose1d_polyphase(x, weight, bias, **params)
    assert_same(out, F.conv_transpose1d(t(x), t(weight), t(bias), **params), f"{params}")


def test_polyphase_view_keeps_float32(rng):
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    weight = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    out = artifacts.conv_transpose2d_polyphase(x, weight, stride=2)
    assert out.dtype == np.float32, f"dtype {out.dtype}: float32 in, float32 out"
    np.testing.assert_allclose(
        out,
        tconv_lib.conv_transpose2d(x, weight, stride=2),
        rtol=1e-5,
        atol=1e-5,
        err_msg="polyphase float32",
    )


def test_polyphase_view_rejects_what_torch_rejects():
    with pytest.raises(ValueError, match="output_padding"):
        artifacts.conv_transpose2d_polyphase(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), output_padding=1)


@settings(max_examples=100, deadline=None)
@given(coverage_cases(), st.integers(0, 2**32 - 1))
def test_phase_gains_are_what_a_constant_input_gives_in_the_interior(case, seed):
    n, k, s, p, op, d = case
    weight = np.random.default_rng(seed).standard_normal((1, 1, k))
    out = tconv_lib.conv_transpose1d(np.ones((1, 1, n)), weight, None, s, p, op, 1, d)[0, 0]
    gains = artifacts.phase_gains(weight, s, d)[:, 0, 0]
    for j in geometry.interior_range(n, k, s, p, op, d):
        assert np.isclose(out[j], gains[(j + p) % s]), f"{case}: position {j}"


def test_phase_gains_in_2d_are_sums_of_the_sub_kernels(rng):
    w = rng.standard_normal((5, 4))
    gains = artifacts.phase_gains(w, (2, 3))
    subs = artifacts.polyphase_decompose(w, (2, 3))
    np.testing.assert_allclose(gains, subs.sum(axis=(-2, -1)), err_msg="gains vs sub-kernel sums")
    assert np.isclose(gains.sum(), w.sum()), "the phase gains must add up to the kernel sum"


def test_conv_weight_from_transposed_turns_stride_1_into_a_full_convolution(rng):
    """With stride 1 a transposed convolution is the full ordinary convolution with that weight."""
    x, weight = rng.standard_normal((1, 4, 3, 5)), rng.standard_normal((4, 3, 3, 2))
    conv_weight = artifacts.conv_weight_from_transposed(weight, groups=2)
    assert conv_weight.shape == (6, 2, 3, 2), (
        f"shape {conv_weight.shape}: (C_out, C_in // groups, kH, kW) expected"
    )
    out = tconv_lib.conv2d(x, conv_weight, padding=(2, 1), groups=2)
    np.testing.assert_allclose(
        out, tconv_lib.conv_transpose2d(x, weight, groups=2), rtol=1e-12, err_msg="full convolution"
    )


# ---------------------------------------------------------------------------------------------
# The checkerboard score
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, -3.5, 1e-8, 7e6])
def test_score_is_zero_on_constants(value):
    assert artifacts.checkerboard_score(np.full((6, 8), value), 2) < 1e-12, f"constant {value} should score 0"


def test_score_is_zero_on_zeros():
    assert artifacts.checkerboard_score(np.zeros((4, 4)), 2) == 0.0, "an all-zero image is flat"


@pytest.mark.parametrize("mean", [0.0, 100.0, -3.0])
@pytest.mark.parametrize("s", [2, 3, (2, 3)])
def test_score_is_one_on_a_periodic_pattern_whatever_its_mean(s, mean):
    """The issue's case: a +-1 pattern scores 1 on mean 0 and on mean 100 (not 0.01)."""
    sh, sw = (s, s) if isinstance(s, int) else s
    tile = np.random.default_rng(1).standard_normal((sh, sw))
    image = np.tile(tile, (4, 5)) + mean
    assert np.isclose(artifacts.checkerboard_score(image, s), 1.0), (
        f"s={s}, mean {mean}: a period-s pattern should score 1"
    )
    checker = np.where(np.indices((6, 6)).sum(axis=0) % 2, 1.0, -1.0)
    assert artifacts.checkerboard_score(checker + mean, 2) == 1.0, f"+-1 checkerboard on mean {mean}"


def test_score_of_a_pattern_with_variation_inside_the_phases():
    """[1, 2, 3, 4] with period (1, 2): phase means 2 and 3 (spread 1/2), image spread sqrt(5/4)."""
    score = artifacts.checkerboard_score(np.array([[1.0, 2.0, 3.0, 4.0]]), (1, 2))
    assert np.isclose(score, 0.5 / np.sqrt(1.25)), f"score {score}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_score_treats_rounding_as_flat(dtype):
    """A constant that picked up an ulp of rounding is flat, not a pattern of score ~1."""
    image = np.full((8, 8), 0.1, dtype=dtype)
    image[::2, ::2] = np.nextafter(image[0, 0], dtype(1))  # one ulp on one phase
    assert artifacts.checkerboard_score(image, 2) == 0.0, "one ulp of rounding is not a checkerboard"
    image[::2, ::2] *= 1 + 1e-3
    assert np.isclose(artifacts.checkerboard_score(image, 2), 1.0, rtol=1e-3), "a real pattern scores 1"


def test_phase_means_are_the_means_of_the_strided_slices():
    image = np.random.default_rng(3).standard_normal((2, 7, 9))
    means = artifacts.phase_means(image, (2, 3))
    assert means.shape == (2, 2, 3), f"shape {means.shape}"
    for rh in range(2):
        for rw in range(3):
            np.testing.assert_allclose(means[:, rh, rw], image[:, rh:6:2, rw:9:3].mean(axis=(1, 2)),
                                       err_msg=f"phase {(rh, rw)}")


def test_phase_means_of_a_constant_response_are_the_phase_gains():
    w = np.random.default_rng(4).uniform(0, 1, (3, 3))
    y = tconv_lib.conv_transpose2d(np.full((1, 1, 10, 10), 2.0), w[None, None], stride=2)[0, 0]
    r = geometry.interior_range(10, 3, 2)
    assert r.start % 2 == 0, "the interior starts on the stride's grid"
    np.testing.assert_allclose(artifacts.phase_means(y[r.start : r.stop, r.start : r.stop], 2),
                               2.0 * artifacts.phase_gains(w, 2), err_msg="phase means = c * gains")


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(-1e6, 1e6).filter(lambda v: abs(v) > 1e-6),
    shift=st.floats(-1e3, 1e3),
    s=st.integers(1, 4),
)
def test_score_ignores_scale_and_mean_and_is_at_most_one(seed, scale, shift, s):
    image = np.random.default_rng(seed).standard_normal((3, 9, 10))
    score = artifacts.checkerboard_score(image, s)
    assert score.shape == (3,), f"one score per leading index, got shape {score.shape}"
    np.testing.assert_allclose(
        artifacts.checkerboard_score(scale * image + shift, s), score, rtol=1e-7,
        err_msg=f"scale {scale}, shift {shift}"
    )
    assert np.all((score >= 0) & (score <= 1)), f"scores {score} outside [0, 1]"


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sh=st.integers(1, 4),
    sw=st.integers(1, 4),
    mh=st.integers(1, 4),
    mw=st.integers(1, 4),
)
def test_score_squared_is_the_energy_at_the_phase_frequencies(seed, sh, sw, mh, mw):
    """With whole periods, score^2 = energy at the frequencies (u/sH, v/sW), (u, v) != 0, over
    the energy without the mean (bin (0, 0))."""
    assume(mh * sh * mw * sw > 1)  # one pixel has no variation to measure
    image = np.random.default_rng(seed).standard_normal((mh * sh, mw * sw)) + 0.5
    energy = np.abs(np.fft.fft2(image)) ** 2
    at_phase_freqs = energy[::mh, ::mw].sum() - energy[0, 0]
    fluctuation = energy.sum() - energy[0, 0]
    assert np.isclose(artifacts.checkerboard_score(image, (sh, sw)) ** 2, at_phase_freqs / fluctuation), (
        f"s=({sh}, {sw}): score^2 != energy fraction at the phase frequencies"
    )


def test_parseval_reading_needs_whole_periods():
    """On a 7x7 image the score is the 6x6 whole periods' score; the 7x7 image's energy at the
    bins nearest to the frequency 1/2 is a different fraction."""
    image = np.random.default_rng(5).standard_normal((7, 7))
    score = artifacts.checkerboard_score(image, 2)
    assert score == artifacts.checkerboard_score(image[:6, :6], 2), "the last row and column are dropped"
    energy = np.abs(np.fft.fft2(image - image.mean())) ** 2
    near_half = [3, 4]  # bins 3/7 and 4/7 straddle 1/2
    nearest = energy[np.ix_([0, *near_half], [0, *near_half])].sum()
    assert not np.isclose(score**2, nearest / energy.sum(), rtol=0.05), "no Parseval reading for 7x7"


@pytest.mark.parametrize("s", [2, 3])
def test_block_constant_image_scores_zero_only_on_the_grid(s):
    """Nearest-neighbour upsampling (and ICNR) make images constant on s x s blocks: equal phase
    means when the window starts on the stride's grid, not when it starts one pixel off."""
    low = np.random.default_rng(6).standard_normal((8, 8))
    blocks = low.repeat(s, axis=0).repeat(s, axis=1)
    assert artifacts.checkerboard_score(blocks[s:-s, s:-s], s) < 1e-12, "on the grid"
    assert artifacts.checkerboard_score(blocks[1:, 1:], s) > 0.01, "one pixel off the grid"


@pytest.mark.parametrize("k,s", [(3, 2), (4, 2), (5, 3), ((3, 4), 2)], ids=["k3s2", "k4s2", "k5s3", "k3x4s2"])
@pytest.mark.parametrize("mu,sigma", [(0.5, 0.3), (0.0, 1.0)], ids=["positive", "zero_mean"])
def test_phase_gain_statistics_match_a_monte_carlo(k, s, mu, sigma):
    """E[S_r] = mu c_r, Var S_r = sigma^2 c_r and E[var_r S_r], against 20000 random kernels."""
    shape = (k,) if np.ndim(k) == 0 else tuple(k)
    weights = mu + sigma * np.random.default_rng(7).standard_normal((20000, *shape))
    gains = np.stack([artifacts.phase_gains(w, s) for w in weights])
    stats = artifacts.phase_gain_statistics(k, s, mu, sigma)
    np.testing.assert_allclose(gains.mean(axis=0), stats.mean, atol=0.03, err_msg="mean")
    np.testing.assert_allclose(gains.var(axis=0), stats.variance, rtol=0.05, atol=1e-3, err_msg="variance")
    flat = gains.reshape(len(gains), -1)
    spread2, power = flat.var(axis=1).mean(), (flat**2).mean()
    assert np.isclose(spread2, stats.expected_spread2, rtol=0.05), f"{spread2} vs {stats.expected_spread2}"
    assert np.isclose(power, stats.expected_power, rtol=0.05), f"{power} vs {stats.expected_power}"


def test_divisible_kernels_help_positive_weights_and_not_zero_mean_ones():
    """s | k removes the mu^2 var(c) term: a large cut for positive weights, none for zero-mean ones,
    whose spread is 1 - 1/P of the gains' power for every kernel size."""
    def relative(k, mu, sigma):
        stats = artifacts.phase_gain_statistics((k, k), 2, mu, sigma)
        return stats.expected_spread2 / stats.expected_power

    positive = [relative(k, 0.5, (1 / 12) ** 0.5) for k in (3, 4)]
    zero_mean = [relative(k, 0.0, 1.0) for k in (3, 4)]
    assert positive[1] < positive[0] / 2, f"positive weights: {positive}"
    assert zero_mean == [0.75, 0.75], f"zero-mean weights: {zero_mean}"


def _constant_through_ones_kernel(k, s, n=12):
    """conv_transpose2d of a constant image with a ones kernel, and its interior range."""
    out = tconv_lib.conv_transpose2d(np.ones((1, 1, n, n)), np.ones((1, 1, k, k)), stride=s)[0, 0]
    return out, geometry.interior_range(n, k, s)


def test_ones_kernel_k3_s2_draws_a_checkerboard():
    out, r = _constant_through_ones_kernel(3, 2)
    assert artifacts.checkerboard_score(out[r.start : r.stop, r.start : r.stop], 2) == 1.0, (
        "k=3, s=2 with a ones kernel: the interior is the coverage pattern and nothing else: score 1"
    )


def test_ones_kernel_k4_s2_is_flat_in_the_interior():
    """Borders are cropped with interior_range (d(k - 1) - p = 3 rows and columns at the start,
    as many at the end here): the border rows and columns have smaller coverage."""
    out, r = _constant_through_ones_kernel(4, 2)
    assert (r.start, out.shape[0] - r.stop) == (3, 3), f"interior {r} of a {out.shape[0]}-row output"
    interior = out[r.start : r.stop, r.start : r.stop]
    assert interior.min() == interior.max() == 4, (
        f"interior values {np.unique(interior)}: coverage 2 x 2 = 4 expected everywhere"
    )
    assert out.min() < out.max(), "the border rows have smaller coverage"
    assert artifacts.checkerboard_score(interior, 2) < 1e-12, "k=4, s=2 interior should be flat"


# ---------------------------------------------------------------------------------------------
# Phase gains of whole layers, measured
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k,p,op", [(2, 0, 0), (3, 1, 1), (4, 1, 0), (5, 2, 1), (6, 2, 0)],
                         ids=["k2_p0", "k3_p1_op1", "k4_p1", "k5_p2_op1", "k6_p2"])
def test_measured_phase_gains_of_a_transposed_layer_are_its_phase_gains(k, p, op):
    """Output phase r is canvas phase (r + p) mod s: the measured gains are phase_gains rolled by p."""
    w = np.random.default_rng(8).standard_normal((3, 2, k, k))
    b = np.random.default_rng(9).standard_normal(2)
    s = 2
    assert geometry.conv_transpose_output_size(8, k, s, p, op) == 16, "a x2 layer"
    layer = lambda x: tconv_lib.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op)  # noqa: E731
    measured = artifacts.measure_phase_gains(layer, 3, s)
    expected = np.roll(artifacts.phase_gains(w, s), (-p, -p), axis=(0, 1))
    assert measured.shape == (2, 2, 3, 2), measured.shape
    np.testing.assert_allclose(measured, expected, atol=1e-12, err_msg=f"k={k} p={p}")


def test_measured_phase_gains_of_resize_and_icnr_layers_are_equal_across_phases():
    rng = np.random.default_rng(10)
    w_conv = rng.standard_normal((2, 3, 3, 3))
    resize = lambda x: mitigation.resize_conv2d(x, w_conv, scale=2, padding=1)  # noqa: E731
    w_icnr = mitigation.icnr((2 * 4, 3, 3, 3), 2, rng=1)
    icnr = lambda x: mitigation.subpixel_conv2d(x, w_icnr, upscale=2, padding=1)  # noqa: E731
    w_sub = rng.standard_normal((2 * 4, 3, 3, 3))
    sub = lambda x: mitigation.subpixel_conv2d(x, w_sub, upscale=2, padding=1)  # noqa: E731
    for name, layer in (("resize", resize), ("icnr", icnr)):
        gains = artifacts.measure_phase_gains(layer, 3, 2)
        assert artifacts.phase_gain_spread(gains) < 1e-12, name
    np.testing.assert_allclose(artifacts.measure_phase_gains(resize, 3, 2)[0, 0], w_conv.sum(axis=(2, 3)).T)
    assert artifacts.phase_gain_spread(artifacts.measure_phase_gains(sub, 3, 2)) > 0.1, "random sub-pixel"


def test_phase_gain_spread_is_the_pooled_share_that_varies():
    gains = np.random.default_rng(11).standard_normal((2, 2, 5, 6))
    expected = gains.var(axis=(0, 1)).mean() / (gains**2).mean()
    assert artifacts.phase_gain_spread(gains) == pytest.approx(expected)
    assert artifacts.phase_gain_spread(np.zeros((2, 2, 3))) == 0.0
    assert artifacts.phase_gain_spread(np.array([1.0, -1.0]), phase_ndim=1) == 1.0
    with pytest.raises(ValueError, match="phase_ndim"):
        artifacts.phase_gain_spread(np.ones(3), phase_ndim=3)
