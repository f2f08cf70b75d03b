"""Backward passes of conv_transpose and conv against torch.autograd and against
central differences, the adjoint relations between them, and the torch bridge."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import F, assert_same, t, torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv import GRID as CONV_GRID
from test_transposed import GRID_1D, GRID_2D, transposed_cases

import tconv_lib
from tconv_lib import geometry
from tconv_lib.gradients import (
    GradientCheckError,
    as_torch_function,
    check_gradients,
    conv1d_backward,
    conv2d_backward,
    conv_transpose1d_backward,
    conv_transpose2d_backward,
    numerical_gradient,
    torch_conv_transpose2d,
)

# The book's transposed cases, plus output_padding >= stride (allowed by a larger dilation).
GRID = {
    **GRID_2D,
    "k3_s2_d3_op2": dict(k=(3, 3), stride=2, dilation=3, output_padding=2),
    "k2x3_s1x2_d3x1_op2x1": dict(k=(2, 3), stride=(1, 2), dilation=(3, 1), output_padding=(2, 1)),
}


def torch_gradients(op, x, weight, bias, grad_output, **params):
    """torch's (grad_x, grad_weight, grad_bias) of ``op`` under ``grad_output``.

    torch always gets a bias (zeros if there is none) so that it reports a bias gradient.
    """
    xt, wt = t(x).requires_grad_(), t(weight).requires_grad_()
    c_out = grad_output.shape[-(weight.ndim - 2) - 1]  # the channel axis of (N,) C_out, *spatial
    bt = (t(bias) if bias is not None else torch.zeros(c_out, dtype=xt.dtype)).requires_grad_()
    op(xt, wt, bt, **params).backward(t(grad_output))
    return xt.grad, wt.grad, bt.grad


def assert_gradients_match_torch(ours, theirs, case):
    for name, grad, ref in zip(("grad_x", "grad_weight", "grad_bias"), ours, theirs):
        assert_same(grad, ref, f"{case}: {name}")


def _grid_case(case, rng, batched=True):
    params = dict(GRID[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal(((2,) if batched else ()) + (2 * groups, 4, 5))
    weight = rng.standard_normal((2 * groups, 3, *k))
    return x, weight, params


# --- conv_transpose2d / 1d backward against torch.autograd -----------------------------------


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", GRID)
def test_conv_transpose2d_backward_matches_torch_on_book_grid(case, batched, rng):
    x, weight, params = _grid_case(case, rng, batched)
    out = tconv_lib.conv_transpose2d(x, weight, **params)
    grad_output = rng.standard_normal(out.shape)
    theirs = torch_gradients(F.conv_transpose2d, x, weight, None, grad_output, **params)
    ours = conv_transpose2d_backward(grad_output, x, weight, **params)
    assert_gradients_match_torch(ours, theirs, case)


@settings(max_examples=150, deadline=None)
@given(transposed_cases(nd=2))
def test_conv_transpose2d_backward_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    out = tconv_lib.conv_transpose2d(x, weight, bias, **params)
    grad_output = np.random.default_rng(1).standard_normal(out.shape)
    theirs = torch_gradients(F.conv_transpose2d, x, weight, bias, grad_output, **params)
    assert_gradients_match_torch(conv_transpose2d_backward(grad_output, x, weight, **params), theirs, params)


@pytest.mark.parametrize("case", GRID_1D)
def test_conv_transpose1d_backward_matches_torch_on_book_grid(case, rng):
    params = dict(GRID_1D[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x, weight = rng.standard_normal((2, 2 * groups, 7)), rng.standard_normal((2 * groups, 2, k))
    grad_output = rng.standard_normal(tconv_lib.conv_transpose1d(x, weight, **params).shape)
    theirs = torch_gradients(F.conv_transpose1d, x, weight, None, grad_output, **params)
    assert_gradients_match_torch(conv_transpose1d_backward(grad_output, x, weight, **params), theirs, case)


@settings(max_examples=100, deadline=None)
@given(transposed_cases(nd=1))
def test_conv_transpose1d_backward_matches_torch_hypothesis(case):
    x, weight, bias, params = case
    params = {key: v[0] if isinstance(v, tuple) else v for key, v in params.items()}
    out = tconv_lib.conv_transpose1d(x, weight, bias, **params)
    grad_output = np.random.default_rng(1).standard_normal(out.shape)
    theirs = torch_gradients(F.conv_transpose1d, x, weight, bias, grad_output, **params)
    assert_gradients_match_torch(conv_transpose1d_backward(grad_output, x, weight, **params), theirs, params)


# --- conv2d / 1d backward against torch.autograd ---------------------------------------------

# test_conv's grid, plus strides that make conv2d drop trailing input rows.
CONV_BACKWARD_GRID = {
    **CONV_GRID,
    "k3_s2_drops_1_row": dict(k=(3, 3), stride=2),  # 7 + 0 - 3 = 4: even, 8 - 3 = 5: odd
    "k2_s3_drops_rows": dict(k=(2, 2), stride=3),  # (7 - 2) % 3 = 2 rows, (8 - 2) % 3 = 0
    "k3_s3_d2_p1": dict(k=(3, 3), stride=3, dilation=2, padding=1),
}


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", CONV_BACKWARD_GRID)
def test_conv2d_backward_matches_torch_on_grid(case, batched, rng):
    params = dict(CONV_BACKWARD_GRID[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal(((2,) if batched else ()) + (2 * groups, 7, 8))
    weight = rng.standard_normal((3 * groups, 2, *k))
    grad_output = rng.standard_normal(tconv_lib.conv2d(x, weight, **params).shape)
    theirs = torch_gradients(F.conv2d, x, weight, None, grad_output, **params)
    assert_gradients_match_torch(conv2d_backward(grad_output, x, weight, **params), theirs, case)


@st.composite
def conv_cases(draw, nd):
    """Any valid argument set of conv{nd}d, string paddings included."""
    groups = draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    choices = ["int", "valid"] + (["same"] if all(s == 1 for s in stride) else [])
    kind = draw(st.sampled_from(choices))
    if kind == "int":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        pads = padding
    else:
        padding, pads = kind, (0,) * nd
    # the padded input must hold the dilated kernel
    smallest = [max(1, geometry.effective_kernel_size(kk, d) - 2 * p) for kk, d, p in zip(k, dilation, pads)]
    size = tuple(draw(st.integers(n, n + 5)) for n in smallest)
    batched = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(((2,) if batched else ()) + (draw(st.integers(1, 2)) * groups, *size))
    weight = rng.standard_normal((draw(st.integers(1, 2)) * groups, x.shape[-nd - 1] // groups, *k))
    return x, weight, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@settings(max_examples=150, deadline=None)
@given(conv_cases(nd=2))
def test_conv2d_backward_matches_torch_hypothesis(case):
    x, weight, params = case
    grad_output = np.random.default_rng(2).standard_normal(tconv_lib.conv2d(x, weight, **params).shape)
    theirs = torch_gradients(F.conv2d, x, weight, None, grad_output, **params)
    assert_gradients_match_torch(conv2d_backward(grad_output, x, weight, **params), theirs, params)


@settings(max_examples=100, deadline=None)
@given(conv_cases(nd=1))
def test_conv1d_backward_matches_torch_hypothesis(case):
    x, weight, params = case
    params = {key: v[0] if isinstance(v, tuple) else v for key, v in params.items()}
    grad_output = np.random.default_rng(2).standard_normal(tconv_lib.conv1d(x, weight, **params).shape)
    theirs = torch_gradients(F.conv1d, x, weight, None, grad_output, **params)
    assert_gradients_match_torch(conv1d_backward(grad_output, x, weight, **params), theirs, params)


# --- the adjoint relations, explicitly ---------------------------------------------------------


@pytest.mark.parametrize("case", GRID)
def test_input_gradient_of_conv_transpose_is_conv2d(case, rng):
    """grad_x of conv_transpose2d == conv2d(grad_output) with the same weight and arguments."""
    x, weight, params = _grid_case(case, rng)
    grad_output = rng.standard_normal(tconv_lib.conv_transpose2d(x, weight, **params).shape)
    conv_params = {key: v for key, v in params.items() if key != "output_padding"}
    conv = tconv_lib.conv2d(grad_output, weight, **conv_params)
    # output_padding >= stride: conv2d also reaches output_padding // stride rows x lacks
    extra = np.broadcast_to(params.get("output_padding", 0), 2) // np.broadcast_to(params.get("stride", 1), 2)
    assert conv.shape[-2:] == tuple(np.add(x.shape[-2:], extra)), case
    grad_x, _, _ = conv_transpose2d_backward(grad_output, x, weight, **params)
    np.testing.assert_array_equal(grad_x, conv[..., : x.shape[-2], : x.shape[-1]], err_msg=case)


@pytest.mark.parametrize(
    "case", [c for c in CONV_BACKWARD_GRID if not isinstance(CONV_BACKWARD_GRID[c].get("padding"), str)]
)
def test_input_gradient_of_conv2d_is_conv_transpose(case, rng):
    """grad_x of conv2d == conv_transpose2d(grad_output), output_padding restoring x's size."""
    params = dict(CONV_BACKWARD_GRID[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal((2, 2 * groups, 7, 8))
    weight = rng.standard_normal((3 * groups, 2, *k))
    grad_output = rng.standard_normal(tconv_lib.conv2d(x, weight, **params).shape)
    stride, padding, dilation = (
        np.broadcast_to(params.get(name, 1 if name != "padding" else 0), 2)
        for name in ("stride", "padding", "dilation")
    )
    output_padding = tuple(
        int(geometry.output_padding_for(n_out, n, kk, s, p, d))
        for n_out, n, kk, s, p, d in zip(grad_output.shape[2:], x.shape[2:], k, stride, padding, dilation)
    )
    transposed = tconv_lib.conv_transpose2d(grad_output, weight, output_padding=output_padding, **params)
    grad_x, _, _ = conv2d_backward(grad_output, x, weight, **params)
    assert transposed.shape == x.shape, case
    np.testing.assert_array_equal(grad_x, transposed, err_msg=case)


def _output_padding_below_stride(params) -> bool:
    output_padding = np.broadcast_to(params.get("output_padding", 0), 2)
    return bool(np.all(output_padding < np.broadcast_to(params.get("stride", 1), 2)))


@pytest.mark.parametrize("case", [c for c in GRID if _output_padding_below_stride(GRID[c])])
def test_weight_gradients_are_one_correlation_with_roles_swapped(case, rng):
    """conv_transpose2d's weight gradient is conv2d's, with x and grad_output exchanged.

    With output_padding < stride, conv2d maps the transposed layer's output space back
    onto exactly its input space (conv2d(grad_output) has x's shape), so the pair
    (input=grad_output, output gradient=x) is a valid conv2d backward call.
    """
    x, weight, params = _grid_case(case, rng)
    grad_output = rng.standard_normal(tconv_lib.conv_transpose2d(x, weight, **params).shape)
    _, grad_weight, _ = conv_transpose2d_backward(grad_output, x, weight, **params)
    conv_params = {key: v for key, v in params.items() if key != "output_padding"}
    _, swapped, _ = conv2d_backward(x, grad_output, weight, **conv_params)
    np.testing.assert_allclose(grad_weight, swapped, rtol=1e-12, atol=1e-12, err_msg=case)


def test_adjoint_identity_through_the_backward_pass(rng):
    """<conv_transpose2d(x), g> == <x, grad_x>: the backward pass is the adjoint of the forward one."""
    x, weight, params = _grid_case("k3_s2_p1_op1", rng)
    out = tconv_lib.conv_transpose2d(x, weight, **params)
    grad_output = rng.standard_normal(out.shape)
    grad_x, grad_weight, _ = conv_transpose2d_backward(grad_output, x, weight, **params)
    np.testing.assert_allclose(np.vdot(out, grad_output), np.vdot(x, grad_x), rtol=1e-12)
    # and bilinearity: the same number is <weight, grad_weight>
    np.testing.assert_allclose(np.vdot(out, grad_output), np.vdot(weight, grad_weight), rtol=1e-12)


# --- against central differences --------------------------------------------------------------

SMALL = {
    "k3_s2_p1_op1": dict(k=(3, 3), stride=2, padding=1, output_padding=1),
    "k1_s2_gaps": dict(k=(1, 1), stride=2),
    "k2x3_s1x2_d2_g2": dict(k=(2, 3), stride=(1, 2), dilation=2, groups=2),
    "k3_s1_d3_op2": dict(k=(3, 3), dilation=3, output_padding=2),
}


@pytest.mark.parametrize("case", SMALL)
def test_conv_transpose2d_backward_matches_numerical_gradient(case, rng):
    params = dict(SMALL[case])
    k = params.pop("k")
    groups = params.get("groups", 1)
    x = rng.standard_normal((1, 2 * groups, 2, 3))
    weight = rng.standard_normal((2 * groups, 1, *k))
    bias = rng.standard_normal(groups)
    f = lambda x, weight, bias: tconv_lib.conv_transpose2d(x, weight, bias, **params)
    grad_output = rng.standard_normal(f(x, weight, bias).shape)
    analytic = conv_transpose2d_backward(grad_output, x, weight, **params)
    report = check_gradients(
        f, (x, weight, bias), analytic, grad_output, names=("x", "weight", "bias"), rtol=1e-6, atol=1e-6
    )
    assert report.ok, str(report)


@pytest.mark.parametrize("padding", [0, 1, "same", "valid"])
def test_conv2d_backward_matches_numerical_gradient(padding, rng):
    x = rng.standard_normal((2, 5, 4))
    weight = rng.standard_normal((2, 2, 2, 3))
    stride = 1 if padding == "same" else 2
    f = lambda x, weight: tconv_lib.conv2d(x, weight, padding=padding, stride=stride)
    grad_output = rng.standard_normal(f(x, weight).shape)
    grad_x, grad_weight, _ = conv2d_backward(grad_output, x, weight, padding=padding, stride=stride)
    check_gradients(f, (x, weight), (grad_x, grad_weight), grad_output)  # raises when wrong


def test_conv1d_backward_matches_numerical_gradient(rng):
    x, weight = rng.standard_normal((1, 7)), rng.standard_normal((2, 1, 3))
    f = lambda x, weight: tconv_lib.conv1d(x, weight, stride=3, dilation=2)
    grad_output = rng.standard_normal(f(x, weight).shape)
    grad_x, grad_weight, _ = conv1d_backward(grad_output, x, weight, stride=3, dilation=2)
    check_gradients(f, (x, weight), (grad_x, grad_weight), grad_output)


# --- numerical_gradient and check_gradients themselves ------------------------------------------


def test_numerical_gradient_of_a_scalar_function():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    grad_a, grad_b = numerical_gradient(lambda a, b: a @ b + a[0] ** 3, a, b, wrt=(0, 1))
    np.testing.assert_allclose(grad_a, [3.0 + 3.0, -1.0], atol=1e-8)
    np.testing.assert_allclose(grad_b, a, atol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda a, b: a @ b, a, b, wrt=-1), a, atol=1e-8)


def test_numerical_gradient_works_in_float64_on_copies():
    x = np.array([[0.5, -1.5]], dtype=np.float32)
    seen = []
    grad = numerical_gradient(lambda x: seen.append(x.dtype) or (x**2).sum(), x)
    assert grad.dtype == np.float64 and set(seen) == {np.dtype(np.float64)}, (grad.dtype, seen)
    np.testing.assert_array_equal(x, np.array([[0.5, -1.5]], dtype=np.float32))  # untouched
    np.testing.assert_allclose(grad, 2 * x, atol=1e-8)


def test_numerical_gradient_of_a_transposed_view_array(rng):
    """A non-contiguous argument is perturbed element by element all the same."""
    x = rng.standard_normal((3, 2)).T
    upstream = rng.standard_normal((2, 3))
    grad = numerical_gradient(lambda x: 3 * x, x, grad_output=upstream)
    np.testing.assert_allclose(grad, 3 * upstream, atol=1e-8)


def test_numerical_gradient_errors():
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\) but f returns shape \(2,\)"):
        numerical_gradient(lambda a: a, np.ones(2), grad_output=np.ones(3))
    with pytest.raises(ValueError, match="wrt=2 names argument 2, but f gets 1 arrays"):
        numerical_gradient(lambda a: a, np.ones(2), wrt=2)


