"""Gradients: the backward pass of a transposed convolution, and He initialisation with the true fan-in."""

from __future__ import annotations

import numpy as np

from ... import geometry, gradients, init
from .. import references
from ..cases import (
    CONV_TRANSPOSE2D_STRATA,
    Case,
    FromCatalogue,
    Part,
    Wide,
    describe_catalogue_case,
    fmt_params,
    fresh_inputs,
    register,
    small_array,
    torch_grads,
)


def _draw_grad_1d(rng):
    """A single-channel 1D transposed convolution (n, k, s, p, d), its inputs and an upstream gradient."""
    n, k, s, d = (int(rng.integers(1, hi + 1)) for hi in (7, 5, 3, 3))
    full = geometry.conv_transpose_output_size(n, k, s, 0, 0, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    x, weight = small_array(rng, n), small_array(rng, k)
    grad_output = small_array(rng, geometry.conv_transpose_output_size(n, k, s, p, 0, d))
    grads = gradients.conv_transpose1d_backward(
        grad_output[None, None], x[None, None], weight[None, None], stride=s, padding=p, dilation=d
    )
    refs = torch_grads(
        "conv_transpose1d",
        x[None, None],
        weight[None, None],
        grad_output[None, None],
        stride=s,
        padding=p,
        dilation=d,
    )
    return x, weight, grad_output, (s, p, d), grads, refs


def _draw_grad_input_1d(rng):
    x, weight, grad_output, (s, p, d), grads, refs = _draw_grad_1d(rng)
    return Case(
        f"grad_output={grad_output.tolist()}, weight={weight.tolist()}, "
        f"{fmt_params(stride=s, padding=p, dilation=d)} (x has length {len(x)})",
        (grad_output, weight, s, p, d),
        expected=grads[0][0, 0],
        references={"PyTorch": refs["x"][0, 0]} if refs else {},
    )


def _draw_grad_weight_1d(rng):
    x, weight, grad_output, (s, p, d), grads, refs = _draw_grad_1d(rng)
    return Case(
        f"grad_output={grad_output.tolist()}, x={x.tolist()}, kernel_size={len(weight)}, "
        f"{fmt_params(stride=s, padding=p, dilation=d)}",
        (grad_output, x, len(weight), s, p, d),
        expected=grads[1][0, 0],
        references={"PyTorch": refs["weight"][0, 0]} if refs else {},
    )


def _draw_he_std(rng, channels=9, kernel_size=6, max_stride=4, max_groups=4):
    nd = 1 if rng.random() < 0.25 else 2
    groups = int(rng.integers(1, max_groups))
    kernel = tuple(int(v) for v in rng.integers(1, kernel_size, nd))
    shape = (groups * int(rng.integers(1, channels)), int(rng.integers(1, channels)), *kernel)
    strides = tuple(int(v) for v in rng.integers(1, max_stride, nd))
    stride = strides[0] if nd == 1 or rng.random() < 0.5 else strides
    fan_in, _ = init.fan_in_fan_out(shape, transposed=True, stride=stride, groups=groups)
    expected = init.calculate_gain("relu") / float(np.sqrt(fan_in))
    return Case(
        f"weight_shape={shape}, stride={stride}, groups={groups}", (shape, stride, groups), expected=expected
    )


def _draw_he_std_wide(rng):
    """Layers of thousands of channels and large kernels: beyond any table of answers."""
    return _draw_he_std(rng, channels=4097, kernel_size=65, max_stride=17, max_groups=9)


def _backward(case: references.Case, rng) -> Case:
    """Call ``f(grad_output, x, weight, **params)`` on fresh inputs; expect the three gradients.

    ``(grad_x, grad_weight, grad_bias)``, as tconv_lib and PyTorch's autograd compute them.

    The case must have a bias, so that there is a bias gradient to return.
    """
    arrays = fresh_inputs(case, rng)
    grad_output, x, weight = arrays["grad_output"], arrays["x"], arrays["weight"]
    expected = gradients.conv_transpose2d_backward(grad_output, x, weight, **case.params)
    refs = torch_grads("conv_transpose2d", x, weight, grad_output, bias=arrays["bias"], **case.params)
    return Case(
        describe_catalogue_case(case, "grad_output", "x", "weight"),
        (grad_output, x, weight),
        dict(case.params),
        expected=tuple(expected),
        references={"PyTorch": (refs["x"], refs["weight"], refs["bias"])} if refs else {},
    )


def _bias_grad(case: references.Case, rng) -> Case:
    """Call ``f(grad_output)`` on a fresh upstream gradient; expect the bias gradient of the case's layer."""
    arrays = fresh_inputs(case, rng)
    grad_output = arrays["grad_output"]
    expected = gradients.conv_transpose2d_backward(grad_output, arrays["x"], arrays["weight"], **case.params)[
        2
    ]
    refs = torch_grads(
        "conv_transpose2d", arrays["x"], arrays["weight"], grad_output, bias=arrays["bias"], **case.params
    )
    return Case(
        f"grad_output.shape={case.out_shape}",
        (grad_output,),
        expected=expected,
        references={"PyTorch": refs["bias"]} if refs else {},
    )


register(Part("gradients.grad_input_1d", "Part A: the input gradient in 1D", _draw_grad_input_1d, n_cases=10))
register(
    Part("gradients.grad_weight_1d", "Part B: the weight gradient in 1D", _draw_grad_weight_1d, n_cases=10)
)
# the bias gradient of layers from the catalogue, batched and not
register(
    Part(
        "gradients.grad_bias",
        "Part C: the bias gradient",
        FromCatalogue(
            "conv_transpose2d", _bias_grad, (("unbatched",), ("batch",), ("groups",), ()), require=("bias",)
        ),
    )
)
register(
    Part(
        "gradients.conv_transpose2d_backward",
        "Part D: the backward pass with PyTorch's full signature",
        FromCatalogue("conv_transpose2d", _backward, CONV_TRANSPOSE2D_STRATA, require=("bias",)),
        n_cases=10,
    )
)
register(
    Part(
        "gradients.he_std",
        "Part E: He initialisation with the layer's true fan-in",
        Wide(_draw_he_std, _draw_he_std_wide),
        n_cases=10,
    )
)
