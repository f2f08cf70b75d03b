"""The ordinary (forward) convolution that a transposed convolution undoes.

Like every deep-learning library, "convolution" here means cross-correlation:
the kernel is *not* flipped.  Signatures and weight layout are those of
:func:`torch.nn.functional.conv1d` / :func:`~torch.nn.functional.conv2d`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import geometry
from ._checks import conv_args

__all__ = ["conv1d", "conv2d"]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2D convolution (cross-correlation), as :func:`torch.nn.functional.conv2d`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W) or (C_in, H, W)
        Input, float32 or float64.
    weight : ndarray, shape (C_out, C_in // groups, kH, kW)
        Kernels, same dtype as ``x``.
    bias : ndarray, shape (C_out,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
        Zero padding on both sides; ``'same'`` (stride 1 only) pads so that
        the output has the input's size, putting an odd extra position at the end.
    groups : int
        Split channels into ``groups`` independent convolutions.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = floor((H + 2p - d(kH - 1) - 1) / s) + 1``, see
        :func:`tconv_lib.geometry.conv_output_size`; same dtype as ``x``.

    Notes
    -----
    Computed as im2col + one matrix product per group: every receptive field
    becomes a column, and the kernels become rows.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    a = conv_args(x, weight, bias, stride, padding, dilation, groups, nd=2, fname="conv2d")
    n, c_in, _, _ = a.x.shape
    c_out, c_in_g, kh, kw = a.weight.shape
    (sh, sw), (dh, dw), g = a.stride, a.dilation, a.groups
    h_out, w_out = a.output_size
    x_padded = np.pad(a.x, ((0, 0), (0, 0), *a.padding_pairs))
    # Every receptive field, as a view: (N, C_in, H_out, W_out, kH, kW).
    span = (geometry.effective_kernel_size(kh, dh), geometry.effective_kernel_size(kw, dw))
    fields = sliding_window_view(x_padded, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    # im2col: (N, g, C_in/g, H_out, W_out, kH, kW) -> (g, C_in/g * kH * kW, N * H_out * W_out)
    cols = (
        fields.reshape(n, g, c_in_g, h_out, w_out, kh, kw)
        .transpose(1, 2, 5, 6, 0, 3, 4)
        .reshape(g, c_in_g * kh * kw, n * h_out * w_out)
    )
    # kernels as rows: (C_out, C_in/g, kH, kW) -> (g, C_out/g, C_in/g * kH * kW)
    rows = a.weight.reshape(g, c_out // g, c_in_g * kh * kw)
    out = np.matmul(rows, cols)  # (g, C_out/g, N * H_out * W_out)
    out = out.reshape(c_out, n, h_out, w_out).transpose(1, 0, 2, 3)
    return a.finish(out)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1D convolution (cross-correlation), as :func:`torch.nn.functional.conv1d`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L) or (C_in, L)
    weight : ndarray, shape (C_out, C_in // groups, k)
    bias : ndarray, shape (C_out,), optional
    stride, dilation, groups : int
    padding : int, 'valid' or 'same'

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = floor((L + 2p - d(k - 1) - 1) / s) + 1``.

    Notes
    -----
    Runs :func:`conv2d` on a height-1 image.

    Examples
    --------
    The 1D example of the algebra chapter: length 5, kernel 3, stride 2, padding 1.

    >>> conv1d(np.array([[1.0, 2, 3, 4, 5]]), np.array([[[1.0, 0, -1]]]), stride=2, padding=1)
    array([[-2., -2.,  4.]])
    """
    a = conv_args(x, weight, bias, stride, padding, dilation, groups, nd=1, fname="conv1d")
    padding_2d = padding if isinstance(padding, str) else (0, a.padding[0])
    out = conv2d(
        a.x[:, :, None, :],
        a.weight[:, :, None, :],
        a.bias,
        stride=(1, a.stride[0]),
        padding=padding_2d,
        dilation=(1, a.dilation[0]),
        groups=a.groups,
    )[:, :, 0, :]
    return out[0] if a.unbatched else out