def _wrong_backward(grad_output, x, weight, **params):
    """A classic student mistake: the weight gradient of a flipped kernel."""
    grad_x, grad_weight, grad_bias = conv_transpose2d_backward(grad_output, x, weight, **params)
    return grad_x, grad_weight[..., ::-1, ::-1], grad_bias


def test_check_gradients_reports_a_wrong_gradient(rng):
    x, weight = rng.standard_normal((1, 3, 3)), rng.standard_normal((1, 1, 3, 3))
    f = lambda x, weight: tconv_lib.conv_transpose2d(x, weight, stride=2)
    grad_output = rng.standard_normal(f(x, weight).shape)
    grads = _wrong_backward(grad_output, x, weight, stride=2)[:2]
    with pytest.raises(GradientCheckError) as err:
        check_gradients(f, (x, weight), grads, grad_output, names=("x", "weight"))
    message = str(err.value)
    assert message.startswith("gradient check FAILED for weight (rtol=1e-06, atol=1e-06)"), message
    assert "x         (1, 3, 3)" in message and "yes" in message and "NO" in message, message
    report = check_gradients(f, (x, weight), grads, grad_output, raise_on_failure=False)
    assert not report.ok and [c.passed for c in report.checks] == [True, False], str(report)
    assert report.checks[1].max_rel_error > 0.01 and report.checks[0].max_abs_error < 1e-6, str(report)


