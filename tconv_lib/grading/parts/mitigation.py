"""Mitigation: nearest upsampling, resize-convolve, the bilinear kernel, pixel shuffle, ICNR; an upsampler of
the student's design graded on its properties; and whether a layer's checkerboard survives training."""

from __future__ import annotations

import functools

import numpy as np

from ... import artifacts, geometry, mitigation
from ..cases import Case, Part, Wide, fmt_params, register, small_array, torch_reference


def _draw_scale(rng, hi=4):
    """An int or, half the time, a pair of ints, from 1 to ``hi - 1``."""
    sh, sw = (int(v) for v in rng.integers(1, hi, 2))
    return (sh, sw) if rng.random() < 0.5 else sh


def _draw_upsample_nearest(rng):
    scale = _draw_scale(rng)
    channels = (int(rng.integers(1, 4)),) if rng.random() < 0.5 else ()
    x = small_array(rng, (*channels, *(int(v) for v in rng.integers(1, 5, 2))))
    expected = mitigation.upsample_nearest2d(x, scale)
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    refs = torch_reference(
        "interpolate", x.reshape(1, -1, *x.shape[-2:]), scale_factor=(sh, sw), mode="nearest"
    )
    return Case(
        f"x.shape={x.shape}, scale={scale}",
        (x, scale),
        expected=expected,
        references={key: v.reshape(expected.shape) for key, v in refs.items()},
    )


def _draw_resize_conv(rng):
    """A transposed layer (k, s, p, op) and the convolution kernel that replaces it."""
    k, s = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    op = int(rng.integers(0, s))
    h, w = (int(v) for v in rng.integers(1, 5, 2))
    full = geometry.conv_transpose_output_size(min(h, w), k, s, 0, op)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    x, weight = small_array(rng, (h, w)), small_array(rng, (kh, kw))
    pads = tuple(geometry.resize_conv_padding(k, s, p, op, conv_kernel_size=big_k) for big_k in (kh, kw))
    expected = mitigation.resize_conv2d(x[None], weight[None, None], scale=s, padding=pads)[0]
    refs = {}
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        pass
    else:
        up = F.interpolate(torch.from_numpy(x)[None, None], scale_factor=s, mode="nearest")
        (top, bottom), (left, right) = pads
        refs["PyTorch"] = F.conv2d(
            F.pad(up, (left, right, top, bottom)), torch.from_numpy(weight)[None, None]
        )[0, 0].numpy()
    params = dict(kernel_size=k, stride=s, padding=p, output_padding=op)
    return Case(
        f"x.shape={x.shape}, weight.shape={weight.shape}, {fmt_params(**params)}",
        (x, weight, k, s, p, op),
        expected=expected,
        references=refs,
    )


def _draw_bilinear_kernel(rng, k_max=13):
    k = int(rng.integers(1, k_max))
    return Case(f"kernel_size={k}", (k,), expected=mitigation.bilinear_kernel(k))


def _draw_pixel_shuffle(rng):
    r = int(rng.choice([1, 2, 2, 3, 3]))
    c = int(rng.choice([1, 2, 2, 3]))
    batch = (int(rng.integers(1, 3)),) if rng.random() < 0.5 else ()
    x = small_array(rng, (*batch, c * r * r, *(int(v) for v in rng.integers(1, 4, 2))))
    refs = torch_reference("pixel_shuffle", x, r)
    return Case(f"x.shape={x.shape}, r={r}", (x, r), expected=mitigation.pixel_shuffle(x, r), references=refs)


def _draw_icnr(rng):
    r = int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 4, 2)))
    base = small_array(rng, shape)
    expected = mitigation.icnr((shape[0] * r * r, *shape[1:]), r, init=lambda _shape, _rng: base)
    return Case(f"base.shape={base.shape}, r={r}", (base, r), expected=expected)


register(Part("mitigation.upsample_nearest", "Part A: nearest-neighbour upsampling", _draw_upsample_nearest))
register(
    Part(
        "mitigation.resize_conv",
        "Part B: resize, then convolve, to the transposed layer's size",
        _draw_resize_conv,
        n_cases=10,
    )
)
register(
    Part(
        "mitigation.bilinear_kernel",
        "Part C: the bilinear kernel",
        Wide(_draw_bilinear_kernel, lambda rng: _draw_bilinear_kernel(rng, k_max=400)),
    )
)
register(Part("mitigation.pixel_shuffle", "Part D: pixel shuffle", _draw_pixel_shuffle, n_cases=10))
register(Part("mitigation.icnr", "Part E: ICNR initialisation", _draw_icnr))


# --------------------------------------------------------------------------------------
# Part F (challenge): an upsampler of a given size that keeps constants constant
# --------------------------------------------------------------------------------------

