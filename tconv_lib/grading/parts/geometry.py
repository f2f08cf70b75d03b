"""Geometry: output sizes, reachable sizes, Keras' padding in PyTorch's terms, a decoder's output paddings."""

from __future__ import annotations

from ... import geometry
from ..cases import Case, Part, Wide, fmt_params, register


def _draw_size_params(rng, n_max=10, k_max=6, s_max=5, d_max=4):
    n, k, s = int(rng.integers(1, n_max)), int(rng.integers(1, k_max)), int(rng.integers(1, s_max))
    d = int(rng.integers(1, d_max))
    op = int(rng.integers(0, max(s, d)))
    full = geometry.conv_transpose_output_size(n, k, s, 0, 0, d)
    p = int(rng.integers(0, (full - 1) // 2 + 1))  # an output for op = 0, so for every op
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


def _draw_no_output(rng):
    """A padding that crops every position the stamps cover: no output, a ValueError (as PyTorch raises)."""
    n, k, s, _, op, d = _draw_size_params(rng)
    full = geometry.conv_transpose_output_size(n, k, s, 0, op, d)
    p = int(rng.integers((full + 1) // 2, full + 3))
    assert geometry.conv_transpose_output_size(n, k, s, p, op, d) < 1
    return Case(
        f"{fmt_params(n=n, k=k, s=s, p=p, op=op, d=d)} (no output)", (n, k, s, p, op, d), raises=ValueError
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


#: Modes Keras does not have (Conv2DTranspose takes 'same' or 'valid', in any case).
_NOT_KERAS_MODES = ("causal", "reflect", "zeros", "half", "none", "")  # not the visible "full"


def _draw_keras(rng, k_max=11, s_max=6, inexpressible=False):
    while True:
        k, s = int(rng.integers(1, k_max)), int(rng.integers(1, s_max))
        mode = "same" if rng.random() < 0.5 else "valid"
        if inexpressible:  # an even kernel, stride 1, 'same'
            k, s, mode = 2 * int(rng.integers(1, k_max // 2 + 1)), 1, "same"
        if (k, s, mode) not in _KERAS_VISIBLE:
            break
    if rng.random() < 0.2:  # Keras reads the mode in any case
        mode = mode.upper() if rng.random() < 0.5 else mode.capitalize()
    if mode.lower() == "same" and s == 1 and k % 2 == 0:
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


def _draw_keras_unknown_mode(rng):
    """A padding mode Keras does not have: a ValueError naming the valid ones."""
    k, s = int(rng.integers(1, 11)), int(rng.integers(1, 6))
    mode = str(rng.choice(_NOT_KERAS_MODES))
    try:  # tconv_lib refuses it too
        geometry.keras_to_torch_padding(k, s, mode)
    except ValueError:
        pass
    else:  # pragma: no cover -- the list above holds no valid mode
        raise AssertionError(f"{mode!r} is a Keras mode")
    return Case(
        fmt_params(kernel_size=k, stride=s, padding=repr(mode)) + " (not a Keras mode)",
        (k, s, mode),
        raises=ValueError,
    )


# --------------------------------------------------------------------------------------
# Part E (challenge): the decoder's output paddings
# --------------------------------------------------------------------------------------


def _encoder(rng, m_max=64, layers_max=4, k_max=5, s_max=3, p_max=2, d_max=2):
    """An input size and encoder layers (k, s, p, d), every one leaving an output of at least 1.

    Every padding is at most half its kernel's span, ``d(k - 1) / 2``, as in real encoders: then
    the mirroring transposed layer has an output for every ``output_padding`` (Part B's premise).
    """
    while True:
        m = int(rng.integers(1, m_max + 1))
        layers = []
        for _ in range(int(rng.integers(1, layers_max + 1))):
            k, s = int(rng.integers(1, k_max + 1)), int(rng.integers(1, s_max + 1))
            d = int(rng.integers(1, d_max + 1))
            p = int(rng.integers(0, min(p_max, d * (k - 1) // 2) + 1))  # at most half the kernel's span
            layers.append((k, s, p, d))
        if _encoder_sizes(m, layers)[-1] >= 1:
            return m, layers


def _encoder_sizes(m, layers) -> list[int]:
    """The sizes through the encoder, input first; stops at the first layer that leaves no output."""
    sizes = [m]
    for k, s, p, d in layers:
        sizes.append(geometry.conv_output_size(sizes[-1], k, s, p, d))
        if sizes[-1] < 1:
            break
    return sizes


def decoder_output_paddings(m, layers) -> list[int]:
    """tconv_lib's answer: the output_padding of each decoder layer, in the decoder's order."""
    sizes = _encoder_sizes(m, layers)
    if sizes[-1] < 1:
        raise ValueError(f"encoder layer {len(sizes) - 2} leaves no output")
    pads = [
        geometry.output_padding_for(sizes[i + 1], sizes[i], k, s, p, d)
        for i, (k, s, p, d) in enumerate(layers)
    ]
    return pads[::-1]


def _describe_encoder(m, layers) -> str:
    return f"input_size={m}, layers={[tuple(layer) for layer in layers]} (each (k, s, p, d))"


def _draw_decoder(rng, **ranges):
    m, layers = _encoder(rng, **ranges)
    return Case(_describe_encoder(m, layers), (m, layers), expected=decoder_output_paddings(m, layers))


def _draw_decoder_wide(rng):
    """Feature maps of millions of positions, deep encoders, kernels and strides far beyond the chapter."""
    return _draw_decoder(rng, m_max=10**7, layers_max=8, k_max=40, s_max=9, p_max=20, d_max=6)


def _draw_decoder_no_output(rng):
    """An encoder one of whose layers leaves nothing: a ValueError."""
    while True:
        m, layers = _encoder(rng, m_max=6)
        k, s, p, d = int(rng.integers(4, 9)), int(rng.integers(1, 4)), 0, int(rng.integers(1, 3))
        layers = layers + [(k, s, p, d)] + layers[: int(rng.integers(0, 2))]
        if _encoder_sizes(m, layers)[-1] < 1:
            return Case(
                _describe_encoder(m, layers) + " (a layer leaves no output)", (m, layers), raises=ValueError
            )


register(
    Part(
        "geometry.output_size",
        "Part A: the output size",
        Wide(_draw_output_size, lambda rng: _draw_output_size(rng, _wide), draw_raises=_draw_no_output),
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
            draw_raises=(lambda rng: _draw_keras(rng, inexpressible=True), _draw_keras_unknown_mode),
            n_raises=3,
        ),
        n_cases=12,
    )
)
register(
    Part(
        "geometry.decoder_output_paddings",
        "Part E (challenge): a decoder that returns to every encoder size",
        Wide(_draw_decoder, _draw_decoder_wide, draw_raises=_draw_decoder_no_output),
        n_cases=12,
    )
)