def test_check_gradients_skips_none_and_flags_wrong_shapes(rng):
    x, weight = rng.standard_normal((1, 2, 2)), rng.standard_normal((1, 1, 2, 2))
    f = lambda x, weight: tconv_lib.conv_transpose2d(x, weight)
    report = check_gradients(f, (x, weight), (None, np.zeros((2, 2))), raise_on_failure=False)
    assert [c.name for c in report.checks] == ["arg1"], "None must skip arg0: " + str(report)
    assert report.checks[0].max_abs_error == np.inf and not report.ok, "a wrong shape must fail"
    with pytest.raises(ValueError, match="got 1 analytic gradients for 2 arrays"):
        check_gradients(f, (x, weight), (None,))
    with pytest.raises(ValueError, match="got 1 names for 2 arrays"):
        check_gradients(f, (x, weight), (None, None), names=("x",))


# --- error messages ------------------------------------------------------------------------------


def test_backward_messages_say_what_would_be_valid():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"grad_output must have the shape of the forward output, "
                                         r"\(1, 1, 8, 8\), got \(1, 1, 7, 7\)"):
        conv_transpose2d_backward(np.ones((1, 1, 7, 7)), x, w, stride=2, output_padding=1)
    with pytest.raises(ValueError, match=r"forward output, \(1, 8, 8\)"):  # unbatched stays unbatched
        conv_transpose2d_backward(np.ones((1, 1, 8, 8)), x[0], w, stride=2, output_padding=1)
    with pytest.raises(ValueError, match=r"conv_transpose1d_backward: .* \(1, 1, 5\), got \(1, 1, 4\)"):
        conv_transpose1d_backward(np.ones((1, 1, 4)), np.ones((1, 1, 3)), np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match=r"conv2d_backward: .* \(1, 1, 1, 1\), got \(1, 1, 3, 3\)"):
        conv2d_backward(np.ones((1, 1, 3, 3)), x, w)
    with pytest.raises(ValueError, match=r"conv1d_backward: .* \(1, 1\), got \(1, 2\)"):
        conv1d_backward(np.ones((1, 2)), np.ones((1, 3)), np.ones((1, 1, 3)))
    with pytest.raises(TypeError, match="grad_output is float32; cast both to the same dtype"):
        conv_transpose2d_backward(np.ones((1, 1, 5, 5), dtype=np.float32), x, w)
    # invalid forward arguments get the forward pass's messages
    with pytest.raises(ValueError, match=r"must be smaller than stride=\(2, 2\) or dilation=\(1, 1\)"):
        conv_transpose2d_backward(np.ones((1, 1, 9, 9)), x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="not supported for strided"):
        conv2d_backward(np.ones((1, 1, 2, 2)), x, w, stride=2, padding="same")


