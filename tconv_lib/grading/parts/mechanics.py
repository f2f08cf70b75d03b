"""Mechanics: stamping and zero insertion from scratch, conv_transpose2d with PyTorch's signature, and
conv_transpose1d's whole signature as one ordinary convolution."""

from __future__ import annotations

import numpy as np

from ... import geometry, transposed
from ...transposed import conv_transpose1d, conv_transpose2d
from .. import references
from ..cases import (
    CONV_TRANSPOSE2D_STRATA,
    Case,
    FromCatalogue,
    Part,
    Raising,
    describe_catalogue_case,
    fmt_params,
    fresh_inputs,
    register,
    small_array,
    torch_reference,
)


def _draw_scatter_1d(rng):
    k, s, n = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 7))
    x, weight = small_array(rng, n), small_array(rng, k)
    expected = conv_transpose1d(x[None, None], weight[None, None], stride=s)[0, 0]
    refs = torch_reference("conv_transpose1d", x[None, None], weight[None, None], stride=s)
    return Case(
        f"x={x.tolist()}, weight={weight.tolist()}, stride={s}",
        (x, weight, s),
        expected=expected,
        references={key: v[0, 0] for key, v in refs.items()},
    )


def _draw_single_channel_2d(rng, with_padding: bool):
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    x, weight = small_array(rng, (h, w)), small_array(rng, (kh, kw))
    stride = (sh, sw) if rng.random() < 0.5 else sh
    s2 = stride if isinstance(stride, tuple) else (stride, stride)
    padding = 0
    if with_padding:
        full = [geometry.conv_transpose_output_size(n, k, s) for n, k, s in zip((h, w), (kh, kw), s2)]
        padding = tuple(int(rng.integers(0, (f - 1) // 2 + 1)) for f in full)
        padding = padding[0] if rng.random() < 0.3 and padding[0] == padding[1] else padding
    expected = conv_transpose2d(x[None, None], weight[None, None], stride=stride, padding=padding)[0, 0]
    refs = torch_reference(
        "conv_transpose2d", x[None, None], weight[None, None], stride=stride, padding=padding
    )
    return Case(
        f"x.shape={x.shape}, weight.shape={weight.shape}, {fmt_params(stride=stride, padding=padding)}",
        (x, weight, stride, padding),
        expected=expected,
        references={key: v[0, 0] for key, v in refs.items()},
    )


def _draw_cropped_away(rng):
    """A padding that crops every row or every column of the canvas: nothing left, a ValueError."""
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = (int(v) for v in rng.integers(1, 5, 2))
    canvas = ((h - 1) * sh + kh, (w - 1) * sw + kw)
    axis = int(rng.integers(2))  # the axis cropped away; the other keeps something
    padding = [int(rng.integers(0, (c - 1) // 2 + 1)) for c in canvas]
    padding[axis] = int(rng.integers((canvas[axis] + 1) // 2, canvas[axis] + 2))
    x, weight = small_array(rng, (h, w)), small_array(rng, (kh, kw))
    return Case(
        f"x.shape={x.shape}, weight.shape={weight.shape}, stride={(sh, sw)}, padding={tuple(padding)} "
        f"(the padding crops the whole canvas of {canvas[0]}x{canvas[1]} along one axis)",
        (x, weight, (sh, sw), tuple(padding)),
        raises=ValueError,
    )


def _draw_zero_insert(rng):
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    stride = (sh, sw) if rng.random() < 0.5 else sh  # int or pair, as in the other 2D parts
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    x = small_array(rng, (h, w))
    expected = np.zeros(((h - 1) * sh + 1, (w - 1) * sw + 1))
    expected[::sh, ::sw] = x
    return Case(f"x.shape={x.shape}, stride={stride}", (x, stride), expected=expected)


def _draw_padded_2d(rng):
    return _draw_single_channel_2d(rng, with_padding=True)


register(Part("mechanics.scatter_1d", "Part A: stamping in 1D", _draw_scatter_1d))
register(
    Part(
        "mechanics.scatter_2d",
        "Part B: stamping in 2D, with padding",
        Raising(_draw_padded_2d, _draw_cropped_away),
        n_cases=10,
    )
)
register(Part("mechanics.zero_insert", "Part C: zero insertion", _draw_zero_insert))
register(
    Part(
        "mechanics.zero_insertion_2d",
        "Part D: zero insertion + convolution with the flipped kernel",
        Raising(_draw_padded_2d, _draw_cropped_away),
        n_cases=10,
    )
)


def _forward(case: references.Case, rng) -> Case:
    """Call ``f(x, weight, bias, **params)`` on fresh inputs; expect tconv_lib's output and PyTorch's."""
    arrays = fresh_inputs(case, rng)
    args = (arrays["x"], arrays["weight"], arrays["bias"])
    return Case(
        describe_catalogue_case(case, "x", "weight", "bias"),
        args,
        dict(case.params),
        expected=transposed.conv_transpose2d(*args, **case.params),
        references=torch_reference("conv_transpose2d", *args, **case.params),
    )


# every argument set of conv_transpose2d, one hyper-parameter after the other
register(
    Part(
        "mechanics.conv_transpose2d",
        "Part E: conv_transpose2d with PyTorch's full signature",
        FromCatalogue("conv_transpose2d", _forward, CONV_TRANSPOSE2D_STRATA),
        n_cases=10,
    )
)


# --------------------------------------------------------------------------------------
# Part F (challenge): conv_transpose1d's whole signature, as one ordinary convolution
# --------------------------------------------------------------------------------------


def _draw_full_1d(rng):
    """One channel, every argument of conv_transpose1d: stride, padding, output_padding (often > p), d."""
    n, k, s, d = (
        int(rng.integers(1, 7)),
        int(rng.integers(1, 6)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
    )
    op = int(rng.integers(0, max(s, d)))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    x, weight = small_array(rng, n), small_array(rng, k)
    params = dict(stride=s, padding=p, output_padding=op, dilation=d)
    refs = torch_reference("conv_transpose1d", x[None, None], weight[None, None], **params)
    return Case(
        f"x={x.tolist()}, weight={weight.tolist()}, {fmt_params(**params)}",
        (x, weight),
        params,
        expected=conv_transpose1d(x[None, None], weight[None, None], **params)[0, 0],
        references={key: v[0, 0] for key, v in refs.items()},
    )


def _refused(x, weight, params, why) -> Case:
    try:  # tconv_lib refuses it as PyTorch does
        conv_transpose1d(x[None, None], weight[None, None], **params)
    except ValueError:
        pass
    else:  # pragma: no cover -- the drawers below only make refused layers
        raise AssertionError(f"tconv_lib accepts {params}")
    return Case(
        f"x={x.tolist()}, weight={weight.tolist()}, {fmt_params(**params)} ({why})",
        (x, weight),
        params,
        raises=ValueError,
    )


def _draw_full_1d_no_output(rng):
    n, k, s, d = (
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 3)),
        int(rng.integers(1, 3)),
    )
    op = int(rng.integers(0, max(s, d)))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    params = dict(
        stride=s, padding=int(rng.integers((full + 1) // 2, full + 2)), output_padding=op, dilation=d
    )
    return _refused(small_array(rng, n), small_array(rng, k), params, "no output")


def _draw_full_1d_output_padding_too_large(rng):
    n, k, s, d = (
        int(rng.integers(1, 5)),
        int(rng.integers(1, 5)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
    )
    params = dict(stride=s, padding=0, output_padding=max(s, d) + int(rng.integers(0, 2)), dilation=d)
    return _refused(small_array(rng, n), small_array(rng, k), params, "output_padding too large")


register(
    Part(
        "mechanics.conv_transpose1d_full",
        "Part F (challenge): the whole signature as one ordinary convolution",
        Raising(_draw_full_1d, (_draw_full_1d_no_output, _draw_full_1d_output_padding_too_large)),
        n_cases=12,
    )
)
