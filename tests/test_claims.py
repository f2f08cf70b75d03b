"""Claims checked with code: the source chapter's, and the book's own where its page has no code for them.

The first part takes the source chapter's claims (/work/shared/seeds/004_*) one by one.
Every test is named after the claim it checks, and its docstring gives the
verdict: *holds*, *holds when ...*, or *wrong: the correct statement is ...*.
Where a claim is loose, the tests check the correct statement as well.

The second part covers the quantitative statements the book makes without a code cell of its
own to assert them: the glossary (a page without code) and sentences that state a rule in
words.  Everything else the pages claim is asserted on the page, so that a false claim fails
`jupyter-book build -W`; tests/test_prose.py keeps measured numbers out of the prose.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

import numpy as np
import pytest
from conftest import F, t, torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tconv_lib
from tconv_lib import artifacts, geometry, init, mitigation


@st.composite
def layer_1d(draw, max_dilation=3):
    """(n, k, s, p, op, d) of a valid 1D transposed convolution."""
    n, k = draw(st.integers(1, 7)), draw(st.integers(1, 6))
    s, d = draw(st.integers(1, 4)), draw(st.integers(1, max_dilation))
    op = draw(st.integers(0, max(s, d) - 1))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = draw(st.integers(0, (full - 1) // 2))
    return n, k, s, p, op, d


# ---------------------------------------------------------------------------------------------
# Claim 1: the alignment offset (k - 1 - 2p)/4 for stride 2
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", range(4))
@pytest.mark.parametrize("k", range(1, 9))
def test_claim1_alignment_offset_is_minus_k_minus_1_minus_2p_over_4(k, p):
    """Holds in size, with the sign reversed, and for even k too.  Define the input coordinate
    of output j as (j + p - d(k-1)/2)/s: the fractional input index whose stamp is centred on j
    (geometry.receptive_field_centre).  For s = 2, d = 1, output 0 sits at -(k - 1 - 2p)/4:
    the seed's (k - 1 - 2p)/4 is the distance by which it lies *before* input pixel 0."""
    assert geometry.alignment_offset(k, 2, p) == -Fraction(k - 1 - 2 * p, 4), (
        f"k={k} p={p}: {geometry.alignment_offset(k, 2, p)}"
    )


def test_claim1_seed_examples():
    """Holds in size: k=3, p=1 is aligned; k=5, p=1 is half a pixel off (before pixel 0)."""
    assert geometry.alignment_offset(3, 2, 1) == 0, "k=3, p=1 should be aligned"
    assert geometry.alignment_offset(5, 2, 1) == Fraction(-1, 2), (
        "k=5, p=1: output 0 lies half a pixel before input pixel 0"
    )