#: The least correlation between an upsampler's output and nearest upsampling of the same image (aligned
#: at the top left, fitted to the size at the bottom and the right): bilinear upsampling and resize-then-
#: smooth stay above 0.8 on the cases drawn; an output that ignores its input (a mean, zeros) does not.
FOLLOWS_INPUT = 0.5
TOLERANCE = 1e-9


def nearest_fitted(image, scale, size) -> np.ndarray:
    """Nearest upsampling, then the last rows and columns repeated or dropped to reach ``size``."""
    sh, sw = scale
    up = mitigation.upsample_nearest2d(image, (sh, sw))[: size[0], : size[1]]
    return np.pad(up, ((0, size[0] - up.shape[0]), (0, size[1] - up.shape[1])), mode="edge")


def check_clean_upsample(value, x, scale, size, shift) -> str | None:
    """The properties Part F asks of ``value``, the output for the stack ``x`` = (c, r, r + shift, 3 r).

    Its shape; every pixel of the constant image's output equal to that constant (so the
    checkerboard score is 0, and no border darkens); linearity (constants added and images scaled
    pass through); and the output following the input (:data:`FOLLOWS_INPUT`).
    """
    n, h, w = x.shape
    expected_shape = (n, *size)
    if not isinstance(value, np.ndarray) or value.shape != expected_shape:
        got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
        return f"return an array of shape (N, H_out, W_out) = {expected_shape}, got {got}"
    if value.dtype != x.dtype or not np.all(np.isfinite(value)):
        return f"return finite values of the input's dtype {x.dtype}, got dtype {value.dtype}"
    c = float(x[0, 0, 0])
    bad = np.argwhere(np.abs(value[0] - c) > TOLERANCE * (1 + abs(c)))
    if len(bad):
        (i, j), worst = bad[0], float(np.max(np.abs(value[0] - c)))
        score = artifacts.checkerboard_score(value[0], scale)
        return (
            f"image 0 is the constant {c:g}; its upsampling must be {c:g} at every pixel (no checkerboard, "
            f"no darker border), but pixel {(int(i), int(j))} is {float(value[0][i, j]):.6g} (off by up to "
            f"{worst:.3g}; checkerboard score {score:.3g}). Think about the borders too"
        )
    scale_of_max = 1 + float(np.max(np.abs(value[1])))
    if np.max(np.abs(value[2] - value[1] - shift)) > TOLERANCE * scale_of_max * 10:
        return (
            f"image 2 is image 1 plus {shift:g}; a linear upsampler that keeps constants returns image 1's "
            f"output plus {shift:g}, but yours differs from that by up to "
            f"{float(np.max(np.abs(value[2] - value[1] - shift))):.3g}"
        )
    if np.max(np.abs(value[3] - 3 * value[1])) > TOLERANCE * scale_of_max * 10:
        return (
            f"image 3 is 3 times image 1; a linear upsampler returns 3 times image 1's output, but yours "
            f"differs from that by up to {float(np.max(np.abs(value[3] - 3 * value[1]))):.3g}"
        )
    reference = nearest_fitted(x[1], scale, size)
    correlation = 0.0
    if value[1].std() > 0:
        correlation = float(np.corrcoef(value[1].ravel(), reference.ravel())[0, 1])
    if not correlation >= FOLLOWS_INPUT:
        return (
            f"image 1's output does not follow image 1: its correlation with nearest upsampling of image 1 "
            f"(input pixel (i, j) at output rows i*sH.. and columns j*sW..) is {correlation:.3g}, below "
            f"{FOLLOWS_INPUT}. An upsampler must carry the picture, aligned at the top left"
        )
    return None


def _draw_clean_upsample(rng):
    sh, sw = (int(v) for v in rng.integers(2, 5, 2))
    scale = (sh, sw) if rng.random() < 0.5 else sh
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    h, w = (int(v) for v in rng.integers(3, 9, 2))
    size = (
        int(rng.integers((h - 1) * sh + 1, (h + 1) * sh + 1)),
        int(rng.integers((w - 1) * sw + 1, (w + 1) * sw + 1)),
    )
    c, shift = float(rng.integers(-9, 10)) / 2, float(rng.integers(1, 10))
    image = small_array(rng, (h, w))
    image[0, 0] += 5  # never constant
    x = np.stack([np.full((h, w), c), image, image + shift, 3 * image])
    return Case(
        f"x.shape={x.shape} (image 0 constant {c:g}, image 2 = image 1 + {shift:g}, image 3 = 3 * image 1), "
        f"scale={scale}, output_size={size}",
        (x, scale, size),
        check=functools.partial(check_clean_upsample, x=x, scale=(sh, sw), size=size, shift=shift),
    )


register(
    Part(
        "mitigation.clean_upsample",
        "Part F (challenge): an upsampler of any size that keeps constants constant",
        _draw_clean_upsample,
        n_cases=8,
    )
)