def test_backward_preserves_float32(rng):
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    weight = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    grad_output = np.ones((1, 1, 7, 7), dtype=np.float32)
    grads = conv_transpose2d_backward(grad_output, x, weight, stride=2)
    dtypes = [g.dtype for g in grads]
    assert dtypes == [np.float32] * 3, f"conv_transpose2d_backward: {dtypes}"
    grads = conv2d_backward(grad_output, rng.standard_normal((1, 2, 9, 9)).astype(np.float32),
                            weight.transpose(1, 0, 2, 3), padding=0, dilation=1)
    assert [g.dtype for g in grads] == [np.float32] * 3, f"conv2d_backward: {[g.dtype for g in grads]}"


# --- the bridge to torch.autograd ---------------------------------------------------------------


def test_importing_gradients_does_not_import_torch():
    code = "import sys, tconv_lib.gradients; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def bridge_and_torch(x, weight, bias, grad_output, **params):
    """Forward and gradients through torch_conv_transpose2d and through torch itself."""
    results = []
    for op in (torch_conv_transpose2d, F.conv_transpose2d):
        xt, wt = t(x).requires_grad_(), t(weight).requires_grad_()
        bt = None if bias is None else t(bias).requires_grad_()
        out = op(xt, wt, bt, **params)
        out.backward(t(grad_output))
        results.append((out, xt.grad, wt.grad, None if bt is None else bt.grad))
    return results


