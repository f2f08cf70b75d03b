"""Figures of the course: pictures of what :mod:`tconv_lib` computes.

Every function returns a :class:`matplotlib.figure.Figure`.  The figure is
detached from pyplot (closed) before it is returned, so a notebook shows it
exactly once -- where the call is the last expression of a cell -- and a loop
that draws many figures leaks none.  matplotlib is imported inside the
functions: ``import tconv_lib`` stays NumPy-only.

This module does no mathematics of its own.  Every number on a figure (values,
sizes, where a stamp lands, what padding crops) comes from a call to
:mod:`tconv_lib`; what is left here is layout: cells, colours, outlines and
labels.  Arrays are single images: ``(H, W)``, ``(1, H, W)`` or
``(1, 1, H, W)``; a 1D array is drawn as one row.

Every figure says what it shows: its ``alt`` attribute is a sentence (with the
numbers, when there are few) written here from the same data the figure is
drawn from.  In a notebook it travels with the image as the PNG's ``alt``
metadata and as the text version of the output; the course site makes it the
image's alt text.  Colours are the Okabe-Ito palette, which stays apart for
readers with red-green colour blindness; gaps are also hatched, not only red.
"""

from __future__ import annotations

import functools

import numpy as np

from . import geometry, spectral
from ._checks import ntuple
from .conv import conv1d, conv2d
from .matrix import conv_matrix
from .transposed import (
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose2d_zero_insertion,
    zero_insert2d,
)

__all__ = [
    "draw_array",
    "draw_stamps",
    "draw_zero_insertion",
    "draw_conv_matrix",
    "draw_geometry_1d",
    "draw_coverage",
    "draw_signals",
    "draw_spectra",
]

CELL = 0.5  # inches per array cell
# One colour per input element: Okabe & Ito's palette for colour-blind readers (blue, orange,
# bluish green, vermillion, sky blue, reddish purple, black; not its yellow, which fades on white
# and nears orange for deuteranopes).  tab10's red and green look alike to them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000")
GAP = "#D55E00"  # vermillion, and hatched
CROP_GREY = "0.55"
ALT_CELLS = 36  # alt text lists the values of arrays up to this many cells


# --------------------------------------------------------------------------- helpers
@functools.cache
def _figure_class():
    """matplotlib's Figure with an ``alt`` text that a notebook shows with its image."""
    from matplotlib.figure import Figure

    class DescribedFigure(Figure):
        """A figure that says what it shows (``alt``).

        IPython asks ``_repr_mimebundle_`` first: the text version of the output
        is the description, and the PNG (drawn by the inline backend) carries it
        as ``alt`` metadata.
        """

        alt = ""

        def _repr_mimebundle_(self, include=None, exclude=None):
            if not self.alt:
                return {}
            return {"text/plain": self.alt}, {"image/png": {"alt": self.alt}}

    return DescribedFigure