@settings(max_examples=200, deadline=None)
@given(
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    d=st.integers(1, 3),
    i=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_claim1_general_formula_is_where_each_stamp_is_centred(k, s, d, i, seed):
    """The general statement: input i's stamp is centred on output i*s + d(k-1)/2 - p, so
    output j lies at input coordinate (j + p - d(k-1)/2)/s, for any k, s, p, d.  Checked with
    the centroid of the response to an impulse, for a symmetric positive kernel."""
    half = np.random.default_rng(seed).uniform(0.1, 1.0, (k + 1) // 2)
    kernel = np.concatenate([half, half[: k // 2][::-1]])  # symmetric
    x = np.zeros((1, 1, 5))
    x[0, 0, i] = 1.0
    p = 0  # no cropping, so the whole stamp is in the output
    y = tconv_lib.conv_transpose1d(x, kernel[None, None], stride=s, padding=p, dilation=d)[0, 0]
    centroid = Fraction((np.arange(len(y)) * y).sum() / y.sum()).limit_denominator(1000)
    assert geometry.receptive_field_centre(centroid, k, s, p, d) == i, (
        f"k={k} s={s} d={d}: stamp of input {i} centred at output {centroid}"
    )


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_claim1_definition_agrees_with_torch_bilinear(s):
    """The definition is PyTorch's: for FCN's bilinear layer it equals interpolate's source
    coordinate (j + 1/2)/s - 1/2 (align_corners=False) at every output j."""
    params = mitigation.fcn_bilinear_params(s)
    for j in range(3 * s):
        centre = geometry.receptive_field_centre(j, params["kernel_size"], s, params["padding"])
        assert centre == Fraction(2 * j + 1, 2 * s) - Fraction(1, 2), (
            f"s={s}, j={j}: {centre} vs torch source coordinate"
        )


def _mean_contributing_input(j, n, k, s, p, d=1):
    """Another definition: the mean input index over the (input, tap) pairs that reach j."""
    inputs = [i for i in range(n) for a in range(k) if i * s + a * d - p == j]
    return Fraction(sum(inputs), len(inputs))


def test_claim1_mean_of_contributing_inputs_is_a_different_definition():
    """Under 'mean of the input positions that reach the output', the seed's formula fails:
    for k=5, p=1, s=2 only input 0 reaches output 0 (tap 3 would need input -1), so the mean is
    0, not -1/2; and with k=4, s=2, p=1 even interior outputs alternate 1/4 either side of the
    geometric centre, because the two phases' taps (0, 2) and (1, 3) are centred differently."""
    assert _mean_contributing_input(0, n=6, k=5, s=2, p=1) == 0, "only input 0 reaches output 0"
    assert geometry.alignment_offset(5, 2, 1) == Fraction(-1, 2), "geometric centre of output 0 is -1/2"
    offsets = {
        _mean_contributing_input(j, n=8, k=4, s=2, p=1) - geometry.receptive_field_centre(j, 4, 2, 1)
        for j in range(4, 10)
    }
    assert offsets == {Fraction(1, 4), Fraction(-1, 4)}, f"offsets {offsets}"


# ---------------------------------------------------------------------------------------------
# Claim 2: padding 0 -> 1 shifts the output by -1
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(layer_1d(), st.integers(0, 2**32 - 1))
def test_claim2_padding_0_to_1_shifts_the_output_by_minus_1(case, seed):
    """Holds, exactly, for every kernel size, stride, dilation, output_padding and position:
    y_{p=1}[j] = y_{p=0}[j + 1].  (The output is also 2 shorter: one position lost at each end.)
    More generally y_{p'}[j] = y_p[j + p' - p] (geometry.output_shift)."""
    n, k, s, _, op, d = case
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    if full < 3:
        return
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((1, 2, n)), rng.standard_normal((2, 1, k))
    y0 = tconv_lib.conv_transpose1d(x, w, stride=s, padding=0, output_padding=op, dilation=d)
    y1 = tconv_lib.conv_transpose1d(x, w, stride=s, padding=1, output_padding=op, dilation=d)
    assert geometry.output_shift(0, 1) == -1, "p 0 -> 1 moves values by -1"
    assert y1.shape[-1] == y0.shape[-1] - 2, f"lengths {y0.shape[-1]} -> {y1.shape[-1]}"
    # to rounding: conv_transpose1d picks its view by the shapes (fastest_view), so the two
    # paddings may be computed by different algorithms, in different orders
    np.testing.assert_allclose(y1, y0[..., 1:-1], rtol=1e-12, atol=1e-12, err_msg=str(case))


# ---------------------------------------------------------------------------------------------
# Claim 3: k_min = s, gaps of s - k
# ---------------------------------------------------------------------------------------------


def _zero_runs(counts):
    """(start, length) of each run of zeros."""
    runs, start = [], None
    for j, c in enumerate([*counts, 1]):
        if c == 0 and start is None:
            start = j
        elif c != 0 and start is not None:
            runs.append((start, j - start))
            start = None
    return runs


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 7), s=st.integers(2, 5), data=st.data())
def test_claim3_gap_between_stamps_is_s_minus_k(n, s, data):
    """Holds without dilation: with k < s the n stamps leave n - 1 gaps of exactly s - k."""
    k = data.draw(st.integers(1, s - 1))
    runs = _zero_runs(artifacts.coverage1d(n, k, s))
    assert [length for _, length in runs] == [s - k] * (n - 1), f"n={n} k={k} s={s}: runs {runs}"


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_claim3_k_min_is_s_without_dilation(s):
    """Holds without dilation: the interior has gaps for k < s and none for k >= s."""
    assert geometry.min_kernel_for_connectivity(s) == s, f"s={s}: k_min should be s"
    for k in range(1, 3 * s):
        assert (artifacts.gap_lengths(k, s) == []) == (k >= s), (
            f"k={k} s={s}: gaps {artifacts.gap_lengths(k, s)}"
        )


def test_claim3_padding_can_shorten_the_first_and_last_gaps():
    """Holds only between two stamps: padding crops the runs at the ends.  k=1, s=3, p=2 on 3
    inputs: the output keeps one position of each outer gap, runs of 1 instead of s - k = 2."""
    counts = artifacts.coverage1d(3, 1, 3, padding=2)
    assert counts.tolist() == [0, 1, 0], f"coverage {counts.tolist()}"


@settings(max_examples=200, deadline=None)
@given(layer_1d(max_dilation=1))
def test_claim3_output_padding_adds_a_gap_even_when_k_is_at_least_s(case):
    """Wrong as a guarantee: k >= s does not make *every* output receive a contribution.
    output_padding adds op positions after the last stamp and padding crops p of them, so the
    last max(0, op - p) outputs get nothing but the bias, whatever k is."""
    n, k, s, p, op, d = case
    assume(k >= s)
    counts = artifacts.coverage1d(n, k, s, p, op, d)
    tail = max(0, op - p)
    assert artifacts.gaps1d(n, k, s, p, op, d).tolist() == list(range(len(counts) - tail, len(counts))), (
        f"{case}: gaps {artifacts.gaps1d(n, k, s, p, op, d).tolist()}, expected the last {tail}"
    )
    # e.g. k = s = 2, op = 1: the last position is empty
    assert artifacts.coverage1d(3, 2, 2, output_padding=1).tolist() == [1, 1, 1, 1, 1, 1, 0], (
        "k = s = 2 with output_padding=1 leaves the last position empty"
    )


@pytest.mark.parametrize("s", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_claim3_with_dilation_k_min_is_s_only_if_gcd_d_s_is_1(s, d):
    """Wrong with dilation: the interior has no gap iff gcd(d, s) == 1 and k >= s.  When d and s
    share a factor, no kernel size closes the gaps (the taps miss whole phases), although the
    dilated span d(k - 1) + 1 exceeds s."""
    connected = [k for k in range(1, 4 * s) if artifacts.gap_lengths(k, s, d) == []]
    if gcd(d, s) == 1:
        assert min(connected) == s == geometry.min_kernel_for_connectivity(s, d), (
            f"s={s} d={d}: connected for k in {connected}"
        )
    else:
        assert connected == [] and geometry.min_kernel_for_connectivity(s, d) is None, (
            f"s={s} d={d}: gcd > 1 but connected for k in {connected}"
        )


def test_claim3_with_dilation_gaps_are_not_s_minus_k():
    """Wrong with dilation: the empty phases can split into several runs.  k=2, d=3, s=5 lands
    taps on phases 0 and 3: runs of 2 and 1, not one run of s - k = 3.  And even with
    gcd(d, s) = 1, a single input stamps separate taps: the ends can have holes."""
    assert artifacts.gap_lengths(2, 5, dilation=3) == [2, 1], (
        f"runs {artifacts.gap_lengths(2, 5, dilation=3)}"
    )
    assert artifacts.gaps1d(1, 2, 2, dilation=3).tolist() == [1, 2], (
        "a single dilated stamp leaves holes between its taps"
    )


# ---------------------------------------------------------------------------------------------
# Claim 4: a separable triangular kernel of size 2s has uniform sub-sampled sums
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5, 6])
def test_claim4_triangle_of_half_width_s_has_unit_phase_sums(s):
    """Holds for every s, even or odd, when 'triangular' means the hat 1 - |x|/s (half-width
    equal to the stride) sampled at unit spacing: with k = 2s (FCN's bilinear_kernel(2s),
    samples at half-integers x = a - (2s-1)/2) every one of the s sub-sampled sums is exactly 1,
    and in 2D every one of the s^2 sums of the separable product is 1."""
    line = mitigation.linear_kernel(2 * s)
    np.testing.assert_allclose(
        line, 1 - np.abs(np.arange(2 * s) - (2 * s - 1) / 2) / s, err_msg=f"s={s}: tent samples"
    )
    np.testing.assert_allclose(
        artifacts.phase_gains(line, s), np.ones(s), rtol=1e-12, err_msg=f"s={s}: 1D phase sums"
    )
    np.testing.assert_allclose(
        artifacts.phase_gains(mitigation.bilinear_kernel(2 * s), s),
        np.ones((s, s)),
        rtol=1e-12,
        err_msg=f"s={s}: 2D phase sums",
    )


@settings(max_examples=200, deadline=None)
@given(s=st.integers(1, 6), offset=st.fractions(0, 1))
def test_claim4_any_sampling_of_the_hat_works(s, offset):
    """Holds for any sampling offset: the hat 1 - |x|/s is a partition of unity with spacing s
    (sum_m hat(x - m s) = 1 for every x), so the taps x = a - (s - 1) - offset, a < 2s,
    have unit phase sums as long as the kernel holds every sample where the hat is positive."""
    x = np.arange(2 * s) - (s - 1) - float(offset)
    hat = np.maximum(0.0, 1 - np.abs(x) / s)
    np.testing.assert_allclose(
        artifacts.phase_gains(hat, s), np.ones(s), rtol=1e-12, err_msg=f"s={s}, offset={offset}"
    )


def test_claim4_fails_for_a_triangle_narrower_than_the_stride():
    """Wrong for a triangle of the wrong width: the hat 1 - |x|/2 in a kernel of size 2s = 6
    for s = 3 (clipped to zero at its ends) gives phase sums 3/4, 1/2, 3/4."""
    x = np.arange(6) - 2.5
    narrow = np.maximum(0.0, 1 - np.abs(x) / 2)
    np.testing.assert_allclose(artifacts.phase_gains(narrow, 3), [0.75, 0.5, 0.75], err_msg="narrow triangle")


def test_claim4_wider_tent_is_uniform_but_not_unit():
    """Holds, with a caveat: a wider unclipped tent 1 - |x|/T (T > s) of size 2s is linear on each
    half, so its sums are equal (uniform, no checkerboard) but not 1 (the amplitude changes)."""
    x = np.arange(4) - 1.5
    wide = 1 - np.abs(x) / 4
    gains = artifacts.phase_gains(wide, 2)
    assert np.isclose(gains[0], gains[1]) and not np.isclose(gains[0], 1.0), f"gains {gains}"


def test_claim4_triangular_kernel_gives_a_flat_interior():
    """Holds in the operator: a constant image through bilinear_kernel(2s) with stride s stays
    constant in the interior, for s = 2 and s = 3 (odd)."""
    for s in (2, 3):
        k = 2 * s
        y = tconv_lib.conv_transpose2d(np.ones((1, 1, 9, 9)), mitigation.bilinear_kernel(k, 1), stride=s)
        r = geometry.interior_range(9, k, s)
        np.testing.assert_allclose(
            y[0, 0, r.start : r.stop, r.start : r.stop], 1.0, rtol=1e-12, err_msg=f"s={s}"
        )


# ---------------------------------------------------------------------------------------------
# Claim 5: V = (r/s)(1 - r/s); coverage uniform iff k mod s == 0
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k", range(1, 13))
def test_claim5_variance_formula_holds_without_dilation(k, s):
    """Holds without dilation, in the interior (coverage counted over a period of an endless
    input): V = (r/s)(1 - r/s), r = k mod s, zero iff s divides k."""
    counts = artifacts.coverage_period(k, s)
    variance = Fraction(int((counts**2).sum()), s) - Fraction(k, s) ** 2
    r = Fraction(k % s, s)
    assert variance == r * (1 - r) == artifacts.coverage_variance(k, s), f"k={k} s={s}: variance {variance}"
    assert (variance == 0) == (k % s == 0), f"k={k} s={s}: variance {variance}"


def test_claim5_only_in_the_interior():
    """Holds only away from the borders: k=4, s=2 has uniform interior coverage 2, but the first
    and last d(k-1) - p positions are covered less."""
    counts = artifacts.coverage1d(5, 4, 2)
    assert counts.tolist() == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1], f"coverage {counts.tolist()}"


@pytest.mark.parametrize(
    "k,s,d", [(2, 2, 2), (4, 2, 2), (3, 3, 3), (6, 3, 3), (4, 4, 2)], ids=lambda v: str(v)
)
def test_claim5_with_dilation_k_mod_s_is_not_enough(k, s, d):
    """Wrong with dilation: uniform iff gcd(d, s) == 1 and s divides k.  With g = gcd(d, s) > 1
    the taps land only on phases that are multiples of g, so a kernel with k mod s == 0 still
    has empty phases, and V = (r'/s')(1 - r'/s')/g + (k/s')^2 (g - 1)/g^2, s' = s/g, r' = k mod s'."""
    assert k % s == 0 and gcd(d, s) > 1, f"k={k} s={s} d={d} is not a case of this test"
    counts = artifacts.coverage_period(k, s, d)
    assert 0 in counts.tolist(), f"k={k} s={s} d={d}: counts {counts.tolist()} have no empty phase"
    g, period = gcd(d, s), s // gcd(d, s)
    r = Fraction(k % period, period)
    expected = r * (1 - r) / g + Fraction(k, period) ** 2 * (g - 1) / g**2
    assert artifacts.coverage_variance(k, s, d) == expected > 0, (
        f"k={k} s={s} d={d}: {artifacts.coverage_variance(k, s, d)} vs {expected}"
    )


def test_claim5_uniform_coverage_is_neither_necessary_nor_sufficient_for_no_checkerboard():
    """Holds for the count but not for the artifact: what a constant input sees is the phase
    gains (sub-kernel sums), not the coverage.  [0.5, 1, 0.5] with s=2 has uneven coverage
    (k mod s = 1) yet equal gains; a random k=4 kernel has uniform coverage but unequal gains."""
    assert artifacts.coverage_variance(3, 2) > 0, "k=3, s=2 has uneven coverage"
    np.testing.assert_allclose(
        artifacts.phase_gains(np.array([0.5, 1.0, 0.5]), 2), [1.0, 1.0], err_msg="[0.5, 1, 0.5]"
    )
    assert artifacts.coverage_variance(4, 2) == 0, "k=4, s=2 has uniform coverage"
    gains = artifacts.phase_gains(np.random.default_rng(0).standard_normal(4), 2)
    assert not np.isclose(gains[0], gains[1]), f"gains {gains}"


# ---------------------------------------------------------------------------------------------
# Claim 6: s = 2: y[2r] from h0 = h[2n], y[2r+1] from h1 = h[2n+1]
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 7), k=st.integers(1, 7), p=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_claim6_polyphase_for_stride_2_depends_on_the_parity_of_padding(n, k, p, seed):
    """Holds for p = 0 (and any even p, with an index shift of p/2): y[2m] = (x * h0)[m + p/2] and
    y[2m+1] = (x * h1)[m + p/2], h0 = h[0::2], h1 = h[1::2], * the true convolution.  For odd p
    the roles swap: even outputs come from h1 and odd ones from h0.  In general output j is
    (x * h_{(j+p) mod 2})[(j + p) // 2]."""
    full = geometry.conv_transpose_output_size(n, k, 2, 0, 0, 1)
    if full - 2 * p < 1:
        return
    rng = np.random.default_rng(seed)
    x, h = rng.standard_normal(n), rng.standard_normal(k)
    y = tconv_lib.conv_transpose1d(x[None, None], h[None, None], stride=2, padding=p)[0, 0]
    branches = [np.convolve(x, h[0::2]), np.convolve(x, h[1::2]) if k > 1 else np.zeros(n)]
    for j in range(len(y)):
        phase, m = (j + p) % 2, (j + p) // 2
        branch = branches[phase]
        expected = branch[m] if m < len(branch) else 0.0
        assert np.isclose(y[j], expected), f"n={n} k={k} p={p} j={j}"
    if p % 2 == 1 and k > 1 and len(y) > 0:
        assert np.isclose(y[0], branches[1][p // 2]), (
            f"n={n} k={k} p={p}: even output 0 should come from h1"
        )  # even output 0 comes from h1


def test_claim6_with_dilation_the_branches_are_dilated_or_empty():
    """Holds only without dilation.  With dilation d, h_r[q] = w[a] for a*d = 2q + r: for odd
    d the even and odd taps keep their phases but spread out; for even d every tap lands on
    phase 0 and the odd outputs get nothing."""
    w = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(
        artifacts.polyphase_decompose(w, 2, dilation=3),
        [[1, 0, 0, 3, 0], [0, 2, 0, 0, 4]],
        err_msg="d=3: taps at 0, 3, 6, 9 -> phases 0, 1, 0, 1",
    )
    np.testing.assert_array_equal(
        artifacts.polyphase_decompose(w, 2, dilation=2),
        [[1, 2, 3, 4], [0, 0, 0, 0]],
        err_msg="d=2: every tap lands on phase 0",
    )


# ---------------------------------------------------------------------------------------------
# Claim 7: to preserve amplitude the filter's passband gain must equal L
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_claim7_amplitude_needs_kernel_sum_s_per_axis(s):
    """Holds as a necessary condition: a constant input keeps its value in the interior only if
    every polyphase sub-kernel sums to 1, so the kernel sums to L = s (s^2 for a 2D kernel).
    FCN's bilinear kernel does it."""
    k = mitigation.fcn_bilinear_params(s)["kernel_size"]
    assert np.isclose(mitigation.linear_kernel(k).sum(), s), (
        f"s={s}: 1D kernel sum {mitigation.linear_kernel(k).sum()}"
    )
    assert np.isclose(mitigation.bilinear_kernel(k).sum(), s**2), (
        f"s={s}: 2D kernel sum {mitigation.bilinear_kernel(k).sum()}"
    )
    y = tconv_lib.conv_transpose1d(np.full((1, 1, 9), 5.0), mitigation.linear_kernel(k)[None, None], stride=s)
    r = geometry.interior_range(9, k, s)
    np.testing.assert_allclose(y[0, 0, r.start : r.stop], 5.0, rtol=1e-12, err_msg=f"s={s}")


def test_claim7_gain_L_is_not_sufficient():
    """Not sufficient: [2, 0] and [1.5, 0.5] both sum to L = 2, yet a constant comes out as
    2, 0, 2, 0 and 1.5, 0.5, ...  The precise condition: H(0) = L *and* H(e^{i 2 pi m / L}) = 0
    for m = 1 .. L-1 (no DC leaking into the spectral images); equivalently every sub-kernel
    sums to 1."""
    for h in ([2.0, 0.0], [1.5, 0.5]):
        y = tconv_lib.conv_transpose1d(np.ones((1, 1, 6)), np.array([[h]]), stride=2)[0, 0]
        assert np.isclose(sum(h), 2) and not np.allclose(y[1:-1], 1.0), f"h={h}: output {y}"


@settings(max_examples=100, deadline=None)
@given(k=st.integers(1, 9), s=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_claim7_phase_gains_are_the_response_at_the_image_frequencies(k, s, seed):
    """Why: H(e^{i 2 pi m/s}) = sum_r S_r e^{-i 2 pi m r/s}, the DFT of the s phase gains S_r.
    So H(0) = s with zeros at m != 0 exactly when every S_r = 1."""
    h = np.random.default_rng(seed).standard_normal(k)
    gains = artifacts.phase_gains(h, s)
    response = [np.sum(h * np.exp(-2j * np.pi * m * np.arange(k) / s)) for m in range(s)]
    np.testing.assert_allclose(response, np.fft.fft(gains), atol=1e-10, err_msg=f"k={k} s={s}")


@pytest.mark.parametrize("s", [2, 3, 4])
def test_claim7_ideal_sinc_has_gain_L(s):
    """Holds for the chapter's ideal filter h[n] = sinc(n/L): its phase sums are
    sum_m sinc(m + r/L) = 1, so its DC gain is L.  A Lanczos-windowed version (6 lobes) is
    within 2e-3 of both."""
    n = np.arange(-6 * s + 1, 6 * s)
    h = np.sinc(n / s) * np.sinc(n / (6 * s))
    assert abs(h.sum() - s) < 2e-3, f"s={s}: kernel sum {h.sum()}"
    np.testing.assert_allclose(artifacts.phase_gains(h, s), 1.0, atol=2e-3, err_msg=f"s={s}: phase sums")


# ---------------------------------------------------------------------------------------------
# Claim 8: the input gradient of a convolution is a transposed convolution
# ---------------------------------------------------------------------------------------------


@st.composite
def conv_cases(draw):
    """A valid forward conv2d: (x shape, weight shape, stride, padding, dilation, groups)."""
    groups = draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 4)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
    size = tuple(
        draw(st.integers(max(1, d * (kk - 1) + 1 - 2 * p), 8)) for kk, d, p in zip(k, dilation, padding)
    )
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    return (2, c_in, *size), (c_out, c_in // groups, *k), stride, padding, dilation, groups


@settings(max_examples=150, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_claim8_conv_input_gradient_is_a_transposed_conv(case, seed):
    """Holds: with the same weight, stride, padding, dilation and groups, x.grad of conv2d is
    conv_transpose2d(grad_output), once output_padding = (n + 2p - d(k-1) - 1) mod s gives back
    the trailing input rows that the strided forward pass never read (their gradient is 0)."""
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    xt = t(x).requires_grad_(True)
    y = F.conv2d(xt, t(weight), None, stride, padding, dilation, groups)
    grad_output = rng.standard_normal(tuple(y.shape))
    y.backward(t(grad_output))
    output_padding = tuple(
        geometry.output_padding_for(m, n, k, s, p, d)
        for m, n, k, s, p, d in zip(y.shape[2:], x_shape[2:], w_shape[2:], stride, padding, dilation)
    )
    grad_x = tconv_lib.conv_transpose2d(
        grad_output, weight, None, stride, padding, output_padding, groups, dilation
    )
    assert grad_x.shape == x.shape, f"shape {grad_x.shape} != {x.shape}"
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-10, atol=1e-10, err_msg=f"{case}")


def test_claim8_in_1d_the_example_of_the_chapter():
    """Holds for the chapter's 1D example (n=5, k=3, s=2, p=1): x.grad = C^T g = conv_transpose1d(g)."""
    x = torch.arange(1.0, 6.0, dtype=torch.float64).reshape(1, 1, 5).requires_grad_(True)
    w = np.array([[[1.0, 0.0, -1.0]]])
    y = F.conv1d(x, t(w), stride=2, padding=1)
    g = np.array([[[1.0, 2.0, 3.0]]])
    y.backward(t(g))
    np.testing.assert_allclose(
        tconv_lib.conv_transpose1d(g, w, stride=2, padding=1), x.grad.numpy(), err_msg="chapter 1D example"
    )


# =============================================================================================
# The book's own statements that no code cell of their page checks: the glossary (a page
# without code), and sentences of the chapters that state a rule in words.  Each docstring
# quotes the page and the entry.
# =============================================================================================


@pytest.mark.parametrize("k,s,p", [(2, 1, 0), (3, 1, 1), (3, 2, 1), (4, 2, 1), (5, 3, 2)],
                         ids=["k2_s1", "k3_s1_p1", "k3_s2_p1", "k4_s2_p1", "k5_s3_p2"])
def test_glossary_col2im_is_the_adjoint_of_im2col_not_its_inverse(k, s, p):
    """Glossary, col2im: 'the adjoint of im2col ... col2im(im2col(x)) = coverage * x, where the
    coverage counts the windows that read each pixel'.  PyTorch's unfold is im2col and fold is
    col2im; the coverage of a convolution's windows is the transposed convolution's coverage
    (tconv_lib.artifacts.coverage2d) of the convolution's output size."""
    n = 7
    x = np.random.default_rng(0).standard_normal((1, 1, n, n))
    cols = F.unfold(t(x), k, stride=s, padding=p)
    back = F.fold(cols, (n, n), k, stride=s, padding=p).numpy()
    m = geometry.conv_output_size(n, k, s, p)
    coverage = artifacts.coverage2d(m, k, s, p, output_padding=geometry.output_padding_for(m, n, k, s, p))
    assert coverage.shape == (n, n), coverage.shape
    np.testing.assert_allclose(back, coverage * x, rtol=1e-12, err_msg="col2im(im2col(x)) = coverage * x")
    if coverage.max() > 1:
        assert not np.allclose(back, x), "with overlapping windows col2im is not the inverse"
    y = np.random.default_rng(1).standard_normal(tuple(cols.shape))
    lhs = float((cols.numpy() * y).sum())
    rhs = float((x * F.fold(t(y), (n, n), k, stride=s, padding=p).numpy()).sum())
    assert np.isclose(lhs, rhs, rtol=1e-12), "<im2col(x), y> = <x, col2im(y)>: the adjoint"


@settings(max_examples=100, deadline=None)
@given(layer_1d(), st.integers(0, 2**32 - 1))
def test_glossary_canvas_stamp_and_gap(case, seed):
    """Glossary, canvas: '(n - 1)s + d(k - 1) + 1 positions ... output j is canvas position j + p';
    stamp: 'starting s positions after the previous element's stamp'; gap: 'holds only the bias,
    whatever the weights'."""
    n, k, s, p, op, d = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(n), rng.standard_normal(k), rng.standard_normal(1)
    canvas = np.zeros((n - 1) * s + d * (k - 1) + 1 + op)
    for i in range(n):  # stamp i starts at i*s
        canvas[i * s : i * s + d * (k - 1) + 1 : d] += x[i] * w
    y = tconv_lib.conv_transpose1d(x[None, None], w[None, None], b, stride=s, padding=p,
                                   output_padding=op, dilation=d)[0, 0]
    np.testing.assert_allclose(y, canvas[p : p + len(y)] + b[0], atol=1e-12, err_msg=str(case))
    gaps = artifacts.gaps1d(n, k, s, p, op, d)
    np.testing.assert_allclose(y[gaps], b[0], err_msg=f"{case}: gaps hold the bias")


@pytest.mark.parametrize("s", [2, 3])
def test_glossary_icnr_output_is_constant_on_the_blocks_of_the_grid(s):
    """Glossary, ICNR: 'its output is constant on the s x s blocks of the output grid'."""
    w = mitigation.icnr((2 * s * s, 3, 3, 3), s, rng=0)
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 6))
    y = mitigation.subpixel_conv2d(x, w, upscale=s, padding=1)[0]
    blocks = y.reshape(2, 5, s, 6, s)
    np.testing.assert_allclose(blocks, blocks[:, :, :1, :, :1] * np.ones((1, 1, s, 1, s)), atol=1e-12)


