"""Mitigation: nearest upsampling, resize-convolve, the bilinear kernel, pixel shuffle and ICNR."""

from __future__ import annotations

from ... import geometry, mitigation
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
