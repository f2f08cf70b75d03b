"""Algebra: the convolution matrix C, applying its transpose, the input gradient as C^T, unread inputs."""

from __future__ import annotations

import numpy as np

from ... import geometry, gradients
from ...matrix import conv_matrix
from ...transposed import conv_transpose1d
from ..cases import Case, Part, Wide, fmt_params, register, small_array, torch_reference


def _draw_conv1d_matrix(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n = int(rng.integers(max(k - 2 * p, 1), 9))
    weight = small_array(rng, k)
    expected = conv_matrix(weight[None, None], (1, n), stride=s, padding=p)
    return Case(
        f"weight={weight.tolist()}, input_length={n}, {fmt_params(stride=s, padding=p)}",
        (weight, n, s, p),
        expected=expected,
    )


def _draw_conv_transpose1d_matrix(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n_in = int(rng.integers(1, 6))
    if geometry.conv_transpose_output_size(n_in, k, s, p) < 1:
        p = 0
    y, weight = small_array(rng, n_in), small_array(rng, k)
    expected = conv_transpose1d(y[None, None], weight[None, None], stride=s, padding=p)[0, 0]
    refs = torch_reference("conv_transpose1d", y[None, None], weight[None, None], stride=s, padding=p)
    return Case(
        f"y={y.tolist()}, weight={weight.tolist()}, {fmt_params(stride=s, padding=p)}",
        (y, weight, s, p),
        expected=expected,
        references={key: value[0, 0] for key, value in refs.items()},
    )


def _draw_conv2d_matrix(rng):
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    s, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h, w = (int(v) for v in rng.integers(max(kh, kw), 6, 2))
    weight = small_array(rng, (kh, kw))
    expected = conv_matrix(weight[None, None], (1, h, w), stride=s, padding=p)
    return Case(
        f"weight.shape={weight.shape}, input_shape={(h, w)}, {fmt_params(stride=s, padding=p)}",
        (weight, (h, w), s, p),
        expected=expected,
    )


def _draw_conv1d_input_grad(rng):
    k, s, p = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    n = int(rng.integers(max(k - 2 * p, 1), 9))
    weight = small_array(rng, k)
    n_out = geometry.conv_output_size(n, k, s, p)
    grad_output = small_array(rng, n_out)
    # d<grad_output, conv1d(x)>/dx = C^T grad_output, C of the length-n convolution
    expected = conv_matrix(weight[None, None], (1, n), stride=s, padding=p).T @ grad_output
    return Case(
        f"grad_output={grad_output.tolist()}, weight={weight.tolist()}, input_length={n}, "
        f"{fmt_params(stride=s, padding=p)}",
        (grad_output, weight, n, s, p),
        expected=expected,
    )


def unread_inputs(n, k, s, p, d) -> np.ndarray:
    """tconv_lib's answer: the inputs whose gradient is zero for every upstream gradient.

    With a kernel of ones and an upstream gradient of ones, the input gradient of the convolution
    counts the taps that read each input (:func:`tconv_lib.gradients.conv1d_backward`).
    """
    n_out = geometry.conv_output_size(n, k, s, p, d)
    ones = np.ones((1, 1, n_out))
    grad_x = gradients.conv1d_backward(
        ones, np.zeros((1, 1, n)), np.ones((1, 1, k)), stride=s, padding=p, dilation=d
    )
    return np.flatnonzero(grad_x[0][0, 0] == 0)


def _draw_unread(rng, n_max=20, k_max=5, s_max=4, p_max=3, d_max=3):
    while True:
        n, k, s = (
            int(rng.integers(1, n_max + 1)),
            int(rng.integers(1, k_max + 1)),
            int(rng.integers(1, s_max + 1)),
        )
        p, d = int(rng.integers(0, p_max + 1)), int(rng.integers(1, d_max + 1))
        if geometry.conv_output_size(n, k, s, p, d) >= 1:
            break
    return Case(
        fmt_params(input_length=n, kernel_size=k, stride=s, padding=p, dilation=d),
        (n, k, s, p, d),
        expected=unread_inputs(n, k, s, p, d),
    )


def _draw_unread_wide(rng):
    """Inputs of up to a million positions, kernels, strides and dilations far beyond the chapter."""
    return _draw_unread(rng, n_max=10**6, k_max=200, s_max=60, p_max=200, d_max=20)


def _draw_no_window(rng):
    """A kernel whose span is longer than the padded input: no window, a ValueError (as PyTorch raises)."""
    n, d = int(rng.integers(1, 8)), int(rng.integers(1, 4))
    p = int(rng.integers(0, 3))
    k = int(rng.integers((n + 2 * p - 1) // d + 2, (n + 2 * p - 1) // d + 5))
    assert geometry.conv_output_size(n, k, 1, p, d) < 1
    s = int(rng.integers(1, 4))
    return Case(
        fmt_params(input_length=n, kernel_size=k, stride=s, padding=p, dilation=d) + " (no window)",
        (n, k, s, p, d),
        raises=ValueError,
    )


register(Part("algebra.conv1d_matrix", "Part A: the convolution matrix C (1D)", _draw_conv1d_matrix))
register(Part("algebra.transpose_1d", "Part B: applying C^T", _draw_conv_transpose1d_matrix))
register(Part("algebra.conv2d_matrix", "Part C: the convolution matrix C (2D)", _draw_conv2d_matrix))
register(Part("algebra.input_gradient", "Part D: the input gradient is C^T", _draw_conv1d_input_grad))
register(
    Part(
        "algebra.unread_inputs",
        "Part E (challenge): the inputs a convolution never reads",
        Wide(_draw_unread, _draw_unread_wide, draw_raises=_draw_no_window),
        n_cases=12,
    )
)
