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

__all__ = [
    "effective_kernel_size",
    "conv_output_size",
    "conv_transpose_output_size",
    "conv_transpose_output_sizes",
    "output_padding_for",
    "keras_conv_transpose_output_size",
    "keras_to_torch_padding",
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
