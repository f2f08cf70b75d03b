"""The backward pass of transposed and ordinary convolutions, and how to check one.

A convolution and its transposed convolution are two directions of the same
linear map, and the backward pass makes that visible: each operator's input
gradient *is* the other operator, and both weight gradients are the same
correlation with the roles of input and upstream gradient exchanged.

* ``conv_transpose2d``: ``grad_x = conv2d(grad_output, weight)``;
  ``grad_weight`` correlates, tap by tap, ``x`` with ``grad_output``.
* ``conv2d``: ``grad_x = conv_transpose2d(grad_output, weight)``;
  ``grad_weight`` correlates, tap by tap, ``grad_output`` with ``x``.

Each with the layer's own ``stride``, ``padding``, ``dilation``, ``groups``
and weight array.  The bias gradient is ``grad_output`` summed over the batch
and every position.

The module also has the tools to trust a backward pass: a float64
central-difference :func:`numerical_gradient`, :func:`check_gradients` that
compares an analytic gradient with it and reports the errors, and
:func:`as_torch_function` / :func:`torch_conv_transpose2d`, which put a NumPy
forward and backward (the library's or a student's) inside a PyTorch model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import geometry
from ._checks import as_float_array, conv_args, transposed_args
from .conv import conv2d
from .transposed import conv_transpose2d

__all__ = [
    "conv_transpose1d_backward",
    "conv_transpose2d_backward",
    "conv1d_backward",
    "conv2d_backward",
    "numerical_gradient",
    "check_gradients",
    "GradientCheck",
    "GradientReport",
    "GradientCheckError",
    "as_torch_function",
    "torch_conv_transpose2d",
]


# --------------------------------------------------------------------------------------------
# The shared pieces
# --------------------------------------------------------------------------------------------


def _checked_grad_output(grad_output, a, c_out: int, fname: str) -> np.ndarray:
    """``grad_output`` with a batch axis, after checking it has the forward output's shape."""
    grad_output = as_float_array(grad_output, "grad_output")
    n = a.x.shape[0]
    expected = (c_out, *a.output_size) if a.unbatched else (n, c_out, *a.output_size)
    if grad_output.shape != expected:
        raise ValueError(
            f"{fname}: grad_output must have the shape of the forward output, {expected}, "
            f"got {grad_output.shape}; pass the gradient of the forward pass run with "
            f"this x, weight and the same arguments"
        )
    if grad_output.dtype != a.x.dtype:
        raise TypeError(
            f"x is {a.x.dtype} but grad_output is {grad_output.dtype}; cast both to the same dtype"
        )
    return grad_output[None] if a.unbatched else grad_output