@pytest.mark.parametrize("shape,stride", [((32, 16, 4, 4), 2), ((16, 32, 3, 3), 2), ((8, 8, 5, 5), 3)])
def test_glossary_xavier_keeps_neither_pass_unless_the_fans_are_equal(shape, stride):
    """Glossary, Xavier: 'keeps either exactly only when the two fans are equal; otherwise one pass
    shrinks and the other grows' (a linear layer, Var(w) = 2 / (fan-in + fan-out))."""
    fan_in, fan_out = init.fan_in_fan_out(shape, stride=stride)
    forward, backward = init.second_moment_factors(shape, 2 / (fan_in + fan_out), stride=stride,
                                                   nonlinearity="linear")
    assert fan_in != fan_out
    assert min(forward, backward) < 1 < max(forward, backward), (forward, backward)
    both = (64, 16, 4, 4)  # fan-in = fan-out at stride 2
    fans = init.fan_in_fan_out(both, stride=2)
    assert fans[0] == fans[1]
    np.testing.assert_allclose(init.second_moment_factors(both, 2 / sum(fans), stride=2,
                                                          nonlinearity="linear"), (1.0, 1.0))


@pytest.mark.parametrize("k,d", [(3, 1), (4, 2), (1, 5)])
def test_glossary_effective_kernel_size(k, d):
    """Glossary, dilation / effective kernel size: 'A kernel of size k with dilation d spans
    d(k - 1) + 1 positions'."""
    y = tconv_lib.conv_transpose1d(np.ones((1, 1)), np.ones((1, 1, k)), dilation=d)
    assert y.shape[-1] == d * (k - 1) + 1 == geometry.effective_kernel_size(k, d)