@settings(max_examples=50, deadline=None)
@given(transposed_cases(nd=2))
def test_bridge_matches_torch_autograd_hypothesis(case):
    x, weight, bias, params = case
    grad_output = np.random.default_rng(3).standard_normal(
        tconv_lib.conv_transpose2d(x, weight, bias, **params).shape
    )
    ours, theirs = bridge_and_torch(x, weight, bias, grad_output, **params)
    assert ours[0].grad_fn is not None, "the bridge's output must be differentiable"
    for name, mine, ref in zip(("out", "grad_x", "grad_weight", "grad_bias"), ours, theirs):
        if ref is None:
            assert mine is None, f"{params}: {name} should be None without a bias"
        else:
            assert_same(mine.detach().numpy(), ref, f"{params}: {name}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bridge_keeps_dtype_and_skips_unneeded_gradients(dtype):
    x = torch.randn(2, 3, 4, 4, dtype=dtype, generator=torch.Generator().manual_seed(0))
    weight = torch.randn(3, 2, 3, 3, dtype=dtype, requires_grad=True)
    bias = torch.zeros(2, dtype=dtype)  # a constant bias: no gradient wanted
    out = torch_conv_transpose2d(x, weight, bias, stride=2)
    assert out.dtype == dtype and out.device == x.device, (out.dtype, out.device)
    out.square().sum().backward()
    assert x.grad is None and bias.grad is None, "no gradient for tensors that do not require one"
    grad = weight.grad
    assert grad.dtype == dtype and grad.shape == weight.shape, (grad.dtype, grad.shape)


def test_bridge_runs_any_numpy_implementation(rng):
    """A student's forward and backward plug in; as_torch_function also wraps conv2d."""
    x, weight = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 1, 3, 3))
    grad_output = rng.standard_normal((1, 1, 7, 7))
    xt, wt = t(x).requires_grad_(), t(weight).requires_grad_()
    out = torch_conv_transpose2d(
        xt, wt, stride=2, forward=tconv_lib.conv_transpose2d_scatter, backward=_wrong_backward
    )
    out.backward(t(grad_output))
    ref = conv_transpose2d_backward(grad_output, x, weight, stride=2)
    assert_same(out.detach().numpy(), F.conv_transpose2d(t(x), t(weight), stride=2), "scatter view")
    np.testing.assert_allclose(xt.grad.numpy(), ref[0], rtol=1e-12)
    assert not np.allclose(wt.grad.numpy(), ref[1]), "the student's flipped weight gradient arrives"

    conv = as_torch_function(tconv_lib.conv2d, conv2d_backward)
    xt, wt = t(x).requires_grad_(), t(weight.transpose(1, 0, 2, 3).copy()).requires_grad_()
    conv(xt, wt, padding=1).sum().backward()
    xr, wr = t(x).requires_grad_(), t(weight.transpose(1, 0, 2, 3).copy()).requires_grad_()
    F.conv2d(xr, wr, padding=1).sum().backward()
    assert_same(xt.grad.numpy(), xr.grad, "conv2d grad_x")
    assert_same(wt.grad.numpy(), wr.grad, "conv2d grad_weight")


