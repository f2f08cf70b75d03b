"""Spectra of signals and kernels: the signal-processing view of a transposed convolution.

Zero insertion by a stride ``s`` squeezes a signal's spectrum by ``s`` and
repeats it: ``X_up(f) = X(s f)``, so one period of the frequency axis holds
``s`` copies ("spectral images").  The kernel that follows is the
interpolation filter that should remove all but the one at ``f = 0``.  This
module samples spectra; the mechanics chapter plots them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["magnitude_spectrum"]


def magnitude_spectrum(x, n_fft=None):
    """Magnitude of a 1D signal's discrete-time Fourier transform, sampled.

    Parameters
    ----------
    x : array_like, shape (L,)
        A real or complex signal (or a kernel: its spectrum is its frequency
        response).
    n_fft : int, optional
        Number of frequencies, at least ``L``; ``x`` is zero-padded to it.  A
        large ``n_fft`` samples the continuous spectrum finely.  Default ``L``.

    Returns
    -------
    freqs : ndarray, shape (n_fft,)
        Frequencies in cycles per sample, ascending from ``-1/2`` (inclusive)
        to ``1/2`` (exclusive); ``0`` is the mean (DC) component.
    magnitude : ndarray, shape (n_fft,)
        ``|X(f)| = |sum_m x[m] exp(-2 pi i f m)|`` at those frequencies.

    Examples
    --------
    The kernel ``[1, 1]`` passes the constant component with gain 2 and
    removes the fastest oscillation, ``f = 1/2``:

    >>> freqs, mag = magnitude_spectrum([1.0, 1.0], n_fft=4)
    >>> freqs
    array([-0.5 , -0.25,  0.  ,  0.25])
    >>> mag.round(3)
    array([0.   , 1.414, 2.   , 1.414])
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"magnitude_spectrum expects a 1D signal, got shape {x.shape}")
    n_fft = len(x) if n_fft is None else int(n_fft)
    if n_fft < max(len(x), 1):
        raise ValueError(f"n_fft={n_fft} must be at least the signal length {len(x)}")
    spectrum = np.fft.fftshift(np.fft.fft(x, n_fft))
    freqs = np.fft.fftshift(np.fft.fftfreq(n_fft))
    return freqs, np.abs(spectrum)
