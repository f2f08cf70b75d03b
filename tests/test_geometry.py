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


# Keras' own rules, written out here from Keras 3's source (keras/src/backend/common/backend_utils.py:
# `_get_output_shape_given_tf_padding` for the output length, and
# `_convert_conv_transpose_padding_args_from_keras_to_jax` for where the output starts on the canvas
# of stamps), independently of tconv_lib.geometry: the library's model of Keras is checked against
# Keras, not against itself.  (Checked once against keras 3.15.1's Conv1DTranspose with the torch
# backend, for every padding, k <= 5, s <= 3, d <= 2 and four input lengths: no mismatch.  Keras is
# not a dependency of the course.)


def _keras_output_length(n, k, s, padding, d=1, output_padding=None):
    """Keras 3: the length Conv1DTranspose / Conv2DTranspose returns along one axis."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        op = max(k_eff, s) - k_eff if output_padding is None else output_padding
        return (n - 1) * s + k_eff + op
    if output_padding is None:
        return n * s
    return (n - 1) * s + k_eff % 2 + output_padding


def _keras_crop_start(k, s, padding, d=1):
    """Keras 3 (output_padding=None): canvas positions dropped before the first output.

    The JAX backend pads the zero-inserted input by `left_pad` before convolving; the full canvas
    of stamps corresponds to a padding of k_eff - 1, so Keras drops (k_eff - 1) - left_pad.
    """
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        left_pad = k_eff - 1
    else:
        pad_len = s + k_eff - 2
        left_pad = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    return (k_eff - 1) - left_pad


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2])
def test_keras_sizes_and_mapping_agree_with_keras_rules(padding, k, s, d):
    """keras_conv_transpose_output_size is Keras' length; keras_to_torch_padding reaches it."""
    k_eff = d * (k - 1) + 1
    for n in range(1, 7):
        keras = _keras_output_length(n, k, s, padding, d)
        assert geometry.keras_conv_transpose_output_size(n, k, s, padding, d) == keras, (padding, k, s, d, n)
    try:
        p, op = geometry.keras_to_torch_padding(k, s, padding, d)
    except ValueError:
        # only 'same' with an even effective kernel, stride 1 and dilation 1 is inexpressible
        assert padding == "same" and (k_eff - s) % 2 == 1 and max(s, d) == 1
        return
    assert 0 <= op < max(s, d)
    for n in range(1, 7):
        keras = _keras_output_length(n, k, s, padding, d)
        assert geometry.conv_transpose_output_size(n, k, s, p, op, d) == keras
        out = tconv_lib.conv_transpose1d(np.ones((1, n)), np.ones((1, 1, k)), stride=s, padding=p,
                                         output_padding=op, dilation=d)
        assert out.shape[-1] == keras


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_keras_same_starts_where_the_book_says(k, s):
    """The book (geometry, keras_to_torch_padding's Notes): Keras' 'same' drops floor((k_eff - s)/2)
    canvas positions at the start (none when k_eff <= s), PyTorch's padding p = ceil((k_eff - s)/2):
    the same values, shifted by one position when k_eff - s is odd."""
    excess = k - s
    assert _keras_crop_start(k, s, "same") == max(excess, 0) // 2, f"k={k} s={s}"
    assert _keras_crop_start(k, s, "valid") == 0
    if excess > 0 and not (s == 1 and excess % 2):
        p, _ = geometry.keras_to_torch_padding(k, s, "same")
        assert p - _keras_crop_start(k, s, "same") == excess % 2, f"k={k} s={s}: PyTorch starts {p}"


def test_keras_same_alignment_differs_by_one_when_excess_is_odd():
    """The worked example of the geometry chapter, k = 3, s = 2: Keras' window of the canvas (its
    own rule, above) and PyTorch's are shifted by one."""
    x = np.arange(1.0, 5.0)[None]
    w = np.array([[[1.0, 10.0, 100.0]]])
    full = tconv_lib.conv_transpose1d(x, w, stride=2)  # nothing cropped
    start = _keras_crop_start(3, 2, "same")
    keras_same = full[:, start : start + _keras_output_length(4, 3, 2, "same")]
    p, op = geometry.keras_to_torch_padding(3, 2, "same")
    torch_same = tconv_lib.conv_transpose1d(x, w, stride=2, padding=p, output_padding=op)
    assert keras_same.shape == torch_same.shape
    np.testing.assert_array_equal(torch_same[:, :-1], keras_same[:, 1:])


def test_keras_padding_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        geometry.keras_to_torch_padding(3, 2, "full")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 9), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), data=st.data())
def test_input_interior_range_is_where_every_tap_lands_inside(n, k, s, p, d, data):
    """Brute force: input i is in the range iff all its taps i*s + a*d - p fall in output_range."""
    op = data.draw(st.integers(0, max(s, d) - 1))
    size = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    if size < 1:
        return
    lo = data.draw(st.integers(0, size - 1))
    hi = data.draw(st.integers(lo, size))
    for output_range in (None, range(lo, hi)):
        r = range(size) if output_range is None else output_range
        expected = [i for i in range(n) if all(r.start <= i * s + a * d - p < r.stop for a in range(k))]
        got = geometry.input_interior_range(n, k, s, p, op, d, output_range=output_range)
        assert list(got) == expected, f"n={n} k={k} s={s} p={p} op={op} d={d} {output_range}: {got}"


def test_input_interior_range_is_where_the_input_gradient_sums_every_tap():
    """With a kernel of ones and an upstream gradient of ones, the input gradient counts the taps
    that land inside the output: k exactly on the input interior."""
    n, k, s, p = 7, 4, 2, 1
    g = np.ones((1, 1, geometry.conv_transpose_output_size(n, k, s, p)))
    counts = tconv_lib.conv1d(g, np.ones((1, 1, k)), stride=s, padding=p)[0, 0]
    inner = geometry.input_interior_range(n, k, s, p)
    assert (counts == k).tolist() == [i in inner for i in range(n)], f"counts {counts}, interior {inner}"
