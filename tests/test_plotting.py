"""tconv_lib.plotting: every figure builds headless, shows tconv_lib's numbers, and leaks nothing."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tconv_lib  # noqa: E402
from tconv_lib import plotting  # noqa: E402

X = np.array([[1.0, 2.0], [3.0, 4.0]])
UNET_X = np.array([[2.0, 1.0], [3.0, 2.0]])
UNET_W = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
UNET = dict(stride=2, padding=1, output_padding=1)

# (function, args, kwargs, number of axes)
CASES = {
    "array": (plotting.draw_array, (None, X), {}, 1),
    "array_1d": (plotting.draw_array, (None, np.arange(5.0)), {"title": "ramp"}, 1),
    "stamps": (plotting.draw_stamps, (X, np.ones((2, 2))), {}, 3),
    "stamps_unet": (plotting.draw_stamps, (UNET_X, UNET_W), UNET, 3),
    "stamps_step": (plotting.draw_stamps, (UNET_X, UNET_W), {**UNET, "step": 2}, 3),
    "stamps_dilated": (plotting.draw_stamps, (X, np.ones((2, 2))), {"stride": 2, "dilation": 2}, 3),
    "stamps_gaps": (plotting.draw_stamps, (np.ones((3, 3)), np.ones((1, 1))),
                    {"stride": 2, "output_padding": 1}, 3),
    "zero_insertion": (plotting.draw_zero_insertion, (UNET_X, UNET_W), {**UNET, "position": (1, 3)}, 3),
    "zero_insertion_crop": (plotting.draw_zero_insertion, (X, np.ones((2, 2))),
                            {"stride": 3, "padding": 2}, 3),
    "conv_matrix_1d": (plotting.draw_conv_matrix, (np.array([[[1.0, 2.0, 3.0]]]), (1, 5)),
                       {"stride": 2, "padding": 1}, 2),
    "conv_matrix_2d": (plotting.draw_conv_matrix, (np.ones((1, 1, 2, 2)), (1, 4, 4)), {"stride": 2}, 2),
    "conv_matrix_channels": (plotting.draw_conv_matrix, (np.ones((2, 1, 3)), (2, 4)),
                             {"groups": 2, "padding": 1}, 2),
    "geometry_1d": (plotting.draw_geometry_1d, (3, 3), {"stride": 2, "padding": 1, "output_padding": 1}, 1),
    "geometry_1d_gaps": (plotting.draw_geometry_1d, (3, 1), {"stride": 2}, 1),
    "geometry_1d_plain": (plotting.draw_geometry_1d, (2, 2), {}, 1),
    "coverage": (plotting.draw_coverage, (np.ones((3, 3)),), {}, 2),
    "coverage_no_bar": (plotting.draw_coverage, (np.ones(4),), {"colorbar": False}, 1),
    "signals": (plotting.draw_signals, ({"x": [1.0, 2.0], "y": [1.0, 1.5, 2.0]},), {}, 2),
    "spectra": (plotting.draw_spectra, ({"x": [1.0, 2.0], "w": [0.5, 1.0, 0.5], "z": [1.0]},),
                {"n_fft": 32}, 3),
}


@pytest.fixture(autouse=True)
def no_leaked_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a plotting function left a pyplot figure open"


@pytest.mark.parametrize("case", CASES)
def test_returns_a_figure_with_the_expected_axes(case):
    fn, args, kwargs, n_axes = CASES[case]
    fig = fn(*args, **kwargs)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    fig.canvas.draw()  # renders headless (Agg) without error


@pytest.mark.parametrize("shape", [(2, 2), (1, 2, 2), (1, 1, 2, 2)])
def test_one_channel_images_in_any_layout(shape):
    x = X.reshape(shape)
    w = np.ones((1, 1, 2, 2)) if len(shape) == 4 else np.ones((2, 2))
    for fig in (plotting.draw_array(None, x), plotting.draw_stamps(x, w),
                plotting.draw_zero_insertion(x, w), plotting.draw_coverage(x)):
        assert isinstance(fig, Figure)


def test_multi_channel_images_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="one channel at a time"):
        plotting.draw_stamps(np.ones((2, 2, 2)), np.ones((2, 2)))


def test_drawing_into_a_given_axes_uses_its_figure():
    fig, ax = plt.subplots()
    try:
        assert plotting.draw_array(ax, X) is fig
        assert plotting.draw_coverage(X, ax=ax, colorbar=False) is fig
    finally:
        plt.close(fig)


def _cell_texts(ax, shape):
    """The numbers written in the cells of a heatmap axes, as a float array."""
    out = np.full(shape, np.nan)
    for text in ax.texts:
        j, i = text.get_position()
        if float(i).is_integer() and float(j).is_integer() and 0 <= i < shape[0] and 0 <= j < shape[1]:
            out[int(i), int(j)] = float(text.get_text())
    return out


def test_stamps_canvas_shows_tconv_lib_output_inside_the_frame():
    fig = plotting.draw_stamps(UNET_X, UNET_W, **UNET)
    ax_c = fig.axes[2]
    canvas = _cell_texts(ax_c, ax_c.images[0].get_array().shape)
    out = tconv_lib.conv_transpose2d(UNET_X[None], UNET_W[None, None], **UNET)[0]
    np.testing.assert_array_equal(canvas[1:5, 1:5], out)  # padding 1 crops the first row/column


@pytest.mark.parametrize("step", [0, 1, 2, 3, 4])
def test_stamps_step_shows_partial_sums(step):
    fig = plotting.draw_stamps(X, np.ones((2, 2)), step=step)
    ax_c = fig.axes[2]
    assert len(ax_c.collections) == step  # one set of dots per stamp drawn
    shown = np.where(np.arange(4).reshape(2, 2) < step, X, 0.0)
    expected = tconv_lib.conv_transpose2d(shown[None], np.ones((1, 1, 2, 2)))[0]
    np.testing.assert_array_equal(_cell_texts(ax_c, (3, 3)), expected)


@pytest.mark.parametrize("step", [-1, 5])
def test_stamps_step_out_of_range(step):
    with pytest.raises(ValueError, match="step must be between 0"):
        plotting.draw_stamps(X, np.ones((2, 2)), step=step)


def test_invalid_arguments_fail_as_in_pytorch():
    with pytest.raises(ValueError, match="output_padding"):
        plotting.draw_stamps(X, np.ones((2, 2)), stride=1, output_padding=1)
    with pytest.raises(ValueError, match="output_padding"):
        plotting.draw_geometry_1d(3, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="outside the output"):
        plotting.draw_zero_insertion(X, np.ones((2, 2)), position=(3, 0))


def test_zero_insertion_window_reads_the_output_value():
    fig = plotting.draw_zero_insertion(UNET_X, UNET_W, **UNET, position=(1, 3))
    assert fig.axes[2].get_title() == "output 4×4: y[1, 3] = 3"
    z = tconv_lib.zero_insert2d(UNET_X, 3, **UNET)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), z)


def test_conv_matrix_figure_shows_c_and_its_transpose():
    w = np.array([[[1.0, 2.0, 3.0]]])
    fig = plotting.draw_conv_matrix(w, (1, 5), stride=2, padding=1)
    c = tconv_lib.conv_matrix(w, (1, 5), stride=2, padding=1)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), c)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), c.T)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:2] == ["$x_{0}$", "$x_{1}$"]


@pytest.mark.parametrize("params", [dict(k=3, s=2, p=1, op=1, d=1), dict(k=1, s=2, p=0, op=1, d=1),
                                    dict(k=3, s=2, p=2, op=1, d=2), dict(k=2, s=1, p=0, op=0, d=1)])
def test_geometry_1d_labels_every_output_position_once(params):
    fig = plotting.draw_geometry_1d(4, params["k"], params["s"], params["p"], params["op"], params["d"])
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("$y_")]
    n_out = tconv_lib.geometry.conv_transpose_output_size(4, params["k"], params["s"], params["p"],
                                                          params["op"], params["d"])
    assert labels == [f"$y_{{{j}}}$" for j in range(n_out)]


def test_spectra_plot_tconv_lib_spectra():
    fig = plotting.draw_spectra({"w": [0.5, 1.0, 0.5]}, n_fft=16)
    freqs, mag = tconv_lib.spectral.magnitude_spectrum(np.array([0.5, 1.0, 0.5]), 16)
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), freqs)
    np.testing.assert_array_equal(line.get_ydata(), mag)


def test_importing_tconv_lib_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, tconv_lib, tconv_lib.plotting; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
