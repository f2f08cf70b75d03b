"""Argument normalisation and validation, shared by every operator.

The public operators accept what :mod:`torch.nn.functional` accepts and reject
what it rejects, with messages that say what would be valid.  Doing that in
one place keeps the views in :mod:`tconv_lib.transposed` short enough to read
as algorithms.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from . import geometry

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def ntuple(value, n: int, name: str) -> tuple[int, ...]:
    """Normalise an int or a sequence of ``n`` ints to a tuple of ``n`` ints.

    >>> ntuple(2, 2, "stride")
    (2, 2)
    >>> ntuple((1, 3), 2, "padding")
    (1, 3)
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    try:
        return (operator.index(value),) * n
    except TypeError:
        pass
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if len(value) != n:
        raise ValueError(
            f"{name} must be an int or a tuple of {n} ints, got {len(value)} values {tuple(value)!r}"
        )
    try:
        return tuple(operator.index(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must contain ints, got {tuple(value)!r}") from None


def as_float_array(a, name: str) -> np.ndarray:
    """Return ``a`` as a float32 or float64 array, refusing other dtypes."""
    arr = np.asarray(a)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be float32 or float64, got dtype {arr.dtype}; "
            f"convert it with .astype(np.float64)"
        )
    return arr


def check_groups(groups) -> int:
    if isinstance(groups, (bool, np.bool_)):
        raise TypeError(f"groups must be a positive int, got {groups!r}")
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"groups must be a positive int, got {groups!r}") from None
    if groups <= 0:
        raise ValueError(f"groups must be a positive int, got groups={groups}")
    return groups


def _check_positive(values: tuple[int, ...], name: str) -> None:
    if any(v <= 0 for v in values):
        raise ValueError(f"{name} must be positive, got {name}={values}")


def _check_non_negative(values: tuple[int, ...], name: str) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"{name} must be non-negative, got {name}={values}")


def _spatial_name(nd: int) -> str:
    return {1: "L", 2: "H, W"}[nd]


