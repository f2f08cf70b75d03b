"""Why transposed convolutions draw checkerboards: counted, decomposed and measured.

A stride-``s`` transposed convolution stamps its kernel every ``s`` output
positions.  Where the stamps overlap unevenly, some outputs add up more
products than their neighbours, in a pattern that repeats every ``s``
positions: on an image, a checkerboard.  This module gives the chapter its
four tools:

coverage
    How many (input element, kernel tap) pairs land on each output position.
    :func:`coverage1d` / :func:`coverage2d` let the operator count (a
    transposed convolution of ones with a kernel of ones), the
    ``*_brute_force`` twins count with explicit loops, and
    :func:`coverage_period` / :func:`coverage_variance` give the closed form
    away from the borders.
gaps
    Output positions that no input reaches (:func:`gaps1d`, :func:`gaps2d`,
    :func:`gap_lengths`).
polyphase decomposition
    Output phase ``r`` only ever sees the taps ``a`` with ``a*d mod s == r``:
    a stride-``s`` transposed convolution is ``s`` ordinary convolutions of
    the un-upsampled input, interleaved (:func:`polyphase_decompose`,
    :func:`conv_transpose2d_polyphase`).  Unequal sub-kernels make unequal
    phases (:func:`phase_gains`).
checkerboard score
    One number for how different an image's ``s x s`` phases are
    (:func:`checkerboard_score`).

Symbols follow :mod:`tconv_lib.geometry`: ``k`` kernel size, ``s`` stride,
``p`` padding, ``op`` output_padding, ``d`` dilation.  Output position ``j``
is position ``c = j + p`` of the *canvas*, the un-cropped sum of the stamps;
input ``i`` puts tap ``a`` on canvas position ``c = i*s + a*d``.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd
from typing import NamedTuple

import numpy as np

from . import geometry
from ._checks import ntuple
from .transposed import (
    conv_transpose1d,
    conv_transpose1d_polyphase,
    conv_transpose2d,
    conv_transpose2d_polyphase,
)

__all__ = [
    "coverage1d",
    "coverage2d",
    "coverage1d_brute_force",
    "coverage2d_brute_force",
    "coverage_period",
    "coverage_variance",
    "gaps1d",
    "gaps2d",
    "gap_lengths",
    "polyphase_decompose",
    "phase_gains",
    "phase_gain_spread",
    "measure_phase_gains",
    "GainStatistics",
    "phase_gain_statistics",
    "conv_weight_from_transposed",
    "conv_transpose1d_polyphase",
    "conv_transpose2d_polyphase",
    "phase_means",
    "checkerboard_score",
]


# --------------------------------------------------------------------------------------------
# Coverage: how many stamps land on each output position
# --------------------------------------------------------------------------------------------


def coverage1d(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Number of (input element, kernel tap) pairs that reach each output position.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input.
    kernel_size, stride, padding, output_padding, dilation : int
        ``k``, ``s``, ``p``, ``op``, ``d`` as in
        :func:`torch.nn.functional.conv_transpose1d`.

    Returns
    -------
    ndarray of int64, shape (L_out,)
        ``L_out = (n - 1)s - 2p + d(k - 1) + op + 1``; entry ``j`` counts the
        pairs ``(i, a)`` with ``i*s + a*d - p == j``.

    Notes
    -----
    The operator counts for us: every product of a transposed convolution of
    an input of ones with a kernel of ones is ``1``, so each output is the
    number of products added into it.  :func:`coverage1d_brute_force` counts
    the pairs with explicit loops; the tests hold the two against each other.

    Examples
    --------
    ``k = 3, s = 2``: the stamps overlap on every other position.

    >>> coverage1d(4, kernel_size=3, stride=2)
    array([1, 1, 2, 1, 2, 1, 2, 1, 1])
    """
    ones = np.ones((1, 1, input_size))
    kernel = np.ones((1, 1, kernel_size))
    out = conv_transpose1d(ones, kernel, None, stride, padding, output_padding, 1, dilation)
    return np.rint(out[0, 0]).astype(np.int64)


