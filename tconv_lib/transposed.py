"""Transposed convolution, five ways.

The same linear operator written as five algorithms, each a public function:

``scatter``
    Every input element stamps a scaled copy of the kernel onto the output;
    where stamps overlap, they add.  The picture from the lectures.
``zero_insertion``
    Put ``stride - 1`` zeros between input elements, pad, and run an ordinary
    stride-1 convolution with the flipped, channel-swapped kernel.  The
    signal-processing picture: upsample, then filter.
``matrix``
    Build the matrix ``C`` of the forward convolution this operator undoes and
    multiply by ``C.T``.  The algebraic definition, and the source of the name.
``gemm``
    One matrix product of the kernels with every input pixel, then "col2im":
    add each product into place.
``polyphase``
    Output phase ``(r_h, r_w)`` (every ``s``-th row and column) is an ordinary
    convolution of the input with the sub-kernel of the taps that land there:
    one im2col of the input, one matrix product with every sub-kernel
    stacked, then interleave the phases (a pixel shuffle).  The sub-pixel
    convolution.

``gemm`` and ``polyphase`` are the fast paths: :func:`conv_transpose2d` and
:func:`conv_transpose1d` use whichever :func:`fastest_view` picks for the shapes.

All of them take PyTorch's arguments in PyTorch's order, with the weight laid
out ``(C_in, C_out // groups, *kernel)``, and return the same array up to
rounding.  The 1D functions run the 2D ones on a height-1 image.
"""

from __future__ import annotations

import numpy as np

from . import geometry
from ._checks import _check_non_negative, _check_positive, as_float_array, ntuple, transposed_args
from .conv import conv2d
from .matrix import conv_matrix

__all__ = [
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose1d_scatter",
    "conv_transpose2d_scatter",
    "conv_transpose1d_zero_insertion",
    "conv_transpose2d_zero_insertion",
    "conv_transpose1d_matrix",
    "conv_transpose2d_matrix",
    "conv_transpose1d_gemm",
    "conv_transpose2d_gemm",
    "conv_transpose1d_polyphase",
    "conv_transpose2d_polyphase",
    "fastest_view",
    "MOVE_COST",
    "VIEWS_1D",
    "VIEWS_2D",
    "zero_insert1d",
    "zero_insert2d",
]


def _canvas_size(a) -> tuple[int, int]:
    """Rows and columns every stamp reaches, plus output_padding so a crop never runs off the end."""
    return tuple(
        (n - 1) * s + geometry.effective_kernel_size(k, d) + op
        for n, k, s, d, op in zip(a.x.shape[2:], a.kernel_size, a.stride, a.dilation, a.output_padding)
    )


def _crop_padding(canvas: np.ndarray, a) -> np.ndarray:
    """Remove ``padding`` rows/columns at the start of the last two axes, keep the output size."""
    (ph, pw), (h_out, w_out) = a.padding, a.output_size
    return canvas[..., ph : ph + h_out, pw : pw + w_out]