def _figure(ncols=1, nrows=1, figsize=None, **kwargs):
    """A new figure with a flat array of axes, already closed in pyplot."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, FigureClass=_figure_class(),
                             **kwargs)
    plt.close(fig)  # detached: displayed once by the notebook, never leaked
    return fig, list(axes.ravel())


def _describe(fig, text):
    """Give a figure its alt text (figures this module made; a caller's own figure is left alone)."""
    if hasattr(fig, "alt"):
        fig.alt = " ".join(text.split())
    return fig


def _values(a):
    """An array in words: its rows when it is small, its range otherwise."""
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return "empty"
    if a.size <= ALT_CELLS:
        if a.ndim == 1 or a.shape[0] == 1:
            return "values " + ", ".join(_fmt(v) for v in a.ravel())
        return "rows " + "; ".join(", ".join(_fmt(v) for v in row) for row in a)
    return f"values from {_fmt(a.min())} to {_fmt(a.max())}"


def _shape(a):
    return "×".join(str(d) for d in np.shape(a))


def _colours(n):
    from matplotlib.colors import to_rgba

    return [to_rgba(PALETTE[i % len(PALETTE)]) for i in range(n)]


def _as_image(a, name):
    """An array as one 2D float image: accept (L,), (H, W), (1, H, W), (1, 1, H, W)."""
    img = np.asarray(a, dtype=float)
    if img.ndim == 1:
        img = img[None]
    while img.ndim > 2 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ValueError(
            f"{name} must be a single image of shape (H, W), (1, H, W) or (1, 1, H, W); "
            f"got shape {np.shape(a)}: draw one channel at a time"
        )
    return img


def _fmt(v):
    if np.isfinite(v) and abs(v - round(v)) < 1e-9 and abs(v) < 1e6:
        return str(int(round(v)))
    text = f"{v:.2f}".rstrip("0")
    return "0" if text in ("0.", "-0.") else text


def _limits(values):
    """(cmap, vmin, vmax): sequential for non-negative data, diverging around 0 otherwise."""
    values = np.asarray(values, dtype=float)
    top = float(np.abs(values).max()) if values.size else 1.0
    top = top or 1.0
    if values.size and values.min() < 0:
        return "RdBu_r", -top, top
    return "Blues", 0.0, top


def _heatmap(ax, a, cmap="Blues", vmin=None, vmax=None, annotate=True, dim=None, zero_text="0"):
    """Draw a 2D array as cells; ``dim`` marks cells whose text is drawn faintly."""
    h, w = a.shape
    im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.set_xticks(np.arange(w + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(h + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate:
        size = 11 if max(h, w) <= 6 else 9 if max(h, w) <= 10 else 7
        for (i, j), v in np.ndenumerate(a):
            r, g, b, _ = im.cmap(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            faint = dim is not None and dim[i, j]
            colour = "0.6" if faint else ("white" if dark else "black")
            text = zero_text if v == 0 else _fmt(v)
            ax.text(j, i, text, ha="center", va="center", fontsize=size, color=colour)
    return im


def _outline(ax, row, col, height=1, width=1, inset=0.0, **kwargs):
    from matplotlib.patches import Rectangle

    kwargs.setdefault("fill", False)
    ax.add_patch(Rectangle((col - 0.5 + inset, row - 0.5 + inset),
                           width - 2 * inset, height - 2 * inset, **kwargs))


def _shade(ax, rows, cols, **kwargs):
    """Shade the cells rows[0]:rows[1], cols[0]:cols[1] (half-open) if non-empty."""
    if rows[1] > rows[0] and cols[1] > cols[0]:
        _outline(ax, rows[0], cols[0], rows[1] - rows[0], cols[1] - cols[0], **kwargs)


def _width_ratios(*widths):
    return [max(w, 1.5) for w in widths]


def _check_step(step, n):
    if step is None:
        return n
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"step must be an int or None, got {step!r}")
    if not 0 <= step <= n:
        raise ValueError(f"step must be between 0 and the number of input elements {n}, got {step}")
    return int(step)


# --------------------------------------------------------------------------- public
def draw_array(ax, a, title=None, annotate=True, cmap=None, vmin=None, vmax=None):
    """Draw a small matrix with its numbers in the cells.

    Parameters
    ----------
    ax : matplotlib Axes or None
        Where to draw; ``None`` makes a new figure of the right size.
    a : array_like, shape (L,), (H, W), (1, H, W) or (1, 1, H, W)
        The array; a 1D array is drawn as one row.
    title : str, optional
    annotate : bool
        Write each value in its cell (integers without decimals).
    cmap : str, optional
        Colour map; default blue for non-negative arrays, red-blue around 0 otherwise.
    vmin, vmax : float, optional
        Colour limits; default from the data.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Examples
    --------
    >>> fig = draw_array(None, np.array([[1.0, 2.0], [3.0, 4.0]]), title="x")
    >>> len(fig.axes), fig.axes[0].get_title()
    (1, 'x')
    """
    img = _as_image(a, "a")
    auto_cmap, auto_min, auto_max = _limits(img)
    ours = ax is None
    if ours:
        h, w = img.shape
        _, (ax,) = _figure(figsize=(max(CELL * w, 1.2) + 0.4, CELL * h + 0.6))
    _heatmap(ax, img, cmap or auto_cmap, auto_min if vmin is None else vmin,
             auto_max if vmax is None else vmax, annotate)
    if title:
        ax.set_title(title, fontsize=10)
    if ours:
        _describe(ax.figure, f"{title or 'An array'}: a {_shape(img)} array drawn as coloured cells, "
                             f"{_values(img)}.")
    return ax.figure


def draw_stamps(x, weight, stride=1, padding=0, output_padding=0, dilation=1, step=None):
    """The scatter view: every input element stamps a scaled kernel onto the canvas.

    Parameters
    ----------
    x : array_like, shape (H, W), (1, H, W) or (1, 1, H, W)
        A one-channel input.
    weight : array_like, shape (kH, kW) or (1, 1, kH, kW)
        A one-channel kernel.
    stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`tconv_lib.conv_transpose2d`.
    step : int, optional
        Show the canvas after the first ``step`` stamps (input elements in
        row-major order), the latest one drawn thickest; ``None`` shows all.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: the input (each element outlined in its stamp's colour),
        the kernel, and the canvas before cropping.  On the canvas each stamp
        is outlined in its colour and leaves one dot per cell it reaches (the
        dots in a cell count its stamps); rows and columns that ``padding``
        crops are greyed, those that ``output_padding`` adds are hatched, and
        the output is the part inside the black frame.

    Examples
    --------
    The first lecture's example after two of its four stamps:

    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> fig = draw_stamps(x, np.ones((2, 2)), step=2)
    >>> len(fig.axes), fig.axes[2].get_title().splitlines()[0]
    (3, 'canvas after stamp 2 of 4')
    """
    img, ker = _as_image(x, "x"), _as_image(weight, "weight")
    stride, padding = ntuple(stride, 2, "stride"), ntuple(padding, 2, "padding")
    output_padding, dilation = ntuple(output_padding, 2, "output_padding"), ntuple(dilation, 2, "dilation")

    def scatter(inp, w, p):
        return conv_transpose2d(inp[None], w[None, None], stride=stride, padding=p,
                                output_padding=output_padding, dilation=dilation)[0]

    out = scatter(img, ker, padding)  # validates the arguments as PyTorch would
    n = img.size
    every_stamp = step is None
    step = _check_step(step, n)
    order = np.arange(n).reshape(img.shape)  # stamping order: row by row
    (ph, pw), (oph, opw), (oh, ow) = padding, output_padding, out.shape
    # The canvas: every position a stamp reaches, plus any row or column the
    # output keeps beyond them (output_padding larger than padding).
    reach = [geometry.conv_transpose_output_size(m, k, s, 0, 0, d)
             for m, k, s, d in zip(img.shape, ker.shape, stride, dilation)]
    shown = (slice(0, max(reach[0], ph + oh)), slice(0, max(reach[1], pw + ow)))
    final = scatter(img, ker, (0, 0))[shown]
    canvas = scatter(np.where(order < step, img, 0.0), ker, (0, 0))[shown]
    colours = _colours(n)

    (h, w), (kh, kw), (ch, cw) = img.shape, ker.shape, canvas.shape
    fig, (ax_x, ax_w, ax_c) = _figure(
        3, figsize=(CELL * (max(w, 1.5) + max(kw, 1.5) + cw) + 1.8, CELL * max(h, kh, ch) + 1.6),
        gridspec_kw={"width_ratios": _width_ratios(w, kw, cw)},
    )
    # input: each element outlined in the colour of its stamp, later ones faded
    draw_array(ax_x, img, title=f"input x ({h}×{w})")
    for idx, (i, j) in enumerate(np.ndindex(img.shape)):
        _outline(ax_x, i, j, inset=0.06, edgecolor=colours[idx], linewidth=2.5)
        if idx >= step:
            _outline(ax_x, i, j, fill=True, facecolor="white", alpha=0.7, edgecolor="none")
    dil = "" if dilation == (1, 1) else f", dilation {dilation}"
    draw_array(ax_w, ker, title=f"kernel w ({kh}×{kw}{dil})")

    cmap, vmin, vmax = _limits(final)
    _heatmap(ax_c, canvas, cmap, vmin, vmax)
    for idx in range(step):
        onehot = np.where(order == idx, 1.0, 0.0)
        rows, cols = np.nonzero(scatter(onehot, np.ones_like(ker), (0, 0)))  # the stamp's cells
        inset = 0.05 + 0.05 * (idx % 3)
        _outline(ax_c, rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1,
                 inset=inset, edgecolor=colours[idx], linewidth=3 if idx == step - 1 else 1.5)
        ax_c.scatter(cols - 0.38 + 0.11 * (idx % 7), rows + 0.36, s=9, color=colours[idx], zorder=3)
    # what padding crops (outside the output) and what output_padding keeps (its last rows/cols)
    for rows, cols in (((0, ph), (0, cw)), ((ph + oh, ch), (0, cw)),
                       ((ph, ph + oh), (0, pw)), ((ph, ph + oh), (pw + ow, cw))):
        _shade(ax_c, rows, cols, fill=True, facecolor=CROP_GREY, alpha=0.75, edgecolor="none")
    for rows, cols in (((ph + oh - oph, ph + oh), (pw, pw + ow)),
                       ((ph, ph + oh), (pw + ow - opw, pw + ow))):
        _shade(ax_c, rows, cols, hatch="///", edgecolor="0.3", linewidth=0)
    _outline(ax_c, ph, pw, oh, ow, edgecolor="black", linewidth=3, zorder=6)
    if every_stamp:
        ax_c.set_title(f"canvas: all {n} stamps added", fontsize=10)
    elif step == 0:
        ax_c.set_title("canvas before the first stamp", fontsize=10)
    else:
        ax_c.set_title(f"canvas after stamp {step} of {n}", fontsize=10)
    _stamp_legend(fig, (oh, ow), padding, output_padding)
    shown_stamps = f"all {n} stamps" if every_stamp else f"the first {step} of {n} stamps"
    _describe(fig, f"The scatter view of a transposed convolution (stride {stride}, padding {padding}, "
                   f"output_padding {output_padding}, dilation {dilation}). Left: the input x, "
                   f"{_shape(img)}, {_values(img)}; each element outlined in its own colour. Middle: the "
                   f"kernel w, {_shape(ker)}, {_values(ker)}. Right: the {_shape(canvas)} canvas after "
                   f"{shown_stamps}, each stamp (the kernel times one input element) outlined in its "
                   f"element's colour with one dot per cell it reaches; {_values(canvas)}. The black frame "
                   f"is the {oh}×{ow} output"
                   + (", greyed rows and columns are cropped by padding" if any(padding) else "")
                   + (", hatched ones are kept by output_padding" if any(output_padding) else "")
                   + f". Output y: {_values(out)}.")
    return fig


def _stamp_legend(fig, out_shape, padding, output_padding):
    """Legend under the figure for the canvas' frame, greyed and hatched cells, and dots."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="none", edgecolor="black", linewidth=2,
                     label=f"output {out_shape[0]}×{out_shape[1]}"),
               Line2D([], [], marker="o", linestyle="none", color="0.4", markersize=4,
                      label="one dot per stamp on a cell")]
    if any(padding):
        handles.append(Patch(facecolor=CROP_GREY, alpha=0.75, label=f"cropped by padding={padding}"))
    if any(output_padding):
        handles.append(Patch(facecolor="none", edgecolor="0.3", hatch="///",
                             label=f"kept by output_padding={output_padding}"))
    _legend_below(fig, handles)


def _legend_below(fig, handles):
    """A legend under the axes, in rows of at most two entries."""
    ncol = min(len(handles), 2)
    rows = -(-len(handles) // ncol)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, min(0.22 * rows / height + 0.02, 0.4), 1, 1))


def draw_zero_insertion(x, weight, stride=1, padding=0, output_padding=0, dilation=1, position=(0, 0)):
    """The zero-insertion view: the flipped kernel sliding over the zero-inserted, padded input.

    Parameters
    ----------
    x : array_like, shape (H, W), (1, H, W) or (1, 1, H, W)
        A one-channel input.
    weight : array_like, shape (kH, kW) or (1, 1, kH, kW)
        A one-channel kernel (the transposed convolution's, not yet flipped).
    stride, padding, output_padding, dilation : int or (int, int)
        As in :func:`tconv_lib.conv_transpose2d`.
    position : (int, int)
        The output element ``(i, j)`` whose window is drawn.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: the array from :func:`tconv_lib.zero_insert2d` (inserted
        and padding zeros drawn faintly, the window at ``position`` outlined),
        the flipped kernel, and the output with element ``position`` outlined.

    Examples
    --------
    >>> x = np.array([[2.0, 1.0], [3.0, 2.0]])
    >>> w = np.array([[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
    >>> fig = draw_zero_insertion(x, w, stride=2, padding=1, output_padding=1, position=(1, 1))
    >>> len(fig.axes), fig.axes[2].get_title()
    (3, 'output 4×4: y[1, 1] = 7')
    """
    img, ker = _as_image(x, "x"), _as_image(weight, "weight")
    stride, padding = ntuple(stride, 2, "stride"), ntuple(padding, 2, "padding")
    output_padding, dilation = ntuple(output_padding, 2, "output_padding"), ntuple(dilation, 2, "dilation")
    out = conv_transpose2d_zero_insertion(img[None], ker[None, None], stride=stride, padding=padding,
                                          output_padding=output_padding, dilation=dilation)[0]
    i, j = ntuple(position, 2, "position")
    if not (0 <= i < out.shape[0] and 0 <= j < out.shape[1]):
        raise ValueError(f"position {(i, j)} is outside the output of shape {out.shape}")
    args = (ker.shape, stride, padding, output_padding, dilation)
    z = zero_insert2d(img, *args)
    from_x = zero_insert2d(np.ones_like(img), *args) == 0  # inserted or padding zeros

    (zh, zw), (kh, kw), (oh, ow) = z.shape, ker.shape, out.shape
    fig, (ax_z, ax_w, ax_o) = _figure(
        3, figsize=(CELL * (zw + max(kw, 1.5) + max(ow, 1.5)) + 1.6, CELL * max(zh, kh, oh) + 1.1),
        gridspec_kw={"width_ratios": _width_ratios(zw, kw, ow)},
    )
    cmap, vmin, vmax = _limits(np.concatenate([img.ravel(), out.ravel()]))
    _heatmap(ax_z, z, cmap, vmin, vmax, dim=from_x)
    ax_z.set_title(f"zeros inserted, padded ({zh}×{zw})", fontsize=10)
    (dh, dw), window = dilation, "tab:orange"
    for a, b in np.ndindex(ker.shape):
        _outline(ax_z, i + a * dh, j + b * dw, inset=0.04, edgecolor=window, linewidth=2.5)
    draw_array(ax_w, ker[::-1, ::-1], title="kernel, flipped")
    _outline(ax_w, 0, 0, kh, kw, edgecolor=window, linewidth=2.5)
    _heatmap(ax_o, out, cmap, vmin, vmax)
    _outline(ax_o, i, j, inset=0.04, edgecolor=window, linewidth=2.5)
    ax_o.set_title(f"output {oh}×{ow}: y[{i}, {j}] = {_fmt(out[i, j])}", fontsize=10)
    fig.tight_layout()
    _describe(fig, f"The zero-insertion view of a transposed convolution (stride {stride}, padding "
                   f"{padding}, output_padding {output_padding}, dilation {dilation}). Left: the input with "
                   f"zeros inserted between its elements and padded to {zh}×{zw} ({_values(z)}), inserted "
                   f"and padding zeros drawn faintly, and the window of output element ({i}, {j}) outlined "
                   f"in orange. Middle: the {kh}×{kw} kernel flipped, {_values(ker[::-1, ::-1])}. Right: the "
                   f"{oh}×{ow} output, {_values(out)}; y[{i}, {j}] = {_fmt(out[i, j])} is the sum of the "
                   f"window times the flipped kernel.")
    return fig


def _labels(name, shape):
    """Mathtext labels for the flattened elements of an array of ``shape`` (channels first)."""
    channels, spatial = shape[0], shape[1:]
    labels = []
    for index in np.ndindex(shape):
        parts = index if channels > 1 else index[1:]
        if len(spatial) == 2 and channels == 1 and max(spatial) <= 10:
            sub = "".join(str(p) for p in parts)
        else:
            sub = ",".join(str(p) for p in parts)
        labels.append(f"${name}_{{{sub}}}$")
    return labels


def draw_conv_matrix(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, annotate=None):
    """The convolution matrix C and its transpose, as heatmaps.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, k) or (C_out, C_in // groups, kH, kW)
        Forward-convolution kernels, as :func:`tconv_lib.conv_matrix` takes them.
    input_shape : tuple of int
        ``(C_in, L)`` or ``(C_in, H, W)``.
    stride, padding, dilation : int or tuple of int
    groups : int
    annotate : bool, optional
        Write the entries (zeros as dots); default when C has at most 400 entries.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: ``C`` (rows: the convolution's outputs ``y``, columns: its
        inputs ``x``) and ``C.T`` (rows: ``x``, columns: ``y``).

    Examples
    --------
    >>> fig = draw_conv_matrix(np.array([[[1.0, 2.0, 3.0]]]), (1, 5), stride=2, padding=1)
    >>> len(fig.axes), [ax.get_title() for ax in fig.axes]
    (2, ['C, 3×5', 'Cᵀ, 5×3'])
    """
    weight = np.asarray(weight, dtype=float)
    c = conv_matrix(weight, input_shape, stride, padding, dilation, groups)
    conv = conv1d if weight.ndim == 3 else conv2d
    out_shape = conv(np.zeros(tuple(input_shape)), weight, stride=stride, padding=padding,
                     dilation=dilation, groups=groups).shape
    x_labels, y_labels = _labels("x", tuple(input_shape)), _labels("y", out_shape)
    annotate = c.size <= 400 if annotate is None else annotate
    cmap, vmin, vmax = _limits(c)
    rows, cols = c.shape
    fig, (ax_c, ax_t) = _figure(
        2, figsize=(CELL * 0.9 * (rows + cols) + 2.2, CELL * 0.9 * max(rows, cols) + 1.4),
        gridspec_kw={"width_ratios": [cols, rows]},
    )
    for ax, m, row_labels, col_labels, title in (
        (ax_c, c, y_labels, x_labels, f"C, {rows}×{cols}"),
        (ax_t, c.T, x_labels, y_labels, f"Cᵀ, {cols}×{rows}"),
    ):
        _heatmap(ax, m, cmap, vmin, vmax, annotate, zero_text="·")
        ax.set_xticklabels(col_labels, rotation=90 if len(col_labels) > 8 else 0)
        ax.set_yticklabels(row_labels)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("input (columns)", fontsize=9)
        ax.set_ylabel("output (rows)", fontsize=9)
    fig.tight_layout()
    nonzero = [", ".join(f"{x_labels[j].strip('$')} × {_fmt(c[r, j])}" for j in np.flatnonzero(c[r]))
               for r in range(min(rows, 3))]
    _describe(fig, f"Two heatmaps. Left: the convolution matrix C, {rows}×{cols}: one row per output y, "
                   f"one column per input x, {np.count_nonzero(c)} non-zero entries, {_values(c)}. "
                   + " ".join(f"Row {r} ({y_labels[r].strip('$')}) = {t or '0'}."
                              for r, t in enumerate(nonzero))
                   + f" Right: its transpose Cᵀ, {cols}×{rows}: one row per input, one column per output.")
    return fig


def draw_geometry_1d(input_size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """Where every stamp of a 1D transposed convolution lands, and what the output keeps.

    Parameters
    ----------
    input_size, kernel_size, stride, padding, output_padding, dilation : int
        As in :func:`tconv_lib.geometry.conv_transpose_output_size`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes over the canvas positions.  One row per input element ``x_i``
        shows the taps ``w_a`` of its stamp; the *coverage* row counts the
        stamps on each position (red where it is 0: a gap); the *output* row
        shows which positions the output keeps (``y_j``), which ``padding``
        crops (grey) and which ``output_padding`` adds (hatched).

    Examples
    --------
    >>> fig = draw_geometry_1d(3, 3, stride=2, padding=1, output_padding=1)
    >>> len(fig.axes), fig.axes[0].get_title()
    (1, 'n=3, k=3, s=2, p=1, op=1, d=1 → output length 6')
    """
    from matplotlib.patches import Patch

    n, k = input_size, kernel_size

    def stamps(inp, w, p=0):
        return conv_transpose1d(inp[None], w[None, None], stride=stride, padding=p,
                                output_padding=output_padding, dilation=dilation)[0]

    n_out = len(stamps(np.ones(n), np.ones(k), padding))  # validates the arguments
    # canvas positions: every one a stamp reaches, plus any the output keeps beyond them
    reach = geometry.conv_transpose_output_size(n, k, stride, 0, 0, dilation)
    length = max(reach, padding + n_out)
    coverage = stamps(np.ones(n), np.ones(k))[:length]
    colours = _colours(n)
    fig, (ax,) = _figure(figsize=(max(0.5 * length + 1.8, 5.5), 0.5 * (n + 2) + 1.5))
    for i in range(n):
        taps = stamps(np.eye(n)[i], np.arange(1.0, k + 1))  # tap number + 1 where it lands
        for c in np.flatnonzero(taps):
            _outline(ax, i, c, inset=0.05, fill=True, facecolor=colours[i], alpha=0.35,
                     edgecolor=colours[i], linewidth=1.5)
            ax.text(c, i, f"$w_{{{int(taps[c]) - 1}}}$", ha="center", va="center", fontsize=9)
        ax.text(-0.7, i, f"$x_{{{i}}}$", ha="right", va="center", fontsize=10, color=colours[i])
    row_cov, row_out = n, n + 1
    kept_by_op = range(padding + n_out - output_padding, padding + n_out)
    gaps = False
    for c, count in enumerate(coverage):
        gap = count == 0 and c < reach
        gaps = gaps or gap
        _outline(ax, row_cov, c, inset=0.05, fill=True,
                 facecolor=GAP if gap else "0.93", alpha=0.45 if gap else 1,
                 edgecolor=GAP if gap else "none", linewidth=0, hatch="xx" if gap else None)
        ax.text(c, row_cov, _fmt(count), ha="center", va="center", fontsize=9)
        if padding <= c < padding + n_out:
            _outline(ax, row_out, c, inset=0.05, fill=True, facecolor="white", edgecolor="black")
            ax.text(c, row_out, f"$y_{{{c - padding}}}$", ha="center", va="center", fontsize=9)
        else:
            _outline(ax, row_out, c, inset=0.05, fill=True, facecolor=CROP_GREY, alpha=0.6,
                     edgecolor="none")
        if c in kept_by_op:
            _outline(ax, row_out, c, inset=0.05, hatch="///", edgecolor="0.3", linewidth=0)
    ax.text(-0.7, row_cov, "coverage", ha="right", va="center", fontsize=9)
    ax.text(-0.7, row_out, "output", ha="right", va="center", fontsize=9)
    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(row_out + 0.6, -0.6)
    ax.set_xticks(range(length))
    ax.set_yticks([])
    ax.set_xlabel("canvas position", fontsize=9)
    ax.tick_params(length=0, labelsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    handles = []
    if padding:
        handles.append(Patch(facecolor=CROP_GREY, alpha=0.6, label=f"cropped by padding={padding}"))
    if output_padding:
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="///",
                             label=f"kept by output_padding={output_padding}"))
    if gaps:
        handles.append(Patch(facecolor=GAP, alpha=0.45, hatch="xx", label="gap: no stamp"))
    ax.set_title(f"n={n}, k={k}, s={stride}, p={padding}, op={output_padding}, d={dilation} "
                 f"→ output length {n_out}", fontsize=10)
    if handles:
        _legend_below(fig, handles)
    else:
        fig.tight_layout()
    gap_positions = [c for c, count in enumerate(coverage) if count == 0 and c < reach]
    _describe(fig, f"One axis of a transposed convolution with input length n = {n}, kernel size k = {k}, "
                   f"stride s = {stride}, padding p = {padding}, output_padding op = {output_padding}, "
                   f"dilation d = {dilation}: one row per input element x_i shows where the taps of its "
                   f"stamp land on {length} canvas positions. Stamps per position: "
                   f"{', '.join(_fmt(v) for v in coverage)}"
                   + (f"; gaps (no stamp) at positions {', '.join(map(str, gap_positions))}"
                      if gap_positions else "")
                   + f". The output keeps positions {padding} to {padding + n_out - 1}: length {n_out}"
                   + (f"; padding crops {padding} at each end" if padding else "")
                   + (f"; output_padding adds the last {output_padding}" if output_padding else "") + ".")
    return fig


def draw_coverage(coverage, ax=None, title=None, annotate=True, cmap="viridis", colorbar=True):
    """A heatmap of coverage counts: how many stamps reach each output position.

    Parameters
    ----------
    coverage : array_like, shape (L,), (H, W), (1, H, W) or (1, 1, H, W)
        The counts, computed by the caller -- for instance
        ``tconv_lib.conv_transpose2d`` of an all-ones input with an all-ones
        kernel.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    title : str, optional
    annotate : bool
        Write the counts in the cells.
    cmap : str
    colorbar : bool
        Add a colour bar (a second axes).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import tconv_lib
    >>> counts = tconv_lib.conv_transpose2d(np.ones((1, 3, 3)), np.ones((1, 1, 3, 3)), stride=2)
    >>> fig = draw_coverage(counts, title="k=3, s=2")
    >>> len(fig.axes)
    2
    """
    img = _as_image(coverage, "coverage")
    ours = ax is None
    if ours:
        h, w = img.shape
        _, (ax,) = _figure(figsize=(CELL * w + (1.6 if colorbar else 0.6), CELL * h + 0.7))
    im = _heatmap(ax, img, cmap, 0, max(float(img.max()), 1.0), annotate)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.05, pad=0.04, label="stamps")
    if title:
        ax.set_title(title, fontsize=10)
    if ours:
        _describe(ax.figure, f"{title or 'Coverage'}: how many stamps reach each of {_shape(img)} output "
                             f"positions, as a heatmap; {_values(img)}.")
    return ax.figure


def draw_signals(signals, positions=None, title=None):
    """1D signals as stem plots, one axes each, on a shared position axis.

    Parameters
    ----------
    signals : dict of str to array_like
        Label and values of each signal, drawn top to bottom.
    positions : dict of str to array_like, optional
        Where to draw the samples of a signal (default ``0, 1, 2, ...``), e.g.
        the output positions its samples are aligned with.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per signal.

    Examples
    --------
    >>> fig = draw_signals({"x": [1.0, 2.0], "y": [1.0, 1.5, 2.0]}, positions={"x": [0, 2]})
    >>> len(fig.axes)
    2
    """
    positions = positions or {}
    fig, axes = _figure(1, len(signals), figsize=(7, 1.5 * len(signals) + 0.4), sharex=True)
    for ax, (label, values) in zip(axes, signals.items()):
        values = np.asarray(values, dtype=float)
        where = np.asarray(positions.get(label, np.arange(len(values))))
        ax.stem(where, values, basefmt="0.7")
        for p, v in zip(where, values):
            ax.annotate(_fmt(v), (p, v), textcoords="offset points", xytext=(0, 5 if v >= 0 else -12),
                        ha="center", fontsize=8)
        ax.set_ylabel(label, fontsize=9)
        ax.margins(x=0.05, y=0.3)
        ax.tick_params(labelsize=8)
    if title:
        axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    _describe(fig, (f"{title}: " if title else "")
              + f"{len(signals)} stem plot{'s' if len(signals) > 1 else ''} on a shared position axis: "
              + "; ".join(f"{label}: {_values(values)}" for label, values in signals.items()) + ".")
    return fig


def draw_spectra(signals, n_fft=1024, title=None):
    """Magnitude spectra of 1D signals (or kernels), one axes each.

    Parameters
    ----------
    signals : dict of str to array_like
        Label and values of each signal; the spectrum of a kernel is its
        frequency response.
    n_fft : int
        Frequencies sampled, see :func:`tconv_lib.spectral.magnitude_spectrum`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per signal, frequency in cycles per sample from -1/2 to 1/2.

    Examples
    --------
    >>> fig = draw_spectra({"x": [1.0, 2.0, 1.0], "kernel": [0.5, 1.0, 0.5]}, n_fft=64)
    >>> len(fig.axes)
    2
    """
    fig, axes = _figure(1, len(signals), figsize=(7, 1.4 * len(signals) + 0.5), sharex=True)
    for ax, (label, values) in zip(axes, signals.items()):
        freqs, magnitude = spectral.magnitude_spectrum(np.asarray(values, dtype=float), n_fft)
        ax.plot(freqs, magnitude, color="tab:blue")
        ax.fill_between(freqs, magnitude, alpha=0.2, color="tab:blue")
        ax.set_ylabel(f"|{label}|", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[-1].set_xlabel("frequency (cycles per sample)", fontsize=9)
    axes[-1].set_xlim(-0.5, 0.5)
    if title:
        axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    peaks = []
    for label, values in signals.items():
        freqs, magnitude = spectral.magnitude_spectrum(np.asarray(values, dtype=float), n_fft)
        top = magnitude.max()
        at = sorted({round(abs(float(f)), 3) for f in freqs[magnitude >= top * (1 - 1e-9)]})
        peaks.append(f"|{label}| peaks at {_fmt(top)} at frequency ±{', ±'.join(_fmt(f) for f in at)}")
    _describe(fig, (f"{title}: " if title else "")
              + "magnitude spectra, frequency from −1/2 to 1/2 cycles per sample: " + "; ".join(peaks) + ".")
    return fig


# --------------------------------------------------------------------------- artifacts, mitigation, gradients
__all__ += ["draw_images", "draw_lines", "draw_polyphase"]


def draw_images(images, ncols=None, cmap="viridis", size=2.2, title=None, shared=False):
    """Several images side by side, without numbers: patterns too large to annotate.

    Parameters
    ----------
    images : dict of str to array_like
        Panel title and image, each of shape (H, W), (1, H, W) or (1, 1, H, W)
        (a 1D array is drawn as one row).  Panels are filled row by row.
    ncols : int, optional
        Panels per row; default all in one row.
    cmap : str
        Colour map.  By default each panel has its own colour limits, from its
        own minimum to its own maximum: the figure compares patterns, not
        values.  A constant image is drawn in the middle colour.
    size : float
        Width and height of one panel, in inches.
    title : str, optional
        A title over the whole figure.
    shared : bool
        One colour scale for every panel, from the smallest value of all the
        images to the largest, with a colour bar: for comparisons, where the
        same colour must mean the same value in every panel.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per image, in the order of ``images`` (then the colour bar's
        axes when ``shared``); each holds its image unchanged
        (``ax.images[0].get_array()``).

    Examples
    --------
    >>> checker = np.indices((4, 4)).sum(axis=0) % 2
    >>> fig = draw_images({"flat": np.ones((4, 4)), "checker": checker}, title="two images")
    >>> [ax.get_title() for ax in fig.axes]
    ['flat', 'checker']
    >>> fig = draw_images({"flat": np.ones((4, 4)), "checker": checker}, shared=True)
    >>> [ax.images[0].get_clim() for ax in fig.axes[:2]]
    [(0.0, 1.0), (0.0, 1.0)]
    """
    if not images:
        raise ValueError("images is empty: pass a dict {title: image} with at least one image")
    if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer))
                              or ncols < 1):
        raise ValueError(f"ncols must be a positive int or None, got {ncols!r}")
    arrays = {label: _as_image(img, f"images[{label!r}]") for label, img in images.items()}
    ncols = len(arrays) if ncols is None else min(int(ncols), len(arrays))
    nrows = -(-len(arrays) // ncols)
    fig, axes = _figure(ncols, nrows, figsize=(size * ncols, (size + 0.3) * nrows + (0.4 if title else 0)),
                        layout="constrained")
    everything = np.concatenate([img.ravel() for img in arrays.values()])
    for ax, (label, img) in zip(axes, arrays.items()):
        scale = everything if shared else img
        low, high = float(scale.min()), float(scale.max())
        if high == low:  # constant: centre it in the colour map
            low, high = low - 1.0, high + 1.0
        image = ax.imshow(img, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(arrays):]:
        fig.delaxes(ax)
    if shared:
        colourbar = fig.colorbar(image, ax=axes[:len(arrays)], shrink=0.8)
        colourbar.ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    _describe(fig, (f"{title}: " if title else "")
              + f"{len(arrays)} image{'s' if len(arrays) > 1 else ''}, each coloured from its own minimum "
              + "to its own maximum: "
              + "; ".join(f"{label} ({_shape(img)}, "
                          + ("constant" if img.min() == img.max() else
                             f"from {_fmt(img.min())} to {_fmt(img.max())}") + ")"
                          for label, img in arrays.items()) + ".")
    return fig


def draw_lines(series, x=None, xlabel=None, ylabel=None, title=None, logy=False, dashed=(), bands=None):
    """Curves on one axes: how a quantity changes with a layer, a step, a size.

    Parameters
    ----------
    series : dict of str to array_like
        Legend label and values of each curve, all of the same length.
    x : array_like, optional
        The shared positions of the values; default ``0, 1, 2, ...``.  When
        they are all whole numbers the axis has ticks at whole numbers only.
    xlabel, ylabel, title : str, optional
    logy : bool
        Logarithmic vertical axis, for quantities that grow or shrink
        geometrically (variances through a stack of layers).
    dashed : iterable of str
        Labels of the curves to draw dashed and without markers, e.g. a
        prediction next to measurements.
    bands : dict of str to array_like, optional
        Half-widths (e.g. a standard deviation over seeds) to shade around
        the curve of the same label: from ``value - band`` to ``value + band``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per series, in the order of ``series``.

    Examples
    --------
    >>> fig = draw_lines({"measured": [1.0, 0.5, 0.25], "predicted": [1.0, 0.5, 0.25]},
    ...                  xlabel="layer", logy=True, dashed=["predicted"])
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['measured', 'predicted']
    >>> fig = draw_lines({"mean": [1.0, 2.0]}, bands={"mean": [0.1, 0.2]})
    >>> len(fig.axes[0].collections)  # one shaded band
    1
    """
    if not series:
        raise ValueError("series is empty: pass a dict {label: values} with at least one curve")
    values = {label: np.asarray(v, dtype=float).ravel() for label, v in series.items()}
    lengths = {len(v) for v in values.values()}
    if len(lengths) != 1:
        raise ValueError(f"every series must have the same length, got lengths "
                         f"{ {label: len(v) for label, v in values.items()} }")
    n = lengths.pop()
    where = np.arange(n) if x is None else np.asarray(x, dtype=float).ravel()
    if len(where) != n:
        raise ValueError(f"x has {len(where)} positions but the series have {n} values")
    dashed, bands = set(dashed), dict(bands or {})
    for name, labels in (("dashed", dashed), ("bands", set(bands))):
        unknown = labels - set(values)
        if unknown:
            raise ValueError(f"{name} names {sorted(unknown)}, which are not labels of series {list(values)}")
    fig, (ax,) = _figure(figsize=(6.4, 3.6))
    for colour, (label, v) in zip(_colours(len(values)), values.items()):
        if label in dashed:
            ax.plot(where, v, linestyle="--", color=colour, label=label)
        else:
            ax.plot(where, v, marker="o" if n <= 40 else None, markersize=4, color=colour, label=label)
        if label in bands:
            half = np.asarray(bands[label], dtype=float).ravel()
            if len(half) != n:
                raise ValueError(f"bands[{label!r}] has {len(half)} values but the series has {n}")
            ax.fill_between(where, v - half, v + half, color=colour, alpha=0.2, linewidth=0)
    if logy:
        ax.set_yscale("log")
    if np.array_equal(where, np.round(where)):  # layers, steps: no ticks between them
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel or "", fontsize=9)
    ax.set_ylabel(ylabel or "", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    _describe(fig, (f"{title}: " if title else "")
              + f"line chart of {ylabel or 'values'}{' (log scale)' if logy else ''} against "
              + f"{xlabel or 'position'} from {_fmt(where[0])} to {_fmt(where[-1])}: "
              + "; ".join(f"{label}{' (dashed)' if label in dashed else ''} "
                          f"from {_fmt(v[0])} to {_fmt(v[-1])}"
                          for label, v in values.items()) + ".")
    return fig


def draw_polyphase(weight, stride, dilation=1):
    """A 1D kernel split into its polyphase sub-kernels, one colour per output phase.

    Parameters
    ----------
    weight : array_like, shape (k,)
        A one-channel 1D kernel of a transposed convolution.
    stride, dilation : int
        ``s`` and ``d``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes.  The top row is the kernel, tap ``w_a`` drawn at its offset
        ``a*d`` on the canvas; each tap has the colour of the output phase
        it lands on.  Below it, one row per phase ``r`` holds the sub-kernel
        ``h_r`` of :func:`tconv_lib.artifacts.polyphase_decompose`, and on the
        right its sum, the phase's gain
        (:func:`tconv_lib.artifacts.phase_gains`).

    Examples
    --------
    >>> fig = draw_polyphase(np.array([1.0, 2.0, 3.0]), stride=2)
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("sum")]
    ['sum 4', 'sum 2']
    """
    from . import artifacts

    w = np.asarray(weight, dtype=float)
    if w.ndim != 1:
        raise ValueError(f"weight must be a 1D kernel of shape (k,), got shape {w.shape}")
    subs = artifacts.polyphase_decompose(w, stride, dilation)  # (s, L)
    gains = artifacts.phase_gains(w, stride, dilation)  # (s,)
    # which tap went where: decompose the tap numbers 1..k the same way
    taps = artifacts.polyphase_decompose(np.arange(1.0, len(w) + 1), stride, dilation)
    offsets = conv_transpose1d(np.ones((1, 1)), np.arange(1.0, len(w) + 1)[None, None],
                               dilation=dilation)[0]  # tap number + 1 at its offset, 0 in holes
    s, length = subs.shape
    width = max(len(offsets), length)
    colours = _colours(s)
    fig, (ax,) = _figure(figsize=(0.55 * width + 2.6, 0.5 * (s + 1) + 1.0))
    phase_of_tap = {int(taps[r, q]) - 1: r for r in range(s) for q in range(length) if taps[r, q]}
    for c in np.flatnonzero(offsets):
        a = int(offsets[c]) - 1
        _outline(ax, 0, c, inset=0.05, fill=True, facecolor=colours[phase_of_tap[a]], alpha=0.4,
                 edgecolor=colours[phase_of_tap[a]])
        ax.text(c, 0, f"$w_{{{a}}}$\n{_fmt(w[a])}", ha="center", va="center", fontsize=8)
    for r in range(s):
        for q in range(length):
            tap = int(taps[r, q]) - 1
            face = colours[r] if tap >= 0 else "0.95"
            _outline(ax, r + 1, q, inset=0.05, fill=True, facecolor=face, alpha=0.4 if tap >= 0 else 1,
                     edgecolor="none")
            ax.text(q, r + 1, _fmt(subs[r, q]), ha="center", va="center", fontsize=8,
                    color="black" if tap >= 0 else "0.6")
        ax.text(-0.7, r + 1, f"$h_{{{r}}}$", ha="right", va="center", fontsize=10, color=colours[r])
        ax.text(length - 0.2, r + 1, f"sum {_fmt(gains[r])}", ha="left", va="center", fontsize=9)
    ax.text(-0.7, 0, "$w$", ha="right", va="center", fontsize=10)
    ax.set_xlim(-1.2, width + 1.3)
    ax.set_ylim(s + 0.6, -0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    dil = f", d={dilation}" if dilation != 1 else ""
    ax.set_title(f"k={len(w)}, s={stride}{dil}: tap $w_a$ feeds phase $h_r$ of its colour", fontsize=10)
    fig.tight_layout()
    _describe(fig, f"The kernel w = {', '.join(_fmt(v) for v in w)} (k = {len(w)}, stride {stride}{dil}) "
                   f"split "
                   f"into its {s} polyphase sub-kernels, one colour per output phase: "
                   + "; ".join(f"h_{r} = {', '.join(_fmt(v) for v in subs[r])}, sum {_fmt(gains[r])}"
                               for r in range(s)) + ".")
    return fig
