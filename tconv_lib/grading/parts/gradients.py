"""Gradients: the backward pass of a transposed convolution, He initialisation with the true fan-in, the
input gradient of a grouped, dilated convolution, and the second moments a layer passes on, measured."""

from __future__ import annotations

import functools

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


# --------------------------------------------------------------------------------------
# Part F (challenge): the input gradient of a strided, grouped, dilated convolution
# --------------------------------------------------------------------------------------

#: One stratum per hyper-parameter of conv2d, and a stride whose floor throws a remainder away
#: (the input gradient's size is then not the smallest one: output_padding's case).
CONV2D_GRAD_STRATA = (
    ("groups",),
    ("dilation",),
    ("stride", "floor_remainder"),
    ("padding",),
    ("groups", "dilation"),
    ("unbatched",),
    ("batch",),
    ("nonsquare", "stride"),
    ("stride", "dilation"),
    (),
)


def _conv2d_input_gradient(case: references.Case, rng) -> Case:
    """Call ``f(grad_output, weight, input_shape, **params)`` on a fresh upstream gradient and weight."""
    arrays = fresh_inputs(case, rng)
    x, weight, grad_output = arrays["x"], arrays["weight"], arrays["grad_output"]
    expected = gradients.conv2d_backward(grad_output, x, weight, **case.params)[0]
    refs = torch_grads("conv2d", x, weight, grad_output, **case.params)
    input_shape = tuple(int(n) for n in case.x_shape[-2:])
    return Case(
        f"grad_output.shape={case.out_shape}, weight.shape={case.weight_shape}, input_shape={input_shape}, "
        f"{fmt_params(**case.params)}",
        (grad_output, weight, input_shape),
        dict(case.params),
        expected=expected,
        references={"PyTorch": refs["x"]} if refs else {},
    )


# --------------------------------------------------------------------------------------
# Part G (experiment): the second moments a transposed layer passes on, measured
# --------------------------------------------------------------------------------------

#: How far a measured factor may stray from the prediction, relatively: right measurements of these
#: layers (24 to 32 channels) stray less than 0.1 over 3000 draws, a tenth of a swapped pass's error.
MOMENT_TOLERANCE = 0.25


def check_moments(value, weight_shape, stride, std) -> str | None:
    """Whether ``value = (forward, backward)`` is what one linear transposed layer does to second moments.

    Prediction: :func:`tconv_lib.init.second_moment_factors` with ``Var(w) = std**2`` and no
    nonlinearity: ``fan_in * std**2`` forward (away from the borders), ``fan_out * std**2``
    backward, with the fans of :func:`tconv_lib.init.fan_in_fan_out`.
    """
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return f"return the tuple (forward, backward) of two numbers, got {type(value).__name__}"
    if not all(isinstance(v, (float, int, np.floating, np.integer)) and np.isfinite(v) for v in value):
        return f"the two factors must be finite numbers, got {value!r}"
    predicted = init.second_moment_factors(weight_shape, std**2, stride=stride, nonlinearity="linear")
    for name, measured, expected in zip(("forward", "backward"), value, predicted):
        if not abs(measured / expected - 1) <= MOMENT_TOLERANCE:
            fan = "fan-in: C_in * (k / s)**2" if name == "forward" else "fan-out: C_out * k**2"
            return (
                f"your {name} factor is {float(measured):.4g}; for weights of standard deviation {std:.4g} "
                f"the layer multiplies the {name} second moment by std**2 * {fan} = {expected:.4g} (within "
                f"{MOMENT_TOLERANCE:.0%} for a measurement of this size). "
                + (
                    "Measure the forward pass away from the borders, where every tap lands"
                    if name == "forward"
                    else "Measure the backward pass on the input gradient"
                )
            )
    return None


def _draw_moments(rng, he_mode):
    s = int(rng.integers(2, 4))
    k = int(rng.integers(s, 2 * s + 2))
    shape = (int(rng.integers(24, 33)), int(rng.integers(24, 33)), k, k)
    fan_in, fan_out = init.fan_in_fan_out(shape, stride=s)
    std = round(float(np.sqrt(1 / (fan_in if he_mode == "fan_in" else fan_out))), 6)
    seed = int(rng.integers(2**31))
    return Case(
        f"weight_shape={shape}, stride={s}, std={std} (He's {he_mode} mode without the ReLU's 2), "
        f"seed={seed}",
        (shape, s, std, seed),
        check=functools.partial(check_moments, weight_shape=shape, stride=s, std=std),
    )


class _MomentStrata:
    """Each student's set: half with He's fan_in standard deviation, half with fan_out's."""

    def __call__(self, rng):
        return _draw_moments(rng, str(rng.choice(["fan_in", "fan_out"])))

    def many(self, rng, n):
        return [_draw_moments(rng, ("fan_in", "fan_out")[i % 2]) for i in range(n)]


register(
    Part(
        "gradients.conv2d_grad_input",
        "Part F (challenge): the input gradient of a strided, grouped, dilated convolution",
        FromCatalogue(
            "conv2d", _conv2d_input_gradient, CONV2D_GRAD_STRATA, forbid=("padding_same", "padding_valid")
        ),
        n_cases=10,
    )
)
register(
    Part(
        "gradients.second_moments",
        "Part G (experiment): what a layer does to the second moments, measured",
        _MomentStrata(),
        n_cases=8,
    )
)