# --------------------------------------------------------------------------------------
# Part G (experiment): does a layer's checkerboard survive training?
# --------------------------------------------------------------------------------------

#: The experiment's layer: conv_transpose1d with kernel 4, stride 2, padding 1 (DCGAN's, in 1D).
TRAIN_STEPS, TRAIN_LR = 40, 0.2
#: How close the last measured spread must come to the target's, and how clean a clean start must stay
#: (right answers stay below a thirtieth of these, over 900 runs of 40 steps).
SPREAD_TOLERANCE = 0.01
LOSS_FALL = 0.01


def gain_spread(weight) -> float:
    """The spread of a stride-2 kernel's phase gains (:func:`tconv_lib.artifacts.phase_gain_spread`)."""
    return artifacts.phase_gain_spread(
        artifacts.phase_gains(np.asarray(weight, dtype=float), 2), phase_ndim=1
    )


def check_training(value, init, target, steps) -> str | None:
    """Part G's properties of ``value = (losses, spreads)``, measured over ``steps`` steps of training."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return f"return the tuple (losses, spreads), got {type(value).__name__}"
    for name, array in zip(("losses", "spreads"), value):
        if not isinstance(array, np.ndarray) or array.shape != (steps + 1,):
            got = array.shape if isinstance(array, np.ndarray) else type(array).__name__
            return f"{name} must be an array of steps + 1 = {steps + 1} values, got {got}"
        if not np.all(np.isfinite(array)):
            return (
                f"{name} holds values that are not finite: did the training diverge (the loss's scale, lr)?"
            )
    losses, spreads = value
    start, goal = gain_spread(init), gain_spread(target)
    if abs(spreads[0] - start) > 1e-9:
        return (
            f"spreads[0] must be the spread of the initial kernel {np.round(init, 4).tolist()}, {start:.6g}; "
            f"you measured {spreads[0]:.6g}"
        )
    if losses[0] > 1e-12 and not losses[-1] <= LOSS_FALL * losses[0]:
        return (
            f"the loss went from {losses[0]:.4g} to {losses[-1]:.4g} in {steps} steps; gradient descent with "
            f"the right gradient divides it by more than {1 / LOSS_FALL:g}. Check the gradient and its sign"
        )
    if abs(spreads[-1] - goal) > SPREAD_TOLERANCE:
        return (
            f"after training the spread is {spreads[-1]:.4g}, but the layer has learned the target "
            f"{np.round(target, 4).tolist()}, whose spread is {goal:.4g} (within {SPREAD_TOLERANCE})"
        )
    if start < 1e-12 and goal < 1e-12 and spreads.max() > SPREAD_TOLERANCE:
        return (
            f"a clean start trained towards a clean target stays clean: your spreads reach "
            f"{spreads.max():.4g} (at step {int(spreads.argmax())}), above {SPREAD_TOLERANCE}"
        )
    return None


#: Every student's set: a clean start and a random one, each towards a clean target and a checkered one.
TRAINING_KINDS = (
    ("bilinear", "clean"),
    ("random", "clean"),
    ("bilinear", "checkered"),
    ("random", "checkered"),
)


def _draw_training(rng, kind):
    start, goal = kind
    init = mitigation.linear_kernel(4) if start == "bilinear" else np.round(rng.normal(0, 0.5, 4), 3)
    if goal == "clean":  # nearest upsampling, then a smoothing kernel that sums to 1: equal phase gains
        c = np.round(rng.dirichlet(np.ones(3)), 3)
        c[1] = 1 - c[0] - c[2]
        target = np.array([c[0], c[0] + c[1], c[1] + c[2], c[2]])
    else:
        target = np.round(rng.uniform(0, 1, 4), 3)
    seed = int(rng.integers(2**31))
    args = dict(init_weight=init, target_weight=target, seed=seed, steps=TRAIN_STEPS, lr=TRAIN_LR)
    return Case(
        f"init_weight={init.tolist()}, target_weight={target.tolist()}, seed={seed}, steps={TRAIN_STEPS}, "
        f"lr={TRAIN_LR}",
        tuple(args.values()),
        check=functools.partial(check_training, init=init, target=target, steps=TRAIN_STEPS),
    )


class _TrainingStrata:
    def __call__(self, rng):
        return _draw_training(rng, TRAINING_KINDS[int(rng.integers(len(TRAINING_KINDS)))])

    def many(self, rng, n):
        return [_draw_training(rng, TRAINING_KINDS[i % len(TRAINING_KINDS)]) for i in range(n)]


register(
    Part(
        "mitigation.training_spread",
        "Part G (experiment): does a checkerboard survive training?",
        _TrainingStrata(),
        n_cases=8,
    )
)
