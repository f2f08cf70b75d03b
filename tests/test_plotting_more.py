"""tconv_lib.plotting's figures for the artifacts, mitigation and gradients chapters.

Each figure builds headless, leaks no pyplot figure, shows exactly the numbers
it was given or that tconv_lib computes, and refuses bad input with a message.
"""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tconv_lib import artifacts, plotting  # noqa: E402

CHECKER = (np.indices((4, 4)).sum(axis=0) % 2).astype(float)


@pytest.fixture(autouse=True)
def no_leaked_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a plotting function left a pyplot figure open"


# ---------------------------------------------------------------------------------- draw_images
@pytest.mark.parametrize("ncols,n_images,expected_axes", [(None, 3, 3), (2, 3, 3), (5, 2, 2), (1, 4, 4)],
                         ids=["one_row", "two_cols_three", "more_cols_than_images", "one_col"])
def test_images_one_axes_per_image(ncols, n_images, expected_axes):
    images = {f"image {i}": CHECKER * i for i in range(n_images)}
    fig = plotting.draw_images(images, ncols=ncols, title="t")
    assert isinstance(fig, Figure), f"{type(fig)} is not a Figure"
    assert len(fig.axes) == expected_axes, f"{len(fig.axes)} axes for {n_images} images, ncols={ncols}"
    assert [ax.get_title() for ax in fig.axes] == list(images), "titles out of order"
    fig.canvas.draw()


def test_images_are_shown_unchanged_in_any_one_channel_layout():
    images = {"hw": CHECKER, "1hw": CHECKER[None], "11hw": CHECKER[None, None], "row": np.arange(3.0)}
    fig = plotting.draw_images(images)
    for ax, (label, img) in zip(fig.axes, images.items()):
        shown = ax.images[0].get_array()
        np.testing.assert_array_equal(shown, np.asarray(img).reshape(shown.shape), err_msg=label)


def test_images_constant_image_is_drawn_with_the_middle_colour():
    fig = plotting.draw_images({"flat": np.full((3, 3), 7.0)})
    low, high = fig.axes[0].images[0].get_clim()
    assert low < 7.0 < high and np.isclose((low + high) / 2, 7.0), f"limits {(low, high)} around 7"


@pytest.mark.parametrize("bad,match", [({}, "images is empty"), ({"x": np.ones((2, 2, 2))}, "one channel")],
                         ids=["empty", "multi_channel"])
def test_images_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        plotting.draw_images(bad)


def test_images_bad_ncols():
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plotting.draw_images({"x": CHECKER}, ncols=0)


# ----------------------------------------------------------------------------------- draw_lines
def test_lines_draw_every_series_with_its_values():
    series = {"measured": [1.0, 0.5, 0.24], "predicted": [1.0, 0.5, 0.25]}
    fig = plotting.draw_lines(series, x=[1, 2, 3], xlabel="layer", ylabel="E[y²]", logy=True,
                              dashed=["predicted"])
    ax = fig.axes[0]
    assert len(fig.axes) == 1, f"{len(fig.axes)} axes"
    assert ax.get_yscale() == "log", "logy=True should give a log axis"
    for line, (label, values) in zip(ax.lines, series.items()):
        assert line.get_label() == label, f"{line.get_label()} != {label}"
        np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3], err_msg=label)
        np.testing.assert_array_equal(line.get_ydata(), values, err_msg=label)
    assert ax.lines[1].get_linestyle() == "--" and ax.lines[0].get_linestyle() == "-", "dashed wrong"
    fig.canvas.draw()


@pytest.mark.parametrize("x,integer_ticks", [(None, True), ([0.0, 0.5, 1.0], False)],
                         ids=["layers", "fractions"])
def test_lines_whole_number_positions_get_whole_number_ticks(x, integer_ticks):
    fig = plotting.draw_lines({"a": [1.0, 2.0, 3.0]}, x=x)
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert np.array_equal(ticks, np.round(ticks)) == integer_ticks, f"x={x}: ticks {ticks}"


@pytest.mark.parametrize("kwargs,match", [
    (dict(series={}), "series is empty"),
    (dict(series={"a": [1.0, 2.0], "b": [1.0]}), "same length"),
    (dict(series={"a": [1.0, 2.0]}, x=[0, 1, 2]), "x has 3 positions"),
    (dict(series={"a": [1.0, 2.0]}, dashed=["b"]), "not labels of series"),
], ids=["empty", "ragged", "x_length", "dashed_unknown"])
def test_lines_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.draw_lines(**kwargs)


# ------------------------------------------------------------------------------- draw_polyphase
def _row_texts(ax, row):
    """Texts written in a given row of the polyphase axes, left to right."""
    texts = [t for t in ax.texts if np.isclose(t.get_position()[1], row)]
    return [t.get_text() for t in sorted(texts, key=lambda t: t.get_position()[0])]


@pytest.mark.parametrize("k,s,d", [(5, 2, 1), (4, 2, 3), (3, 3, 1), (4, 2, 2), (6, 3, 2)],
                         ids=["k5_s2", "k4_s2_d3", "k3_s3", "k4_s2_d2_empty_phase", "k6_s3_d2"])
def test_polyphase_rows_are_the_sub_kernels_and_their_gains(k, s, d):
    w = np.arange(1.0, k + 1)
    fig = plotting.draw_polyphase(w, s, d)
    ax = fig.axes[0]
    subs, gains = artifacts.polyphase_decompose(w, s, d), artifacts.phase_gains(w, s, d)
    for r in range(s):
        texts = _row_texts(ax, r + 1)  # label h_r, the sub-kernel's values, then the sum
        assert texts[0] == f"$h_{{{r}}}$", f"row {r + 1} label {texts[0]}"
        assert [float(v) for v in texts[1:-1]] == subs[r].tolist(), f"row {r + 1}: {texts}"
        assert texts[-1] == f"sum {gains[r]:g}", f"row {r + 1}: {texts[-1]} vs gain {gains[r]}"
    taps = [t for t in _row_texts(ax, 0) if t.startswith("$w_")]
    assert len(taps) == k, f"{len(taps)} taps drawn for k={k}"
    fig.canvas.draw()


def test_polyphase_refuses_a_2d_kernel():
    with pytest.raises(ValueError, match="1D kernel"):
        plotting.draw_polyphase(np.ones((2, 2)), 2)
