"""Sizes of convolutions and transposed convolutions, one axis at a time.

Every size formula of the course lives here, once, as a function of plain
integers.  The operators in :mod:`tconv_lib.transposed` and
:mod:`tconv_lib.conv`, the chapters, the exercises and the widgets all call
these functions instead of repeating the arithmetic.

Symbols follow PyTorch: ``k`` kernel size, ``s`` stride, ``p`` padding,
``d`` dilation, ``op`` output_padding.  The *effective* kernel size of a
dilated kernel is ``d * (k - 1) + 1``: the span from its first to its last
tap.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd

__all__ = [
    "effective_kernel_size",
    "conv_output_size",
    "conv_transpose_output_size",
    "conv_transpose_output_sizes",
    "output_padding_for",
    "keras_conv_transpose_output_size",
    "keras_to_torch_padding",
    "receptive_field_centre",
    "alignment_offset",
    "output_shift",
    "interior_range",
    "input_interior_range",
    "min_kernel_for_connectivity",
    "resize_conv_padding",
]


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel, from its first tap to its last.

    Parameters
    ----------
    kernel_size : int
        Number of taps ``k`` along the axis.
    dilation : int
        Spacing ``d`` between taps; ``1`` means adjacent taps (no dilation).

    Returns
    -------
    int
        ``d * (k - 1) + 1``.

    Examples
    --------
    >>> effective_kernel_size(3, dilation=2)
    5
    """
    return dilation * (kernel_size - 1) + 1


