"""Artifacts: coverage counts, their variance, the polyphase view (1D, then 2D with dilation), the
checkerboard score, and an experiment: the phase gains of random kernels, graded on their statistics."""

from __future__ import annotations

import functools

import numpy as np

from ... import artifacts, geometry, transposed
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


# --------------------------------------------------------------------------------------
# Part F (challenge): the 2D polyphase view, with dilation
# --------------------------------------------------------------------------------------


def _draw_polyphase_2d(rng):
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.integers(1, 4, 2))
    if rng.random() < 0.3:  # a dilation that shares a factor with the stride: phases no tap reaches
        sh, dh = 2, 2
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    full = [
        geometry.conv_transpose_output_size(n, k, s, 0, 0, d)
        for n, k, s, d in zip((h, w), (kh, kw), (sh, sw), (dh, dw))
    ]
    ph, pw = (int(rng.integers(0, (f - 1) // 2 + 1)) for f in full)
    x, weight = small_array(rng, (h, w)), small_array(rng, (kh, kw))
    square = rng.random() < 0.3 and (sh, ph, dh) == (sw, pw, dw)
    stride, padding, dilation = (sh, ph, dh) if square else ((sh, sw), (ph, pw), (dh, dw))
    params = dict(stride=stride, padding=padding, dilation=dilation)
    refs = torch_reference("conv_transpose2d", x[None, None], weight[None, None], **params)
    return Case(
        f"x.shape={x.shape}, weight.shape={weight.shape}, {fmt_params(**params)}",
        (x, weight, stride, padding, dilation),
        expected=transposed.conv_transpose2d(x[None, None], weight[None, None], **params)[0, 0],
        references={key: v[0, 0] for key, v in refs.items()},
    )


# --------------------------------------------------------------------------------------
# Part G (experiment): the phase gains of random kernels, graded on their statistics
# --------------------------------------------------------------------------------------

#: Random draws per case: enough that six standard errors separate a right measurement from a wrong one.
GAIN_TRIALS = 400
#: How many standard errors a measured mean or variance may stray from theory (a right measurement
#: strays further about once in a million cases).
GAIN_Z = 6.0


def check_gains(value, kernel_size, stride, weight_mean, weight_std, trials) -> str | None:
    """Whether ``value`` is what measuring the phase gains of ``trials`` random kernels gives.

    Phase ``r`` of a stride-``s`` layer sums the ``c_r`` taps that land on it (``c`` is
    :func:`tconv_lib.artifacts.coverage_period`), so for independent weights of mean ``mu`` and
    standard deviation ``sigma`` its gain has mean ``mu * c_r`` and variance ``sigma**2 * c_r``
    (:func:`tconv_lib.artifacts.phase_gain_statistics`).  A measurement passes when, phase by
    phase, its sample mean and sample variance lie within :data:`GAIN_Z` standard errors of those;
    a phase that no tap reaches must measure 0 in every draw.
    """
    k, s, mu, sigma = kernel_size, stride, weight_mean, weight_std
    where = "Read one whole period in the middle of the output, phase r at the positions m * stride + r"
    if not isinstance(value, np.ndarray) or value.shape != (trials, s):
        shape = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        return f"return the gains as an array of shape (trials, stride) = {(trials, s)}, got {shape}"
    if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
        return f"the gains must be finite floats; got an array of dtype {value.dtype} that is not"
    stats = artifacts.phase_gain_statistics(k, s, mu, sigma)
    counts = artifacts.coverage_period(k, s)
    for r, c in enumerate(counts):
        gains = value[:, r]
        if c == 0:
            if np.max(np.abs(gains)) > 1e-9 * (1 + abs(mu) + sigma):
                return (
                    f"phase {r}: no tap of a kernel of size {k} lands on it with stride {s}, so its gain "
                    f"is 0 in every draw; you measured values up to {np.max(np.abs(gains)):.4g}. {where}"
                )
            continue
        mean, tolerance = float(gains.mean()), GAIN_Z * np.sqrt(stats.variance[r] / trials)
        if abs(mean - stats.mean[r]) > tolerance:
            return (
                f"phase {r}: your {trials} gains have mean {mean:.4g}; {c} taps of mean {mu:g} land on "
                f"it, so their mean should be {stats.mean[r]:.4g} (within {tolerance:.2g} for {trials} "
                f"draws). {where}, where every tap reaches"
            )
        ratio = float(gains.var(ddof=1)) / stats.variance[r]
        bound = GAIN_Z * np.sqrt(2 / (trials - 1))
        if abs(ratio - 1) > bound:
            return (
                f"phase {r}: your {trials} gains have variance {gains.var(ddof=1):.4g}; a sum of {c} "
                f"independent weights of standard deviation {sigma:g} has variance "
                f"{stats.variance[r]:.4g} (the ratio {ratio:.3g} should lie within 1 +- {bound:.2g}). "
                f"Draw a new kernel for every trial"
            )
    return None


def _draw_gain_experiment(rng, kind):
    """``kind`` decides what the case catches: uneven coverage with weights of one sign, whose mean
    stands six standard errors clear of a reading at the border or off by a phase (a coverage
    that no rolling of the phases keeps), zero-mean weights, or a kernel shorter than the stride."""
    s = int(rng.integers(2, 5))
    sigma = float(rng.choice([0.25, 0.5, 1.0, 2.0]))
    if kind == "one_sign":  # a phase gets a tap more, and a period read from the wrong phase shows
        s = int(rng.integers(3, 5))
        k = int(rng.choice([k for k in range(s + 1, 3 * s + 1) if k % s not in (0, 1)]))
        mu, sigma = float(rng.choice([-1.0, -0.5, 0.5, 1.0])), float(rng.choice([0.25, 0.5]))
    elif kind == "zero_mean":
        k, mu = int(rng.integers(1, 3 * s + 1)), 0.0
    else:  # "gaps"
        k, mu = int(rng.integers(1, s)), float(rng.choice([0.0, 1.0]))
    args = dict(kernel_size=k, stride=s, weight_mean=mu, weight_std=sigma, trials=GAIN_TRIALS)
    seed = int(rng.integers(2**31))
    return Case(
        fmt_params(**args, seed=seed),
        (*args.values(), seed),
        check=functools.partial(check_gains, **args),
    )


class _GainStrata:
    """Each set: half uneven coverage with weights of one sign, a quarter zero-mean, a quarter with gaps."""

    KINDS = ("one_sign", "one_sign", "zero_mean", "gaps")

    def __call__(self, rng):
        return _draw_gain_experiment(rng, str(rng.choice(self.KINDS)))

    def many(self, rng, n):
        return [_draw_gain_experiment(rng, self.KINDS[i % len(self.KINDS)]) for i in range(n)]


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
register(
    Part(
        "artifacts.conv_transpose2d_polyphase",
        "Part F (challenge): sH x sW small convolutions, interleaved, with dilation",
        _draw_polyphase_2d,
        n_cases=10,
    )
)
register(
    Part(
        "artifacts.random_phase_gains",
        "Part G (experiment): the phase gains of random kernels",
        _GainStrata(),
        n_cases=8,
    )
)
