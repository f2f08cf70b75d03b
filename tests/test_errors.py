"""Error parity: tconv_lib rejects exactly the argument sets PyTorch rejects,
and says what would be valid."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, t
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv_lib


def _torch_rejects(fn, *args, **kwargs) -> bool:
    try:
        fn(*args, **kwargs)
    except (RuntimeError, ValueError, TypeError):
        return True
    return False


def _ours_rejects(fn, *args, **kwargs) -> bool:
    try:
        fn(*args, **kwargs)
    except (ValueError, TypeError) as err:
        assert str(err), "an error must say what is wrong"
        return True
    return False


MUTATIONS = [
    None, None, None,
    "stride_zero", "negative_padding", "negative_output_padding", "output_padding_equal",
    "output_padding_large", "dilation_zero", "groups_zero", "groups_not_dividing",
    "channel_mismatch", "bias_wrong_length", "x_2d", "x_5d", "padding_to_empty_output",
    "padding_to_one_output", "tuple_of_three", "weight_3d",
]


@st.composite
def maybe_invalid_transposed(draw):
    """A valid argument set, then at most one change that may (or may not) make it invalid."""
    groups = draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    x_shape = [2, groups * draw(st.integers(1, 2)), *size]
    weight_shape = [x_shape[1], draw(st.integers(1, 2)), *k]
    params = dict(stride=stride, padding=(0, 0), output_padding=op, groups=groups, dilation=dilation)
    bias_len = weight_shape[1] * groups
    mutation = draw(st.sampled_from(MUTATIONS))
    axis = draw(st.integers(0, 1))
    full = (size[axis] - 1) * stride[axis] + dilation[axis] * (k[axis] - 1) + 1 + op[axis]

    def set_axis(name, value):
        pair = list(params[name])
        pair[axis] = value
        params[name] = tuple(pair)

    if mutation == "stride_zero":
        set_axis("stride", 0)
    elif mutation == "negative_padding":
        set_axis("padding", -1)
    elif mutation == "negative_output_padding":
        set_axis("output_padding", -1)
    elif mutation == "output_padding_equal":
        set_axis("output_padding", max(stride[axis], dilation[axis]))
    elif mutation == "output_padding_large":
        set_axis("output_padding", stride[axis])
    elif mutation == "dilation_zero":
        set_axis("dilation", 0)
    elif mutation == "groups_zero":
        params["groups"] = 0
    elif mutation == "groups_not_dividing":
        params["groups"] = x_shape[1] + 1
    elif mutation == "channel_mismatch":
        x_shape[1] += 1
    elif mutation == "bias_wrong_length":
        bias_len += 1
    elif mutation == "x_2d":
        x_shape = x_shape[2:]
    elif mutation == "x_5d":
        x_shape = [1, *x_shape]
    elif mutation == "padding_to_empty_output":
        set_axis("padding", full // 2)
    elif mutation == "padding_to_one_output":
        set_axis("padding", (full - 1) // 2)
    elif mutation == "tuple_of_three":
        params["stride"] = (1, 1, 1)
    elif mutation == "weight_3d":
        weight_shape = weight_shape[:3]
    with_bias = draw(st.booleans()) or mutation == "bias_wrong_length"
    return tuple(x_shape), tuple(weight_shape), bias_len if with_bias else None, params


@settings(max_examples=400, deadline=None)
@given(maybe_invalid_transposed())
def test_conv_transpose2d_rejects_what_torch_rejects(case):
    x_shape, weight_shape, bias_len, params = case
    x, weight = np.ones(x_shape), np.ones(weight_shape)
    bias = None if bias_len is None else np.ones(bias_len)
    theirs = _torch_rejects(F.conv_transpose2d, t(x), t(weight), t(bias), **params)
    for name, view in tconv_lib.VIEWS_2D.items():
        ours = _ours_rejects(view, x, weight, bias, **params)
        assert ours == theirs, f"{name}: torch rejects={theirs}, ours={ours} for {case}"


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 5), k=st.integers(1, 4), s=st.integers(-1, 3), p=st.integers(-1, 3),
    d=st.integers(-1, 3), groups=st.integers(0, 3), c_in=st.integers(1, 4),
    padding_str=st.sampled_from([None, "same", "valid"]),
)
def test_conv1d_rejects_what_torch_rejects(n, k, s, p, d, groups, c_in, padding_str):
    x, weight = np.ones((c_in, n)), np.ones((2, 2, k))
    padding = p if padding_str is None else padding_str
    theirs = _torch_rejects(F.conv1d, t(x), t(weight), None, s, padding, d, groups)
    ours = _ours_rejects(tconv_lib.conv1d, x, weight, None, s, padding, d, groups)
    assert ours == theirs, (n, k, s, padding, d, groups, c_in)


def test_messages_say_what_would_be_valid():
    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"must be smaller than stride=\(2, 2\) or dilation=\(1, 1\)"):
        tconv_lib.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"laid out \(C_in, C_out // groups, \*kernel\)"):
        tconv_lib.conv_transpose2d(np.ones((1, 2, 3, 3)), w)
    with pytest.raises(ValueError, match="reduce the padding"):
        tconv_lib.conv_transpose2d(x, w, padding=3)
    with pytest.raises(TypeError, match=r"astype\(np.float64\)"):
        tconv_lib.conv_transpose2d(np.ones((1, 1, 3, 3), dtype=int), w)
    with pytest.raises(TypeError, match="same dtype"):
        tconv_lib.conv_transpose2d(x.astype(np.float32), w)
    with pytest.raises(ValueError, match=r"expects a 3D \(unbatched: C, H, W\) or 4D"):
        tconv_lib.conv_transpose2d(np.ones((3, 3)), w)
    with pytest.raises(ValueError, match="not supported for strided"):
        tconv_lib.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(TypeError, match="stride must be an int or a tuple of 2 ints"):
        tconv_lib.conv_transpose2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="got 3 values"):
        tconv_lib.conv_transpose2d(x, w, padding=(1, 1, 1))


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, bool])
def test_non_float_dtypes_are_refused(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        tconv_lib.conv_transpose2d(np.ones((1, 1, 2, 2), dtype=dtype), np.ones((1, 1, 2, 2)))
