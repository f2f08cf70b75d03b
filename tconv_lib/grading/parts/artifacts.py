"""Artifacts: coverage counts, their variance, the polyphase view and the checkerboard score."""

from __future__ import annotations

import numpy as np

from ... import artifacts, geometry
from ..cases import Case, Part, Wide, fmt_params, register, small_array, torch_reference


def _draw_transposed_1d_params(rng, k_max=6, s_max=4, n_max=8):
    """n, k, s, p of a single-channel 1D transposed convolution whose output is not empty."""
    n, k, s = (int(rng.integers(1, hi + 1)) for hi in (n_max, k_max, s_max))
    full = geometry.conv_transpose_output_size(n, k, s)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    return n, k, s, p


def _draw_coverage1d(rng, **wide):
    n, k, s, p = _draw_transposed_1d_params(rng, **wide)
    return Case(fmt_params(n=n, k=k, s=s, p=p), (n, k, s, p), expected=artifacts.coverage1d(n, k, s, p))


def _draw_coverage_variance(rng, s_max=7):
    s = int(rng.integers(1, s_max))
    k = int(rng.integers(1, 4 * s + 1))
    return Case(fmt_params(k=k, s=s), (k, s), expected=float(artifacts.coverage_variance(k, s)))


def _draw_polyphase_kernels(rng):
    k, s = int(rng.integers(1, 9)), int(rng.integers(1, 5))
    weight = small_array(rng, k)
    expected = list(artifacts.polyphase_decompose(weight, s))
    return Case(f"weight={weight.tolist()}, stride={s}", (weight, s), expected=expected)


def _draw_conv_transpose1d_polyphase(rng):
    n, k, s, p = _draw_transposed_1d_params(rng)
    x, weight = small_array(rng, n), small_array(rng, k)
    expected = artifacts.conv_transpose1d_polyphase(x[None], weight[None, None], stride=s, padding=p)[0]
    refs = torch_reference("conv_transpose1d", x[None, None], weight[None, None], stride=s, padding=p)
    return Case(
        f"x={x.tolist()}, weight={weight.tolist()}, {fmt_params(stride=s, padding=p)}",
        (x, weight, s, p),
        expected=expected,
        references={key: v[0, 0] for key, v in refs.items()},
    )


def _draw_checkerboard_score(rng):
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    stride = (sh, sw) if rng.random() < 0.5 else sh
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    h, w = int(rng.integers(sh, 3 * sh + 3)), int(rng.integers(sw, 3 * sw + 3))
    kind = rng.random()
    if kind < 0.1:  # nothing at all: the score is 0, not a division by zero
        image = np.zeros((h, w))
    elif kind < 0.6:  # a pattern that repeats every (sH, sW) pixels, plus a little noise
        period = small_array(rng, (sh, sw))
        image = np.tile(period, (h // sh + 1, w // sw + 1))[:h, :w] + 0.25 * small_array(rng, (h, w))
    else:
        image = small_array(rng, (h, w))
    return Case(
        f"image.shape={image.shape}, stride={stride}",
        (image, stride),
        expected=float(artifacts.checkerboard_score(image, stride)),
    )


register(
    Part(
        "artifacts.coverage1d",
        "Part A: coverage counts in 1D",
        Wide(_draw_coverage1d, lambda rng: _draw_coverage1d(rng, k_max=60, s_max=30, n_max=300)),
        n_cases=12,
    )
)
register(
    Part(
        "artifacts.coverage_variance",
        "Part B: the variance of the coverage",
        Wide(_draw_coverage_variance, lambda rng: _draw_coverage_variance(rng, s_max=10**4)),
        n_cases=12,
    )
)
register(
    Part(
        "artifacts.polyphase_kernels",
        "Part C: the polyphase sub-kernels",
        _draw_polyphase_kernels,
        n_cases=10,
    )
)
register(
    Part(
        "artifacts.conv_transpose1d_polyphase",
        "Part D: the transposed convolution as s convolutions, interleaved",
        _draw_conv_transpose1d_polyphase,
        n_cases=10,
    )
)
register(
    Part(
        "artifacts.checkerboard_score",
        "Part E: one number for a checkerboard",
        _draw_checkerboard_score,
        n_cases=10,
    )
)