def _tap_correlation(image, coefficients, kernel_size, stride, padding_pairs, dilation, groups):
    """The weight gradient of both operators: one correlation per kernel tap.

    For every tap ``(u, v)`` and every pair of channels of a group::

        out[o, c, u, v] = sum over n, i, j of
            coefficients[n, o, i, j] * image_padded[n, c, i*sH + u*dH, j*sW + v*dW]

    ``coefficients`` is read as a small image whose pixels stand ``sH`` rows
    and ``sW`` columns apart (the stride dilates it), and it slides over the
    padded ``image`` in steps of ``dH`` and ``dW`` (the dilation strides it):
    stride and dilation swap roles compared with the forward pass.

    Parameters
    ----------
    image : ndarray, shape (N, C_img, H_img, W_img)
    coefficients : ndarray, shape (N, C_coef, H_coef, W_coef)
    kernel_size, stride, dilation : (int, int)
    padding_pairs : ((int, int), (int, int))
        Zeros before and after ``image`` along each axis.
    groups : int

    Returns
    -------
    ndarray, shape (C_coef, C_img // groups, kH, kW)
    """
    n, c_img, _, _ = image.shape
    _, c_coef, h_coef, w_coef = coefficients.shape
    kh, kw = kernel_size
    (sh, sw), (dh, dw), g = stride, dilation, groups
    padded = np.pad(image, ((0, 0), (0, 0), *padding_pairs))
    # The footprint of `coefficients` on the image: its pixels s apart.
    footprint = ((h_coef - 1) * sh + 1, (w_coef - 1) * sw + 1)
    # Every placement of that footprint: (N, C_img, placements_h, placements_w, *footprint).
    windows = sliding_window_view(padded, footprint, axis=(2, 3))
    # Tap (u, v) places it at (u dH, v dW); inside it, keep the pixels that
    # meet `coefficients` (every s-th): (N, C_img, kH, kW, H_coef, W_coef).
    windows = windows[:, :, : dh * (kh - 1) + 1 : dh, : dw * (kw - 1) + 1 : dw, ::sh, ::sw]
    # Split channels into groups; only channels of the same group meet.
    windows = windows.reshape(n, g, c_img // g, kh, kw, h_coef, w_coef)
    coefficients = coefficients.reshape(n, g, c_coef // g, h_coef, w_coef)
    # Sum over batch n and positions (i, j): (g, C_coef/g, C_img/g, kH, kW).
    out = np.einsum("ngoij,ngcuvij->gocuv", coefficients, windows, optimize=True)
    return out.reshape(c_coef, c_img // g, kh, kw)


def _to_height_1(a1d) -> dict:
    """The 2D keyword arguments that run validated 1D arguments on a height-1 image."""
    return dict(stride=(1, a1d.stride[0]), dilation=(1, a1d.dilation[0]), groups=a1d.groups)


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------


def conv_transpose2d_backward(
    grad_output, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Gradients of :func:`~tconv_lib.transposed.conv_transpose2d` with respect to all three inputs.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        Gradient of the loss with respect to the forward output; same shape as
        that output and same dtype as ``x``.
    x : ndarray, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
        The forward pass's input.
    weight : ndarray, shape (C_in, C_out // groups, kH, kW)
        The forward pass's weight, PyTorch's transposed layout.
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int
        As in the forward pass.

    Returns
    -------
    grad_x : ndarray, shape of ``x``
    grad_weight : ndarray, shape (C_in, C_out // groups, kH, kW)
    grad_bias : ndarray, shape (C_out,)
        Returned whether or not the forward pass had a bias.

    Raises
    ------
    ValueError
        If ``grad_output`` does not have the forward output's shape, or if the
        forward arguments are invalid (the same messages as the forward pass).
    TypeError
        If ``grad_output``'s dtype is not ``x``'s.

    Notes
    -----
    Forward, input element ``x[n, ci, i, j]`` adds ``x * weight[ci, co, u, v]``
    to output position ``(i sH + u dH - pH, j sW + v dW - pW)``.  Reading that
    sentence backwards gives all three gradients:

    * ``grad_x[n, ci, i, j]`` collects ``weight[ci, co, u, v] * grad_output``
      from every position ``x[n, ci, i, j]`` reached: an ordinary
      convolution of ``grad_output`` with the same weight, stride, padding,
      dilation and groups.  The transposed convolution's input gradient *is*
      the convolution it transposes.
    * ``grad_weight[ci, co, u, v]`` sums ``x[n, ci, i, j] * grad_output`` at
      those positions: for each tap, a correlation of ``x`` with the
      upstream gradient read every ``s``-th position from the tap's offset.
    * ``grad_bias[co]`` sums ``grad_output[:, co]``: the bias reaches every
      position of its channel once.

    Examples
    --------
    The first lecture's 2x2 input and 2x2 kernel of ones, upstream gradient
    ``1`` on the centre of the 3x3 output only: every input element reached
    the centre once, so each gets gradient ``1``.

    >>> x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    >>> g = np.zeros((1, 3, 3)); g[0, 1, 1] = 1.0
    >>> grad_x, grad_weight, grad_bias = conv_transpose2d_backward(g, x, np.ones((1, 1, 2, 2)))
    >>> grad_x
    array([[[1., 1.],
            [1., 1.]]])
    >>> grad_weight  # tap (u, v) carried x[1 - u, 1 - v] to the centre
    array([[[[4., 3.],
             [2., 1.]]]])
    >>> grad_bias
    array([1.])
    """
    a = transposed_args(
        x, weight, None, stride, padding, output_padding, groups, dilation,
        nd=2, fname="conv_transpose2d_backward",
    )
    c_out = a.weight.shape[1] * a.groups
    grad_output = _checked_grad_output(grad_output, a, c_out, "conv_transpose2d_backward")
    h_in, w_in = a.x.shape[2:]

    # 1. Input gradient: the forward convolution this operator transposes.
    #    The weight (C_in, C_out/g, kH, kW) is read by conv2d as (C_out', C_in'/g, kH, kW)
    #    with C_out' = C_in: (N, C_out, H_out, W_out) -> (N, C_in, H_in + extra, W_in + extra).
    #    With output_padding >= stride (allowed when dilation is larger), conv2d
    #    reaches rows that x does not have: `extra = output_padding // stride`.
    #    They would be the gradient of rows that do not exist, so they are cut.
    grad_x = conv2d(
        grad_output, a.weight, stride=a.stride, padding=a.padding, dilation=a.dilation, groups=a.groups
    )[:, :, :h_in, :w_in]

    # 2. Weight gradient: tap (u, v) of weight[ci, co] carried x[n, ci, i, j] to output
    #    position (i sH + u dH - pH, j sW + v dW - pW), so grad_weight[ci, co, u, v] is
    #        the sum over n, i, j of  x[n, ci, i, j] * grad_output[n, co, i sH + u dH - pH, j sW + v dW - pW]
    #    conv2d's weight gradient with the roles of x and grad_output swapped:
    #    grad_output (N, C_out, H_out, W_out) is the image, x (N, C_in, H_in, W_in) the
    #    coefficients -> (C_in, C_out/g, kH, kW), which is exactly the transposed layout.
    padding_pairs = tuple((p, p) for p in a.padding)
    grad_weight = _tap_correlation(
        grad_output, a.x, a.kernel_size, a.stride, padding_pairs, a.dilation, a.groups
    )

    # 3. Bias gradient: (N, C_out, H_out, W_out) -> (C_out,)
    grad_bias = grad_output.sum(axis=(0, 2, 3))

    if a.unbatched:
        grad_x = grad_x[0]
    return np.ascontiguousarray(grad_x), grad_weight, grad_bias


def conv_transpose1d_backward(
    grad_output, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """Gradients of :func:`~tconv_lib.transposed.conv_transpose1d` with respect to all three inputs.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, L_out) or (C_out, L_out)
    x : ndarray, shape (N, C_in, L_in) or (C_in, L_in)
    weight : ndarray, shape (C_in, C_out // groups, k)
    stride, padding, output_padding, groups, dilation : int

    Returns
    -------
    grad_x : ndarray, shape of ``x``
    grad_weight : ndarray, shape (C_in, C_out // groups, k)
    grad_bias : ndarray, shape (C_out,)

    Notes
    -----
    Runs :func:`conv_transpose2d_backward` on a height-1 image.

    Examples
    --------
    A length-2 signal, kernel ``[1, 1, 1]``, stride 2: output ``[1, 1, 11, 10, 10]``.
    Only position 2, where the stamps overlap, passes gradient back here.

    >>> x, weight = np.array([[1.0, 10.0]]), np.ones((1, 1, 3))
    >>> grad_x, grad_weight, grad_bias = conv_transpose1d_backward(
    ...     np.array([[0.0, 0, 1, 0, 0]]), x, weight, stride=2)
    >>> grad_x
    array([[1., 1.]])
    >>> grad_weight  # tap 2 carried x[0] there, tap 0 carried x[1]
    array([[[10.,  0.,  1.]]])
    """
    fname = "conv_transpose1d_backward"
    a = transposed_args(
        x, weight, None, stride, padding, output_padding, groups, dilation, nd=1, fname=fname
    )
    grad_output = _checked_grad_output(grad_output, a, a.weight.shape[1] * a.groups, fname)
    grad_x, grad_weight, grad_bias = conv_transpose2d_backward(
        grad_output[:, :, None, :],
        a.x[:, :, None, :],
        a.weight[:, :, None, :],
        padding=(0, a.padding[0]),
        output_padding=(0, a.output_padding[0]),
        **_to_height_1(a),
    )
    grad_x = grad_x[:, :, 0, :]
    return grad_x[0] if a.unbatched else grad_x, grad_weight[:, :, 0, :], grad_bias


# --------------------------------------------------------------------------------------------
# Ordinary convolution
# --------------------------------------------------------------------------------------------


def conv2d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`~tconv_lib.conv.conv2d` with respect to all three inputs.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        Gradient of the loss with respect to the forward output.
    x : ndarray, shape (N, C_in, H, W) or (C_in, H, W)
    weight : ndarray, shape (C_out, C_in // groups, kH, kW)
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
        As in the forward pass; ``'same'`` is supported, its uneven split
        included (see Notes).
    groups : int

    Returns
    -------
    grad_x : ndarray, shape of ``x``
    grad_weight : ndarray, shape (C_out, C_in // groups, kH, kW)
    grad_bias : ndarray, shape (C_out,)

    Notes
    -----
    The input gradient is the transposed convolution with the same weight,
    stride, padding, dilation and groups, plus the ``output_padding`` that
    brings it back to exactly ``H``: a stride-``s`` convolution reads only
    ``(H_out - 1) s + d(k - 1) + 1`` of the ``H + 2p`` padded rows and never
    sees the remaining ``r = (H + 2p - d(k - 1) - 1) mod s``, so their
    gradient is zero, and ``output_padding = r`` appends exactly those zero
    rows (:func:`tconv_lib.geometry.output_padding_for` finds it).

    ``padding='same'`` with an even effective kernel pads one more zero at the
    end than at the start.  ``conv_transpose2d`` crops the same amount from
    both ends, so it runs with the smaller amount and the result loses its
    last row (or column) afterwards.

    The weight gradient correlates, for each tap, the padded input with the
    upstream gradient spread ``s`` apart; the bias gradient sums
    ``grad_output`` over batch and positions.

    Examples
    --------
    A 3x3 input, a 2x2 kernel, stride 2: the forward pass reads the top-left
    2x2 block only, so the last row and column get no gradient.

    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> grad_x, grad_weight, grad_bias = conv2d_backward(
    ...     np.ones((1, 1, 1)), x, np.ones((1, 1, 2, 2)), stride=2)
    >>> grad_x
    array([[[1., 1., 0.],
            [1., 1., 0.],
            [0., 0., 0.]]])
    >>> grad_weight
    array([[[[0., 1.],
             [3., 4.]]]])
    """
    a = conv_args(x, weight, None, stride, padding, dilation, groups, nd=2, fname="conv2d_backward")
    c_out = a.weight.shape[0]
    grad_output = _checked_grad_output(grad_output, a, c_out, "conv2d_backward")
    h, w = a.x.shape[2:]

    # 1. Input gradient: the transposed convolution with the same weight.
    #    The weight (C_out, C_in/g, kH, kW) is read by conv_transpose2d as
    #    (C_in', C_out'/g, kH, kW) with C_in' = C_out: (N, C_out, H_out, W_out) -> (N, C_in, H, W).
    #    It crops `before` from both ends; 'same' may have padded one more at the end (`after`),
    #    so aim for H + (after - before) and drop that last row below.
    #    Why output_padding always suffices: the rows conv2d never read number
    #    r = (H + 2p - span) % s < s <= max(stride, dilation), the limit torch puts
    #    on output_padding, so no extra zero padding of the result is ever needed.
    output_padding = tuple(
        geometry.output_padding_for(n_out, size + after - before, k, s, before, d)
        for n_out, size, (before, after), k, s, d in zip(
            a.output_size, (h, w), a.padding_pairs, a.kernel_size, a.stride, a.dilation
        )
    )
    grad_x = conv_transpose2d(
        grad_output, a.weight, stride=a.stride, padding=a.padding, output_padding=output_padding,
        groups=a.groups, dilation=a.dilation,
    )[:, :, :h, :w]

    # 2. Weight gradient: at output (i, j), tap (u, v) of weight[co, ci] met
    #    x_padded[n, ci, i sH + u dH, j sW + v dW], so grad_weight[co, ci, u, v] is
    #        the sum over n, i, j of  grad_output[n, co, i, j] * x_padded[n, ci, i sH + u dH, j sW + v dW]
    #    x (N, C_in, H, W) is the image, grad_output (N, C_out, H_out, W_out) the
    #    coefficients -> (C_out, C_in/g, kH, kW), conv2d's layout.
    grad_weight = _tap_correlation(
        a.x, grad_output, a.kernel_size, a.stride, a.padding_pairs, a.dilation, a.groups
    )

    # 3. Bias gradient: (N, C_out, H_out, W_out) -> (C_out,)
    grad_bias = grad_output.sum(axis=(0, 2, 3))

    if a.unbatched:
        grad_x = grad_x[0]
    return np.ascontiguousarray(grad_x), grad_weight, grad_bias


def conv1d_backward(grad_output, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`~tconv_lib.conv.conv1d` with respect to all three inputs.

    Parameters
    ----------
    grad_output : ndarray, shape (N, C_out, L_out) or (C_out, L_out)
    x : ndarray, shape (N, C_in, L) or (C_in, L)
    weight : ndarray, shape (C_out, C_in // groups, k)
    stride, dilation, groups : int
    padding : int, 'valid' or 'same'

    Returns
    -------
    grad_x : ndarray, shape of ``x``
    grad_weight : ndarray, shape (C_out, C_in // groups, k)
    grad_bias : ndarray, shape (C_out,)

    Notes
    -----
    Runs :func:`conv2d_backward` on a height-1 image.

    Examples
    --------
    The algebra chapter's length-5 signal, kernel ``[1, 0, -1]``, stride 2,
    padding 1; upstream gradient 1 on the middle output only.

    >>> x = np.array([[1.0, 2, 3, 4, 5]])
    >>> grad_x, grad_weight, grad_bias = conv1d_backward(
    ...     np.array([[0.0, 1, 0]]), x, np.array([[[1.0, 0, -1]]]), stride=2, padding=1)
    >>> grad_x  # the middle output is x[1] - x[3]
    array([[ 0.,  1.,  0., -1.,  0.]])
    >>> grad_weight
    array([[[2., 3., 4.]]])
    """
    fname = "conv1d_backward"
    a = conv_args(x, weight, None, stride, padding, dilation, groups, nd=1, fname=fname)
    grad_output = _checked_grad_output(grad_output, a, a.weight.shape[0], fname)
    grad_x, grad_weight, grad_bias = conv2d_backward(
        grad_output[:, :, None, :],
        a.x[:, :, None, :],
        a.weight[:, :, None, :],
        padding=padding if isinstance(padding, str) else (0, a.padding[0]),
        **_to_height_1(a),
    )
    grad_x = grad_x[:, :, 0, :]
    return grad_x[0] if a.unbatched else grad_x, grad_weight[:, :, 0, :], grad_bias


# --------------------------------------------------------------------------------------------
# Numerical gradients and gradient checks
# --------------------------------------------------------------------------------------------


def numerical_gradient(f, *arrays, wrt=0, grad_output=None, eps=1e-6):
    """Gradient by central differences, in float64.

    The loss differentiated is ``sum(f(*arrays) * grad_output)``: the number
    whose gradient a backward pass computes when ``grad_output`` arrives from
    above.  Without ``grad_output`` it is ``sum(f(*arrays))``, the gradient of
    ``f`` itself when ``f`` returns a scalar.

    Parameters
    ----------
    f : callable
        Maps the arrays, in order, to a scalar or an array.  Fix every other
        argument (``stride``, a ``bias=None``, ...) with a ``lambda``.
    *arrays : array_like
        The arguments of ``f``.  They are copied to float64; ``f`` sees only
        the copies.
    wrt : int or tuple of int
        Which arguments to differentiate with respect to, by position.
    grad_output : array_like, optional
        The upstream gradient, shape of ``f``'s output.  Default: ones.
    eps : float
        Step of the central difference ``(L(a + eps) - L(a - eps)) / (2 eps)``.

    Returns
    -------
    ndarray or tuple of ndarray
        float64, the shape of ``arrays[wrt]``; a tuple of them, in the order
        of ``wrt``, when ``wrt`` is a tuple.

    Notes
    -----
    Two evaluations of ``f`` per array element: use small arrays.  A
    convolution is linear in each argument, so the central difference has no
    truncation error there; what remains is rounding, about
    ``1e-16 * |L| / eps``.

    Examples
    --------
    >>> numerical_gradient(lambda a: (a ** 2).sum(), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])

    The input gradient of a transposed convolution under an upstream gradient:

    >>> from tconv_lib import conv_transpose1d
    >>> x, w = np.array([[1.0, 10.0]]), np.ones((1, 1, 3))
    >>> numerical_gradient(lambda x: conv_transpose1d(x, w, stride=2), x,
    ...                    grad_output=np.array([[0.0, 0, 1, 0, 0]])).round(6)
    array([[1., 1.]])
    """
    arrays = [np.array(arr, dtype=np.float64, order="C") for arr in arrays]  # copies we may perturb
    upstream = None if grad_output is None else np.asarray(grad_output, dtype=np.float64)

    def loss() -> float:
        out = np.asarray(f(*arrays), dtype=np.float64)
        if upstream is None:
            return float(out.sum())
        if out.shape != upstream.shape:
            raise ValueError(
                f"grad_output has shape {upstream.shape} but f returns shape {out.shape}; "
                f"give grad_output the shape of f's output"
            )
        return float(np.vdot(out, upstream))

    positions = (wrt,) if isinstance(wrt, (int, np.integer)) else tuple(wrt)
    for index in positions:
        if not -len(arrays) <= index < len(arrays):
            raise ValueError(f"wrt={wrt} names argument {index}, but f gets {len(arrays)} arrays")
    grads = []
    for index in positions:
        values = arrays[index].reshape(-1)  # a view: writing into it changes what f sees
        grad = np.zeros(values.size)
        for i in range(values.size):
            original = values[i]
            values[i] = original + eps
            plus = loss()
            values[i] = original - eps
            minus = loss()
            values[i] = original
            grad[i] = (plus - minus) / (2 * eps)
        grads.append(grad.reshape(arrays[index].shape))
    return grads[0] if isinstance(wrt, (int, np.integer)) else tuple(grads)


@dataclass(frozen=True)
class GradientCheck:
    """One row of a :class:`GradientReport`: how one argument's gradient fared.

    Attributes
    ----------
    name : str
    shape : tuple of int
        Shape of the argument.
    max_abs_error : float
        ``max |analytic - numerical|``; ``inf`` for a gradient of the wrong shape.
    max_rel_error : float
        The same error divided by the largest ``|numerical|``, the gradient's
        scale (elementwise ratios blow up on entries that should be zero).
    passed : bool
        Whether ``|analytic - numerical| <= atol + rtol * |numerical|`` everywhere.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass(frozen=True)
class GradientReport:
    """What :func:`check_gradients` found: one :class:`GradientCheck` per checked argument.

    ``report.ok`` says whether all passed; ``str(report)`` is a table.
    """

    checks: tuple[GradientCheck, ...]
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        """True when every checked gradient passed."""
        return all(check.passed for check in self.checks)

    def __str__(self) -> str:
        failed = [check.name for check in self.checks if not check.passed]
        if failed:
            title = f"gradient check FAILED for {', '.join(failed)}"
        else:
            title = f"gradient check passed for {', '.join(c.name for c in self.checks)}"
        width = max([len("argument")] + [len(check.name) for check in self.checks])
        lines = [
            f"{title} (rtol={self.rtol:g}, atol={self.atol:g})",
            f"  {'argument':<{width}}  {'shape':<16}  max abs error  max rel error  ok",
        ]
        for c in self.checks:
            lines.append(
                f"  {c.name:<{width}}  {str(c.shape):<16}  {c.max_abs_error:<13.2e}  "
                f"{c.max_rel_error:<13.2e}  {'yes' if c.passed else 'NO'}"
            )
        return "\n".join(lines)


class GradientCheckError(AssertionError):
    """Raised by :func:`check_gradients` when a gradient is wrong; the message is the report."""


def _compare(name, analytic, numerical, rtol, atol) -> GradientCheck:
    """One argument's analytic gradient against its numerical one."""
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numerical.shape:
        return GradientCheck(name, numerical.shape, np.inf, np.inf, False)
    error = np.abs(analytic - numerical)
    max_abs = float(error.max(initial=0.0))
    scale = float(np.abs(numerical).max(initial=0.0))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    passed = bool(np.all(error <= atol + rtol * np.abs(numerical)))
    return GradientCheck(name, numerical.shape, max_abs, max_rel, passed)


def check_gradients(
    f, arrays, analytic, grad_output=None, *, names=None, eps=1e-6, rtol=1e-6, atol=1e-6,
    raise_on_failure=True,
):
    """Compare analytic gradients with :func:`numerical_gradient`, argument by argument.

    Parameters
    ----------
    f : callable
        The forward function, ``f(*arrays)`` -> scalar or array.
    arrays : sequence of array_like
        The arguments of ``f``.
    analytic : sequence of (array_like or None)
        One gradient per argument of ``f``, e.g. what a backward function
        returned for ``grad_output``; ``None`` skips that argument.
    grad_output : array_like, optional
        The upstream gradient the analytic gradients were computed for; shape
        of ``f``'s output.  Default: ones.
    names : sequence of str, optional
        Names for the report; default ``arg0, arg1, ...``.
    eps : float
        Step of the central differences.
    rtol, atol : float
        An entry passes when ``|analytic - numerical| <= atol + rtol * |numerical|``.
    raise_on_failure : bool
        Raise :class:`GradientCheckError` (an ``AssertionError``) with the
        report as its message when a gradient fails; otherwise just return
        the report.

    Returns
    -------
    GradientReport
        ``report.ok`` says whether all passed; ``print(report)`` shows a table.

    Examples
    --------
    >>> from tconv_lib import conv_transpose2d
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 1, 3, 3))
    >>> f = lambda x, w: conv_transpose2d(x, w, stride=2)
    >>> g = rng.standard_normal(f(x, w).shape)
    >>> grad_x, grad_w, _ = conv_transpose2d_backward(g, x, w, stride=2)
    >>> report = check_gradients(f, (x, w), (grad_x, grad_w), g, names=("x", "weight"))
    >>> report.ok
    True
    >>> print(report)  # doctest: +ELLIPSIS
    gradient check passed for x, weight (rtol=1e-06, atol=1e-06)
      argument  shape             max abs error  max rel error  ok
      x         (1, 2, 2)         ...            ...            yes
      weight    (1, 1, 3, 3)      ...            ...            yes
    """
    arrays, analytic = tuple(arrays), tuple(analytic)
    if len(analytic) != len(arrays):
        raise ValueError(
            f"got {len(analytic)} analytic gradients for {len(arrays)} arrays; "
            f"give one per argument of f, None to skip one"
        )
    names = tuple(names) if names is not None else tuple(f"arg{i}" for i in range(len(arrays)))
    if len(names) != len(arrays):
        raise ValueError(f"got {len(names)} names for {len(arrays)} arrays; give one name per argument")
    checked = tuple(i for i, grad in enumerate(analytic) if grad is not None)
    numerical = numerical_gradient(f, *arrays, wrt=checked, grad_output=grad_output, eps=eps)
    report = GradientReport(
        tuple(_compare(names[i], analytic[i], num, rtol, atol) for i, num in zip(checked, numerical)),
        rtol=rtol,
        atol=atol,
    )
    if raise_on_failure and not report.ok:
        raise GradientCheckError(str(report))
    return report


# --------------------------------------------------------------------------------------------
# The bridge to PyTorch's autograd
# --------------------------------------------------------------------------------------------


@functools.cache
def _numpy_function_class():
    """A :class:`torch.autograd.Function` that runs a NumPy forward and backward.

    Built on first use, so that importing this module does not import torch.
    """
    import torch
    from torch.autograd.function import once_differentiable

    def to_numpy(tensor):
        return None if tensor is None else tensor.detach().cpu().numpy()

    def to_tensor(array, like):
        """A NumPy result as a tensor of ``like``'s dtype, on ``like``'s device."""
        return torch.tensor(np.ascontiguousarray(array), dtype=like.dtype, device=like.device)

    class NumpyConvFunction(torch.autograd.Function):
        """``forward(x, weight, bias, **params)`` and ``backward(grad_output, x, weight, **params)``."""

        @staticmethod
        def forward(ctx, x, weight, bias, forward, backward, params):
            ctx.save_for_backward(x, weight)
            ctx.backward_fn, ctx.params, ctx.has_bias = backward, params, bias is not None
            out = forward(to_numpy(x), to_numpy(weight), to_numpy(bias), **params)
            return to_tensor(out, like=x)

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_output):
            x, weight = ctx.saved_tensors
            grad_x, grad_weight, grad_bias = ctx.backward_fn(
                to_numpy(grad_output), to_numpy(x), to_numpy(weight), **ctx.params
            )
            need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
            return (
                to_tensor(grad_x, like=x) if need_x else None,
                to_tensor(grad_weight, like=weight) if need_weight else None,
                to_tensor(grad_bias, like=weight) if ctx.has_bias and need_bias else None,
                None,  # forward
                None,  # backward
                None,  # params
            )

    return NumpyConvFunction


def as_torch_function(forward, backward):
    """Turn a NumPy forward and backward into a function PyTorch can differentiate.

    Parameters
    ----------
    forward : callable
        ``forward(x, weight, bias, **params) -> out`` on NumPy arrays, e.g.
        :func:`~tconv_lib.transposed.conv_transpose2d` or a student's version.
    backward : callable
        ``backward(grad_output, x, weight, **params) -> (grad_x, grad_weight, grad_bias)``
        on NumPy arrays, e.g. :func:`conv_transpose2d_backward`.

    Returns
    -------
    callable
        ``apply(x, weight, bias=None, **params) -> torch.Tensor`` taking
        tensors.  The result has a ``grad_fn``, so it can sit inside a torch
        model and train: ``loss.backward()`` calls ``backward``.

    Notes
    -----
    Tensors are detached and copied to the CPU for NumPy; results come back
    with the dtype and device of ``x`` (of ``weight`` for the parameter
    gradients).  The NumPy code sees float32 or float64 arrays.  Second
    derivatives are not supported.

    Examples
    --------
    >>> import torch
    >>> from tconv_lib import conv_transpose1d
    >>> layer = as_torch_function(conv_transpose1d, conv_transpose1d_backward)
    >>> x = torch.tensor([[1.0, 10.0]], dtype=torch.float64)
    >>> w = torch.ones(1, 1, 3, dtype=torch.float64, requires_grad=True)
    >>> y = layer(x, w, stride=2)
    >>> y
    tensor([[ 1.,  1., 11., 10., 10.]], dtype=torch.float64, grad_fn=<NumpyConvFunctionBackward>)
    >>> y[0, 2].backward()
    >>> w.grad
    tensor([[[10.,  0.,  1.]]], dtype=torch.float64)
    """
    function = _numpy_function_class()

    def apply(x, weight, bias=None, **params):
        return function.apply(x, weight, bias, forward, backward, params)

    return apply


def torch_conv_transpose2d(
    x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
    *, forward=None, backward=None,
):
    """:func:`torch.nn.functional.conv_transpose2d`, computed by NumPy code.

    Parameters
    ----------
    x : torch.Tensor, shape (N, C_in, H_in, W_in) or (C_in, H_in, W_in)
    weight : torch.Tensor, shape (C_in, C_out // groups, kH, kW)
    bias : torch.Tensor, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int
    forward : callable, optional
        A NumPy transposed convolution with the signature of
        :func:`~tconv_lib.transposed.conv_transpose2d` (the default).
    backward : callable, optional
        Its gradients, with the signature of :func:`conv_transpose2d_backward`
        (the default).

    Returns
    -------
    torch.Tensor, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        Dtype and device of ``x``, with a ``grad_fn`` that calls ``backward``.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    >>> w = torch.ones(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    >>> y = torch_conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    >>> y.shape
    torch.Size([1, 1, 4, 4])
    >>> y.sum().backward()  # padding=1 cropped what tap 0 carried from row and column 0
    >>> w.grad[0, 0]
    tensor([[1., 2., 2.],
            [2., 4., 4.],
            [2., 4., 4.]], dtype=torch.float64)
    """
    apply = as_torch_function(forward or conv_transpose2d, backward or conv_transpose2d_backward)
    return apply(
        x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
        groups=groups, dilation=dilation,
    )
