"""The worked examples of the source lectures (../shared/seeds/), reproduced with their numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import F, t

import tconv_lib
from tconv_lib import geometry

# Lecture 000/001: a 2x2 input, a 2x2 kernel, stride 1 -> 3x3.
STAMP_X = np.array([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("view", tconv_lib.VIEWS_2D)
def test_stamp_lecture_2x2_to_3x3(view):
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = tconv_lib.VIEWS_2D[view](STAMP_X[None], kernel[None, None])[0]
    assert out.shape == (3, 3)
    # the lecture's point: the centre gets a product from every input element, corners from one
    coverage = tconv_lib.conv_transpose2d(np.ones((1, 2, 2)), np.ones((1, 1, 2, 2)))[0]
    np.testing.assert_array_equal(coverage, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_allclose(out, F.conv_transpose2d(t(STAMP_X[None]), t(kernel[None, None]))[0])


# Lecture 002 (U-Net): a 2x2 input, 3x3 filter, "padding 1", stride 2 -> 4x4, worked by hand.
UNET_X = np.array([[2.0, 1.0], [3.0, 2.0]])
UNET_FILTER = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
# The sums the lecturer reads out, row by row.  He reads three values of row 1 and
# skips the fourth (None); every other entry is stated.
UNET_SPOKEN = [
    [0, 2 + 2, 0, 1],
    [4 + 6, 2 + 0 + 3 + 2, 2 + 4, None],
    [0, 3 + 4, 0, 2],
    [6, 3 + 0, 4, 2],
]


def _matches_spoken(out) -> bool:
    if out.shape != (4, 4):
        return False
    return all(
        spoken is None or out[i, j] == spoken
        for i, row in enumerate(UNET_SPOKEN)
        for j, spoken in enumerate(row)
    )


def test_unet_lecture_needs_padding_1_and_output_padding_1():
    """Of all (padding, output_padding) pairs, only padding=1, output_padding=1 gives the
    lecture's 4x4 result: its "padding 1" crops one row and column at the top and left,
    and PyTorch's symmetric padding must give the bottom/right one back."""
    found = []
    for p, op in itertools.product(range(3), range(2)):
        if geometry.conv_transpose_output_size(2, 3, 2, p, op) < 1:
            continue
        out = tconv_lib.conv_transpose2d(UNET_X[None], UNET_FILTER[None, None], stride=2,
                                         padding=p, output_padding=op)[0]
        if _matches_spoken(out):
            found.append((p, op))
    assert found == [(1, 1)]


@pytest.mark.parametrize("view", tconv_lib.VIEWS_2D)
def test_unet_lecture_numbers(view):
    out = tconv_lib.VIEWS_2D[view](UNET_X[None], UNET_FILTER[None, None], stride=2, padding=1,
                                   output_padding=1)[0]
    assert _matches_spoken(out), out
    ref = F.conv_transpose2d(t(UNET_X[None, None]), t(UNET_FILTER[None, None]), stride=2,
                             padding=1, output_padding=1)[0, 0]
    np.testing.assert_array_equal(out, ref.numpy())
    # The entry the lecturer skips: filter column 2 of the red stamp, row 2 of the green one.
    assert out[1, 3] == 3.0


def test_study_notes_1x1_kernel_stride_2_doubles_3x3_with_gaps():
    """Notes 003: Keras' Conv2DTranspose(1, (1, 1), strides=2, ones) maps 3x3 to 6x6.
    PyTorch's default gives 5x5; output_padding=1 gives Keras' size.  Either way
    the 1x1 kernel is shorter than the stride: every other row and column is a gap."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3)
    w = np.ones((1, 1, 1, 1))
    assert tconv_lib.conv_transpose2d(x, w, stride=2).shape == (1, 5, 5)
    p, op = geometry.keras_to_torch_padding(1, 2, "valid")
    out = tconv_lib.conv_transpose2d(x, w, stride=2, padding=p, output_padding=op)[0]
    assert out.shape == (6, 6)
    np.testing.assert_array_equal(out[::2, ::2], x[0])
    assert not out[1::2].any() and not out[:, 1::2].any()
