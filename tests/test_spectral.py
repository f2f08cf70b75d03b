"""zero_insert{1,2}d (the zero-insertion view's first step) and tconv_lib.spectral."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, assert_same, t

import tconv_lib
from tconv_lib import spectral


@pytest.mark.parametrize("params", [
    dict(stride=2), dict(stride=2, padding=1, output_padding=1), dict(stride=3, padding=4),
    dict(stride=(2, 1), padding=(0, 1), dilation=(2, 1)), dict(stride=1, dilation=3, output_padding=2),
])
def test_zero_insert_then_flipped_conv_is_torch(params, rng):
    x = rng.standard_normal((2, 1, 3, 4))
    w = rng.standard_normal((1, 1, 3, 2))
    z = tconv_lib.zero_insert2d(x, w.shape[2:], **params)
    out = tconv_lib.conv2d(z, w[:, :, ::-1, ::-1].copy(), dilation=params.get("dilation", 1))
    assert_same(out, F.conv_transpose2d(t(x), t(w), **params), str(params))


def test_zero_insertion_is_a_transposed_conv_with_a_one_tap_kernel(rng):
    x = rng.standard_normal((1, 4, 5))
    z = tconv_lib.zero_insert2d(x, 1, stride=3)
    np.testing.assert_array_equal(z, tconv_lib.conv_transpose2d(x, np.ones((1, 1, 1, 1)), stride=3))


def test_zero_insert1d_matches_2d_on_a_row(rng):
    x = rng.standard_normal((2, 6))
    z1 = tconv_lib.zero_insert1d(x, 3, stride=2, padding=1, output_padding=1)
    z2 = tconv_lib.zero_insert2d(x[:, None, :], (1, 3), stride=(1, 2), padding=(0, 1),
                                 output_padding=(0, 1))[:, 0]
    np.testing.assert_array_equal(z1, z2)
    assert z1.shape == (2, (6 - 1) * 2 + 1 + 2 * (3 - 1 - 1) + 1)


def test_zero_insert_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride must be positive"):
        tconv_lib.zero_insert2d(np.ones((2, 2)), 2, stride=0)
    with pytest.raises(ValueError, match="at least 2 axes"):
        tconv_lib.zero_insert2d(np.ones(3), 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        tconv_lib.zero_insert1d(np.ones(3, dtype=int), 2)


def test_magnitude_spectrum_is_the_dtft(rng):
    x = rng.standard_normal(7)
    freqs, mag = spectral.magnitude_spectrum(x, n_fft=20)
    direct = np.abs(np.exp(-2j * np.pi * np.outer(freqs, np.arange(7))) @ x)
    np.testing.assert_allclose(mag, direct, atol=1e-12)
    assert freqs[0] == -0.5 and np.all(np.diff(freqs) > 0)


@pytest.mark.parametrize("s", [2, 3, 4])
def test_zero_insertion_squeezes_and_repeats_the_spectrum(s, rng):
    """X_up(f) = X(s f): the zero-inserted spectrum at f is the original one at s f."""
    x = rng.standard_normal(9)
    n_fft = 240  # divisible by 2, 3 and 4
    _, mag = spectral.magnitude_spectrum(x, n_fft)
    _, mag_up = spectral.magnitude_spectrum(tconv_lib.zero_insert1d(x, 1, stride=s), n_fft)
    m = np.arange(n_fft) - n_fft // 2  # frequency index of each sample, fftshifted
    np.testing.assert_allclose(mag_up, mag[(s * m + n_fft // 2) % n_fft], atol=1e-10)


def test_magnitude_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match="1D signal"):
        spectral.magnitude_spectrum(np.ones((2, 2)))
    with pytest.raises(ValueError, match="at least the signal length"):
        spectral.magnitude_spectrum(np.ones(5), n_fft=3)
