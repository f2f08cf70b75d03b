"""Geometry: output sizes, the sizes output_padding reaches, and Keras' padding in PyTorch's terms."""

from __future__ import annotations

from ... import geometry
from ..cases import Case, Part, Wide, fmt_params, register


def _draw_size_params(rng, n_max=10, k_max=6, s_max=5, d_max=4):
    n, k, s = int(rng.integers(1, n_max)), int(rng.integers(1, k_max)), int(rng.integers(1, s_max))
    d = int(rng.integers(1, d_max))
    op = int(rng.integers(0, max(s, d)))
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))
    return n, k, s, p, op, d


def _wide(rng):
    """Sizes of a feature map in the millions, kernels and strides in the hundreds."""
    return _draw_size_params(rng, n_max=10**7, k_max=500, s_max=300, d_max=40)


def _draw_output_size(rng, params=_draw_size_params):
    n, k, s, p, op, d = params(rng)
    return Case(
        fmt_params(n=n, k=k, s=s, p=p, op=op, d=d),
        (n, k, s, p, op, d),
        expected=geometry.conv_transpose_output_size(n, k, s, p, op, d),
    )


def _draw_output_padding_for(rng, params=_draw_size_params, unreachable=None):
    n, k, s, p, op, d = params(rng)
    reachable = geometry.conv_transpose_output_sizes(n, k, s, p, d)
    if unreachable if unreachable is not None else rng.random() < 0.25:  # a size no output_padding reaches
        target = max(reachable) + int(rng.integers(1, 3)) if rng.random() < 0.5 else min(reachable) - 1
        return Case(
            f"{fmt_params(n=n, target=target, k=k, s=s, p=p, d=d)} (unreachable)",
            (n, target, k, s, p, d),
            raises=ValueError,
        )
    target = reachable[op]
    return Case(
        fmt_params(n=n, target=target, k=k, s=s, p=p, d=d),
        (n, target, k, s, p, d),
        expected=geometry.output_padding_for(n, target, k, s, p, d),
    )


def _draw_reachable_sizes(rng, params=_draw_size_params):
    n, k, s, p, op, d = params(rng)
    return Case(
        fmt_params(n=n, k=k, s=s, p=p, d=d),
        (n, k, s, p, d),
        expected=geometry.conv_transpose_output_sizes(n, k, s, p, d),
    )


# The visible tests' examples: a lookup table of them must not pass the hidden cases.
_KERAS_VISIBLE = {
    (1, 2, "valid"),
    (4, 2, "same"),
    (3, 2, "same"),
    (3, 2, "valid"),
    (3, 1, "same"),
    (1, 3, "same"),
    (2, 1, "same"),
}


def _draw_keras(rng, k_max=11, s_max=6, inexpressible=False):
    while True:
        k, s = int(rng.integers(1, k_max)), int(rng.integers(1, s_max))
        mode = "same" if rng.random() < 0.5 else "valid"
        if inexpressible:  # an even kernel, stride 1, 'same'
            k, s, mode = 2 * int(rng.integers(1, k_max // 2 + 1)), 1, "same"
        if (k, s, mode) not in _KERAS_VISIBLE:
            break
    if mode == "same" and s == 1 and k % 2 == 0:
        return Case(
            fmt_params(kernel_size=k, stride=s, padding=repr(mode)) + " (inexpressible)",
            (k, s, mode),
            raises=ValueError,
        )
    return Case(
        fmt_params(kernel_size=k, stride=s, padding=repr(mode)),
        (k, s, mode),
        expected=geometry.keras_to_torch_padding(k, s, mode),
    )


register(
    Part(
        "geometry.output_size",
        "Part A: the output size",
        Wide(_draw_output_size, lambda rng: _draw_output_size(rng, _wide)),
        n_cases=12,
    )
)
register(
    Part(
        "geometry.reachable_sizes",
        "Part B: every reachable output size",
        Wide(_draw_reachable_sizes, lambda rng: _draw_reachable_sizes(rng, _wide)),
    )
)
register(
    Part(
        "geometry.output_padding_for",
        "Part C: the output_padding that reaches a size",
        Wide(
            _draw_output_padding_for,
            lambda rng: _draw_output_padding_for(rng, _wide),
            draw_raises=lambda rng: _draw_output_padding_for(rng, unreachable=True),
        ),
        n_cases=12,
    )
)
register(
    Part(
        "geometry.keras_padding",
        "Part D: Keras' padding in PyTorch's terms",
        Wide(
            _draw_keras,
            lambda rng: _draw_keras(rng, k_max=10**4, s_max=10**3),
            draw_raises=lambda rng: _draw_keras(rng, inexpressible=True),
        ),
        n_cases=12,
    )
)
