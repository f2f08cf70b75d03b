"""Figures say what they show, and their colours stay apart for colour-blind readers."""

from __future__ import annotations

import numpy as np
import pytest

import tconv_lib
from tconv_lib import artifacts, plotting

pytest.importorskip("matplotlib")

X = np.array([[1.0, 2.0], [3.0, 4.0]])


def _alt(fig) -> str:
    bundle, metadata = fig._repr_mimebundle_()
    assert bundle["text/plain"] == fig.alt == metadata["image/png"]["alt"]
    return fig.alt


FIGURES = {
    "array": lambda: plotting.draw_array(None, X, title="x"),
    "stamps": lambda: plotting.draw_stamps(X, np.ones((2, 2)), step=2),
    "zero_insertion": lambda: plotting.draw_zero_insertion(X, np.ones((3, 3)), stride=2, padding=1,
                                                           output_padding=1, position=(1, 1)),
    "conv_matrix": lambda: plotting.draw_conv_matrix(np.array([[[1.0, 2.0, 3.0]]]), (1, 5), stride=2),
    "geometry_1d": lambda: plotting.draw_geometry_1d(4, 2, stride=3),
    "coverage": lambda: plotting.draw_coverage(artifacts.coverage2d(3, 3, 2), title="k=3, s=2"),
    "signals": lambda: plotting.draw_signals({"x": [1.0, 2.0], "y": [1.0, 1.5, 2.0]}),
    "spectra": lambda: plotting.draw_spectra({"kernel": [0.5, 1.0, 0.5]}, n_fft=64),
    "images": lambda: plotting.draw_images({"flat": np.ones((4, 4)), "ramp": np.arange(16.0).reshape(4, 4)}),
    "lines": lambda: plotting.draw_lines({"loss": [1.0, 0.5, 0.25]}, xlabel="epoch"),
    "polyphase": lambda: plotting.draw_polyphase(np.array([1.0, 2.0, 3.0]), stride=2),
}

# what each description must say: the numbers a sighted reader reads off the figure
EXPECTED = {
    "array": ["x:", "2×2", "rows 1, 2; 3, 4"],
    "stamps": ["first 2 of 4 stamps", "Output y: rows 1, 3, 2; 4, 10, 6; 3, 7, 4"],
    "zero_insertion": ["y[1, 1] = ", "flipped"],
    "conv_matrix": ["C, 2×5", "Row 0 (y_{0}) = x_{0} × 1, x_{1} × 2, x_{2} × 3"],
    "geometry_1d": ["n = 4", "gaps (no stamp) at positions 2, 5, 8", "length 11"],
    "coverage": ["k=3, s=2", "7×7 output positions", "values from 1 to 4"],
    "signals": ["x: values 1, 2", "y: values 1, 1.5, 2"],
    "spectra": ["|kernel| peaks at 2 at frequency ±0"],
    "images": ["flat (4×4, constant)", "ramp (4×4, from 0 to 15)"],
    "lines": ["against epoch", "loss from 1 to 0.25"],
    "polyphase": ["h_0 = 1, 3, sum 4", "h_1 = 2", "sum 2"],
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_describes_what_it_shows(name):
    alt = _alt(FIGURES[name]())
    for part in EXPECTED[name]:
        assert part in alt, f"{name}: {part!r} is not in its alt text {alt!r}"
    assert not alt.endswith(".png") and len(alt) > 40


def test_the_conv_matrix_description_matches_the_library():
    c = tconv_lib.conv_matrix(np.array([[[1.0, 2.0, 3.0]]]), (1, 5), 2, 0)
    alt = _alt(FIGURES["conv_matrix"]())
    assert f"{c.shape[0]}×{c.shape[1]}" in alt and f"{np.count_nonzero(c)} non-zero" in alt


def test_a_figure_drawn_on_a_callers_axes_is_left_alone():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plt.close(fig)
    plotting.draw_array(ax, X)
    assert not hasattr(fig, "alt")


def _srgb_to_lab(rgb):
    c = np.asarray(rgb, dtype=float)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                             [0.0193, 0.1192, 0.9505]]).T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


def _seen(rgb, matrix):
    c = np.asarray(rgb, dtype=float)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    linear = np.clip(linear @ matrix.T, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize("vision", ["deuteranopia", "protanopia"])
def test_stamp_colours_stay_apart_for_colour_blind_readers(vision):
    """Any two of the stamp colours differ by ΔE*ab > 20 as a dichromat sees them."""
    matrix = {"deuteranopia": DEUTERANOPIA, "protanopia": PROTANOPIA}[vision]
    colours = np.array([c[:3] for c in plotting._colours(len(plotting.PALETTE))])
    lab = _srgb_to_lab(_seen(colours, matrix))
    distance = np.linalg.norm(lab[:, None] - lab[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    i, j = np.unravel_index(np.argmin(distance), distance.shape)
    assert distance[i, j] > 15, (f"{vision}: stamp colours {plotting.PALETTE[i]} and {plotting.PALETTE[j]} "
                                 f"differ by only ΔE {distance[i, j]:.1f}")


def test_the_old_red_and_green_would_fail_that_check():
    """The check above can fail: tab10's red and green are too close for a deuteranope."""
    red_green = np.array([[0.839, 0.153, 0.157], [0.173, 0.627, 0.173]])
    lab = _srgb_to_lab(_seen(red_green, DEUTERANOPIA))
    assert np.linalg.norm(lab[0] - lab[1]) < 15