def _check_input_and_weight(x, weight, bias, nd: int, fname: str):
    """Shared checks of the three arrays; returns (batched x, weight, bias, unbatched)."""
    x = as_float_array(x, "x")
    weight = as_float_array(weight, "weight")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{fname} expects a {nd + 1}D (unbatched: C, {_spatial_name(nd)}) or "
            f"{nd + 2}D (batched: N, C, {_spatial_name(nd)}) input, got shape {x.shape}"
        )
    if weight.ndim != nd + 2:
        raise ValueError(f"{fname} expects a {nd + 2}D weight, got shape {weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(
            f"x is {x.dtype} but weight is {weight.dtype}; cast both to the same dtype"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias")
        if bias.dtype != x.dtype:
            raise TypeError(
                f"x is {x.dtype} but bias is {bias.dtype}; cast both to the same dtype"
            )
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[None]
    return x, weight, bias, unbatched


def _check_bias(bias, c_out: int) -> None:
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(
            f"bias must have shape ({c_out},), one value per output channel, got {bias.shape}"
        )


@dataclass(frozen=True)
class ConvArgs:
    """Validated arguments of an ordinary or transposed convolution.

    ``x`` always has a batch axis; :meth:`finish` adds the bias and removes
    the batch axis again when the caller's input had none.
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_size: tuple[int, ...]
    unbatched: bool
    output_padding: tuple[int, ...] = ()
    # Forward convolutions only: padding before/after per axis (for 'same').
    padding_pairs: tuple[tuple[int, int], ...] = ()

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return self.weight.shape[2:]

    def finish(self, out: np.ndarray) -> np.ndarray:
        """Add the bias, cast to the input dtype, drop the batch axis if needed."""
        if self.bias is not None:
            out = out + self.bias.reshape((-1,) + (1,) * len(self.stride))
        out = np.ascontiguousarray(out, dtype=self.x.dtype)
        return out[0] if self.unbatched else out


def transposed_args(
    x, weight, bias, stride, padding, output_padding, groups, dilation, nd: int, fname: str
) -> ConvArgs:
    """Validate the arguments of ``conv_transpose{nd}d`` as PyTorch does.

    Weight layout is ``(C_in, C_out // groups, *kernel)``.
    """
    x, weight, bias, unbatched = _check_input_and_weight(x, weight, bias, nd, fname)
    stride = ntuple(stride, nd, "stride")
    padding = ntuple(padding, nd, "padding")
    output_padding = ntuple(output_padding, nd, "output_padding")
    dilation = ntuple(dilation, nd, "dilation")
    groups = check_groups(groups)
    _check_positive(stride, "stride")
    _check_non_negative(padding, "padding")
    _check_non_negative(output_padding, "output_padding")
    _check_positive(dilation, "dilation")
    for s, d, op in zip(stride, dilation, output_padding):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding={output_padding} must be smaller than stride={stride} "
                f"or dilation={dilation} on every axis (0 <= output_padding < max(stride, dilation))"
            )
    c_in = x.shape[1]
    if weight.shape[0] % groups != 0:
        raise ValueError(
            f"weight.shape[0]={weight.shape[0]} (input channels) must be divisible by "
            f"groups={groups}"
        )
    if c_in != weight.shape[0]:
        raise ValueError(
            f"x has {c_in} channels but weight {weight.shape} expects {weight.shape[0]}: "
            f"a transposed convolution's weight is laid out (C_in, C_out // groups, *kernel)"
        )
    _check_bias(bias, weight.shape[1] * groups)
    if any(k == 0 for k in weight.shape[2:]) or weight.shape[1] == 0:
        raise ValueError(f"weight must not have an empty axis, got shape {weight.shape}")
    output_size = tuple(
        geometry.conv_transpose_output_size(n, k, s, p, op, d)
        for n, k, s, p, op, d in zip(
            x.shape[2:], weight.shape[2:], stride, padding, output_padding, dilation
        )
    )
    if any(size <= 0 for size in output_size):
        raise ValueError(
            f"{fname}: input size {x.shape[2:]} with kernel {weight.shape[2:]}, "
            f"stride={stride}, padding={padding}, output_padding={output_padding}, "
            f"dilation={dilation} gives output size {output_size}, which is too small; "
            f"reduce the padding"
        )
    return ConvArgs(
        x=x,
        weight=weight,
        bias=bias,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        output_size=output_size,
        unbatched=unbatched,
        output_padding=output_padding,
    )


def _same_padding(kernel_size, dilation) -> tuple[tuple[int, int], ...]:
    """PyTorch's padding='same': the extra position for an even span goes at the end."""
    pairs = []
    for k, d in zip(kernel_size, dilation):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def conv_args(x, weight, bias, stride, padding, dilation, groups, nd: int, fname: str) -> ConvArgs:
    """Validate the arguments of ``conv{nd}d`` as PyTorch does.

    Weight layout is ``(C_out, C_in // groups, *kernel)``; ``padding`` may be
    an int, a tuple, ``'valid'`` or ``'same'``.
    """
    x, weight, bias, unbatched = _check_input_and_weight(x, weight, bias, nd, fname)
    stride = ntuple(stride, nd, "stride")
    dilation = ntuple(dilation, nd, "dilation")
    groups = check_groups(groups)
    _check_positive(stride, "stride")
    _check_positive(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pairs = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' is not supported for strided convolutions "
                    f"(stride={stride}); use stride=1 or an explicit padding"
                )
            pairs = _same_padding(weight.shape[2:], dilation)
        else:
            raise ValueError(
                f"padding must be 'valid', 'same', an int or a tuple of {nd} ints, got {padding!r}"
            )
    else:
        pad = ntuple(padding, nd, "padding")
        _check_non_negative(pad, "padding")
        pairs = tuple((p, p) for p in pad)
    c_in = x.shape[1]
    if weight.shape[0] % groups != 0:
        raise ValueError(
            f"weight.shape[0]={weight.shape[0]} (output channels) must be divisible by "
            f"groups={groups}"
        )
    if c_in != weight.shape[1] * groups:
        raise ValueError(
            f"x has {c_in} channels but weight {weight.shape} with groups={groups} expects "
            f"{weight.shape[1] * groups}: a convolution's weight is laid out "
            f"(C_out, C_in // groups, *kernel)"
        )
    _check_bias(bias, weight.shape[0])
    if any(k == 0 for k in weight.shape[2:]) or weight.shape[1] == 0:
        raise ValueError(f"weight must not have an empty axis, got shape {weight.shape}")
    padded = tuple(n + a + b for n, (a, b) in zip(x.shape[2:], pairs))
    spans = tuple(
        geometry.effective_kernel_size(k, d) for k, d in zip(weight.shape[2:], dilation)
    )
    if any(span > n for span, n in zip(spans, padded)):
        raise ValueError(
            f"{fname}: the (dilated) kernel spans {spans} but the padded input is only "
            f"{padded}; use a smaller kernel or dilation, or more padding"
        )
    # Padding is already counted in `padded` (it may be uneven for 'same').
    output_size = tuple(
        geometry.conv_output_size(n, k, s, 0, d)
        for n, k, s, d in zip(padded, weight.shape[2:], stride, dilation)
    )
    return ConvArgs(
        x=x,
        weight=weight,
        bias=bias,
        stride=stride,
        padding=tuple(a for a, _ in pairs),
        dilation=dilation,
        groups=groups,
        output_size=output_size,
        unbatched=unbatched,
        padding_pairs=pairs,
    )
