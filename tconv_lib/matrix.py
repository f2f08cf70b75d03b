"""The convolution matrix C: a convolution written as one matrix product.

A convolution is linear in its input, so for fixed weights it *is* a matrix:
flatten the input ``x`` to a vector and ``conv(x) = C @ x``.  The transposed
convolution is the operator whose matrix is ``C.T`` -- which is where its
name comes from.  The matrix is dense and grows as the product of the input
and output sizes, so this module is for small, teachable sizes.
"""

from __future__ import annotations

import numpy as np

from . import geometry
from ._checks import as_float_array, check_groups, ntuple

__all__ = ["conv_matrix"]


def conv_matrix(weight, input_shape, stride=1, padding=0, dilation=1, groups=1):
    """Dense matrix of a convolution, so that ``conv(x).ravel() == C @ x.ravel()``.

    Parameters
    ----------
    weight : ndarray, shape (C_out, C_in // groups, kH, kW) or (C_out, C_in // groups, k)
        Forward-convolution kernels (PyTorch's ``conv2d`` / ``conv1d`` layout).
    input_shape : tuple of int
        ``(C_in, H, W)`` for a 2D weight, ``(C_in, L)`` for a 1D weight; no batch axis.
    stride, padding, dilation : int or tuple of int
    groups : int

    Returns
    -------
    ndarray, shape (C_out * H_out * W_out, C_in * H * W)
        Row ``(co, i, j)`` holds the weights that output ``(co, i, j)`` applies
        to each input element, in C order.  Same dtype as ``weight``.

    Notes
    -----
    Output ``(i, j)`` reads input ``(i*sh - ph + a*dh, j*sw - pw + b*dw)``
    with tap ``(a, b)``; taps that fall into the zero padding have no column.

    Examples
    --------
    The algebra chapter's matrix: input length 5, kernel ``[w0, w1, w2] = [1, 2, 3]``,
    stride 2, padding 1.

    >>> conv_matrix(np.array([[[1.0, 2.0, 3.0]]]), (1, 5), stride=2, padding=1)
    array([[2., 3., 0., 0., 0.],
           [0., 1., 2., 3., 0.],
           [0., 0., 0., 1., 2.]])
    """
    weight = as_float_array(weight, "weight")
    nd = weight.ndim - 2
    if nd not in (1, 2):
        raise ValueError(f"weight must be 3D (1D conv) or 4D (2D conv), got shape {weight.shape}")
    input_shape = tuple(input_shape)
    if len(input_shape) != nd + 1:
        raise ValueError(
            f"input_shape must be (C_in, {'L' if nd == 1 else 'H, W'}) for a {weight.ndim}D "
            f"weight, got {input_shape}"
        )
    if nd == 1:  # a 1D convolution is a 2D one on a height-1 image
        return conv_matrix(
            weight[:, :, None, :],
            (input_shape[0], 1, input_shape[1]),
            stride=(1, ntuple(stride, 1, "stride")[0]),
            padding=(0, ntuple(padding, 1, "padding")[0]),
            dilation=(1, ntuple(dilation, 1, "dilation")[0]),
            groups=groups,
        )
    (sh, sw), (ph, pw) = ntuple(stride, 2, "stride"), ntuple(padding, 2, "padding")
    dh, dw = ntuple(dilation, 2, "dilation")
    groups = check_groups(groups)
    c_in, h, w = input_shape
    c_out, c_in_g, kh, kw = weight.shape
    if c_in != c_in_g * groups:
        raise ValueError(
            f"input_shape has {c_in} channels but weight {weight.shape} with groups={groups} "
            f"expects {c_in_g * groups}"
        )
    h_out = geometry.conv_output_size(h, kh, sh, ph, dh)
    w_out = geometry.conv_output_size(w, kw, sw, pw, dw)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"the kernel does not fit the padded input {input_shape}")
    c = np.zeros((c_out, h_out, w_out, c_in, h, w), dtype=weight.dtype)
    c_out_g = c_out // groups
    for co in range(c_out):
        group = co // c_out_g
        for ci_local in range(c_in_g):
            ci = group * c_in_g + ci_local
            for a in range(kh):
                rows = np.arange(h_out) * sh - ph + a * dh  # input row read by each output row
                i = np.flatnonzero((rows >= 0) & (rows < h))
                for b in range(kw):
                    cols = np.arange(w_out) * sw - pw + b * dw
                    j = np.flatnonzero((cols >= 0) & (cols < w))
                    c[co, i[:, None], j, ci, rows[i][:, None], cols[j]] += weight[co, ci_local, a, b]
    return c.reshape(c_out * h_out * w_out, c_in * h * w)