@pytest.mark.parametrize("s", range(1, 9))
def test_artifacts_variance_is_largest_at_r_equal_s_over_2(s):
    """Artifacts: 'V is zero exactly when ... the stride divides the kernel size, and it is
    largest, 1/4, when r = s/2'."""
    variances = {k: artifacts.coverage_variance(k, s) for k in range(s, 2 * s)}
    assert max(variances.values()) <= Fraction(1, 4)
    if s % 2 == 0:
        assert variances[s + s // 2] == Fraction(1, 4), f"s={s}: r = s/2"
    assert [k for k, v in variances.items() if v == 0] == [s]


@pytest.mark.parametrize("s,d", [(1, 1), (2, 1), (3, 1), (1, 2), (2, 3)])
def test_geometry_at_most_max_s_d_lengths(s, d):
    """Geometry: 'There are at most max(s, d) such lengths, one for each allowed output_padding
    0 <= p_out < max(s, d)'."""
    sizes = geometry.conv_transpose_output_sizes(4, 3, stride=s, dilation=d)
    assert len(sizes) == len(set(sizes)) == max(s, d), sizes


@pytest.mark.parametrize("K,s", [(3, 2), (3, 3), (5, 2)])
def test_mitigation_nearest_resize_conv_is_a_transposed_conv_with_kernel_K_plus_s_minus_1(K, s):
    """Mitigation: 'its kernel is the response to a single pixel ... of size K + s - 1. Every phase
    of that kernel contains exactly one copy of each weight'."""
    w = np.random.default_rng(3).standard_normal((1, 1, K, K))
    full = ((K - 1, K - 1), (K - 1, K - 1))
    probe = mitigation.resize_conv2d(np.ones((1, 1, 1, 1)), w, scale=s, padding=full)
    assert probe.shape[-2:] == (K + s - 1, K + s - 1), probe.shape
    np.testing.assert_allclose(artifacts.phase_gains(probe[0, 0], s), w.sum(), rtol=1e-12)