def conv_transpose2d_scatter(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution by stamping: each input element adds a scaled kernel.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Input, float32 or float64.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        PyTorch's transposed layout: input channels first.
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H_in - 1) sH - 2 pH + dH (kH - 1) + opH + 1``, see
        :func:`tconv_lib.geometry.conv_transpose_output_size`.

    Notes
    -----
    The *scatter* view.  Input element ``(i, j)`` of channel ``ci`` multiplies
    the whole kernel ``weight[ci]`` and adds it to the canvas with its top-left
    tap at ``(i * sH, j * sW)``, taps ``dH``/``dW`` apart.  ``padding`` then
    crops the canvas on every side and ``output_padding`` keeps extra rows and
    columns at the bottom and right.  Readable, not fast: one NumPy operation
    per input element and channel.

    Examples
    --------
    The first lecture's example: a 2x2 input, a 2x2 kernel, stride 1, gives 3x3.
    The centre is the only output that every input element reaches.

    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> conv_transpose2d_scatter(x, np.ones((1, 1, 2, 2)))
    array([[[ 1.,  3.,  2.],
            [ 4., 10.,  6.],
            [ 3.,  7.,  4.]]])
    """
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_scatter",
    )
    n, c_in, h_in, w_in = a.x.shape
    _, c_out_g, kh, kw = a.weight.shape
    (sh, sw), (dh, dw) = a.stride, a.dilation
    c_in_g = c_in // a.groups
    canvas = np.zeros((n, c_out_g * a.groups, *_canvas_size(a)), dtype=a.x.dtype)
    for ci in range(c_in):
        group = ci // c_in_g
        outs = slice(group * c_out_g, (group + 1) * c_out_g)  # the channels this group writes
        stamp = a.weight[ci]  # (C_out/g, kH, kW)
        for i in range(h_in):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            for j in range(w_in):
                cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                # (N, 1, 1, 1) * (C_out/g, kH, kW): one scaled stamp per batch element
                canvas[:, outs, rows, cols] += a.x[:, ci, i, j, None, None, None] * stamp
    return a.finish(_crop_padding(canvas, a))


def _pad_or_crop(arr: np.ndarray, pairs) -> np.ndarray:
    """Zero-pad the last two axes by ``(before, after)`` per axis; negative amounts crop."""
    crop = tuple(slice(max(-b, 0), arr.shape[-2 + k] - max(-e, 0)) for k, (b, e) in enumerate(pairs))
    arr = arr[(..., *crop)]
    return np.pad(arr, ((0, 0),) * (arr.ndim - 2) + tuple((max(b, 0), max(e, 0)) for b, e in pairs))


def zero_insert2d(x, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """The array that the zero-insertion view convolves: zeros between elements, then padding.

    Parameters
    ----------
    x : ndarray, shape (..., H_in, W_in)
        Input; the last two axes are spatial, leading axes (batch, channels) are kept.
    kernel_size : int or (int, int)
        ``(kH, kW)`` of the transposed convolution's kernel.
    stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`conv_transpose2d`.

    Returns
    -------
    ndarray, shape (..., H_z, W_z)
        ``x`` with ``s - 1`` zeros between neighbouring elements, then
        ``d(k - 1) - p`` zeros on each side (a crop where that is negative)
        and ``output_padding`` more zeros at the bottom and right.  A stride-1
        convolution of it with the flipped kernel (same dilation) has
        ``H_z - d(kH - 1)`` rows: the transposed convolution's output size.

    Examples
    --------
    Stride 2 and a 2x2 kernel: one zero between the elements, one around them.

    >>> zero_insert2d(np.array([[1.0, 2.0], [3.0, 4.0]]), kernel_size=2, stride=2)
    array([[0., 0., 0., 0., 0.],
           [0., 1., 0., 2., 0.],
           [0., 0., 0., 0., 0.],
           [0., 3., 0., 4., 0.],
           [0., 0., 0., 0., 0.]])
    """
    x = as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"zero_insert2d expects an array with at least 2 axes, got shape {x.shape}")
    (kh, kw), (sh, sw) = ntuple(kernel_size, 2, "kernel_size"), ntuple(stride, 2, "stride")
    (ph, pw), (oph, opw) = ntuple(padding, 2, "padding"), ntuple(output_padding, 2, "output_padding")
    dh, dw = ntuple(dilation, 2, "dilation")
    for values, name in (((kh, kw), "kernel_size"), ((sh, sw), "stride"), ((dh, dw), "dilation")):
        _check_positive(values, name)
    _check_non_negative((ph, pw), "padding")
    _check_non_negative((oph, opw), "output_padding")
    h_in, w_in = x.shape[-2:]
    # 1. insert s - 1 zeros between neighbours: H_in -> (H_in - 1) sH + 1
    upsampled = np.zeros((*x.shape[:-2], (h_in - 1) * sh + 1, (w_in - 1) * sw + 1), dtype=x.dtype)
    upsampled[..., ::sh, ::sw] = x
    # 2. pad so the kernel can hang over each edge by all but one tap, minus `padding`
    edge_h, edge_w = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    return _pad_or_crop(upsampled, ((edge_h, edge_h + oph), (edge_w, edge_w + opw)))


def zero_insert1d(x, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """The array that the 1D zero-insertion view convolves; see :func:`zero_insert2d`.

    Parameters
    ----------
    x : ndarray, shape (..., L_in)
        Input; the last axis is spatial.
    kernel_size, stride, padding, output_padding, dilation : int

    Returns
    -------
    ndarray, shape (..., L_z)

    Examples
    --------
    With a one-tap kernel there is no padding: only the zeros between elements.

    >>> zero_insert1d(np.array([1.0, 2.0, 3.0]), kernel_size=1, stride=3)
    array([1., 0., 0., 2., 0., 0., 3.])
    """
    x = as_float_array(x, "x")
    if x.ndim < 1:
        raise ValueError("zero_insert1d expects an array with at least 1 axis")
    one = lambda v, name: (1, ntuple(v, 1, name)[0])  # height 1, no stride/padding there
    out = zero_insert2d(
        x[..., None, :],
        one(kernel_size, "kernel_size"),
        one(stride, "stride"),
        (0, ntuple(padding, 1, "padding")[0]),
        (0, ntuple(output_padding, 1, "output_padding")[0]),
        one(dilation, "dilation"),
    )
    return out[..., 0, :]


def conv_transpose2d_zero_insertion(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution as zero insertion followed by an ordinary convolution.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        As :func:`conv_transpose2d_scatter`.

    Notes
    -----
    The *zero-insertion* view (Dumoulin & Visin, 2016, "fractionally strided
    convolution"):

    1. insert ``s - 1`` zeros between neighbouring input elements;
    2. pad ``d(k - 1) - p`` zeros on each side (crop if negative) and
       ``output_padding`` more at the end;
    3. convolve with stride 1 and the same dilation, using the kernel flipped
       in space and with its two channel axes swapped.

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> conv_transpose2d_zero_insertion(x, np.ones((1, 1, 2, 2)))
    array([[[ 1.,  3.,  2.],
            [ 4., 10.,  6.],
            [ 3.,  7.,  4.]]])
    """
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_zero_insertion",
    )
    c_in = a.x.shape[1]
    _, c_out_g, kh, kw = a.weight.shape
    g = a.groups
    # 1-2. zeros between the elements, then padding: (N, C_in, H_z, W_z)
    upsampled = zero_insert2d(
        a.x, a.kernel_size, a.stride, a.padding, a.output_padding, a.dilation
    )
    # 3. flip in space and swap channels, per group:
    #    (C_in, C_out/g, kH, kW) -> (g, C_in/g, C_out/g, kH, kW) -> (g, C_out/g, C_in/g, kH, kW)
    #    -> (C_out, C_in/g, kH, kW): the layout conv2d expects
    flipped = (
        a.weight.reshape(g, c_in // g, c_out_g, kh, kw)
        .transpose(0, 2, 1, 3, 4)
        .reshape(g * c_out_g, c_in // g, kh, kw)[:, :, ::-1, ::-1]
    )
    out = conv2d(upsampled, flipped, stride=1, padding=0, dilation=a.dilation, groups=g)
    return a.finish(out)


def conv_transpose2d_matrix(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution as multiplication by ``C.T``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        As :func:`conv_transpose2d_scatter`.

    Notes
    -----
    The *matrix* view and the definition.  The forward convolution with the
    same ``weight`` (read as ``conv2d``'s ``(C_out', C_in' // groups, kH, kW)``
    with ``C_out' = C_in``), stride, padding and dilation maps a
    ``(C_out, H_out, W_out)`` image to ``(C_in, H_in, W_in)``; its matrix
    :func:`~tconv_lib.matrix.conv_matrix` is ``C``, and this operator is
    ``C.T``.  When ``output_padding >= stride`` (allowed if the dilation is
    larger) that convolution produces more than ``H_in`` rows; the extra rows
    have no counterpart in ``x`` and are dropped from ``C``.  ``C`` is dense:
    use small sizes.

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> conv_transpose2d_matrix(x, np.ones((1, 1, 2, 2)))
    array([[[ 1.,  3.,  2.],
            [ 4., 10.,  6.],
            [ 3.,  7.,  4.]]])
    """
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_matrix",
    )
    n, c_in, h_in, w_in = a.x.shape
    c_out = a.weight.shape[1] * a.groups
    h_out, w_out = a.output_size
    c = conv_matrix(a.weight, (c_out, h_out, w_out), a.stride, a.padding, a.dilation, a.groups)
    # Keep the rows of C for positions that x has:
    # (C_in * H_conv * W_conv, cols) -> (C_in, H_conv, W_conv, cols) -> (C_in, H_in, W_in, cols)
    h_conv = geometry.conv_output_size(h_out, a.kernel_size[0], a.stride[0], a.padding[0], a.dilation[0])
    w_conv = geometry.conv_output_size(w_out, a.kernel_size[1], a.stride[1], a.padding[1], a.dilation[1])
    c = c.reshape(c_in, h_conv, w_conv, -1)[:, :h_in, :w_in].reshape(c_in * h_in * w_in, -1)
    # y = C.T x for every batch element: (C_out H_out W_out, C_in H_in W_in) @ (C_in H_in W_in, N)
    out = (c.T @ a.x.reshape(n, -1).T).T
    return a.finish(out.reshape(n, c_out, h_out, w_out))


#: Images with at most this many pixels per channel keep the batch axis last in
#: memory during col2im; see _conv_transpose2d_gemm.
BATCH_LAST_MAX_PIXELS = 256


def _conv_transpose2d_gemm(a) -> np.ndarray:
    """The gemm algorithm on validated arguments; returns (N, C_out, H_out, W_out)."""
    n, c_in, h_in, w_in = a.x.shape
    _, c_out_g, kh, kw = a.weight.shape
    (sh, sw), (dh, dw), g = a.stride, a.dilation, a.groups
    (ph, pw), (h_out, w_out) = a.padding, a.output_size
    c_in_g = c_in // g
    # NumPy is fast on long contiguous runs.  Step 2 moves rows of W numbers at a
    # time, or W * N when the batch axis is stored last: worth a transpose of x
    # when rows are short (small images, many channels), not when they are long.
    batch_last = h_in * w_in <= BATCH_LAST_MAX_PIXELS
    # 1. GEMM: every kernel tap times every input pixel, one product per group.
    #    weight (C_in, C_out/g, kH, kW) -> (g, C_in/g, C_out/g*kH*kW) -> transposed view
    #    (g, C_out/g*kH*kW, C_in/g); BLAS reads it transposed, nothing is copied.
    taps = a.weight.reshape(g, c_in_g, c_out_g * kh * kw).transpose(0, 2, 1)
    #    x (N, C_in, H, W) -> (g, C_in/g, H, W, N) or (g, C_in/g, N, H, W)
    x = a.x.reshape(n, g, c_in_g, h_in, w_in)
    pixels = x.transpose(1, 2, 3, 4, 0) if batch_last else x.transpose(1, 2, 0, 3, 4)
    pixels_shape = pixels.shape[2:]
    pixels = pixels.reshape(g, c_in_g, -1)
    # A product over one input channel is an outer product: broadcasting does it
    # several times faster than BLAS, which is slow for inner dimension 1.
    cols = taps * pixels if c_in_g == 1 else np.matmul(taps, pixels)
    cols = cols.reshape(g, c_out_g, kh, kw, *pixels_shape)
    # 2. col2im: tap (ka, kb) of pixel (i, j) lands on canvas (i sH + ka dH, j sW + kb dW).
    #    Canvas row c = m sH + r is stored at [r, m] (its phase r, then m): every
    #    tap then adds one block, shifted by (m, m'), into a single phase.
    canvas_h, canvas_w = _canvas_size(a)
    mh, mw = -(-canvas_h // sh), -(-canvas_w // sw)
    canvas_shape = (mh, mw, n) if batch_last else (n, mh, mw)
    canvas = np.zeros((g, c_out_g, sh, sw, *canvas_shape), dtype=a.x.dtype)
    canvas_view = canvas
    if not batch_last:  # views with the batch axis last, whatever the memory order
        cols, canvas_view = np.moveaxis(cols, 4, -1), np.moveaxis(canvas, 4, -1)
    for ka in range(kh):
        qh, rh = divmod(ka * dh, sh)
        for kb in range(kw):
            qw, rw = divmod(kb * dw, sw)
            canvas_view[:, :, rh, rw, qh : qh + h_in, qw : qw + w_in] += cols[:, :, ka, kb]
    # 3. interleave the phases into the output, cropping the padding on the way:
    #    output row o is canvas row o + pH, i.e. phase (o + pH) % sH, index (o + pH) // sH.
    out = np.empty((n, g * c_out_g, h_out, w_out), dtype=a.x.dtype)
    for rh in range(sh):
        oh = (rh - ph) % sh  # first output row of this phase
        rows = slice((oh + ph) // sh, (oh + ph) // sh + len(range(oh, h_out, sh)))
        for rw in range(sw):
            ow = (rw - pw) % sw
            cols_ = slice((ow + pw) // sw, (ow + pw) // sw + len(range(ow, w_out, sw)))
            phase = np.moveaxis(canvas_view[:, :, rh, rw, rows, cols_], -1, 0)
            out[:, :, oh::sh, ow::sw] = phase.reshape(n, g * c_out_g, *phase.shape[3:])
    return out


_GEMM_DOC = """Transposed convolution as one matrix product and a col2im accumulation.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Input, float32 or float64.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        PyTorch's transposed layout: input channels first.
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H_in - 1) sH - 2 pH + dH (kH - 1) + opH + 1``, see
        :func:`tconv_lib.geometry.conv_transpose_output_size`.  Same dtype as ``x``.

    Notes
    -----
    The *gemm* view, one of the two fast paths (:func:`fastest_view`).  The
    scatter view done in bulk: one matrix product computes every (kernel tap,
    input pixel) product at once, then one addition per kernel tap ("col2im")
    puts them in place.  The work
    is a single BLAS call plus ``kH * kW`` vectorised additions; the canvas is
    stored phase by phase (row ``m * s + r`` at ``[r, m]``) so that each
    addition is contiguous in memory.

    Examples
    --------
    The U-Net lecture's example (2x2 input, 3x3 kernel, stride 2, padding 1,
    output_padding 1) gives its 4x4 result:

    >>> x = np.array([[[2.0, 1.0], [3.0, 2.0]]])
    >>> w = np.array([[[[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]]])
    >>> {fname}(x, w, stride=2, padding=1, output_padding=1)
    array([[[ 0.,  4.,  0.,  1.],
            [10.,  7.,  6.,  3.],
            [ 0.,  7.,  0.,  2.],
            [ 6.,  3.,  4.,  2.]]])
    """


def conv_transpose2d_gemm(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_gemm",
    )
    return a.finish(_conv_transpose2d_gemm(a))


#: The polyphase view multiplies the images in chunks whose im2col matrix and
#: product hold about this many numbers together, so that both stay in the cache.
POLYPHASE_CHUNK_NUMBERS = 2**21


def _tap_offsets(kernel_size: int, stride: int, dilation: int) -> list[int]:
    """The window offsets ``q`` that some tap reads, in increasing order.

    Tap ``a`` lands on canvas position ``i s + a d = (i + q) s + r`` with
    ``(q, r) = divmod(a d, s)``: always on phase ``r``, ``q`` periods after
    input ``i``.  Without dilation the offsets are ``0 .. ceil(k / s) - 1``;
    dilation can leave some unused (``k = 3, s = 1, d = 2`` reads 0, 2, 4).
    """
    return sorted({a * dilation // stride for a in range(kernel_size)})


def _polyphase_kernels(a):
    """Every phase's sub-kernel, stacked into one matrix, and the window offsets they read.

    Returns ``(kernels, offsets_h, offsets_w)``.  ``kernels`` has shape
    ``(g, C_out/g * sH * sW, C_in/g * QH * QW)``: rows are (output channel,
    phase row, phase column), columns (input channel, offset row, offset
    column), where ``offsets_h`` lists the ``QH`` row offsets that some tap uses.
    """
    c_in, c_out_g, kh, kw = a.weight.shape
    (sh, sw), (dh, dw), g = a.stride, a.dilation, a.groups
    offsets_h, offsets_w = _tap_offsets(kh, sh, dh), _tap_offsets(kw, sw, dw)
    # (C_in, C_out/g, kH, kW) -> (g, C_in/g, C_out/g, kH, kW) -> (g, C_out/g, C_in/g, kH, kW)
    taps = a.weight.reshape(g, c_in // g, c_out_g, kh, kw).transpose(0, 2, 1, 3, 4)
    kernels = np.zeros(
        (g, c_out_g, sh, sw, c_in // g, len(offsets_h), len(offsets_w)), dtype=a.weight.dtype
    )
    for ka in range(kh):
        qh, rh = divmod(ka * dh, sh)
        for kb in range(kw):
            qw, rw = divmod(kb * dw, sw)
            kernels[:, :, rh, rw, :, offsets_h.index(qh), offsets_w.index(qw)] = taps[..., ka, kb]
    return kernels.reshape(g, c_out_g * sh * sw, -1), offsets_h, offsets_w


def _polyphase_chunk(kernels: np.ndarray, mh: int, mw: int) -> int:
    """How many images one product takes: im2col matrix and product within POLYPHASE_CHUNK_NUMBERS."""
    _, n_rows, n_cols = kernels.shape
    return max(1, POLYPHASE_CHUNK_NUMBERS // ((n_rows + n_cols) * mh * mw))


def _periods(a) -> tuple[tuple[int, int], tuple[int, int]]:
    """First canvas period the output needs and how many, per axis: ``((m0_h, M_h), (m0_w, M_w))``.

    Output row ``o`` is canvas row ``o + pH``, period ``(o + pH) // sH``.
    """
    return tuple(
        (p // s, (p + size - 1) // s + 1 - p // s)
        for p, s, size in zip(a.padding, a.stride, a.output_size)
    )


def _conv_transpose2d_polyphase(a) -> np.ndarray:
    """The polyphase algorithm on validated arguments; returns (N, C_out, H_out, W_out)."""
    n, c_in, h_in, w_in = a.x.shape
    c_out = a.weight.shape[1] * a.groups
    (sh, sw), (ph, pw), g = a.stride, a.padding, a.groups
    h_out, w_out = a.output_size
    # 1. decompose: canvas phase (rh, rw) at period (m, m') is the sum over the taps that
    #    land on it of weight[ci, co, ka, kb] * x[ci, m - qh, m' - qw]: a convolution of x.
    kernels, offsets_h, offsets_w = _polyphase_kernels(a)
    n_cols = kernels.shape[2]
    lh, lw = offsets_h[-1], offsets_w[-1]  # the largest offsets
    (mh0, mh), (mw0, mw) = _periods(a)
    out = np.empty((n, c_out, h_out, w_out), dtype=a.x.dtype)
    chunk = _polyphase_chunk(kernels, mh, mw)
    for start in range(0, n, chunk):
        # 2. im2col: pad (or crop) x so that its row mh0 - lh comes first; then x's row
        #    m - qh of period m = mh0 + i is row lh - qh + i.
        #    (b, C_in, H_in, W_in) -> (b, g, C_in/g, lh + mh, lw + mw)
        xs = _pad_or_crop(
            a.x[start : start + chunk], ((lh - mh0, mh0 + mh - h_in), (lw - mw0, mw0 + mw - w_in))
        )
        b = xs.shape[0]
        xs = xs.reshape(b, g, c_in // g, *xs.shape[2:])
        cols = np.empty((g, c_in // g, len(offsets_h), len(offsets_w), b, mh, mw), dtype=a.x.dtype)
        for i, qh in enumerate(offsets_h):
            for j, qw in enumerate(offsets_w):
                window = xs[..., lh - qh : lh - qh + mh, lw - qw : lw - qw + mw]
                cols[:, :, i, j] = window.transpose(1, 2, 0, 3, 4)  # (g, C_in/g, b, mh, mw)
        # 3. one product for every phase and period:
        #    (g, C_out/g * sH * sW, K) @ (g, K, b * mh * mw) -> (C_out, sH, sW, b, mh, mw)
        phases = np.matmul(kernels, cols.reshape(g, n_cols, -1)).reshape(c_out, sh, sw, b, mh, mw)
        # 4. interleave the phases (a pixel shuffle), cropping the padding on the way:
        #    output row o is phase (o + pH) % sH, period (o + pH) // sH.
        for rh in range(sh):
            oh = (rh - ph) % sh  # first output row of this phase
            first = (oh + ph) // sh - mh0
            rows = slice(first, first + len(range(oh, h_out, sh)))
            for rw in range(sw):
                ow = (rw - pw) % sw
                first = (ow + pw) // sw - mw0
                columns = slice(first, first + len(range(ow, w_out, sw)))
                phase = phases[:, rh, rw, :, rows, columns]  # (C_out, b, rows, columns)
                out[start : start + b, :, oh::sh, ow::sw] = np.moveaxis(phase, 1, 0)
    return out


def conv_transpose2d_polyphase(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Transposed convolution as ``sH * sW`` ordinary convolutions of the input, interleaved.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Input, float32 or float64.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        PyTorch's transposed layout: input channels first.
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H_in - 1) sH - 2 pH + dH (kH - 1) + opH + 1``, see
        :func:`tconv_lib.geometry.conv_transpose_output_size`.  Same dtype as ``x``.

    Notes
    -----
    The *polyphase* view (Odena et al., 2016), the sub-pixel convolution of
    Shi et al. (2016).  Tap ``ka`` lands on canvas row ``i sH + ka dH``; write
    ``ka dH = qh sH + rh``: it always lands on *phase* ``rh`` (rows
    ``m sH + rh``), at period ``m = i + qh``.  So phase ``(rh, rw)`` is an
    ordinary convolution of the input, not upsampled, with the sub-kernel of
    the taps that land there (:func:`tconv_lib.artifacts.polyphase_decompose`):

    1. decompose: stack all ``sH sW`` sub-kernels as the rows of one matrix;
    2. im2col: one copy of the input per window offset ``(qh, qw)``, a window
       of ``ceil(k / s)`` offsets without dilation;
    3. one matrix product computes every phase at every period;
    4. interleave the phases (a pixel shuffle), cropping ``padding``.

    No zero is inserted, nothing is scattered and no canvas is added into.
    The products of a sub-kernel's zeros (when ``s`` does not divide ``k``)
    are the price.

    Examples
    --------
    The U-Net lecture's example (2x2 input, 3x3 kernel, stride 2, padding 1,
    output_padding 1) gives its 4x4 result:

    >>> x = np.array([[[2.0, 1.0], [3.0, 2.0]]])
    >>> w = np.array([[[[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]]])
    >>> conv_transpose2d_polyphase(x, w, stride=2, padding=1, output_padding=1)
    array([[[ 0.,  4.,  0.,  1.],
            [10.,  7.,  6.,  3.],
            [ 0.,  7.,  0.,  2.],
            [ 6.,  3.,  4.,  2.]]])
    """
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_polyphase",
    )
    return a.finish(_conv_transpose2d_polyphase(a))


#: What moving one number through memory costs, in multiply-adds of a matrix
#: product: the constant of the rule in :func:`fastest_view`.
MOVE_COST = 32


def _fastest_view(a) -> str:
    """:func:`fastest_view` on validated arguments."""
    n, c_in, h_in, w_in = a.x.shape
    _, c_out_g, kh, kw = a.weight.shape
    c_out, c_in_g = c_out_g * a.groups, c_in // a.groups
    (sh, sw), (dh, dw) = a.stride, a.dilation
    qh, qw = len(_tap_offsets(kh, sh, dh)), len(_tap_offsets(kw, sw, dw))
    (_, mh), (_, mw) = _periods(a)
    # per image: multiply-adds of the product, plus the numbers moved around it
    polyphase = qh * qw * mh * mw * (c_out * sh * sw * c_in_g + MOVE_COST * c_in)
    gemm = kh * kw * h_in * w_in * c_out * (c_in_g + 2 * MOVE_COST)
    return "polyphase" if polyphase <= gemm else "gemm"


def fastest_view(x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The view that :func:`conv_transpose2d` uses for these shapes: ``'polyphase'`` or ``'gemm'``.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Only its shape matters.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        Only its shape matters.
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    str
        ``'polyphase'`` when ``cost_polyphase <= cost_gemm``, else ``'gemm'``,
        where, per image, with ``M = MOVE_COST = 32``::

            cost_polyphase = QH QW MH MW (C_out sH sW C_in/g + M C_in)
            cost_gemm      = kH kW H_in W_in C_out (C_in/g + 2 M)

    Notes
    -----
    A rule on the shapes, not a timer.  Both fast views compute every
    product with one matrix product; they differ in what they waste and in
    what they move.

    * The *polyphase* view (:func:`conv_transpose2d_polyphase`) multiplies
      ``C_out sH sW`` rows of sub-kernels by a window of ``QH QW`` offsets
      (``ceil(kH / sH)`` rows without dilation) of ``C_in/g`` channels, at
      ``MH MW`` canvas periods (``H_in W_in``, plus a row or column when the
      padding is not a multiple of the stride).  Where ``s`` does not divide
      ``k`` some of those taps are zeros: ``k = 3, s = 2`` multiplies 16
      taps for 9.  It copies the input once per offset (im2col).
    * The *gemm* view (:func:`conv_transpose2d_gemm`) multiplies no zero,
      but each of its ``C_out kH kW H_in W_in`` products is written, read
      back and added into the canvas (col2im): twice the traffic of a copy.

    ``MOVE_COST`` prices a number moved at 32 multiply-adds (OpenBLAS's
    sgemm runs at tens of multiply-adds per number that NumPy copies); it
    was fitted to timings of both views on 137 layers of the benchmark's
    kinds.  So layers with few channels (memory-bound) and layers where
    ``s`` divides ``k`` take the polyphase view; many channels with
    ``k = 3, s = 2``, tiny images with odd padding, and many more input than
    output channels (im2col would copy more than col2im adds) take the gemm
    view.

    Examples
    --------
    A 3-channel 256x256 image, k = 4, s = 2: memory-bound, no zero taps.

    >>> fastest_view(np.empty((1, 3, 256, 256)), np.empty((3, 3, 4, 4)), stride=2, padding=1)
    'polyphase'

    DCGAN's first layer (512 channels at 4x4, k = 4, s = 2, p = 1): the odd
    padding makes the polyphase view compute 5x5 periods for 4x4 pixels.

    >>> fastest_view(np.empty((64, 512, 4, 4)), np.empty((512, 256, 4, 4)), stride=2, padding=1)
    'gemm'
    """
    a = transposed_args(
        x, weight, None, stride, padding, output_padding, groups, dilation,
        nd=2, fname="fastest_view",
    )
    return _fastest_view(a)


_FAST_VIEWS = {"polyphase": _conv_transpose2d_polyphase, "gemm": _conv_transpose2d_gemm}


def conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """2D transposed convolution, as :func:`torch.nn.functional.conv_transpose2d`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        Input, float32 or float64.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        PyTorch's transposed layout: input channels first.
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H_in - 1) sH - 2 pH + dH (kH - 1) + opH + 1``, see
        :func:`tconv_lib.geometry.conv_transpose_output_size`.  Same dtype as ``x``.

    Notes
    -----
    The library's transposed convolution: the *polyphase* view or the *gemm*
    view, whichever :func:`fastest_view` says is faster for the shapes.

    Examples
    --------
    The U-Net lecture's example (2x2 input, 3x3 kernel, stride 2, padding 1,
    output_padding 1) gives its 4x4 result:

    >>> x = np.array([[[2.0, 1.0], [3.0, 2.0]]])
    >>> w = np.array([[[[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]]])
    >>> conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    array([[[ 0.,  4.,  0.,  1.],
            [10.,  7.,  6.,  3.],
            [ 0.,  7.,  0.,  2.],
            [ 6.,  3.,  4.,  2.]]])
    """
    a = transposed_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d",
    )
    return a.finish(_FAST_VIEWS[_fastest_view(a)](a))


conv_transpose2d_gemm.__doc__ = _GEMM_DOC.replace("{fname}", "conv_transpose2d_gemm")


def _as_1d(view_2d, fname):
    """Make the 1D function of a 2D view: validate in 1D terms, run on a height-1 image."""

    def view_1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        a = transposed_args(
            x, weight, bias, stride, padding, output_padding, groups, dilation, nd=1, fname=fname
        )
        out = view_2d(
            a.x[:, :, None, :],
            a.weight[:, :, None, :],
            a.bias,
            stride=(1, a.stride[0]),
            padding=(0, a.padding[0]),
            output_padding=(0, a.output_padding[0]),
            groups=a.groups,
            dilation=(1, a.dilation[0]),
        )[:, :, 0, :]
        return out[0] if a.unbatched else out

    view_1d.__name__ = view_1d.__qualname__ = fname
    view_1d.__doc__ = f"""1D transposed convolution, the same algorithm as :func:`{view_2d.__name__}`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L_in) or (C_in, L_in)
    weight : ndarray, shape (C_in, C_out // groups, k)
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation : int

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = (L_in - 1) s - 2p + d(k - 1) + op + 1``.

    Notes
    -----
    Runs :func:`{view_2d.__name__}` on a height-1 image.

    Examples
    --------
    A length-2 signal and kernel ``[1, 1, 1]``, stride 2: the stamps overlap
    on one position.

    >>> {fname}(np.array([[1.0, 10.0]]), np.ones((1, 1, 3)), stride=2)
    array([[ 1.,  1., 11., 10., 10.]])
    """
    view_1d.__module__ = __name__
    return view_1d


conv_transpose1d_scatter = _as_1d(conv_transpose2d_scatter, "conv_transpose1d_scatter")
conv_transpose1d_zero_insertion = _as_1d(
    conv_transpose2d_zero_insertion, "conv_transpose1d_zero_insertion"
)
conv_transpose1d_matrix = _as_1d(conv_transpose2d_matrix, "conv_transpose1d_matrix")
conv_transpose1d_gemm = _as_1d(conv_transpose2d_gemm, "conv_transpose1d_gemm")
conv_transpose1d_polyphase = _as_1d(conv_transpose2d_polyphase, "conv_transpose1d_polyphase")
conv_transpose1d_polyphase.__doc__ = """1D transposed convolution as ``s`` ordinary convolutions, interleaved.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, L_in) or (C_in, L_in)
    weight : ndarray, shape (C_in, C_out // groups, k)
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, groups, dilation : int

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``L_out = (L_in - 1) s - 2p + d(k - 1) + op + 1``.

    Notes
    -----
    The *polyphase* view: runs :func:`conv_transpose2d_polyphase` on a
    height-1 image.  Phase ``r`` (positions ``m s + r`` before the padding
    crops) takes the taps ``a`` with ``a d mod s == r``; without dilation the
    sub-kernel ``h_r[q] = h[q s + r]``.

    Examples
    --------
    Kernel ``h = [1, 10, 100]``, stride 2: the even positions add
    ``h_0 = [1, 100]``, the odd ones take ``h_1 = [10]``.

    >>> conv_transpose1d_polyphase(np.array([[1.0, 2.0]]), np.array([[[1.0, 10.0, 100.0]]]), stride=2)
    array([[  1.,  10., 102.,  20., 200.]])
    """
conv_transpose1d = _as_1d(conv_transpose2d, "conv_transpose1d")

#: Every 1D / 2D view by name, for tests and chapters that compare them.
VIEWS_1D = {
    "scatter": conv_transpose1d_scatter,
    "zero_insertion": conv_transpose1d_zero_insertion,
    "matrix": conv_transpose1d_matrix,
    "gemm": conv_transpose1d_gemm,
    "polyphase": conv_transpose1d_polyphase,
}
VIEWS_2D = {
    "scatter": conv_transpose2d_scatter,
    "zero_insertion": conv_transpose2d_zero_insertion,
    "matrix": conv_transpose2d_matrix,
    "gemm": conv_transpose2d_gemm,
    "polyphase": conv_transpose2d_polyphase,
}