def _train(conv_transpose, steps=10):
    """A fixed toy problem: learn conv -> ReLU -> transposed conv from a teacher of the same shape."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64, generator=gen)
    teacher = [
        0.3 * torch.randn(shape, dtype=torch.float64, generator=gen) for shape in ((4, 3, 3, 3), (4, 2, 3, 3))
    ]
    up = dict(stride=2, padding=1, output_padding=1)
    target = F.conv_transpose2d(torch.relu(F.conv2d(x, teacher[0], padding=1)), teacher[1], **up)
    w1 = (0.3 * torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=gen)).requires_grad_()
    w2 = (0.3 * torch.randn(4, 2, 3, 3, dtype=torch.float64, generator=gen)).requires_grad_()
    b2 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w1, w2, b2], lr=0.2)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        prediction = conv_transpose(torch.relu(F.conv2d(x, w1, padding=1)), w2, b2, **up)
        loss = F.mse_loss(prediction, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_a_model_with_the_numpy_layer_trains_like_torch():
    ours, theirs = _train(torch_conv_transpose2d), _train(F.conv_transpose2d)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert all(later < earlier for earlier, later in zip(ours, ours[1:])), ours
    assert ours[-1] < 0.5 * ours[0], ours


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bridge_returns_tensors_on_the_input_device():
    x = torch.randn(1, 2, 3, 3, device="cuda", dtype=torch.float64)
    weight = torch.randn(2, 3, 3, 3, device="cuda", dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, device="cuda", dtype=torch.float64, requires_grad=True)
    out = torch_conv_transpose2d(x, weight, bias, stride=2, padding=1)
    assert out.device == x.device, out.device
    out.sum().backward()
    devices = weight.grad.device, bias.grad.device
    assert devices == (x.device, x.device), devices
    ref = F.conv_transpose2d(x, weight.detach(), bias.detach(), stride=2, padding=1)
    torch.testing.assert_close(out.detach(), ref, rtol=1e-10, atol=1e-10)
