"""Upsampling without checkerboards: resize-then-convolve, bilinear and ICNR initialisation.

Three ways out of the uneven overlap of :mod:`tconv_lib.artifacts`:

resize-convolve (Odena et al., 2016)
    Upsample with a fixed interpolation (:func:`upsample_nearest2d`,
    :func:`upsample_bilinear2d`, both matching
    :func:`torch.nn.functional.interpolate`), then run an ordinary stride-1
    convolution (:func:`resize_conv2d`).  Every output is computed the same
    way, so a constant input gives a constant output.
bilinear initialisation (Long et al., 2015)
    Start a transposed convolution from the kernel of bilinear interpolation
    (:func:`bilinear_kernel`, with the sizes of :func:`fcn_bilinear_params`):
    every polyphase sub-kernel then sums to 1.
sub-pixel convolution and ICNR (Shi et al., 2016; Aitken et al., 2017)
    A stride-1 convolution with ``s^2`` times the channels, then
    :func:`pixel_shuffle`.  Any stride-``s`` transposed convolution *is* one
    (:func:`subpixel_from_conv_transpose2d`); :func:`icnr` initialises it so
    that it starts as nearest-neighbour resize-convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import as_float_array, ntuple
from .artifacts import conv_weight_from_transposed, polyphase_decompose
from .conv import conv2d
from .init import kaiming_normal

__all__ = [
    "upsample_nearest2d",
    "upsample_bilinear2d",
    "resize_conv2d",
    "linear_kernel",
    "bilinear_kernel",
    "fcn_bilinear_params",
    "pixel_shuffle",
    "pixel_unshuffle",
    "icnr",
    "subpixel_conv2d",
    "SubpixelConv2d",
    "subpixel_from_conv_transpose2d",
]


def _scale_pair(scale, name="scale") -> tuple[int, int]:
    sh, sw = ntuple(scale, 2, name)
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{name} must be a positive int or pair of positive ints, got {scale!r}")
    return sh, sw


def _pad_or_crop2d(x: np.ndarray, pairs) -> np.ndarray:
    """Zero-pad the last two axes by ``((top, bottom), (left, right))``; negative amounts crop."""
    (top, bottom), (left, right) = pairs
    h, w = x.shape[-2:]
    x = x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    widths = ((0, 0),) * (x.ndim - 2) + ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)))
    return np.pad(x, widths)


# --------------------------------------------------------------------------------------------
# Resize, then convolve
# --------------------------------------------------------------------------------------------


def upsample_nearest2d(x, scale):
    """Nearest-neighbour upsampling by an integer factor.

    Parameters
    ----------
    x : ndarray, shape (..., H, W)
        Float32 or float64; leading axes (batch, channels) are kept.
    scale : int or (int, int)
        Positive integer factors ``(sH, sW)``.

    Returns
    -------
    ndarray, shape (..., H * sH, W * sW)
        ``out[..., u, v] = x[..., u // sH, v // sW]``: each pixel becomes an
        ``sH x sW`` block.  Equal to
        ``torch.nn.functional.interpolate(x, scale_factor=scale, mode='nearest')``.

    Notes
    -----
    Integer factors only: for them PyTorch's source index ``floor(u / s)`` is
    exact.  It is also a transposed convolution with a kernel of ones of size
    ``s`` and stride ``s``: coverage exactly 1 everywhere, no gap, no overlap.

    Examples
    --------
    >>> upsample_nearest2d(np.array([[1.0, 2.0], [3.0, 4.0]]), 2)
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    """
    x = as_float_array(x, "x")
    sh, sw = _scale_pair(scale)
    return np.repeat(np.repeat(x, sh, axis=-2), sw, axis=-1)


def _linear_interpolation_matrix(n_in: int, scale: int, align_corners: bool) -> np.ndarray:
    """The (n_in * scale, n_in) matrix of 1D linear interpolation, as PyTorch computes it."""
    n_out = n_in * scale
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        # first and last samples of input and output coincide
        src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        # pixel centres coincide: output u sits at input (u + 1/2)/s - 1/2, clamped at 0
        src = np.maximum((dst + 0.5) / scale - 0.5, 0.0)
    left = np.floor(src).astype(np.int64)
    right = np.minimum(left + 1, n_in - 1)
    frac = src - left
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), left), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), right), frac)
    return matrix


def upsample_bilinear2d(x, scale, align_corners=False):
    """Bilinear upsampling by an integer factor, as PyTorch does it.

    Parameters
    ----------
    x : ndarray, shape (..., H, W)
        Float32 or float64.
    scale : int or (int, int)
        Positive integer factors ``(sH, sW)``.
    align_corners : bool
        ``False`` (PyTorch's default): output pixel ``u`` samples the input at
        ``(u + 1/2)/s - 1/2`` — pixel centres line up; positions before the
        first centre are clamped to it, so the border replicates.  ``True``:
        the first and last pixels of input and output coincide, output ``u``
        samples ``u (H - 1)/(H s - 1)``.

    Returns
    -------
    ndarray, shape (..., H * sH, W * sW)
        Equal to ``torch.nn.functional.interpolate(x, scale_factor=scale,
        mode='bilinear', align_corners=align_corners)``.

    Notes
    -----
    Bilinear is linear along the rows, then along the columns: with the
    ``(H sH, H)`` matrix ``A`` and the ``(W sW, W)`` matrix ``B`` of 1D linear
    interpolation, ``out = A @ x @ B.T``.

    Examples
    --------
    >>> upsample_bilinear2d(np.array([[0.0, 4.0]]), (1, 2))
    array([[0., 1., 3., 4.]])
    >>> upsample_bilinear2d(np.array([[0.0, 4.0]]), (1, 2), align_corners=True)
    array([[0.        , 1.33333333, 2.66666667, 4.        ]])
    """
    x = as_float_array(x, "x")
    sh, sw = _scale_pair(scale)
    rows = _linear_interpolation_matrix(x.shape[-2], sh, align_corners)  # (H sH, H)
    cols = _linear_interpolation_matrix(x.shape[-1], sw, align_corners)  # (W sW, W)
    out = np.einsum("uh,...hw,vw->...uv", rows, x, cols)
    return out.astype(x.dtype, copy=False)


def _resize_conv_padding_pairs(padding, kernel_size):
    """Normalise resize_conv2d's padding to ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "same":
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size)
        if padding == "valid":
            return ((0, 0), (0, 0))
        raise ValueError(
            f"padding must be 'same', 'valid', an int, a pair or a pair of pairs, got {padding!r}"
        )
    if isinstance(padding, (tuple, list)) and all(isinstance(v, (tuple, list)) for v in padding):
        if len(padding) != 2 or any(len(v) != 2 for v in padding):
            raise ValueError(f"padding as pairs must be ((top, bottom), (left, right)), got {padding!r}")
        return tuple((int(b), int(e)) for b, e in padding)
    ph, pw = ntuple(padding, 2, "padding")
    return ((ph, ph), (pw, pw))


def resize_conv2d(
    x, weight, bias=None, scale=2, mode="nearest", padding="same", groups=1, align_corners=False
):
    """Resize-convolution: upsample with a fixed interpolation, then an ordinary convolution.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W) or (C_in, H, W)
    weight : ndarray, shape (C_out, C_in // groups, K, K')
        An *ordinary* convolution's weight (:func:`tconv_lib.conv2d`'s layout).
    bias : ndarray, shape (C_out,), optional
    scale : int or (int, int)
        Upsampling factors, the stride of the transposed layer it replaces.
    mode : {'nearest', 'bilinear'}
        The interpolation: :func:`upsample_nearest2d` or :func:`upsample_bilinear2d`.
    padding : 'same', 'valid', int, (int, int) or ((int, int), (int, int))
        Zeros around the upsampled image before the convolution.  ``'same'``
        keeps its size (an odd extra row or column at the end, as PyTorch's
        ``padding='same'``).  Pairs ``((top, bottom), (left, right))`` may be
        negative, meaning crop: :func:`tconv_lib.geometry.resize_conv_padding`
        gives the pair per axis that reproduces a transposed layer's output size.
    groups : int
    align_corners : bool
        For ``mode='bilinear'``.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = H sH + top + bottom - K + 1``.

    Notes
    -----
    The convolution has stride 1 and runs on a dense image: every output
    position is computed by the same kernel from the same number of inputs,
    so a constant input gives a constant output away from the borders, for
    any weights (Odena et al., 2016).

    Examples
    --------
    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> resize_conv2d(x, np.ones((1, 1, 1, 1)), scale=2)
    array([[[1., 1., 2., 2.],
            [1., 1., 2., 2.],
            [3., 3., 4., 4.],
            [3., 3., 4., 4.]]])
    """
    x = as_float_array(x, "x")
    if mode == "nearest":
        up = upsample_nearest2d(x, scale)
    elif mode == "bilinear":
        up = upsample_bilinear2d(x, scale, align_corners)
    else:
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
    pairs = _resize_conv_padding_pairs(padding, np.shape(weight)[-2:])
    return conv2d(_pad_or_crop2d(up, pairs), weight, bias, stride=1, padding=0, groups=groups)


# --------------------------------------------------------------------------------------------
# Bilinear initialisation of a transposed convolution
# --------------------------------------------------------------------------------------------


def linear_kernel(kernel_size):
    """The 1D kernel of linear interpolation: a triangle ``1 - |t| / f`` (Long et al., 2015).

    Parameters
    ----------
    kernel_size : int
        ``k``.  The triangle's half-width is ``f = ceil(k / 2)``; its centre is
        tap ``f - 1`` for odd ``k`` and halfway between taps ``f - 1`` and ``f``
        for even ``k``.

    Returns
    -------
    ndarray, shape (k,)
        ``w[a] = 1 - |a - centre| / f``, float64.

    Notes
    -----
    With stride ``s = f`` (``k = 2s`` or ``k = 2s - 1``) the triangle is a
    partition of unity: its taps ``a, a + s, ...`` of every phase add up to
    exactly ``1``, so a transposed convolution with it turns a constant into
    the same constant, away from the borders.

    Examples
    --------
    >>> linear_kernel(4)
    array([0.25, 0.75, 0.75, 0.25])
    >>> linear_kernel(5)
    array([0.33333333, 0.66666667, 1.        , 0.66666667, 0.33333333])
    """
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive int, got {kernel_size!r}")
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    return 1.0 - np.abs(np.arange(kernel_size) - centre) / factor


def bilinear_kernel(kernel_size, channels=None):
    """The bilinear interpolation kernel that FCN initialises upsampling layers with.

    Parameters
    ----------
    kernel_size : int
        ``k`` (square kernels); see :func:`fcn_bilinear_params` for the ``k``
        that goes with a stride.
    channels : int, optional
        ``C``: return a transposed-convolution weight that upsamples each of
        ``C`` channels on its own.

    Returns
    -------
    ndarray
        Shape ``(k, k)``: the outer product of :func:`linear_kernel` with
        itself.  With ``channels``: shape ``(C, C, k, k)``, zero except
        ``weight[c, c] = kernel`` (channel ``c`` in, channel ``c`` out), the
        layout of :func:`tconv_lib.conv_transpose2d` with ``groups=1``.

    Notes
    -----
    Separable: bilinear interpolation is linear interpolation along the rows
    times linear interpolation along the columns.  FCN's ``upsample_filt``
    builds the same array.

    Examples
    --------
    >>> bilinear_kernel(4)
    array([[0.0625, 0.1875, 0.1875, 0.0625],
           [0.1875, 0.5625, 0.5625, 0.1875],
           [0.1875, 0.5625, 0.5625, 0.1875],
           [0.0625, 0.1875, 0.1875, 0.0625]])
    >>> bilinear_kernel(4, channels=3).shape
    (3, 3, 4, 4)
    """
    line = linear_kernel(kernel_size)
    kernel = np.outer(line, line)
    if channels is None:
        return kernel
    weight = np.zeros((channels, channels, kernel_size, kernel_size))
    weight[np.arange(channels), np.arange(channels)] = kernel
    return weight


def fcn_bilinear_params(scale):
    """Kernel size, stride and padding of FCN's bilinear upsampling layer.

    Parameters
    ----------
    scale : int
        The upsampling factor ``s``.

    Returns
    -------
    dict
        ``kernel_size = 2s - s mod 2``, ``stride = s``,
        ``padding = ceil((s - 1)/2)``: Long et al.'s recipe.  With
        ``bilinear_kernel(kernel_size, channels=C)`` as weight,
        :func:`tconv_lib.conv_transpose2d` maps ``n`` pixels to ``n*s`` and
        equals ``torch.nn.functional.interpolate(..., mode='bilinear',
        align_corners=False)`` except on a border of ``floor(s/2)`` pixels at
        each end of each axis, where PyTorch replicates the edge pixel and the
        transposed convolution adds zeros.

    Notes
    -----
    An odd ``s`` takes ``k = 2s - 1``: the triangle is then centred on a tap,
    and output pixel ``j`` lands at input coordinate ``(j + 1/2)/s - 1/2``
    exactly as PyTorch's.  ``k = 2s`` with an odd ``s`` would also give equal
    phase sums, but half a pixel out of line.

    Examples
    --------
    >>> fcn_bilinear_params(2)
    {'kernel_size': 4, 'stride': 2, 'padding': 1}
    >>> fcn_bilinear_params(3)
    {'kernel_size': 5, 'stride': 3, 'padding': 1}
    """
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    s = int(scale)
    return {"kernel_size": 2 * s - s % 2, "stride": s, "padding": -(-(s - 1) // 2)}


# --------------------------------------------------------------------------------------------
# Sub-pixel convolution, pixel shuffle and ICNR
# --------------------------------------------------------------------------------------------


def pixel_shuffle(x, upscale):
    """Rearrange ``r^2`` channels into an ``r x r`` block of pixels.

    Parameters
    ----------
    x : ndarray, shape (..., C * rH * rW, H, W)
    upscale : int or (int, int)
        ``r`` as in :func:`torch.nn.functional.pixel_shuffle` (a pair
        ``(rH, rW)`` is accepted too).

    Returns
    -------
    ndarray, shape (..., C, H * rH, W * rW)
        ``out[..., c, h*rH + i, w*rW + j] = x[..., c*rH*rW + i*rW + j, h, w]``.

    Notes
    -----
    A pure rearrangement, no arithmetic: exact in every dtype.
    :func:`pixel_unshuffle` undoes it.

    Examples
    --------
    >>> x = np.arange(4.0).reshape(4, 1, 1)  # four channels, one pixel
    >>> pixel_shuffle(x, 2)
    array([[[0., 1.],
            [2., 3.]]])
    """
    x = np.asarray(x)
    rh, rw = _scale_pair(upscale, "upscale")
    if x.ndim < 3 or x.shape[-3] % (rh * rw) != 0:
        raise ValueError(
            f"pixel_shuffle expects (..., C * {rh * rw}, H, W): the channel count must be "
            f"divisible by upscale^2 = {rh * rw}, got shape {x.shape}"
        )
    *lead, c_in, h, w = x.shape
    c = c_in // (rh * rw)
    # (..., C rH rW, H, W) -> (..., C, rH, rW, H, W) -> (..., C, H, rH, W, rW) -> (..., C, H rH, W rW)
    x = x.reshape(*lead, c, rh, rw, h, w)
    n = len(lead)
    x = x.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c, h * rh, w * rw)


def pixel_unshuffle(x, downscale):
    """Rearrange each ``r x r`` block of pixels into ``r^2`` channels: undo :func:`pixel_shuffle`.

    Parameters
    ----------
    x : ndarray, shape (..., C, H * rH, W * rW)
    downscale : int or (int, int)
        ``r`` as in :func:`torch.nn.functional.pixel_unshuffle`.

    Returns
    -------
    ndarray, shape (..., C * rH * rW, H, W)

    Notes
    -----
    Also called space-to-depth.  A pure rearrangement, the inverse of
    :func:`pixel_shuffle`.

    Examples
    --------
    >>> x = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    >>> pixel_unshuffle(x, 2)[:, 0, 0]
    array([0., 1., 2., 3.])
    """
    x = np.asarray(x)
    rh, rw = _scale_pair(downscale, "downscale")
    if x.ndim < 3 or x.shape[-2] % rh != 0 or x.shape[-1] % rw != 0:
        raise ValueError(
            f"pixel_unshuffle expects (..., C, H * {rh}, W * {rw}): height and width must be "
            f"divisible by the downscale factor, got shape {x.shape}"
        )
    *lead, c, hr, wr = x.shape
    h, w = hr // rh, wr // rw
    # (..., C, H rH, W rW) -> (..., C, H, rH, W, rW) -> (..., C, rH, rW, H, W) -> (..., C rH rW, H, W)
    x = x.reshape(*lead, c, h, rh, w, rw)
    n = len(lead)
    x = x.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * rh * rw, h, w)


def _he_normal(shape, rng):
    """He (Kaiming) normal weights of an ordinary convolution (C_out, C_in, *kernel)."""
    return kaiming_normal(shape, transposed=False, rng=rng)


def icnr(weight_shape, scale, init=None, rng=None):
    """ICNR: initialise a sub-pixel convolution as nearest-neighbour resize-convolution.

    Parameters
    ----------
    weight_shape : (int, int, int, int)
        ``(C_out * s^2, C_in, K, K')``: the weight of the stride-1 convolution
        that precedes :func:`pixel_shuffle` (``s^2`` is ``sH * sW`` for a pair).
    scale : int or (int, int)
        The pixel-shuffle factor ``s``.
    init : callable, optional
        ``init(shape, rng) -> ndarray`` draws the base kernel of shape
        ``(C_out, C_in, K, K')``.  Default: He normal,
        ``N(0, 2 / (C_in K K'))``.
    rng : numpy.random.Generator or int, optional
        Random generator, or a seed for one.

    Returns
    -------
    ndarray, shape weight_shape
        ``weight[c * s^2 + t] = base[c]`` for every sub-pixel ``t``: the
        ``s^2`` channels that :func:`pixel_shuffle` puts into one ``s x s``
        block share a kernel.

    Notes
    -----
    Aitken et al. (2017): with this weight, ``pixel_shuffle(conv2d(x, weight))``
    equals ``upsample_nearest2d(conv2d(x, base))``: every ``s x s`` block of
    the output is constant, so the layer starts free of checkerboards for
    *every* input, and training moves it from there.

    Examples
    --------
    >>> w = icnr((4, 1, 3, 3), scale=2, rng=0)
    >>> [np.array_equal(w[0], w[t]) for t in range(4)]
    [True, True, True, True]
    """
    c_sub, c_in, *kernel = weight_shape
    sh, sw = _scale_pair(scale)
    if c_sub % (sh * sw) != 0:
        raise ValueError(
            f"the sub-pixel weight's output channels ({c_sub}) must be a multiple of "
            f"scale^2 = {sh * sw}: use C_out * {sh * sw}"
        )
    rng = np.random.default_rng(rng)
    base = (init or _he_normal)((c_sub // (sh * sw), c_in, *kernel), rng)
    return np.repeat(base, sh * sw, axis=0)


def subpixel_conv2d(x, weight, bias=None, upscale=2, padding=0, crop=((0, 0), (0, 0)), groups=1):
    """Sub-pixel convolution: a stride-1 convolution, then :func:`pixel_shuffle`, then a crop.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W) or (C_in, H, W)
    weight : ndarray, shape (C_out * rH * rW, C_in // groups, K, K')
        Ordinary convolution layout; output channel ``c * rH * rW + i * rW + j``
        becomes sub-pixel ``(i, j)`` of output channel ``c``.
    bias : ndarray, shape (C_out * rH * rW,), optional
    upscale : int or (int, int)
    padding : int or (int, int)
        Of the convolution.
    crop : ((int, int), (int, int))
        ``((top, bottom), (left, right))`` rows and columns removed after the shuffle.
    groups : int

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        ``H_out = (H + 2 pH - K + 1) rH - top - bottom``.

    Notes
    -----
    Shi et al. (2016): the convolution runs at the *low* resolution and
    computes all ``r^2`` sub-pixels of every block at once; no zero is ever
    multiplied.

    Examples
    --------
    Four 1x1 kernels ``1, 2, 3, 4`` fill each 2x2 block:

    >>> w = np.arange(1.0, 5.0).reshape(4, 1, 1, 1)
    >>> subpixel_conv2d(np.ones((1, 1, 2)), w, upscale=2)
    array([[[1., 2., 1., 2.],
            [3., 4., 3., 4.]]])
    """
    out = pixel_shuffle(conv2d(x, weight, bias, stride=1, padding=padding, groups=groups), upscale)
    return _pad_or_crop2d(out, tuple((-b, -e) for b, e in crop))


@dataclass(frozen=True)
class SubpixelConv2d:
    """A sub-pixel convolution's arguments; calling it runs :func:`subpixel_conv2d`.

    Attributes
    ----------
    weight : ndarray, shape (C_out * sH * sW, C_in // groups, LH, LW)
    bias : ndarray, shape (C_out * sH * sW,) or None
    upscale : (int, int)
    padding : (int, int)
    crop : ((int, int), (int, int))
    groups : int

    Notes
    -----
    Made by :func:`subpixel_from_conv_transpose2d`; frozen, so a converted
    layer cannot be changed by accident.

    Examples
    --------
    A 1x1 transposed convolution with stride 2 as a sub-pixel convolution:
    sub-pixel ``(0, 0)`` gets the kernel, the other three get nothing.

    >>> sub = subpixel_from_conv_transpose2d(np.full((1, 1, 1, 1), 3.0), stride=2)
    >>> sub.weight.ravel(), sub.crop
    (array([3., 0., 0., 0.]), ((0, 1), (0, 1)))
    >>> sub(np.ones((1, 2, 2)))
    array([[[3., 0., 3.],
            [0., 0., 0.],
            [3., 0., 3.]]])
    """

    weight: np.ndarray
    bias: np.ndarray | None
    upscale: tuple[int, int]
    padding: tuple[int, int]
    crop: tuple[tuple[int, int], tuple[int, int]]
    groups: int

    def __call__(self, x):
        return subpixel_conv2d(
            x, self.weight, self.bias, self.upscale, self.padding, self.crop, self.groups
        )


def subpixel_from_conv_transpose2d(
    weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """The sub-pixel convolution that computes a given transposed convolution.

    Parameters
    ----------
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        A transposed convolution's weight.
    bias : ndarray, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int
        As in :func:`tconv_lib.conv_transpose2d`.

    Returns
    -------
    SubpixelConv2d
        ``sub(x)`` equals ``conv_transpose2d(x, weight, bias, stride, padding,
        output_padding, groups, dilation)`` for every input ``x``.  Its weight
        has shape ``(C_out * sH * sW, C_in // groups, LH, LW)`` with
        ``LH = floor(dH (kH - 1) / sH) + 1``.

    Notes
    -----
    Shi et al. (2016), "Is the deconvolution layer the same as a
    convolutional layer?": yes.  Channel ``c * sH * sW + rh * sW + rw`` of the
    sub-pixel weight is output channel ``c``'s polyphase sub-kernel for
    phase ``(rh, rw)`` (:func:`tconv_lib.artifacts.polyphase_decompose`), made
    into an ordinary convolution's kernel
    (:func:`tconv_lib.artifacts.conv_weight_from_transposed`).  A full
    convolution (padding ``L - 1``) followed by the pixel shuffle builds the
    transposed convolution's canvas, period by period; the crop removes
    ``padding`` at the start and what lies past the output at the end.  When
    ``output_padding`` asks for more than the canvas holds, ``e`` extra
    periods of padding are added on both sides (and cropped at the start),
    so the extra positions get the bias, as they do in the transposed layer.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    >>> sub = subpixel_from_conv_transpose2d(w, stride=2, padding=1, output_padding=1)
    >>> sub.weight.shape, sub.padding, sub.crop
    ((16, 2, 2, 2), (1, 1), ((1, 1), (1, 1)))
    >>> from tconv_lib import conv_transpose2d
    >>> np.allclose(sub(x), conv_transpose2d(x, w, stride=2, padding=1, output_padding=1))
    True
    """
    weight = as_float_array(weight, "weight")
    if weight.ndim != 4:
        raise ValueError(f"weight must be (C_in, C_out // groups, kH, kW), got shape {weight.shape}")
    c_in, c_out_g, kh, kw = weight.shape
    c_out = c_out_g * groups
    (sh, sw), (dh, dw) = _scale_pair(stride, "stride"), _scale_pair(dilation, "dilation")
    pads, out_pads = ntuple(padding, 2, "padding"), ntuple(output_padding, 2, "output_padding")
    # (C_in, C_out/g, kH, kW) -> (sH, sW, C_in, C_out/g, LH, LW): one sub-kernel per phase
    subs = polyphase_decompose(weight, (sh, sw), (dh, dw))
    lh, lw = subs.shape[-2:]
    # each phase as an ordinary conv weight: (sH, sW, C_out, C_in/g, LH, LW)
    convs = np.stack([
        np.stack([conv_weight_from_transposed(subs[rh, rw], groups) for rw in range(sw)])
        for rh in range(sh)
    ])
    # (sH, sW, C_out, C_in/g, LH, LW) -> (C_out, sH, sW, C_in/g, LH, LW) -> (C_out sH sW, C_in/g, LH, LW)
    sub_weight = convs.transpose(2, 0, 1, 3, 4, 5).reshape(c_out * sh * sw, c_in // groups, lh, lw)
    sub_bias = None if bias is None else np.repeat(as_float_array(bias, "bias"), sh * sw)
    conv_padding, crop = [], []
    for k, s, p, op, d, length in zip((kh, kw), (sh, sw), pads, out_pads, (dh, dw), (lh, lw)):
        # a full convolution gives (n + L - 1) periods of canvas; the output needs
        # (n - 1)s + d(k - 1) + 1 + op - p of them from position p on
        end = length * s + p - d * (k - 1) - 1 - op  # canvas left over past the output
        extra = -(-max(0, -end) // s)  # whole periods of zeros to add when it runs short
        conv_padding.append(length - 1 + extra)
        crop.append((p + extra * s, end + extra * s))
    return SubpixelConv2d(
        weight=sub_weight,
        bias=sub_bias,
        upscale=(sh, sw),
        padding=tuple(conv_padding),
        crop=tuple(crop),
        groups=groups,
    )
