"""Size formulas in tconv_lib.geometry, checked against what the operators produce."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import F, t
from hypothesis import given, settings
from hypothesis import strategies as st

import tconv_lib
from tconv_lib import geometry


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 9), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
    d=st.integers(1, 3), data=st.data(),
)
def test_transposed_size_formula_matches_torch(n, k, s, p, d, data):
    op = data.draw(st.integers(0, max(s, d) - 1))
    expected = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    if expected < 1:
        return
    out = F.conv_transpose1d(t(np.zeros((1, 1, n))), t(np.zeros((1, 1, k))), None, s, p, op, 1, d)
    assert out.shape[-1] == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_conv_size_formula_matches_torch(n, k, s, p, d):
    expected = geometry.conv_output_size(n, k, s, p, d)
    if d * (k - 1) + 1 > n + 2 * p:
        return
    out = F.conv1d(t(np.zeros((1, 1, n))), t(np.zeros((1, 1, k))), None, s, p, d)
    assert out.shape[-1] == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 12), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 2),
       d=st.integers(1, 2))
def test_output_padding_for_undoes_a_strided_conv(n, k, s, p, d):
    """Every input size of a forward conv is reachable again by its transpose."""
    if d * (k - 1) + 1 > n + 2 * p:
        return
    m = geometry.conv_output_size(n, k, s, p, d)
    op = geometry.output_padding_for(m, n, k, s, p, d)
    assert 0 <= op < max(s, d)
    assert geometry.conv_transpose_output_size(m, k, s, p, op, d) == n
    # PyTorch's own output_size argument agrees
    layer = __import__("torch").nn.ConvTranspose1d(1, 1, k, s, p, dilation=d, bias=False).double()
    assert layer(t(np.zeros((1, 1, m))), output_size=[n]).shape[-1] == n


def test_output_padding_for_names_reachable_sizes():
    with pytest.raises(ValueError, match=r"reachable sizes are \[7, 8\]"):
        geometry.output_padding_for(4, 9, kernel_size=3, stride=2, padding=1)


def test_reachable_sizes_are_one_per_output_padding():
    assert geometry.conv_transpose_output_sizes(4, 3, stride=3, padding=1) == [10, 11, 12]
    assert geometry.conv_transpose_output_sizes(4, 3, stride=1, dilation=2) == [8, 9]


# Keras' deconv_output_length, written out from its definition for output_padding=None.
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2])
def test_keras_mapping_gives_keras_sizes(padding, k, s, d):
    k_eff = d * (k - 1) + 1
    try:
        p, op = geometry.keras_to_torch_padding(k, s, padding, d)
    except ValueError:
        # only 'same' with an even effective kernel, stride 1 and dilation 1 is inexpressible
        assert padding == "same" and (k_eff - s) % 2 == 1 and max(s, d) == 1
        return
    assert 0 <= op < max(s, d)
    for n in range(1, 7):
        keras = geometry.keras_conv_transpose_output_size(n, k, s, padding, d)
        assert keras == (n * s if padding == "same" else n * s + max(k_eff - s, 0))
        assert geometry.conv_transpose_output_size(n, k, s, p, op, d) == keras
        out = tconv_lib.conv_transpose1d(np.ones((1, n)), np.ones((1, 1, k)), stride=s, padding=p,
                                         output_padding=op, dilation=d)
        assert out.shape[-1] == keras


def test_keras_same_alignment_differs_by_one_when_excess_is_odd():
    """Keras crops floor(e/2) at the start and ceil(e/2) at the end (e = k_eff - s);
    PyTorch crops p = ceil(e/2) at the start: the outputs are shifted by one."""
    x = np.arange(1.0, 5.0)[None]
    w = np.array([[[1.0, 10.0, 100.0]]])
    full = tconv_lib.conv_transpose1d(x, w, stride=2)  # nothing cropped
    excess = 3 - 2
    keras_same = full[:, excess // 2 : full.shape[-1] - (excess - excess // 2)]
    p, op = geometry.keras_to_torch_padding(3, 2, "same")
    torch_same = tconv_lib.conv_transpose1d(x, w, stride=2, padding=p, output_padding=op)
    assert keras_same.shape == torch_same.shape
    np.testing.assert_array_equal(torch_same[:, :-1], keras_same[:, 1:])


def test_keras_padding_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        geometry.keras_to_torch_padding(3, 2, "full")