def coverage2d(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Number of (input element, kernel tap) pairs that reach each output pixel.

    Parameters
    ----------
    input_size : int or (int, int)
        ``(H_in, W_in)``.
    kernel_size, stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`torch.nn.functional.conv_transpose2d`.

    Returns
    -------
    ndarray of int64, shape (H_out, W_out)
        The counts.  They are the outer product of the two axes' 1D counts,
        ``coverage1d(H_in, kH, ...)[:, None] * coverage1d(W_in, kW, ...)[None, :]``:
        a pair ``((i, i'), (a, b))`` reaches ``(j, j')`` exactly when
        ``(i, a)`` reaches ``j`` and ``(i', b)`` reaches ``j'``.

    Notes
    -----
    Computed by the operator: :func:`tconv_lib.conv_transpose2d` of ones with
    a kernel of ones.

    Examples
    --------
    >>> coverage2d(2, kernel_size=3, stride=2)
    array([[1, 1, 2, 1, 1],
           [1, 1, 2, 1, 1],
           [2, 2, 4, 2, 2],
           [1, 1, 2, 1, 1],
           [1, 1, 2, 1, 1]])
    """
    ones = np.ones((1, 1, *ntuple(input_size, 2, "input_size")))
    kernel = np.ones((1, 1, *ntuple(kernel_size, 2, "kernel_size")))
    out = conv_transpose2d(ones, kernel, None, stride, padding, output_padding, 1, dilation)
    return np.rint(out[0, 0]).astype(np.int64)


def coverage1d_brute_force(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """:func:`coverage1d`, counted pair by pair with two loops.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int
        As in :func:`coverage1d`.

    Returns
    -------
    ndarray of int64, shape (L_out,)
        As :func:`coverage1d`.

    Notes
    -----
    The definition read literally, one ``(i, a)`` pair at a time (``O(n k)``):
    the naive version that :func:`coverage1d` is tested against.

    Examples
    --------
    >>> coverage1d_brute_force(4, kernel_size=3, stride=2)
    array([1, 1, 2, 1, 2, 1, 2, 1, 1])
    """
    out_size = geometry.conv_transpose_output_size(
        input_size, kernel_size, stride, padding, output_padding, dilation
    )
    counts = np.zeros(out_size, dtype=np.int64)
    for i in range(input_size):
        for a in range(kernel_size):
            j = i * stride + a * dilation - padding  # canvas position, minus what padding crops
            if 0 <= j < out_size:
                counts[j] += 1
    return counts


def coverage2d_brute_force(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """:func:`coverage2d`, counted pair by pair with four loops.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`coverage2d`.

    Returns
    -------
    ndarray of int64, shape (H_out, W_out)
        As :func:`coverage2d`.

    Notes
    -----
    The definition read literally, one ``((i, i'), (a, b))`` pair at a time
    (``O(H W kH kW)``): the naive version that :func:`coverage2d` is tested against.

    Examples
    --------
    >>> coverage2d_brute_force(2, kernel_size=2, stride=1)
    array([[1, 2, 1],
           [2, 4, 2],
           [1, 2, 1]])
    """
    (h_in, w_in) = ntuple(input_size, 2, "input_size")
    (kh, kw), (sh, sw) = ntuple(kernel_size, 2, "kernel_size"), ntuple(stride, 2, "stride")
    (ph, pw), (oph, opw) = ntuple(padding, 2, "padding"), ntuple(output_padding, 2, "output_padding")
    (dh, dw) = ntuple(dilation, 2, "dilation")
    h_out = geometry.conv_transpose_output_size(h_in, kh, sh, ph, oph, dh)
    w_out = geometry.conv_transpose_output_size(w_in, kw, sw, pw, opw, dw)
    counts = np.zeros((h_out, w_out), dtype=np.int64)
    for i in range(h_in):
        for i2 in range(w_in):
            for a in range(kh):
                for b in range(kw):
                    j, j2 = i * sh + a * dh - ph, i2 * sw + b * dw - pw
                    if 0 <= j < h_out and 0 <= j2 < w_out:
                        counts[j, j2] += 1
    return counts


def coverage_period(kernel_size, stride, dilation=1, padding=0):
    """Coverage of one period of ``s`` output positions, away from the borders.

    Tap ``a`` lands on output positions ``j`` with ``j = a*d - p (mod s)``, one
    per input element; an input that never ends (or the interior of a finite
    one, :func:`tconv_lib.geometry.interior_range`) gives every phase
    ``t = j mod s`` one count per tap that lands on it.

    Without dilation, write ``k = q*s + r`` (``0 <= r < s``): taps ``a`` and
    ``a + s`` land on the same phase, so ``r`` phases get ``q + 1`` counts and
    ``s - r`` phases get ``q``.

    With dilation ``d``, ``a*d mod s`` only takes multiples of
    ``g = gcd(d, s)``, and taps ``a`` and ``a + s/g`` land on the same phase.
    So ``s - s/g`` phases get nothing, and the ``s/g`` others share the
    ``k`` taps as above, with ``s/g`` in place of ``s``: for
    ``k = q'*(s/g) + r'``, ``r'`` of them get ``q' + 1`` and ``s/g - r'`` get
    ``q'``.

    Parameters
    ----------
    kernel_size, stride, dilation : int
        ``k``, ``s``, ``d``.
    padding : int
        ``p``: shifts which output positions have which count (output ``j``
        is canvas position ``j + p``); the counts themselves do not change.

    Returns
    -------
    ndarray of int64, shape (s,)
        Entry ``t`` is the coverage of every interior output position ``j``
        with ``j mod s == t``.  The entries add up to ``k``.

    Notes
    -----
    A closed form, tested against :func:`coverage1d_brute_force` in the interior
    of long inputs.  In 2D the period is the outer product of the two axes'
    periods, as the whole coverage is.

    Examples
    --------
    ``k = 5 = 2*2 + 1`` with ``s = 2``: one phase gets 3, the other 2.

    >>> coverage_period(5, 2)
    array([3, 2])

    ``k = 2``, ``d = 2``, ``s = 2``: both taps land on the even positions,
    although the dilated kernel spans 3 positions.

    >>> coverage_period(2, 2, dilation=2)
    array([2, 0])
    """
    g = gcd(dilation, stride)
    period = stride // g  # taps a and a + period land on the same phase
    q, r = divmod(kernel_size, period)
    counts = np.zeros(stride, dtype=np.int64)
    for a in range(min(kernel_size, period)):  # one tap of each class a mod period
        phase = (a * dilation - padding) % stride
        counts[phase] = q + 1 if a < r else q
    return counts


def coverage_variance(kernel_size, stride, dilation=1):
    """Variance of the coverage over one period, exactly, as a fraction.

    Parameters
    ----------
    kernel_size, stride, dilation : int
        ``k``, ``s``, ``d``.

    Returns
    -------
    fractions.Fraction
        The population variance of :func:`coverage_period` (divide by ``s``).
        Without dilation, with ``k = q*s + r``,

        ``V = (r/s) (1 - r/s)``,

        zero exactly when ``s`` divides ``k``.  With dilation, ``g = gcd(d, s)``,
        ``s' = s/g`` and ``k = q'*s' + r'``: a fraction ``1/g`` of the phases
        has variance ``(r'/s')(1 - r'/s')`` around ``k/s'``, the rest is ``0``, so

        ``V = (r'/s')(1 - r'/s') / g + (k/s')^2 (g - 1) / g^2``,

        zero exactly when ``g == 1`` and ``s`` divides ``k``.

    Notes
    -----
    A :class:`~fractions.Fraction`, not a float: the chapter compares the
    closed form with counted variances for equality, and ``float(V)`` is
    one call away.

    Examples
    --------
    >>> coverage_variance(3, 2)
    Fraction(1, 4)
    >>> coverage_variance(4, 2)
    Fraction(0, 1)
    >>> coverage_variance(4, 2, dilation=2)
    Fraction(4, 1)
    """
    g = gcd(dilation, stride)
    period = stride // g
    r = kernel_size % period
    within = Fraction(r, period) * (1 - Fraction(r, period))
    return within / g + Fraction(kernel_size, period) ** 2 * (g - 1) / g**2


# --------------------------------------------------------------------------------------------
# Gaps: output positions that nothing reaches
# --------------------------------------------------------------------------------------------


def gaps1d(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Output positions that no input element reaches.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int
        As in :func:`coverage1d`.

    Returns
    -------
    ndarray of int64, shape (n_gaps,)
        The positions ``j`` where :func:`coverage1d` is ``0``; the layer puts
        only its bias there.

    Notes
    -----
    Gaps have three sources: a kernel shorter than the stride (``s - k``
    positions between stamps), a dilation that shares a factor with the
    stride (whole phases that no tap lands on, see :func:`coverage_period`),
    and ``output_padding``, which adds ``max(0, op - p)`` positions after the
    last stamp.

    Examples
    --------
    The study notes' 1x1 kernel with stride 2: every other position is empty.

    >>> gaps1d(3, kernel_size=1, stride=2)
    array([1, 3])
    >>> gaps1d(3, kernel_size=2, stride=2, dilation=2)
    array([1, 3, 5])
    """
    return np.flatnonzero(
        coverage1d(input_size, kernel_size, stride, padding, output_padding, dilation) == 0
    )


def gaps2d(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Output pixels that no input element reaches.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`coverage2d`.

    Returns
    -------
    ndarray of bool, shape (H_out, W_out)
        ``True`` where :func:`coverage2d` is ``0``: on every row and every
        column that is a gap of its own axis.

    Notes
    -----
    Because :func:`coverage2d` is an outer product, a pixel is a gap exactly
    when its row or its column is a gap of its own axis.

    Examples
    --------
    >>> gaps2d(2, kernel_size=1, stride=2).astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    return coverage2d(input_size, kernel_size, stride, padding, output_padding, dilation) == 0


def gap_lengths(kernel_size, stride, dilation=1):
    """Lengths of the runs of empty positions in one period, away from the borders.

    Parameters
    ----------
    kernel_size, stride, dilation : int
        ``k``, ``s``, ``d``.

    Returns
    -------
    list of int
        The runs of zeros of :func:`coverage_period`, read around the period
        starting after phase 0 (which tap 0 always covers).  Empty when the
        interior has no gaps.  Without dilation and with ``k < s`` it is
        ``[s - k]``; with dilation the empty phases can split into several
        runs.

    Notes
    -----
    Read from :func:`coverage_period`, so it describes the interior only; the
    runs at the two ends, cut by ``padding`` or lengthened by
    ``output_padding``, are in :func:`gaps1d`.

    Examples
    --------
    >>> gap_lengths(1, 3)
    [2]
    >>> gap_lengths(2, 5, dilation=3)
    [2, 1]
    >>> gap_lengths(3, 2)
    []
    """
    counts = coverage_period(kernel_size, stride, dilation)
    runs, run = [], 0
    for count in [*counts[1:], counts[0]]:
        if count == 0:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return runs


# --------------------------------------------------------------------------------------------
# Polyphase decomposition: one ordinary convolution per output phase
# --------------------------------------------------------------------------------------------


def polyphase_decompose(weight, stride, dilation=1):
    """Split a transposed convolution's kernel into its ``s`` (or ``sH * sW``) phase kernels.

    Tap ``a`` lands on canvas position ``i*s + a*d``.  Write
    ``a*d = q*s + r`` with ``0 <= r < s``: the tap always lands on phase ``r``
    (positions ``m*s + r``), at ``m = i + q``.  So phase ``r`` of the canvas is
    the ordinary (true) convolution of the input with the sub-kernel

    ``h_r[q] = w[a]`` for every tap with ``a*d = q*s + r`` (zero elsewhere),

    ``y[m*s + r] = sum_q h_r[q] x[m - q]``.  Without dilation this is
    ``h_r[q] = w[q*s + r]``; for ``s = 2``, ``h_0[n] = h[2n]`` and
    ``h_1[n] = h[2n + 1]`` (Odena et al., 2016).

    Parameters
    ----------
    weight : ndarray
        The kernel, spatial axes last.  1D: shape ``(k,)`` or a
        transposed-convolution weight ``(C_in, C_out // groups, k)``.
        2D: shape ``(kH, kW)`` or ``(C_in, C_out // groups, kH, kW)``.
    stride, dilation : int or (int, int)
        ``s`` and ``d`` (pairs for 2D).

    Returns
    -------
    ndarray
        1D: shape ``(s, ..., L)``, ``subs[r]`` is ``h_r``.
        2D: shape ``(sH, sW, ..., LH, LW)``, ``subs[rh, rw]`` is the kernel
        of canvas phase ``(rh, rw)``.
        ``L = floor(d(k - 1) / s) + 1``, the same for every phase (some
        sub-kernels end in zeros, and with ``gcd(d, s) > 1`` some are all zero).

    Notes
    -----
    Phases are phases of the *canvas*: output position ``j`` of a layer
    with padding ``p`` belongs to phase ``(j + p) mod s``.

    Examples
    --------
    >>> polyphase_decompose(np.array([1.0, 2.0, 3.0, 4.0]), stride=2)
    array([[1., 3.],
           [2., 4.]])

    With dilation 3, stride 2 the taps land at 0, 3, 6, 9: phases 0, 1, 0, 1.

    >>> polyphase_decompose(np.array([1.0, 2.0, 3.0, 4.0]), stride=2, dilation=3)
    array([[1., 0., 0., 3., 0.],
           [0., 2., 0., 0., 4.]])
    """
    weight = np.asarray(weight)
    if weight.ndim not in (1, 2, 3, 4):
        raise ValueError(
            f"weight must be a 1D or 2D kernel, or a transposed-convolution weight "
            f"(C_in, C_out // groups, *kernel); got shape {weight.shape}"
        )
    if weight.ndim in (1, 3):  # 1D
        (s,), (d,) = ntuple(stride, 1, "stride"), ntuple(dilation, 1, "dilation")
        k = weight.shape[-1]
        subs = np.zeros((s, *weight.shape[:-1], d * (k - 1) // s + 1), dtype=weight.dtype)
        for a in range(k):
            q, r = divmod(a * d, s)
            subs[r, ..., q] = weight[..., a]
        return subs
    (sh, sw), (dh, dw) = ntuple(stride, 2, "stride"), ntuple(dilation, 2, "dilation")
    kh, kw = weight.shape[-2:]
    lh, lw = dh * (kh - 1) // sh + 1, dw * (kw - 1) // sw + 1
    subs = np.zeros((sh, sw, *weight.shape[:-2], lh, lw), dtype=weight.dtype)
    for a in range(kh):
        qa, ra = divmod(a * dh, sh)
        for b in range(kw):
            qb, rb = divmod(b * dw, sw)
            subs[ra, rb, ..., qa, qb] = weight[..., a, b]
    return subs


def phase_gains(weight, stride, dilation=1):
    """Sum of each polyphase sub-kernel: what each phase does to a constant input.

    Away from the borders, a constant input ``x = c`` gives phase ``r`` the
    value ``c * sum(h_r)``.  The output of a constant is constant exactly
    when all the gains are equal, and equal to the input when they are all
    ``1`` — then the whole kernel sums to ``s`` (``sH * sW`` in 2D).

    Parameters
    ----------
    weight : ndarray
        As in :func:`polyphase_decompose`.
    stride, dilation : int or (int, int)
        ``s`` and ``d``.

    Returns
    -------
    ndarray
        1D: shape ``(s, ...)``; 2D: shape ``(sH, sW, ...)``, where ``...`` are
        the weight's channel axes ``(C_in, C_out // groups)`` if it has them.

    Notes
    -----
    The same fact in the frequency domain: the kernel's response at the
    frequencies of the spectral images is the discrete Fourier transform of the
    gains, ``H(exp(2 pi i m / s)) = sum_r S_r exp(-2 pi i m r / s)``.  Equal gains
    mean ``H`` vanishes there for ``m != 0``; gains all equal to 1 also give ``H(1) = s``, the
    "passband gain equal to the upsampling factor".

    Examples
    --------
    ``[1, 1, 1]`` with stride 2 gives the even phase twice the gain of the odd
    one; ``[0.5, 1, 0.5]`` (linear interpolation) does not, although both
    have the same uneven coverage.

    >>> phase_gains(np.array([1.0, 1.0, 1.0]), stride=2)
    array([2., 1.])
    >>> phase_gains(np.array([0.5, 1.0, 0.5]), stride=2)
    array([1., 1.])
    """
    weight = np.asarray(weight)
    subs = polyphase_decompose(weight, stride, dilation)
    spatial = (-1,) if weight.ndim in (1, 3) else (-2, -1)
    return subs.sum(axis=spatial)


def phase_gain_spread(gains, phase_ndim=2):
    """The share of the phase gains' power that differs from phase to phase.

    Parameters
    ----------
    gains : array_like, shape (s, ...) or (sH, sW, ...)
        Phase gains with the phase axes first, as :func:`phase_gains` and
        :func:`measure_phase_gains` return them; the other axes (channel
        pairs, random draws) are pooled.
    phase_ndim : {1, 2}
        How many leading axes are phases.

    Returns
    -------
    float
        ``mean(var over the phases) / mean(gains**2)``, in ``[0, 1]``: 0 when
        every channel pair has equal gains in all its phases (no checkerboard
        on a constant input), close to ``1 - 1/P`` when pooled over many
        independent zero-mean gains of ``P`` phases
        (:func:`phase_gain_statistics`), 1 when every pair's gains average to
        zero over its phases.  0 for gains that are all zero.

    Examples
    --------
    >>> phase_gain_spread(np.array([[1.0, 1.0], [1.0, 1.0]]))
    0.0
    >>> phase_gain_spread(np.array([[2.0, 0.0], [0.0, 0.0]]))  # one phase: 1 - 1/4
    0.75
    >>> phase_gain_spread(np.array([2.0, 1.0]), phase_ndim=1)  # var 1/4, mean square 5/2
    0.1
    """
    gains = np.asarray(gains, dtype=np.float64)
    if phase_ndim not in (1, 2) or gains.ndim < phase_ndim:
        raise ValueError(f"phase_ndim must be 1 or 2 and at most gains.ndim={gains.ndim}, got {phase_ndim}")
    power = float(np.mean(gains**2))
    if power == 0:
        return 0.0
    phases = tuple(range(phase_ndim))
    return float(np.mean(gains.var(axis=phases)) / power)


def measure_phase_gains(layer, in_channels, stride, size=8, margin=2):
    """The phase gains of any 2D upsampling layer, measured by feeding it constants.

    Input channel ``c`` set to 1 everywhere and the others to 0 gives, away
    from the borders, output channel ``o`` the value ``S[r, c, o]`` on output
    phase ``r``: the gain of that channel pair.  This works for every layer
    that is linear up to its bias (the response to zeros is subtracted):
    transposed convolutions, sub-pixel convolutions, resize-convolutions.

    Parameters
    ----------
    layer : callable
        ``layer(x)`` for ``x`` of shape ``(N, in_channels, size, size)``
        (float64 NumPy) returns ``(N, C_out, size * sH, size * sW)``.
    in_channels : int
    stride : int or (int, int)
        The upsampling factor ``(sH, sW)``.
    size : int
        Side of the constant input images.
    margin : int
        Input pixels at each border whose outputs are left out:
        ``margin * s`` output pixels, so that the window starts on the
        stride's grid.

    Returns
    -------
    ndarray, shape (sH, sW, in_channels, C_out)
        ``gains[rh, rw, c, o]``, phases first as in :func:`phase_gains`.
        Phase ``r`` is output phase ``r`` (of the output index); for a
        transposed convolution with padding ``p`` that is canvas phase
        ``(r + p) mod s``, so these are :func:`phase_gains` rolled by ``p``.

    Examples
    --------
    A bilinear kernel: every phase passes a constant through unchanged.

    >>> from tconv_lib import conv_transpose2d, mitigation
    >>> w = mitigation.bilinear_kernel(4, channels=1)
    >>> measure_phase_gains(lambda x: conv_transpose2d(x, w, stride=2, padding=1), 1, 2)[..., 0, 0]
    array([[1., 1.],
           [1., 1.]])
    """
    sh, sw = ntuple(stride, 2, "stride")
    x = np.broadcast_to(np.eye(in_channels)[:, :, None, None], (in_channels, in_channels, size, size))
    response = np.asarray(layer(np.ascontiguousarray(x, dtype=np.float64)), dtype=np.float64)
    response = response - np.asarray(layer(np.zeros((1, in_channels, size, size))), dtype=np.float64)
    h, w = response.shape[-2:]
    if (h, w) != (size * sh, size * sw):
        raise ValueError(f"the layer maps {size}x{size} to {h}x{w}, not {size * sh}x{size * sw}: "
                         f"pass the stride it upsamples by")
    inner = response[..., margin * sh : h - margin * sh, margin * sw : w - margin * sw]
    if inner.shape[-1] < sw or inner.shape[-2] < sh:
        raise ValueError(f"margin={margin} leaves no whole period of a {size}x{size} input; "
                         f"pass a larger size or a smaller margin")
    means = phase_means(inner, (sh, sw))  # (C_in, C_out, sH, sW)
    return np.moveaxis(means, (-2, -1), (0, 1))


class GainStatistics(NamedTuple):
    """What i.i.d. weights make of the phase gains, on average (:func:`phase_gain_statistics`)."""

    mean: np.ndarray
    variance: np.ndarray
    expected_spread2: float
    expected_power: float


def phase_gain_statistics(kernel_size, stride, weight_mean=0.0, weight_std=1.0, dilation=1):
    """Mean and variance of every phase gain when the kernel's weights are drawn independently.

    Phase gain ``S_r`` is the sum of the ``c_r`` taps that land on phase ``r``,
    where ``c_r`` is the coverage of that phase (:func:`coverage_period`).
    For weights drawn independently with mean ``mu`` and standard deviation
    ``sigma``:

    ``E[S_r] = mu * c_r``  and  ``Var S_r = sigma**2 * c_r``.

    Different phases sum different taps, so the gains are independent, and
    the spread of the gains across the ``P`` phases (their population
    variance) has the expectation

    ``E[var_r S_r] = mu**2 * var_r(c_r) + (1 - 1/P) * sigma**2 * mean_r(c_r)``,

    out of a mean power ``E[mean_r S_r**2] = mu**2 * mean_r(c_r**2) + sigma**2 * mean_r(c_r)``.
    The coverage's unevenness ``var_r(c_r)`` (:func:`coverage_variance` in 1D)
    enters only through ``mu**2``: a kernel size divisible by the stride
    removes that term, which dominates for weights of one sign, and leaves
    the other, which is all there is for zero-mean weights: then the spread
    is a fraction ``1 - 1/P`` of the power, for every kernel size.

    Parameters
    ----------
    kernel_size, stride, dilation : int or tuple of int
        One entry per axis (an int is one axis; a tuple of two gives the
        ``sH x sW`` phases of a 2D kernel, whose coverage is the outer
        product of the two axes').
    weight_mean, weight_std : float
        ``mu`` and ``sigma`` of every weight.

    Returns
    -------
    GainStatistics
        ``mean`` and ``variance``, arrays of shape ``(s,)`` or ``(sH, sW)``;
        ``expected_spread2``, the float ``E[var_r S_r]``; ``expected_power``,
        the float ``E[mean_r S_r**2]``.

    Examples
    --------
    ``k = 3, s = 2``, weights uniform on ``[0, 1)`` (mean 1/2, variance 1/12):

    >>> stats = phase_gain_statistics(3, 2, weight_mean=0.5, weight_std=(1 / 12) ** 0.5)
    >>> stats.mean, stats.variance.round(4)
    (array([1. , 0.5]), array([0.1667, 0.0833]))
    >>> round(stats.expected_spread2, 4)  # 0.25 * 1/4 + 1/2 * 1/12 * 3/2
    0.125
    >>> round(stats.expected_power, 4)  # 0.25 * 5/2 + 1/12 * 3/2
    0.75
    """
    kernel_size = (kernel_size,) if np.ndim(kernel_size) == 0 else tuple(kernel_size)
    nd = len(kernel_size)
    stride, dilation = ntuple(stride, nd, "stride"), ntuple(dilation, nd, "dilation")
    counts = np.ones((), dtype=np.float64)
    for k, s, d in zip(kernel_size, stride, dilation):
        counts = np.multiply.outer(counts, coverage_period(k, s, d).astype(np.float64))
    mean, variance = weight_mean * counts, weight_std**2 * counts
    spread2 = weight_mean**2 * counts.var() + (1 - 1 / counts.size) * weight_std**2 * counts.mean()
    power = weight_mean**2 * (counts**2).mean() + weight_std**2 * counts.mean()
    return GainStatistics(mean, variance, float(spread2), float(power))


def conv_weight_from_transposed(weight, groups=1):
    """The ordinary-convolution weight that computes a transposed convolution's taps.

    Parameters
    ----------
    weight : ndarray, shape (C_in, C_out // groups, *kernel)
        A transposed convolution's weight (1D or 2D kernel).
    groups : int
        Number of channel groups.

    Returns
    -------
    ndarray, shape (C_out, C_in // groups, *kernel)
        The same taps in :func:`tconv_lib.conv2d`'s layout, with the two
        channel axes swapped within each group and the kernel flipped on
        every spatial axis: a transposed convolution *scatters* with ``w``,
        an ordinary one *gathers*, so it must read the kernel backwards.

    Notes
    -----
    Used by the sub-pixel conversion in :mod:`tconv_lib.mitigation`.

    Examples
    --------
    >>> w = np.arange(6.0).reshape(1, 2, 3)  # C_in = 1, C_out = 2, k = 3
    >>> conv_weight_from_transposed(w)
    array([[[2., 1., 0.]],
    <BLANKLINE>
           [[5., 4., 3.]]])
    """
    weight = np.asarray(weight)
    c_in, c_out_g, *kernel = weight.shape
    # (C_in, C_out/g, *k) -> (g, C_in/g, C_out/g, *k) -> (g, C_out/g, C_in/g, *k) -> (C_out, C_in/g, *k)
    swapped = (
        weight.reshape(groups, c_in // groups, c_out_g, *kernel)
        .swapaxes(1, 2)
        .reshape(groups * c_out_g, c_in // groups, *kernel)
    )
    return swapped[(..., *[slice(None, None, -1)] * len(kernel))]


# The polyphase view itself, conv_transpose2d_polyphase and conv_transpose1d_polyphase, is
# one of the operator's views: it lives in tconv_lib.transposed, with the others, and is
# imported above.


# --------------------------------------------------------------------------------------------
# Measuring a checkerboard
# --------------------------------------------------------------------------------------------


def _whole_periods(image, stride):
    """``image`` as float64, cut to whole periods: ``(..., H - H mod sH, W - W mod sW)``, and ``(sH, sW)``."""
    image = np.asarray(image)
    sh, sw = ntuple(stride, 2, "stride")
    if image.ndim < 2:
        raise ValueError(f"expected an array (..., H, W), got shape {image.shape}")
    h, w = image.shape[-2:]
    if sh <= 0 or sw <= 0 or h < sh or w < sw:
        raise ValueError(
            f"a checkerboard measure needs at least one whole period: image is {h}x{w}, "
            f"stride is {(sh, sw)}; pass a larger image or a smaller positive stride"
        )
    whole = np.asarray(image[..., : h - h % sh, : w - w % sw], dtype=np.float64)
    return whole, (sh, sw)


def phase_means(image, stride):
    """The mean of each of an image's ``sH x sW`` phases, over whole periods.

    Parameters
    ----------
    image : array_like, shape (..., H, W)
        One image per leading index.  Only whole periods count: the last
        ``H mod sH`` rows and ``W mod sW`` columns are dropped, so that every
        phase has the same number of pixels.
    stride : int or (int, int)
        The period ``(sH, sW)``.

    Returns
    -------
    ndarray, shape (..., sH, sW)
        ``M[..., rh, rw]``, the mean of the pixels ``(m*sH + rh, m'*sW + rw)``.
        Phase ``(rh, rw)`` of the array is phase ``(rh, rw)`` of a layer's
        output grid only if the array starts on that grid (its first row and
        column are multiples of the stride); otherwise the labels are shifted.

    Notes
    -----
    On the interior of a transposed convolution's response to a constant
    ``c`` (no padding), ``M`` is ``c`` times the :func:`phase_gains`.

    Examples
    --------
    >>> phase_means(np.array([[1.0, 2.0, 1.0, 2.0], [3.0, 4.0, 3.0, 4.0]]), stride=2)
    array([[1., 2.],
           [3., 4.]])
    """
    image, (sh, sw) = _whole_periods(image, stride)
    h, w = image.shape[-2:]
    # (..., H, W) -> (..., H/sH, sH, W/sW, sW): phase (rh, rw) is [..., :, rh, :, rw]
    periods = image.reshape(*image.shape[:-2], h // sh, sh, w // sw, sw)
    return periods.mean(axis=(-4, -2))


def checkerboard_score(image, stride):
    """The fraction of an image's variation that is a pattern of period ``s``: 0 flat, 1 pure pattern.

    Split the image into its ``sH * sW`` phases (:func:`phase_means`) and
    compare the spread of the phase means with the spread of the image itself,
    both around their mean::

        score = std_{rh,rw}( M[rh, rw] ) / std( image )

    Parameters
    ----------
    image : array_like, shape (..., H, W)
        One image per leading index (e.g. ``(N, C, H, W)`` scores every
        channel of every batch element).  Only whole periods count: the last
        ``H mod sH`` rows and ``W mod sW`` columns are dropped.  Borders are
        *not* removed: pass the interior
        (:func:`tconv_lib.geometry.interior_range`) when they should not count.
    stride : int or (int, int)
        The period ``(sH, sW)`` to look for: the stride of the layer.

    Returns
    -------
    float or ndarray, shape (...)
        Scores in ``[0, 1]``.  ``1`` for any image that repeats every ``s``
        pixels and is not flat (a ``+1/-1`` checkerboard, on any mean);
        ``0`` for a flat image, and for an image whose within-phase
        variation is all there is (equal phase means).  Adding a constant to
        the image or scaling it by a non-zero factor leaves the score unchanged.
        An image whose values differ only by rounding (by at most 64 units in
        the last place of its dtype, relative to its largest value) counts as
        flat and scores ``0``.

    Notes
    -----
    The score is taken around the mean: an image's mean is no checkerboard.
    (Dividing by the root mean square instead, mean included, would score a
    ``+1/-1`` pattern ``1`` on mean 0 and ``0.01`` on mean 100.)

    Parseval's reading.  Let the scored array be whole periods (the function
    cuts it so) with ``H = mH*sH`` rows and ``W = mW*sW`` columns.  Its tiled
    phase means minus their mean are exactly its components at the
    frequencies ``(u/sH, v/sW)`` cycles per pixel, ``(u, v) != (0, 0)`` (DFT
    bins ``(u*mH, v*mW)``) -- the frequencies where zero insertion puts its
    spectral images -- and the rest has no component there.  So ``score**2``
    is the fraction of the array's energy, its mean removed, at those
    frequencies.  Cutting off a partial period changes the array the reading
    is about; an array that does not start on the stride's grid relabels the
    phases (an image that is constant on the layer's ``s x s`` blocks, as
    nearest-neighbour upsampling or ICNR make, scores 0 only when the scored
    window starts on the grid).

    Examples
    --------
    >>> checkerboard_score(np.ones((4, 4)), stride=2)
    0.0
    >>> checkerboard_score(np.array([[1.0, -1.0], [-1.0, 1.0]]), stride=2)
    1.0
    >>> checkerboard_score(np.array([[101.0, 99.0], [99.0, 101.0]]), stride=2)  # any mean
    1.0

    Two periods of ``[1, 2, 3, 4]`` along a row, ``s = (1, 2)``: phase means
    2 and 3, spread 0.5; the image's spread is ``sqrt(1.25)``:

    >>> round(checkerboard_score(np.array([[1.0, 2.0, 3.0, 4.0]]), stride=(1, 2)), 4)
    0.4472
    """
    dtype = np.asarray(image).dtype
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else np.finfo(np.float64).eps
    whole, stride = _whole_periods(image, stride)
    spread = phase_means(whole, stride).std(axis=(-2, -1))
    variation = whole.std(axis=(-2, -1))
    largest = np.abs(whole).max(axis=(-2, -1))
    flat = variation <= 64 * eps * largest
    score = np.divide(spread, variation, out=np.zeros_like(spread), where=~flat)
    score = np.minimum(score, 1.0)  # rounding can put a pure pattern a few ulps above 1
    return float(score) if score.ndim == 0 else score
