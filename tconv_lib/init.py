"""Fan-in, fan-out and variance-preserving initialisation of transposed convolutions.

Xavier and He initialisation choose the weights' variance so that a layer
neither grows nor shrinks the second moment of what flows through it.  An
output ``y`` that sums ``fan_in`` products of independent, zero-mean weights
and inputs has

    E[y**2] = fan_in * Var(w) * E[x**2],

and the gradient of one input, which sums ``fan_out`` products of weights and
upstream gradients, has ``E[gx**2] = fan_out * Var(w) * E[gy**2]``.  He et al.
(2015) preserve either pass: ``Var(w) = gain**2 / fan_in`` (``mode='fan_in'``)
keeps the activations' second moment, ``gain**2 / fan_out``
(``mode='fan_out'``) the gradients'.  The other pass is then multiplied by
``fan_out / fan_in`` or ``fan_in / fan_out`` per layer
(:func:`second_moment_factors`).

A transposed convolution with weight ``(C_in, C_out // g, *kernel)`` and
stride ``s`` counts

* ``fan_in = C_in/g * prod(k / s)`` (:func:`effective_fan_in`): an output
  receives ``k / s`` taps per axis on average, not ``k``;
* ``fan_out = C_out/g * prod(k)``: every input stamps its whole kernel into
  every output channel of its group.

So ``fan_in / fan_out = C_in / (C_out * prod(s))``: both passes are preserved
together only when ``C_in = C_out * prod(s)``.  PyTorch's
``torch.nn.init._calculate_fan_in_and_fan_out`` (:func:`torch_fan_in_fan_out`)
reads axis 1 of any weight as the fan-in: for a transposed weight that is
``C_out/g * prod(k)``, this layer's fan-out, so ``kaiming_*_`` with its
default ``mode='fan_in'`` preserves the *gradients* of a transposed layer.
Its ``mode='fan_out'`` reads ``C_in * prod(k)``, which is neither count.

This module computes both counts, PyTorch's and the layer's, and offers
both of He's modes under PyTorch's names, meaning what PyTorch's
documentation says they mean: ``mode='fan_in'`` preserves the forward
pass, ``mode='fan_out'`` the backward pass.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import ntuple
from .artifacts import coverage_period

__all__ = [
    "torch_fan_in_fan_out",
    "fan_in_fan_out",
    "effective_fan_in",
    "second_moment_factors",
    "calculate_gain",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
]


def torch_fan_in_fan_out(weight_shape) -> tuple[int, int]:
    """What PyTorch calls fan-in and fan-out of a weight, whatever the layer.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(dim0, dim1, *kernel)``, at least 2 axes.

    Returns
    -------
    (int, int)
        ``(dim1 * prod(kernel), dim0 * prod(kernel))``, exactly
        ``torch.nn.init._calculate_fan_in_and_fan_out``.

    Notes
    -----
    Right for an ordinary convolution, whose weight is ``(C_out, C_in // g, *kernel)``:
    ``C_in/g * prod(kernel)`` products reach each output.  For a transposed
    convolution, whose weight is ``(C_in, C_out // g, *kernel)``, the same
    rule reads the layer backwards: the "fan_in" it returns is
    ``C_out/g * prod(kernel)``, the number of outputs each input element
    reaches (the layer's fan-out), and the "fan_out" is the stride-1, no-group
    count of products per output (the layer's fan-in only when stride and
    groups are 1).  ``nn.ConvTranspose2d.reset_parameters`` and
    ``torch.nn.init.kaiming_*_(mode='fan_in')`` use this "fan_in".

    Examples
    --------
    A decoder layer 32 -> 16 channels, 4x4 kernel:

    >>> torch_fan_in_fan_out((32, 16, 4, 4))
    (256, 512)
    """
    shape = tuple(int(n) for n in weight_shape)
    if len(shape) < 2:
        raise ValueError(f"fan-in and fan-out need a weight with at least 2 axes, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def effective_fan_in(kernel_size, stride, c_in: int, dilation=1) -> float:
    """Products ``x * w`` that reach one output position of a transposed convolution, on average.

    Parameters
    ----------
    kernel_size : int or tuple of int
        Taps per axis; its length sets the number of axes (an int is one axis).
    stride : int or tuple of int
        An int applies to every axis.
    c_in : int
        Input channels each output channel reads: ``C_in // groups``.
    dilation : int or tuple of int
        Spacing of the taps.  It moves taps between phases but does not
        change the average.

    Returns
    -------
    float
        ``c_in * prod(k_i / s_i)``, the mean over output positions away from
        the borders.

    Notes
    -----
    Along one axis, output positions with the same phase ``o mod s`` receive
    the same number of taps; over the ``s`` phases the counts add up to ``k``
    (each tap lands on one phase), so the mean is ``k / s``.  Positions of
    different phases receive different counts when ``s`` does not divide
    ``k`` (the variance behind checkerboard artifacts, see
    :mod:`tconv_lib.artifacts`); with ``k < s`` some receive none.
    Positions near the borders, where the padding cropped some stamps or where
    fewer inputs overlap, receive fewer.

    Examples
    --------
    DCGAN's 4x4 kernel with stride 2: each output receives 2 x 2 taps per input channel.

    >>> effective_fan_in((4, 4), stride=2, c_in=32)
    128.0

    A 3x3 kernel with stride 2 gives 1.5 taps per axis on average (2 or 1 per phase):

    >>> effective_fan_in((3, 3), stride=2, c_in=1)
    2.25
    """
    kernel_size = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    nd = len(kernel_size)
    stride, dilation = ntuple(stride, nd, "stride"), ntuple(dilation, nd, "dilation")
    taps_per_axis = [
        float(np.mean(coverage_period(k, s, d))) for k, s, d in zip(kernel_size, stride, dilation)
    ]
    return c_in * math.prod(taps_per_axis)


def fan_in_fan_out(weight_shape, transposed=True, stride=1, groups=1) -> tuple[float, float]:
    """The fan-in and fan-out a convolution layer actually has, per position.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, *kernel)`` when ``transposed`` (PyTorch's
        transposed layout), ``(C_out, C_in // groups, *kernel)`` otherwise.
    transposed : bool
        Whether the weight belongs to a transposed convolution.
    stride : int or tuple of int
    groups : int

    Returns
    -------
    (float, float)
        ``fan_in``: products that reach one output position (the forward
        pass's sum), averaged over positions away from the borders.
        ``fan_out``: products that reach the gradient of one input position
        (the backward pass's sum), averaged the same way.

    Notes
    -----
    For a transposed convolution (weight ``(C_in, C_out/g, k...)``):

    * ``fan_in = C_in/g * prod(k / s)``: :func:`effective_fan_in`.  Axis 0 of
      the weight, divided by the stride.
    * ``fan_out = C_out/g * prod(k)``: every input element stamps its whole
      kernel into each output channel of its group.  Axis 1 of the weight.

    For an ordinary convolution (weight ``(C_out, C_in/g, k...)``) the roles
    swap: ``fan_in = C_in/g * prod(k)`` and ``fan_out = C_out/g * prod(k / s)``,
    because its backward pass is a transposed convolution.

    PyTorch (:func:`torch_fan_in_fan_out`) always takes axis 1 as fan-in, which
    is this function's fan-in for an ordinary convolution but its **fan-out**
    for a transposed one.

    Examples
    --------
    A decoder layer 32 -> 16 channels, 4x4 kernel, stride 2:

    >>> fan_in_fan_out((32, 16, 4, 4), stride=2)
    (128.0, 256.0)
    >>> torch_fan_in_fan_out((32, 16, 4, 4))  # its "fan_in" is the layer's fan-out
    (256, 512)
    """
    shape = tuple(int(n) for n in weight_shape)
    if len(shape) < 3:
        raise ValueError(
            f"a convolution weight has at least 3 axes (channels, channels, kernel), got shape {shape}"
        )
    if shape[0] % groups != 0:
        raise ValueError(f"weight_shape[0]={shape[0]} must be divisible by groups={groups}")
    kernel_size = shape[2:]
    if transposed:
        c_in_g, c_out_g = shape[0] // groups, shape[1]
        return effective_fan_in(kernel_size, stride, c_in_g), float(c_out_g * math.prod(kernel_size))
    c_out_g, c_in_g = shape[0] // groups, shape[1]
    return float(c_in_g * math.prod(kernel_size)), effective_fan_in(kernel_size, stride, c_out_g)


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor ``gain`` with ``Var(w) = gain**2 / fan`` for a nonlinearity, as PyTorch's.

    Parameters
    ----------
    nonlinearity : str
        ``'linear'``, ``'conv1d'``, ``'conv2d'``, ``'conv_transpose1d'``,
        ``'conv_transpose2d'``, ``'sigmoid'`` (all 1), ``'tanh'`` (5/3),
        ``'relu'`` (sqrt 2), ``'leaky_relu'``, ``'selu'`` (3/4).
    param : float, optional
        The negative slope of ``'leaky_relu'``; default 0.01.

    Returns
    -------
    float

    Notes
    -----
    ReLU zeroes half of a symmetric input, so ``E[relu(x)**2] = Var(x) / 2``:
    the next layer needs twice the weight variance, ``gain = sqrt(2)``.  A
    leaky ReLU with slope ``a`` keeps ``(1 + a**2) / 2`` of it.

    Examples
    --------
    >>> calculate_gain("relu")
    1.4142135623730951
    >>> calculate_gain("leaky_relu", 0.2)
    1.3867504905630728
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"unsupported nonlinearity {nonlinearity!r}; use one of 'linear', 'sigmoid', 'tanh', "
        f"'relu', 'leaky_relu', 'selu'"
    )


def second_moment_factors(
    weight_shape, weight_var, *, stride=1, groups=1, transposed=True, nonlinearity="relu", param=None
) -> tuple[float, float]:
    """How much one layer, followed by its nonlinearity, multiplies the forward and backward second moments.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, *kernel)`` when ``transposed`` (default),
        ``(C_out, C_in // groups, *kernel)`` otherwise.
    weight_var : float
        ``Var(w)`` of independent, zero-mean weights.
    stride : int or tuple of int
    groups : int
    transposed : bool
    nonlinearity : str
        What follows the layer, as in :func:`calculate_gain`; ``'relu'``
        keeps half of the second moment in both directions.
    param : float, optional
        The negative slope of ``'leaky_relu'``.

    Returns
    -------
    (float, float)
        ``(forward, backward)``: ``fan_in * Var(w) / gain**2`` multiplies
        ``E[a**2]`` of the activations from one layer's input to the next's,
        and ``fan_out * Var(w) / gain**2`` multiplies ``E[g**2]`` of the
        gradients from one layer's output back to its input, with the fans of
        :func:`fan_in_fan_out`, averaged away from the borders.  Their ratio
        is ``fan_in / fan_out``, ``C_in / (C_out * prod(s))`` for a transposed
        layer, whatever the weights.

    Notes
    -----
    He initialisation with ``mode='fan_in'`` makes ``forward = 1`` and
    ``backward = fan_out / fan_in``; with ``mode='fan_out'``, ``backward = 1``
    and ``forward = fan_in / fan_out``.  Over ``L`` layers the factors
    multiply.  (Both assume the ReLU's mask halves the second moment, which
    holds for inputs symmetric about zero.)

    Examples
    --------
    32 -> 32 channels, 4x4 kernel, stride 2: He's ``fan_in`` mode keeps the
    activations and multiplies the gradients by ``s**2 = 4`` per layer.

    >>> fan_in, fan_out = fan_in_fan_out((32, 32, 4, 4), stride=2)
    >>> [round(f, 6) for f in second_moment_factors((32, 32, 4, 4), 2 / fan_in, stride=2)]
    [1.0, 4.0]

    PyTorch's ``kaiming_normal_`` (``2 / 512``, its "fan_in" is the layer's fan-out):

    >>> [round(f, 6) for f in second_moment_factors((32, 32, 4, 4), 2 / 512, stride=2)]
    [0.25, 1.0]
    """
    fan_in, fan_out = fan_in_fan_out(weight_shape, transposed, stride, groups)
    gain2 = calculate_gain(nonlinearity, param) ** 2
    return fan_in * weight_var / gain2, fan_out * weight_var / gain2


def _sample(weight_shape, std: float, distribution: str, dtype, rng) -> np.ndarray:
    """Zero-mean weights with standard deviation ``std``."""
    rng = np.random.default_rng(rng)
    shape = tuple(int(n) for n in weight_shape)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std  # U(-b, b) has variance b**2 / 3
        weights = rng.uniform(-bound, bound, size=shape)
    else:
        weights = rng.normal(0.0, std, size=shape)
    return weights.astype(dtype)


def _xavier(weight_shape, gain, stride, groups, transposed, dtype, rng, distribution):
    fan_in, fan_out = fan_in_fan_out(weight_shape, transposed, stride, groups)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _sample(weight_shape, std, distribution, dtype, rng)


def _kaiming(weight_shape, a, mode, nonlinearity, stride, groups, transposed, dtype, rng, distribution):
    fan_in, fan_out = fan_in_fan_out(weight_shape, transposed, stride, groups)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _sample(weight_shape, std, distribution, dtype, rng)


_SHARED_PARAMETERS = """stride : int or tuple of int
        The layer's stride; it thins a transposed layer's fan-in (see
        :func:`effective_fan_in`).
    groups : int
    transposed : bool
        Whether ``weight_shape`` is a transposed layer's ``(C_in, C_out // groups, *kernel)``
        (default) or an ordinary convolution's ``(C_out, C_in // groups, *kernel)``.
    dtype : numpy dtype
        Of the returned array.
    rng : numpy.random.Generator, int or None
        Source of randomness; an int seeds a new Generator, None draws fresh entropy."""


def xavier_uniform(
    weight_shape, gain=1.0, *, stride=1, groups=1, transposed=True, dtype=np.float64, rng=None
):
    """Glorot/Xavier uniform weights for a (transposed) convolution, with the layer's true fans.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, kH, kW)`` for a transposed layer.
    gain : float
        See :func:`calculate_gain`.
    {shared}

    Returns
    -------
    ndarray, shape ``weight_shape``
        Drawn from ``U(-b, b)`` with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Notes
    -----
    Xavier's compromise between the forward pass (``Var(w) = 1 / fan_in``
    keeps ``Var(y) = Var(x)``) and the backward pass (``1 / fan_out`` keeps
    the gradients' variance): ``Var(w) = 2 / (fan_in + fan_out)``, with the
    fans of :func:`fan_in_fan_out`.  For a transposed layer these are
    ``C_in/g * k*k / s**2`` and ``C_out/g * k*k``, where PyTorch would use
    ``C_out/g * k*k`` and ``C_in * k*k``.

    Examples
    --------
    >>> w = xavier_uniform((32, 16, 4, 4), stride=2, rng=0)
    >>> w.shape, w.dtype
    ((32, 16, 4, 4), dtype('float64'))
    >>> bool(abs(w).max() <= np.sqrt(6 / (128 + 256)))
    True
    """
    return _xavier(weight_shape, gain, stride, groups, transposed, dtype, rng, "uniform")


def xavier_normal(
    weight_shape, gain=1.0, *, stride=1, groups=1, transposed=True, dtype=np.float64, rng=None
):
    """Glorot/Xavier normal weights for a (transposed) convolution, with the layer's true fans.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, kH, kW)`` for a transposed layer.
    gain : float
        See :func:`calculate_gain`.
    {shared}

    Returns
    -------
    ndarray, shape ``weight_shape``
        Drawn from ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Notes
    -----
    As :func:`xavier_uniform`, with a normal distribution of the same variance.

    Examples
    --------
    >>> w = xavier_normal((32, 16, 4, 4), stride=2, dtype=np.float32, rng=0)
    >>> w.dtype
    dtype('float32')
    >>> round(float(w.std() ** 2 * (128 + 256) / 2), 1)  # ~1: Var(w) = 2 / (fan_in + fan_out)
    1.0
    """
    return _xavier(weight_shape, gain, stride, groups, transposed, dtype, rng, "normal")


def kaiming_uniform(
    weight_shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *,
    stride=1, groups=1, transposed=True, dtype=np.float64, rng=None,
):
    """He/Kaiming uniform weights for a (transposed) convolution, with the layer's true fans.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, kH, kW)`` for a transposed layer.
    a : float
        Negative slope of the leaky ReLU that follows (0: ReLU).
    mode : {'fan_in', 'fan_out'}
        As PyTorch's documentation defines them: ``'fan_in'`` keeps the second
        moment of the forward pass (divide by the layer's fan-in,
        ``C_in/g * prod(k / s)`` for a transposed layer), ``'fan_out'`` that
        of the gradients in the backward pass (divide by its fan-out,
        ``C_out/g * prod(k)``).  For a transposed weight, ``'fan_out'`` gives
        the variance that PyTorch's ``kaiming_*_`` gives with its default
        ``mode='fan_in'``, which reads axis 1.
    nonlinearity : str
        See :func:`calculate_gain`; ``'leaky_relu'`` with ``a=0`` is ReLU.
    {shared}

    Returns
    -------
    ndarray, shape ``weight_shape``
        Drawn from ``U(-b, b)`` with ``b = gain * sqrt(3 / fan)``.

    Notes
    -----
    ``Var(y) = fan_in * Var(w) * Var(x)`` for an output that sums ``fan_in``
    products, so ``Var(w) = gain**2 / fan_in`` gives ``Var(y) = gain**2 Var(x)``
    (He et al., 2015).  A transposed convolution with stride ``s`` sums
    ``C_in/g * k*k / s**2`` products per output on average
    (:func:`effective_fan_in`), not PyTorch's ``C_out/g * k*k``; with
    ``mode='fan_out'`` the backward pass of a transposed layer sums
    ``C_out/g * k*k`` products per input gradient, with no stride factor.
    One mode preserves one pass; the other pass changes by
    :func:`second_moment_factors` per layer.
    The average hides that phases of the output receive different numbers of
    taps when ``s`` does not divide ``k``: their variances differ, and no
    initialisation of independent weights evens them out.

    Examples
    --------
    >>> w = kaiming_uniform((32, 16, 4, 4), nonlinearity="relu", stride=2, rng=0)
    >>> bool(abs(w).max() <= np.sqrt(2) * np.sqrt(3 / 128))
    True
    """
    return _kaiming(weight_shape, a, mode, nonlinearity, stride, groups, transposed, dtype, rng, "uniform")


def kaiming_normal(
    weight_shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *,
    stride=1, groups=1, transposed=True, dtype=np.float64, rng=None,
):
    """He/Kaiming normal weights for a (transposed) convolution, with the layer's true fans.

    Parameters
    ----------
    weight_shape : tuple of int
        ``(C_in, C_out // groups, kH, kW)`` for a transposed layer.
    a : float
        Negative slope of the leaky ReLU that follows (0: ReLU).
    mode : {'fan_in', 'fan_out'}
    nonlinearity : str
        See :func:`calculate_gain`.
    {shared}

    Returns
    -------
    ndarray, shape ``weight_shape``
        Drawn from ``N(0, std**2)`` with ``std = gain / sqrt(fan)``.

    Notes
    -----
    As :func:`kaiming_uniform`, with a normal distribution of the same variance.

    Examples
    --------
    >>> w = kaiming_normal((32, 16, 4, 4), stride=2, rng=0)  # ReLU gain, fan_in = 128
    >>> round(float(w.var() * 128), 1)
    2.0
    """
    return _kaiming(weight_shape, a, mode, nonlinearity, stride, groups, transposed, dtype, rng, "normal")


# The parameters every initialiser shares are documented once, above.
for _function in (xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal):
    _function.__doc__ = _function.__doc__.replace("{shared}", _SHARED_PARAMETERS)
del _function
