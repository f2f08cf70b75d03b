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
    "conv_weight_from_transposed",
    "conv_transpose1d_polyphase",
    "conv_transpose2d_polyphase",
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


def checkerboard_score(image, stride):
    """How different an image's ``s x s`` phases are, relative to the image's size.

    Split the image into its ``sH * sW`` phases — the pixels ``(m*sH + rh,
    m'*sW + rw)`` for each ``(rh, rw)`` — and take each phase's mean
    ``M[rh, rw]``.  A flat response has equal phase means; a checkerboard does
    not.  The score is their spread, relative to the image's root mean square::

        score = sqrt( mean_{rh,rw} (M[rh, rw] - mean(M))^2 ) / sqrt( mean(image^2) )

    Parameters
    ----------
    image : array_like, shape (..., H, W)
        One image per leading index (e.g. ``(N, C, H, W)`` scores every
        channel of every batch element).  Only whole periods count: the last
        ``H mod sH`` rows and ``W mod sW`` columns are dropped so that every
        phase has the same number of pixels.  Borders are *not* removed: pass
        the interior (:func:`tconv_lib.geometry.interior_range`) when the
        borders should not count.
    stride : int or (int, int)
        The period ``(sH, sW)`` to look for: the stride of the layer.

    Returns
    -------
    float or ndarray, shape (...)
        Scores in ``[0, 1]``: ``0`` for a flat response (and for an all-zero
        image), ``1`` for a pattern that repeats every ``s`` pixels and has
        mean zero, such as a ``+1/-1`` checkerboard.  Scaling the image by any
        non-zero factor leaves the score unchanged.

    Notes
    -----
    Why the root mean square and not the mean: it is never zero for a
    non-zero image (a ``+1/-1`` checkerboard has mean zero), and it bounds
    the spread, so scores compare across images.

    The same number in the frequency domain: when ``H`` and ``W`` are whole
    periods, the tiled phase means minus their mean are exactly the image's
    components at the frequencies ``(u/sH, v/sW)`` cycles per pixel,
    ``(u, v) != (0, 0)`` — the frequencies where zero insertion puts its
    spectral images.  By Parseval, ``score^2`` is the fraction of the
    image's energy at those frequencies.

    Examples
    --------
    >>> checkerboard_score(np.ones((4, 4)), stride=2)
    0.0
    >>> checkerboard_score(np.array([[1.0, -1.0], [-1.0, 1.0]]), stride=2)
    1.0

    One period of the coverage of ``k = 3, s = 2`` (:func:`coverage2d`):

    >>> round(checkerboard_score(np.array([[1.0, 2.0], [2.0, 4.0]]), stride=2), 3)
    0.436
    """
    image = np.asarray(image, dtype=np.float64)
    sh, sw = ntuple(stride, 2, "stride")
    if image.ndim < 2:
        raise ValueError(f"checkerboard_score expects an array (..., H, W), got shape {image.shape}")
    h, w = image.shape[-2:]
    if sh <= 0 or sw <= 0 or h < sh or w < sw:
        raise ValueError(
            f"checkerboard_score needs at least one whole period: image is {h}x{w}, "
            f"stride is {(sh, sw)}; pass a larger image or a smaller positive stride"
        )
    image = image[..., : h - h % sh, : w - w % sw]
    # (..., H, W) -> (..., H/sH, sH, W/sW, sW): phase (rh, rw) is [..., :, rh, :, rw]
    periods = image.reshape(*image.shape[:-2], h // sh, sh, w // sw, sw)
    phase_means = periods.mean(axis=(-4, -2))  # (..., sH, sW)
    spread = phase_means.std(axis=(-2, -1))
    rms = np.sqrt(np.mean(image**2, axis=(-2, -1)))
    score = np.divide(spread, rms, out=np.zeros_like(spread), where=rms > 0)
    return float(score) if score.ndim == 0 else score