def conv_output_size(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of an ordinary (forward) convolution along one axis.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input along the axis.
    kernel_size, stride, padding, dilation : int
        ``k``, ``s``, ``p`` and ``d`` as in :func:`torch.nn.functional.conv2d`.

    Returns
    -------
    int
        ``floor((n + 2p - d(k - 1) - 1) / s) + 1``.  The value can be zero or
        negative for impossible settings; :mod:`tconv_lib._checks` rejects those.

    Examples
    --------
    >>> conv_output_size(5, kernel_size=3, stride=2, padding=1)
    3
    """
    span = effective_kernel_size(kernel_size, dilation)
    return (input_size + 2 * padding - span) // stride + 1


def conv_transpose_output_size(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution along one axis.

    Every input element stamps an effective kernel of length ``d(k - 1) + 1``
    at a step of ``s``: the stamps cover ``(n - 1)s + d(k - 1) + 1`` positions.
    ``padding`` then removes ``p`` positions from each end and
    ``output_padding`` adds ``op`` back at the far end.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input along the axis.
    kernel_size, stride, padding, output_padding, dilation : int
        ``k``, ``s``, ``p``, ``op`` and ``d`` as in
        :func:`torch.nn.functional.conv_transpose2d`.

    Returns
    -------
    int
        ``(n - 1)s - 2p + d(k - 1) + op + 1``.

    Examples
    --------
    The U-Net lecture's example: a 2x2 input, 3x3 kernel, stride 2, padding 1,
    and output_padding 1 gives 4x4.

    >>> conv_transpose_output_size(2, kernel_size=3, stride=2, padding=1, output_padding=1)
    4
    """
    span = effective_kernel_size(kernel_size, dilation)
    return (input_size - 1) * stride - 2 * padding + span + output_padding


def conv_transpose_output_sizes(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> list[int]:
    """All output lengths a transposed convolution can produce.

    A forward convolution with stride ``s`` maps up to ``s`` different input
    lengths to the same output length (the floor division forgets the
    remainder).  Its transpose therefore has several valid output lengths, one
    per allowed ``output_padding``: ``0 <= op < max(s, d)``.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, dilation : int
        As in :func:`conv_transpose_output_size`.

    Returns
    -------
    list of int
        The lengths for ``op = 0, 1, ..., max(s, d) - 1`` in that order.

    Examples
    --------
    >>> conv_transpose_output_sizes(2, kernel_size=3, stride=2, padding=1)
    [3, 4]
    """
    return [
        conv_transpose_output_size(input_size, kernel_size, stride, padding, op, dilation)
        for op in range(max(stride, dilation))
    ]


def output_padding_for(
    input_size: int,
    target_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> int:
    """The ``output_padding`` that makes a transposed convolution reach a size.

    This is what ``torch.nn.ConvTranspose2d(...)(x, output_size=...)`` works
    out internally, and what a decoder needs to undo a strided encoder layer
    exactly.

    Parameters
    ----------
    input_size : int
        Length of the transposed convolution's input along the axis.
    target_size : int
        Desired output length.
    kernel_size, stride, padding, dilation : int
        As in :func:`conv_transpose_output_size`.

    Returns
    -------
    int
        ``op`` with ``0 <= op < max(stride, dilation)`` such that
        ``conv_transpose_output_size(..., output_padding=op) == target_size``.

    Raises
    ------
    ValueError
        If no allowed ``output_padding`` reaches ``target_size``; the message
        lists the sizes that can be reached.

    Examples
    --------
    A stride-2 encoder maps both 7 and 8 to 4; the decoder picks which one
    to return to:

    >>> output_padding_for(4, 7, kernel_size=3, stride=2, padding=1)
    0
    >>> output_padding_for(4, 8, kernel_size=3, stride=2, padding=1)
    1
    """
    sizes = conv_transpose_output_sizes(input_size, kernel_size, stride, padding, dilation)
    if target_size not in sizes:
        raise ValueError(
            f"no output_padding reaches size {target_size} from input size {input_size} "
            f"with kernel_size={kernel_size}, stride={stride}, padding={padding}, "
            f"dilation={dilation}; reachable sizes are {sizes}: pick one of those "
            f"or change the padding or the kernel size"
        )
    return sizes.index(target_size)


_KERAS_PADDINGS = ("same", "valid")


def _check_keras_padding(padding: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in _KERAS_PADDINGS:
        raise ValueError(f"Keras padding must be 'same' or 'valid', got {padding!r}")
    return padding.lower()


def keras_conv_transpose_output_size(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: str = "valid",
    dilation: int = 1,
) -> int:
    """Output length of Keras' ``Conv2DTranspose`` (with ``output_padding=None``).

    Keras names a transposed layer by the padding of the forward convolution it
    undoes.  ``'same'`` multiplies the length by the stride.  ``'valid'`` keeps
    every position a stamp reaches, and never less than ``n * s``: when the
    kernel is shorter than the stride the tail is filled with zeros.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input along the axis.
    kernel_size, stride, dilation : int
        ``k``, ``s``, ``d``.
    padding : {'same', 'valid'}
        Keras' padding mode.

    Returns
    -------
    int
        ``n * s`` for ``'same'``; ``n * s + max(d(k - 1) + 1 - s, 0)`` for ``'valid'``.

    Examples
    --------
    The study notes' example: a 1x1 kernel with stride 2 doubles a 3x3 input.

    >>> keras_conv_transpose_output_size(3, kernel_size=1, stride=2, padding="valid")
    6
    """
    padding = _check_keras_padding(padding)
    span = effective_kernel_size(kernel_size, dilation)
    if padding == "same":
        return input_size * stride
    return input_size * stride + max(span - stride, 0)


def keras_to_torch_padding(
    kernel_size: int,
    stride: int = 1,
    padding: str = "valid",
    dilation: int = 1,
) -> tuple[int, int]:
    """PyTorch ``(padding, output_padding)`` that give Keras' output length.

    Parameters
    ----------
    kernel_size, stride, dilation : int
        ``k``, ``s``, ``d`` of the layer.
    padding : {'same', 'valid'}
        Keras' padding mode.

    Returns
    -------
    tuple of int
        ``(padding, output_padding)`` for :func:`torch.nn.functional.conv_transpose2d`
        such that, for every input length, the PyTorch output length equals
        :func:`keras_conv_transpose_output_size`.

    Notes
    -----
    The lengths agree; the alignment agrees except in one case.  Keras'
    ``'same'`` crops ``floor((k_eff - s) / 2)`` positions from the start and the
    rest from the end.  PyTorch crops ``padding`` from both ends and gives
    ``output_padding`` back at the end, so when ``k_eff - s`` is odd it must
    crop one position *more* at the start than Keras does: the two outputs
    are the same values shifted by one position.

    Raises
    ------
    ValueError
        For ``'same'`` with an even effective kernel and ``stride == dilation == 1``:
        it needs ``output_padding=1``, which PyTorch forbids there.

    Examples
    --------
    >>> keras_to_torch_padding(kernel_size=1, stride=2, padding="valid")
    (0, 1)
    >>> keras_to_torch_padding(kernel_size=4, stride=2, padding="same")
    (1, 0)
    >>> keras_to_torch_padding(kernel_size=3, stride=2, padding="same")
    (1, 1)
    """
    padding = _check_keras_padding(padding)
    excess = effective_kernel_size(kernel_size, dilation) - stride
    if excess <= 0:
        # The stamps leave s - k_eff zeros after the last one: give them back.
        return 0, -excess
    if padding == "valid":
        return 0, 0
    # 'same' must remove `excess` positions: 2p - op = excess with 0 <= op <= 1.
    torch_padding = (excess + 1) // 2
    output_padding = 2 * torch_padding - excess
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"Keras padding='same' with kernel_size={kernel_size}, stride={stride}, "
            f"dilation={dilation} needs output_padding={output_padding}, but PyTorch "
            f"allows output_padding only below max(stride, dilation)={max(stride, dilation)}; "
            f"use padding=0 and crop the output yourself, or an odd effective kernel size"
        )
    return torch_padding, output_padding


# --------------------------------------------------------------------------------------------
# Alignment, interiors and connectivity: where an output position comes from
# --------------------------------------------------------------------------------------------


def receptive_field_centre(
    output_index: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> Fraction:
    """Where output position ``j`` sits on the input grid, in input pixel units.

    Input element ``i`` stamps its kernel on output positions
    ``i*s + a*d - p`` for taps ``a = 0..k-1``: a stamp whose centre is at
    ``i*s + d(k-1)/2 - p``.  Reading that map backwards gives the input
    coordinate of output ``j``: the (fractional) ``i`` whose stamp is centred
    on ``j``.  In the zero-insertion view it is the centre of the window that
    produces ``j``, divided by the stride.

    Parameters
    ----------
    output_index : int
        Position ``j`` in the output of the transposed convolution.
    kernel_size, stride, padding, dilation : int
        ``k``, ``s``, ``p``, ``d`` as in :func:`torch.nn.functional.conv_transpose2d`.

    Returns
    -------
    fractions.Fraction
        ``(j + p - d(k - 1)/2) / s``.  An integer means output ``j`` lies on
        input pixel ``i``; ``1/2`` halfway between pixels ``0`` and ``1``.

    Notes
    -----
    This is the convention of :func:`torch.nn.functional.interpolate` with
    ``align_corners=False``: its bilinear upsampling by ``s`` reads output
    ``j`` at source coordinate ``(j + 1/2)/s - 1/2``, which is this formula
    for the bilinear kernels of :func:`tconv_lib.mitigation.fcn_bilinear_params`
    (``k = 2s, p = s/2`` for even ``s``; ``k = 2s - 1, p = (s - 1)/2`` for odd).  Another
    definition, the mean of the input positions that reach ``j``, agrees
    with it only where every phase's taps are centred on the kernel's centre
    and the border cuts none of them; see ``tests/test_claims.py``.

    Examples
    --------
    With ``k = 4, s = 2, p = 1`` the first output sits a quarter pixel before
    input pixel 0, as in bilinear upsampling:

    >>> receptive_field_centre(0, kernel_size=4, stride=2, padding=1)
    Fraction(-1, 4)
    >>> receptive_field_centre(2, kernel_size=3, stride=2, padding=1)
    Fraction(1, 1)
    """
    return (output_index + padding - Fraction(dilation * (kernel_size - 1), 2)) / stride


def alignment_offset(
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> Fraction:
    """Input coordinate of the first output position, in input pixel units.

    Parameters
    ----------
    kernel_size, stride, padding, dilation : int
        ``k``, ``s``, ``p``, ``d`` as in :func:`torch.nn.functional.conv_transpose2d`.

    Returns
    -------
    fractions.Fraction
        ``receptive_field_centre(0, ...) = (p - d(k - 1)/2) / s``; zero means
        the first output is aligned with the first input pixel, a negative
        value that it lies before (above / left of) it.

    Notes
    -----
    For ``s = 2`` and ``d = 1`` this is ``(2p - k + 1)/4 = -(k - 1 - 2p)/4``,
    for odd and even ``k`` alike: the source chapter's ``(k - 1 - 2p)/4`` is
    its size, measured in the opposite direction.

    Examples
    --------
    >>> alignment_offset(kernel_size=3, stride=2, padding=1)
    Fraction(0, 1)
    >>> alignment_offset(kernel_size=5, stride=2, padding=1)
    Fraction(-1, 2)
    """
    return receptive_field_centre(0, kernel_size, stride, padding, dilation)


def output_shift(old_padding: int, new_padding: int) -> int:
    """How far the output's content moves when ``padding`` changes.

    ``padding`` only crops the canvas that the stamps build: output ``j``
    with padding ``p`` is canvas position ``j + p``.  So with the other
    arguments unchanged, ``y_new[j] = y_old[j + (new - old)]``: every value
    moves by ``old - new`` positions, whatever the kernel, stride, dilation,
    output_padding or position.  The output also loses ``new - old``
    positions at each end.

    Parameters
    ----------
    old_padding, new_padding : int
        The two values of ``padding``.

    Returns
    -------
    int
        ``old_padding - new_padding``: the position of a value in the new
        output minus its position in the old one.

    Notes
    -----
    ``padding`` never changes the canvas, only which part of it is returned;
    that is why the shift is the same for every position and every kernel.

    Examples
    --------
    >>> output_shift(0, 1)
    -1
    """
    return old_padding - new_padding


def interior_range(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    input_range: range | None = None,
) -> range:
    """Output positions that the borders do not touch.

    Output ``j`` is canvas position ``c = j + p``.  It is *interior* when
    every tap ``a`` of the kernel could reach it from an input position
    inside ``input_range``: the whole window ``[c - d(k-1), c]`` of the
    zero-insertion view lies within ``[lo*s, (hi - 1)*s]``.  There the
    coverage is exactly the periodic count of
    :func:`tconv_lib.artifacts.coverage_period`, and a constant input gives
    the same output as an infinite constant input would.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input along the axis.
    kernel_size, stride, padding, output_padding, dilation : int
        ``k``, ``s``, ``p``, ``op``, ``d`` as in
        :func:`torch.nn.functional.conv_transpose2d`.
    input_range : range, optional
        The input positions to count as valid (``range(lo, hi)``), e.g. the
        interior of the previous layer when layers are stacked.  Default:
        all of them, ``range(input_size)``.

    Returns
    -------
    range
        ``range(max(0, lo*s + d(k-1) - p), min(L_out, (hi-1)*s - p + 1))``,
        empty when the input is too short for any interior.  Use it as
        ``y[..., r.start:r.stop]``.

    Notes
    -----
    Conservative: it asks the whole effective kernel to fit, not only the
    taps of the position's own phase, so a few positions just outside the range
    may be untouched by the border as well.

    Examples
    --------
    A 4-element input, ``k = 3``, ``s = 2``, ``p = 1``, ``op = 1`` gives 8
    outputs; positions 1 to 5 are interior:

    >>> interior_range(4, kernel_size=3, stride=2, padding=1, output_padding=1)
    range(1, 6)

    Two stacked layers: the second layer's interior starts from the first's.

    >>> r = interior_range(4, 3, 2, 1, 1)
    >>> interior_range(8, 3, 2, 1, 1, input_range=r)
    range(3, 10)
    """
    lo, hi = (0, input_size) if input_range is None else (input_range.start, input_range.stop)
    out_size = conv_transpose_output_size(input_size, kernel_size, stride, padding, output_padding, dilation)
    start = max(0, lo * stride + dilation * (kernel_size - 1) - padding)
    stop = min(out_size, (hi - 1) * stride - padding + 1)
    return range(start, max(start, stop))


def input_interior_range(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    output_range: range | None = None,
) -> range:
    """Input positions whose every tap lands inside the output: the interior of the backward pass.

    The input gradient of a transposed convolution sums, for input ``i``,
    the upstream gradient at every output its stamp reaches: ``i*s + a*d - p``
    for ``a = 0..k-1``.  Where the padding crops part of the stamp, fewer
    products are summed.  This is the range of inputs whose whole stamp lands
    in ``output_range``.

    Parameters
    ----------
    input_size : int
        Length ``n`` of the input along the axis.
    kernel_size, stride, padding, output_padding, dilation : int
        ``k``, ``s``, ``p``, ``op``, ``d`` as in
        :func:`torch.nn.functional.conv_transpose2d`.
    output_range : range, optional
        The output positions to count as valid, e.g. the backward interior
        of the next layer when layers are stacked (its *input* interior is
        this layer's output).  Default: the whole output.

    Returns
    -------
    range
        ``range(max(0, ceil((lo + p) / s)), min(n, floor((hi - 1 + p - d(k-1)) / s) + 1))``
        for ``output_range = range(lo, hi)``; empty when no input qualifies.

    Examples
    --------
    DCGAN's layer, ``k = 4, s = 2, p = 1`` on 8 inputs: the first and the last
    input lose a tap to the padding.

    >>> input_interior_range(8, kernel_size=4, stride=2, padding=1)
    range(1, 7)

    Two stacked layers: the second layer's input interior bounds the first's output.

    >>> inner = input_interior_range(16, 4, 2, 1)
    >>> input_interior_range(8, 4, 2, 1, output_range=inner)
    range(1, 7)
    """
    out_size = conv_transpose_output_size(input_size, kernel_size, stride, padding, output_padding, dilation)
    lo, hi = (0, out_size) if output_range is None else (output_range.start, output_range.stop)
    start = max(0, -(-(lo + padding) // stride))
    stop = min(input_size, (hi - 1 + padding - dilation * (kernel_size - 1)) // stride + 1)
    return range(start, max(start, stop))


def min_kernel_for_connectivity(stride: int, dilation: int = 1) -> int | None:
    """Smallest kernel size that leaves no gaps in the interior of the output.

    Tap ``a`` lands on output phase ``a*d mod s``.  The interior has no gap
    when the ``k`` taps reach all ``s`` phases.  ``a*d mod s`` only takes
    multiples of ``g = gcd(d, s)``, so for ``g > 1`` no kernel reaches every
    phase; for ``g = 1`` taps ``0 .. s-1`` reach ``s`` different phases.

    Parameters
    ----------
    stride, dilation : int
        ``s`` and ``d``.

    Returns
    -------
    int or None
        ``s`` when ``gcd(d, s) == 1`` (always, without dilation); ``None``
        when no kernel size closes the gaps.

    Notes
    -----
    This is about the interior.  Near the ends a dilated kernel can leave
    holes whatever ``k`` is (a single input stamps isolated taps), and
    ``output_padding`` adds ``max(0, op - p)`` positions after the last stamp
    that nothing reaches; see :func:`tconv_lib.artifacts.gaps1d`.

    Examples
    --------
    >>> min_kernel_for_connectivity(3)
    3
    >>> min_kernel_for_connectivity(2, dilation=3)
    2
    >>> min_kernel_for_connectivity(2, dilation=2) is None
    True
    """
    return stride if gcd(stride, dilation) == 1 else None


def resize_conv_padding(
    kernel_size: int,
    stride: int,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    conv_kernel_size: int | None = None,
) -> tuple[int, int]:
    """Padding of a resize-convolution that gives a transposed convolution's output size.

    A resize-convolution upsamples ``n`` positions to ``n*s`` and then runs a
    stride-1 convolution with a kernel of size ``K``, padded by ``before``
    and ``after``: ``n*s + before + after - K + 1`` outputs.  Setting this
    equal to the transposed output size
    ``(n - 1)s - 2p + d(k - 1) + 1 + op`` gives a total that does not depend
    on ``n``.

    Parameters
    ----------
    kernel_size, stride, padding, output_padding, dilation : int
        ``k``, ``s``, ``p``, ``op``, ``d`` of the transposed convolution to replace.
    conv_kernel_size : int, optional
        ``K``, the resize-convolution's own kernel size (dilation 1).
        Default: ``kernel_size``.

    Returns
    -------
    tuple of int
        ``(before, after)``, zeros to add on each side of the upsampled
        input; a negative number means crop that many.  They add up to
        ``P = d(k - 1) + op - 2p - s + K``; ``before = ceil((P - op)/2)``
        puts the two layers' receptive-field centres within half an output
        pixel of each other (exactly on each other when ``P - op`` is even),
        and ``output_padding``'s share at the end, as PyTorch does.

    Notes
    -----
    Nearest and bilinear upsampling both place upsampled pixel ``u`` at input
    coordinate ``(u + 1/2)/s - 1/2``, so resize-convolution output ``j`` lies at
    ``(j - before + (K - 1)/2 + 1/2)/s - 1/2``;
    :func:`receptive_field_centre` gives the transposed layer's.  Their
    difference, in output pixels, is ``before - (P - op)/2``: ``0`` or ``1/2``.

    Examples
    --------
    The DCGAN layer ``k = 4, s = 2, p = 1`` and the U-Net layer
    ``k = 3, s = 2, p = 1, op = 1`` both become "upsample, then a 3x3
    convolution with padding 1":

    >>> resize_conv_padding(4, 2, padding=1, conv_kernel_size=3)
    (1, 1)
    >>> resize_conv_padding(3, 2, padding=1, output_padding=1)
    (1, 1)
    """
    conv_kernel_size = kernel_size if conv_kernel_size is None else conv_kernel_size
    total = dilation * (kernel_size - 1) + output_padding - 2 * padding - stride + conv_kernel_size
    before = -((output_padding - total) // 2)  # ceil((total - output_padding) / 2)
    return before, total - before
