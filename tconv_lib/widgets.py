"""Explorers: experiments that are live widgets in Jupyter and still alive on the static site.

Each explorer is defined once, as

* a list of discrete :class:`Control` s (name, label, the values it can take,
  the default), and
* a ``panels(**params)`` function that calls :mod:`tconv_lib` and returns
  plain data: a list of panels (see below).

Two front ends draw the same panels:

live (Jupyter)
    ``explore("geometry")`` builds ipywidgets controls and re-draws the panels
    as HTML whenever a control moves.
static (the published site)
    With the environment variable ``TCONV_STATIC_SITE=1`` (the book build sets
    it), ``explore("geometry")`` computes the panels of *every* combination of
    control values now and returns an object whose ``_repr_html_`` holds them
    in a ``<div class="tconv-explorer">``, as gzipped JSON in base64 (a tenth
    of the JSON's size; the browser unpacks it with ``DecompressionStream``).  The site's viewer,
    ``book/_explorers/explorer.js``, builds the controls and, on every change,
    looks up and draws the panels of the chosen combination.  It computes
    nothing: every number on an explorer comes from :mod:`tconv_lib`.

Panels are dictionaries:

``{"kind": "grid", "title", "values", "vmin", "vmax", "scale", "annotate", ...}``
    A 2D array of numbers (rounded to 4 significant digits) drawn as coloured
    cells; ``scale`` is ``"seq"`` (0 to ``vmax``) or ``"div"`` (``-vmax`` to
    ``vmax``).  Optional: ``highlight``, ``dim``, ``mark`` (lists of
    ``[row, col]`` cells to outline, fade or dot), ``frame`` (``[row, col,
    height, width]``; cells outside it are greyed), ``cells`` (text to show
    instead of the numbers), ``rows`` / ``cols`` (header labels), ``pick``
    (``[row_control, col_control]``: clicking a cell sets those controls) and
    ``note`` (a line under the grid).
``{"kind": "series", "title", "values", "vmin", "vmax", ...}``
    A 1D array drawn as bars; optional ``highlight`` (indices) and ``note``.
``{"kind": "text", "text", "style"}``
    A line of prose (``"note"``), a filled-in formula (``"formula"``) or an
    error message from :mod:`tconv_lib` (``"error"``).

The explorers: ``stamps`` (the scatter, one stamp at a time), ``geometry``
(output sizes), ``overlap`` (coverage and checkerboards), ``mitigation``
(four ways to upsample) and ``gradients`` (which inputs and weights a pixel's
gradient reaches).
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import inspect
import io
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import artifacts, geometry, gradients, init, mitigation
from .grading import references
from .transposed import conv_transpose1d, conv_transpose2d

__all__ = [
    "Control",
    "Explorer",
    "EXPLORERS",
    "STATIC_ENV",
    "explore",
    "export",
    "render_html",
    "StaticExplorer",
    "LiveExplorer",
]

STATIC_ENV = "TCONV_STATIC_SITE"
ANNOTATE_MAX = 16  # integer grids up to this many rows and columns show their numbers, others half
PNG_CELLS = 1024  # the live front end draws larger grids as an image
SEED = 20261121


# --------------------------------------------------------------------------------------------
# Controls, explorers and panels: plain data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """One discrete control of an explorer.

    Attributes
    ----------
    name : str
        Keyword argument of the explorer's ``panels`` function.
    label : str
        What the reader sees.
    values : tuple
        The values the static site offers (every combination is precomputed).
    default : object
        One of ``values``.
    live_values : tuple, optional
        A wider choice for the live widget in Jupyter, where nothing is
        precomputed.  Default: ``values``.
    play : bool
        Offer a play button that steps through the values.
    """

    name: str
    label: str
    values: tuple
    default: Any
    live_values: tuple | None = None
    play: bool = False

    def __post_init__(self):
        if self.default not in self.values:
            raise ValueError(f"control {self.name!r}: default {self.default!r} is not one of {self.values}")
        if self.live_values is not None and not set(self.values) <= set(self.live_values):
            raise ValueError(f"control {self.name!r}: live_values must include every static value")

    def spec(self, live: bool = False) -> dict:
        """The control as JSON-ready data (``live``: with :attr:`live_values`)."""
        values = self.live_values if live and self.live_values is not None else self.values
        return {"name": self.name, "label": self.label, "values": list(values),
                "default": self.default, "play": self.play}


@dataclass(frozen=True)
class Explorer:
    """An explorer: its controls and the function that computes its panels.

    Attributes
    ----------
    name, title, blurb : str
        Key in :data:`EXPLORERS`, heading and one-line description.
    controls : callable
        ``controls(**fixed) -> tuple of Control``; ``fixed`` are the keyword
        arguments given to :func:`explore` (e.g. ``size``), which some
        explorers' controls depend on.
    panels : callable
        ``panels(**params, **fixed) -> list of dict``.
    fixed : dict
        Defaults of the fixed keyword arguments.
    """

    name: str
    title: str
    blurb: str
    controls: Callable[..., tuple]
    panels: Callable[..., list]
    fixed: dict = field(default_factory=dict)

    def controls_for(self, fixed: dict) -> tuple:
        """The controls a reader gets when :func:`explore` is given ``fixed``.

        A fixed argument that names a control (``explore("gradients", padding=0)``) pins
        it: the control disappears and its value goes to the panels like any fixed
        argument, so a chapter can embed the one case its text discusses.
        """
        accepted = inspect.signature(self.controls).parameters
        controls = self.controls(**{k: v for k, v in fixed.items() if k in accepted})
        return tuple(c for c in controls if c.name not in fixed)


def _round(a: np.ndarray) -> np.ndarray:
    """Round to 4 significant digits; integers stay integers, rounding noise becomes 0."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return a
    big = np.max(np.abs(a))
    a = np.where(np.abs(a) <= 1e-12 * big, 0.0, a)
    if np.all(a == np.round(a)) and big < 1e15:
        return a.astype(np.int64)
    exp = 3 - np.floor(np.log10(np.where(a == 0, 1.0, np.abs(a)))).astype(np.int64)
    up = np.round(a * 10.0 ** np.maximum(exp, 0)) / 10.0 ** np.maximum(exp, 0)
    down = np.round(a / 10.0 ** np.maximum(-exp, 0)) * 10.0 ** np.maximum(-exp, 0)
    return np.where(exp >= 0, up, down)


def _colour_range(a: np.ndarray) -> tuple[float, float, str]:
    """``(vmin, vmax, scale)``: 0 to max for non-negative data, symmetric about 0 otherwise."""
    if a.size == 0:
        return 0.0, 1.0, "seq"
    lo, hi = float(np.min(a)), float(np.max(a))
    if lo >= 0:
        return 0.0, hi if hi > 0 else 1.0, "seq"
    m = max(-lo, hi)
    return -m, m, "div"


def _cells(mask) -> list:
    """``[row, col]`` of every true cell of a 2D mask."""
    return np.argwhere(np.asarray(mask, dtype=bool)).tolist()


def grid(title, values, *, highlight=None, dim=None, mark=None, frame=None, cells=None,
         rows=None, cols=None, pick=None, note=None) -> dict:
    """A grid panel: a 2D array of numbers drawn as coloured cells.

    Parameters
    ----------
    title : str
    values : array_like, shape (H, W) or (W,)
        The numbers (a 1D array is one row).
    highlight, dim, mark : array_like of bool, shape (H, W), optional
        Cells to outline, fade, or dot.
    frame : (int, int, int, int), optional
        ``(row, col, height, width)`` of the part that counts; the rest is greyed.
    cells : list of list of str, optional
        Text to show in the cells instead of the numbers.
    rows, cols : list of str, optional
        Header labels.
    pick : (str, str), optional
        Names of the controls that a click on cell ``(r, c)`` sets to ``r`` and ``c``.
    note : str, optional

    Returns
    -------
    dict

    Examples
    --------
    >>> p = grid("x", [[1.0, 2.5], [3.0, -4.0]], highlight=[[True, False], [False, False]])
    >>> p["values"], p["scale"], p["vmax"], p["highlight"]
    ([[1.0, 2.5], [3.0, -4.0]], 'div', 4.0, [[0, 0]])
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    r = _round(a)
    vmin, vmax, scale = _colour_range(r)
    # numbers in the cells when they fit: integers up to 16 a side, others up to 8
    fits = ANNOTATE_MAX if r.dtype.kind == "i" else ANNOTATE_MAX // 2
    panel = {"kind": "grid", "title": title, "values": r.tolist(), "vmin": vmin, "vmax": vmax,
             "scale": scale, "annotate": bool(max(a.shape) <= fits)}
    for key, mask in (("highlight", highlight), ("dim", dim), ("mark", mark)):
        if mask is not None:
            mask = np.asarray(mask, dtype=bool).reshape(a.shape)
            if mask.any():
                panel[key] = _cells(mask)
    for key, value in (("frame", frame), ("cells", cells), ("rows", rows), ("cols", cols),
                       ("pick", pick), ("note", note)):
        if value is not None:
            panel[key] = [int(v) for v in value] if key == "frame" else value
    if "pick" in panel:
        panel["pick"] = list(panel["pick"])
    return panel


def series(title, values, *, highlight=None, note=None) -> dict:
    """A series panel: a 1D array drawn as bars.

    Examples
    --------
    >>> series("coverage", [1, 2, 1], highlight=[1])["values"]
    [1, 2, 1]
    """
    r = _round(np.asarray(values, dtype=np.float64).ravel())
    vmin, vmax, scale = _colour_range(r)
    panel = {"kind": "series", "title": title, "values": r.tolist(), "vmin": vmin, "vmax": vmax,
             "scale": scale}
    if highlight is not None and len(highlight):
        panel["highlight"] = [int(i) for i in highlight]
    if note is not None:
        panel["note"] = note
    return panel


def text(value: str, style: str = "note") -> dict:
    """A text panel: ``style`` is ``"note"``, ``"formula"`` or ``"error"``."""
    return {"kind": "text", "text": value, "style": style}


def _num(v) -> str:
    """A number as the panels print it: 4 significant digits."""
    return f"{float(v):.4g}"


def _score(v) -> str:
    """A score in [0, 1] to 4 decimals: rounding noise of a flat image prints as 0."""
    return f"{round(float(v), 4):g}"


def _size_formula(n, k, s, p, op, d, symbol="H") -> dict:
    """The transposed output size with its terms filled in; the result from :mod:`tconv_lib.geometry`."""
    size = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    return text(
        f"{symbol}_out = ({symbol}_in − 1)·s − 2p + d·(k − 1) + op + 1\n"
        f"      = ({n} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1 = {size}",
        "formula",
    )


# --------------------------------------------------------------------------------------------
# 1. The stamp stepper
# --------------------------------------------------------------------------------------------


@functools.cache
def _stamp_kernels() -> dict:
    """The stepper's kernels; the lectures' come from :mod:`tconv_lib.grading.references`."""
    lecture = references.get_case("ct2d_worked_stamp_2x2_to_3x3").inputs()["weight"][0, 0]
    unet = references.get_case("ct2d_worked_unet_2x2_to_4x4").inputs()["weight"][0, 0]
    return {
        "lecture 2×2": lecture,
        "ones 2×2": np.ones((2, 2)),
        "U-Net lecture 3×3": unet,
        "ones 3×3": np.ones((3, 3)),
        "bilinear 4×4": mitigation.bilinear_kernel(4),
    }


def _stamp_controls(size=2):
    return (
        Control("kernel", "kernel", tuple(_stamp_kernels()), "lecture 2×2"),
        Control("stride", "stride", (1, 2, 3), 1, live_values=(1, 2, 3, 4)),
        Control("padding", "padding", (0, 1), 0, live_values=(0, 1, 2, 3)),
        Control("output_padding", "output_padding", (0, 1), 0, live_values=(0, 1, 2, 3)),
        Control("dilation", "dilation", (1, 2), 1, live_values=(1, 2, 3)),
        Control("step", "stamps placed", tuple(range(size * size + 1)), size * size, play=True),
    )


def stamps_panels(kernel="lecture 2×2", stride=1, padding=0, output_padding=0, dilation=1, step=4,
                  size=2) -> list:
    """The scatter view one stamp at a time: input, kernel, canvas, output.

    The input is ``1, 2, ..., size²`` row by row (for ``size=2`` the first
    lecture's input); input elements stamp in that order.

    Examples
    --------
    The lecture's 2×2 kernel after all four stamps: the 3×3 output.

    >>> panels = stamps_panels()
    >>> [p["title"] for p in panels if p["kind"] == "grid"][-1]
    'output 3×3'
    >>> panels[3]["values"]
    [[1, 4, 4], [6, 20, 16], [9, 24, 16]]
    """
    w = _stamp_kernels()[kernel]
    x = np.arange(1.0, size * size + 1).reshape(size, size)
    n = x.size
    order = np.arange(n).reshape(x.shape)  # stamping order: row by row
    latest = order == step - 1
    x_panel = grid(f"input x ({size}×{size})", x, highlight=latest, dim=order >= step,
                   note="faded: not stamped yet")
    w_panel = grid(f"kernel w ({w.shape[0]}×{w.shape[1]})", w)
    args = dict(stride=stride, output_padding=output_padding, dilation=dilation)
    stamped = np.where(order < step, x, 0.0)
    try:
        out = conv_transpose2d(stamped[None], w[None, None], padding=padding, **args)[0]
    except ValueError as error:
        return [x_panel, w_panel, text(str(error), "error")]
    # The canvas: every stamp uncropped (padding 0), with output_padding's extra rows kept.
    canvas = conv_transpose2d(stamped[None], w[None, None], padding=0, **args)[0]
    reach = conv_transpose2d(latest[None].astype(float), np.ones((1, 1, *w.shape)), padding=0, **args)[0] > 0
    oh, ow = out.shape
    canvas_panel = grid(
        f"canvas after {step} of {n} stamps", canvas, highlight=reach, frame=(padding, padding, oh, ow),
        note="outlined: the latest stamp; greyed: cropped by padding",
    )
    panels = [x_panel, w_panel, canvas_panel, grid(f"output {oh}×{ow}", out)]
    if step == 0:
        what = "No stamp yet: press ▶ or move “stamps placed”."
    else:
        (i, j), = np.argwhere(latest)
        rows, cols = np.nonzero(reach)
        what = (f"Stamp {step} of {n}: x[{i},{j}] = {_num(x[i, j])} times the kernel, added onto canvas "
                f"rows {rows.min()}–{rows.max()}, columns {cols.min()}–{cols.max()}; "
                f"where stamps overlap, their products add.")
    panels.append(text(what))
    panels.append(_size_formula(size, w.shape[0], stride, padding, output_padding, dilation))
    return panels


# --------------------------------------------------------------------------------------------
# 2. Geometry
# --------------------------------------------------------------------------------------------


def _geometry_controls():
    return (
        Control("input_size", "input size", (2, 3, 4), 4, live_values=tuple(range(1, 33))),
        Control("kernel_size", "kernel size k", (1, 2, 3, 4, 5), 3, live_values=tuple(range(1, 8))),
        Control("stride", "stride s", (1, 2, 3), 2, live_values=(1, 2, 3, 4)),
        Control("padding", "padding p", (0, 1, 2), 1, live_values=(0, 1, 2, 3)),
        Control("output_padding", "output_padding op", (0, 1, 2), 1, live_values=(0, 1, 2, 3)),
        Control("dilation", "dilation d", (1, 2), 1, live_values=(1, 2, 3)),
    )


def geometry_panels(input_size=4, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=1) -> list:
    """Output size, stamps, what padding crops and where the gaps are, along one axis (and in 2D).

    Examples
    --------
    >>> geometry_panels()[0]["text"].splitlines()[-1].split("= ")[-1]
    '8'
    """
    n, k, s, p, op, d = input_size, kernel_size, stride, padding, output_padding, dilation
    formula = _size_formula(n, k, s, p, op, d)
    try:
        coverage = artifacts.coverage1d(n, k, s, p, op, d)  # validates as PyTorch does
    except ValueError as error:
        return [formula, text(str(error), "error")]
    out = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    reach = geometry.conv_transpose_output_size(n, k, s, 0, 0, d)
    # Row i: input element i alone, stamping the tap numbers 1..k on the canvas (padding 0).
    onehot = np.eye(n)[:, None, :]  # (N = n, C = 1, n)
    taps = conv_transpose1d(onehot, np.arange(1.0, k + 1)[None, None], stride=s, output_padding=op,
                            dilation=d)[:, 0, :]
    labels = [[f"w{int(v) - 1}" if v else "" for v in row] for row in taps]
    cols = [str(c - p) if p <= c < p + out else "" for c in range(taps.shape[1])]
    gaps = artifacts.gaps1d(n, k, s, p, op, d)
    panels = [
        formula,
        grid("stamps along one axis (uncropped canvas)", taps, cells=labels,
             rows=[f"x[{i}]" for i in range(n)], cols=cols, frame=(0, p, n, out),
             note="cell: the kernel tap an input element puts there; header: output index; "
                  "greyed: cropped by padding"),
        series(f"stamps per output position ({out})", coverage, highlight=gaps,
               note="highlighted: gaps, positions no stamp reaches"),
        grid(f"output {out}×{out}: stamps per pixel", artifacts.coverage2d(n, k, s, p, op, d),
             mark=artifacts.gaps2d(n, k, s, p, op, d), note="dotted: gaps"),
        text(f"The {n} stamps of span d·(k − 1) + 1 = {geometry.effective_kernel_size(k, d)} cover "
             f"{reach} positions; padding crops {p} at each end and output_padding adds {op} at the "
             f"end: {out}. Gaps at output positions: "
             f"{', '.join(map(str, gaps)) if len(gaps) else 'none'}."),
        text(f"The convolution with the same k, s, p, d maps {out} back to "
             f"{geometry.conv_output_size(out, k, s, p, d)}; the output sizes this transposed layer "
             f"can produce (one per output_padding) are "
             f"{', '.join(map(str, geometry.conv_transpose_output_sizes(n, k, s, p, d)))}."),
    ]
    return panels


# --------------------------------------------------------------------------------------------
# 3. Overlap and checkerboard
# --------------------------------------------------------------------------------------------


def _overlap_controls():
    return (
        Control("kernel_size", "kernel size k", (1, 2, 3, 4, 5, 6), 3, live_values=tuple(range(1, 9))),
        Control("stride", "stride s", (1, 2, 3, 4), 2),
        Control("layers", "stacked layers", (1, 2, 3), 2),
        Control("weights", "weights", ("ones", "random"), "ones"),
    )


def overlap_panels(kernel_size=3, stride=2, layers=2, weights="ones", size=6, stack_size=24,
                   window=16) -> list:
    """Coverage in 1D and 2D, its variance, and a stack of layers fed a constant image.

    Parameters
    ----------
    kernel_size, stride : int
        ``k`` and ``s`` of every layer (no padding).
    layers : int
        How many transposed layers the stack has.
    weights : {'ones', 'random'}
        Kernels of ones (pure overlap) or He-initialised random kernels
        (:func:`tconv_lib.init.kaiming_normal`, seeded).
    size : int
        Input length of the coverage maps.
    stack_size, window : int
        The stack's constant input is ``stack_size²``; after each layer only
        the part the borders do not touch
        (:func:`tconv_lib.geometry.interior_range`), at most ``stack_size²``,
        goes on, and the first ``window²`` pixels of the last one are shown.

    Examples
    --------
    >>> [p["text"] for p in overlap_panels() if p["kind"] == "text"][0].split(":")[1].split(".")[0]
    ' 2, 1'
    """
    k, s = kernel_size, stride
    interior = geometry.interior_range(size, k, s)
    inside = np.zeros(geometry.conv_transpose_output_size(size, k, s), dtype=bool)
    inside[interior.start:interior.stop] = True
    period = artifacts.coverage_period(k, s)
    variance = artifacts.coverage_variance(k, s)
    gap_runs = artifacts.gap_lengths(k, s)
    panels = [
        series(f"1D: stamps per output position ({size} inputs)", artifacts.coverage1d(size, k, s),
               highlight=np.flatnonzero(inside), note="highlighted: the interior, away from the borders"),
        text(f"Away from the borders the coverage repeats every s = {s} positions: "
             f"{', '.join(map(str, period))}. Its variance over one period is "
             f"V = (r/s)(1 − r/s) with r = k mod s: V = {variance} ≈ {_num(variance)}"
             f"{'' if variance else ' — even overlap: s divides k'}."
             + (f" Gaps of length {', '.join(map(str, gap_runs))} in every period." if gap_runs else "")),
        grid(f"2D: stamps per pixel ({size}×{size} inputs)", artifacts.coverage2d(size, k, s),
             frame=(interior.start, interior.start, len(interior), len(interior)),
             note="greyed: the border"),
    ]
    # The stack: a constant image through `layers` transposed layers.  After each layer only
    # its interior is kept (at most stack_size pixels a side): there the response is that of an
    # endless constant image, so the next layer sees a piece of that and nothing else.
    x = np.ones((1, 1, stack_size, stack_size))
    rng = np.random.default_rng(SEED)
    for _ in range(layers):
        if weights == "ones":
            w = np.ones((1, 1, k, k))
        else:
            w = init.kaiming_normal((1, 1, k, k), stride=s, rng=rng)
        inner = geometry.interior_range(x.shape[-1], k, s)
        x = conv_transpose2d(x, w, stride=s)[..., inner.start:inner.stop, inner.start:inner.stop]
        x = x[..., :stack_size, :stack_size]
        if x.shape[-1] == 0:
            panels.append(text(f"The borders reach everywhere: layers of k = {k}, s = {s} leave no "
                               f"interior of a {stack_size}×{stack_size} input.", "error"))
            return panels
    response = x[0, 0, :window, :window]
    score = artifacts.checkerboard_score(response, s) if min(response.shape) >= s else 0.0
    panels += [
        grid(f"{layers} stacked layer{'s' if layers > 1 else ''}, constant input: interior "
             f"({response.shape[0]}×{response.shape[1]})", response,
             note=f"checkerboard score (period s = {s}): {_score(score)}"),
        grid(f"phase gains of the last kernel ({s}×{s})", artifacts.phase_gains(w[0, 0], s),
             note="what each output phase makes of a constant: equal gains, no checkerboard"),
    ]
    return panels


# --------------------------------------------------------------------------------------------
# 4. Mitigation
# --------------------------------------------------------------------------------------------


def _mitigation_controls():
    return (
        Control("image", "input", ("constant", "ramp", "random"), "constant"),
        Control("scale", "upsampling factor s", (2, 3), 2, live_values=(2, 3, 4)),
        Control("kernel_size", "transposed kernel k", (3, 4, 5, 6), 3, live_values=tuple(range(2, 9))),
        Control("seed", "random seed", (0, 1, 2), 0, live_values=tuple(range(10))),
    )


def _mitigation_input(image: str, size: int) -> np.ndarray:
    """The test image, shape (1, size, size): data, not a formula."""
    if image == "constant":
        return np.ones((1, size, size))
    if image == "ramp":
        line = np.linspace(0.0, 1.0, size)
        return (line[:, None] + line[None, :])[None] / 2
    if image == "random":
        return np.random.default_rng(SEED).uniform(0.0, 1.0, (1, size, size))
    raise ValueError(f"image must be 'constant', 'ramp' or 'random', got {image!r}")


def mitigation_panels(image="constant", scale=2, kernel_size=3, seed=0, size=8, margin=2) -> list:
    """The same upsampling four ways, with the checkerboard score of each.

    Parameters
    ----------
    image : {'constant', 'ramp', 'random'}
    scale : int
        Upsampling factor ``s``: every method maps ``size`` to ``size * s``.
    kernel_size : int
        ``k`` of the randomly initialised transposed convolution (padded as
        Keras' ``'same'``, :func:`tconv_lib.geometry.keras_to_torch_padding`).
    seed : int
        Seed of the random (He) initialisations.
    size, margin : int
        Input size; the score ignores ``margin`` input pixels at each border.

    Examples
    --------
    On a constant image only the randomly initialised transposed convolution
    draws a checkerboard, and all its variation is the pattern:

    >>> [p["note"].split(" (")[0] for p in mitigation_panels() if "note" in p]
    ['checkerboard score: 1', 'checkerboard score: 0', 'checkerboard score: 0', 'checkerboard score: 0']
    """
    s, k = scale, kernel_size
    x = _mitigation_input(image, size)
    p, op = geometry.keras_to_torch_padding(k, s, "same")
    transposed = conv_transpose2d(x, init.kaiming_normal((1, 1, k, k), stride=s, rng=seed), stride=s,
                                  padding=p, output_padding=op)
    resized = mitigation.resize_conv2d(x, init.kaiming_normal((1, 1, 3, 3), transposed=False, rng=seed),
                                       scale=s, mode="nearest", padding="same")
    fcn = mitigation.fcn_bilinear_params(s)
    bilinear = conv_transpose2d(x, mitigation.bilinear_kernel(fcn["kernel_size"], channels=1),
                                stride=s, padding=fcn["padding"])
    subpixel = mitigation.subpixel_conv2d(x, mitigation.icnr((s * s, 1, 3, 3), s, rng=seed), upscale=s,
                                          padding=1)
    border = margin * s
    results = {
        f"transposed conv, k = {k}, He init (p = {p}, op = {op})": transposed,
        "resize (nearest) + 3×3 conv, He init": resized,
        f"transposed conv, bilinear init (k = {fcn['kernel_size']}, p = {fcn['padding']})": bilinear,
        "sub-pixel conv 3×3, ICNR init": subpixel,
    }
    panels = [grid(f"input ({size}×{size})", x[0])]
    scores = {}
    for title, y in results.items():
        y = y[0]
        h, w = y.shape
        score = _score(artifacts.checkerboard_score(y[border:h - border, border:w - border], s))
        scores[title.split(" (")[0]] = score
        panels.append(grid(f"{title} → {h}×{w}", y, frame=(border, border, h - 2 * border, w - 2 * border),
                           note=f"checkerboard score: {score} (greyed border not scored)"))
    lowest = min(scores.values(), key=float)
    panels.append(text(
        "Checkerboard scores (0: all s×s phases have the same mean; 1: a pure pattern of period s): "
        + "; ".join(f"{method}: {score}" for method, score in scores.items())
        + f". Lowest: {', '.join(m for m, v in scores.items() if v == lowest)}."
    ))
    return panels


# --------------------------------------------------------------------------------------------
# 5. Gradient flow
# --------------------------------------------------------------------------------------------

_GRAD_KERNELS = (2, 3, 4)
_GRAD_STRIDES = (1, 2, 3)


def _gradient_controls(size=3):
    largest = geometry.conv_transpose_output_size(size, max(_GRAD_KERNELS), max(_GRAD_STRIDES))
    return (
        Control("kernel_size", "kernel size k", _GRAD_KERNELS, 3),
        Control("stride", "stride s", _GRAD_STRIDES, 2),
        Control("padding", "padding p", (0, 1), 0),
        Control("row", "output row", tuple(range(largest)), 2),
        Control("col", "output column", tuple(range(largest)), 2),
        Control("upstream", "upstream gradient ∂L/∂y", ("one pixel", "all ones"), "one pixel"),
    )


def gradient_panels(kernel_size=3, stride=2, padding=0, row=2, col=2, size=3, upstream="one pixel") -> list:
    """Which inputs and weights receive gradient from one output pixel; or what a uniform gradient does.

    The input is ``1, 2, ..., size²`` and the kernel ``10, 20, ..., 10·k²``:
    each input that reaches the picked pixel receives the weight that carried
    it there, and each weight receives the input it carried
    (:func:`tconv_lib.gradients.conv_transpose2d_backward`).

    With ``upstream='all ones'`` every output sends back 1, and the panels
    compare the input gradient of the transposed layer (a strided
    convolution of the ones: flat wherever the whole stamp lands inside the
    output) with that of a strided *convolution* with the same kernel,
    stride and padding (a transposed convolution of the ones: the phase
    gains, a checkerboard; :func:`tconv_lib.gradients.conv2d_backward`).

    Examples
    --------
    >>> grads = [p for p in gradient_panels() if p.get("title", "").startswith("∂L/∂x")][0]
    >>> grads["values"]  # pixel (2, 2) of k = 3, s = 2: four stamps overlap there
    [[90, 70, 0], [30, 10, 0], [0, 0, 0]]
    >>> uniform = gradient_panels(upstream="all ones")
    >>> flat, checker = [p for p in uniform if p.get("title", "").startswith("∂L/∂x")]
    >>> flat["values"]  # every input's stamp lands inside the output: all 9 taps, 10 + ... + 90
    [[450, 450, 450], [450, 450, 450], [450, 450, 450]]
    >>> checker["values"][2][2:4]  # interior phases of the strided convolution: 10+30+70+90, 20+80
    [200, 100]
    """
    k, s, p = kernel_size, stride, padding
    x = np.arange(1.0, size * size + 1).reshape(1, size, size)
    w = (10.0 * np.arange(1, k * k + 1)).reshape(1, 1, k, k)
    try:
        y = conv_transpose2d(x, w, stride=s, padding=p)
    except ValueError as error:
        return [text(str(error), "error")]
    h, wd = y.shape[-2:]
    if upstream == "all ones":
        return [dict(panel) for panel in _uniform_gradient_panels(k, s, p, size)]
    picked = np.zeros((h, wd), dtype=bool)
    inside = row < h and col < wd
    if inside:
        picked[row, col] = True
    out_panel = grid(f"output y ({h}×{wd})", y[0], highlight=picked, pick=("row", "col"),
                     note="click a pixel to pick it")
    if not inside:
        return [out_panel, text(f"Pick a pixel inside the {h}×{wd} output (row and column below {h}).",
                                "error")]
    grad_output = picked[None].astype(np.float64)  # ∂L/∂y: 1 at the picked pixel
    grad_x, grad_w, grad_b = gradients.conv_transpose2d_backward(grad_output, x, w, stride=s, padding=p)
    return [
        out_panel,
        grid(f"input x ({size}×{size})", x[0], highlight=grad_x[0] != 0),
        grid(f"∂L/∂x ({size}×{size})", grad_x[0], highlight=grad_x[0] != 0),
        grid(f"kernel w ({k}×{k})", w[0, 0], highlight=grad_w[0, 0] != 0),
        grid(f"∂L/∂w ({k}×{k})", grad_w[0, 0], highlight=grad_w[0, 0] != 0),
        text(f"∂L/∂y is 1 at ({row}, {col}) and 0 elsewhere. {np.count_nonzero(grad_x)} of {x.size} "
             f"inputs and {np.count_nonzero(grad_w)} of {w.size} weights receive gradient: each input the "
             f"weight that carried it there, each weight the input it carried. ∂L/∂b = {_num(grad_b[0])}."
             + ("" if np.count_nonzero(grad_x) else " No stamp reaches this pixel: it is a gap.")),
    ]


@functools.cache
def _uniform_gradient_panels(k, s, p, size) -> tuple:
    """``upstream='all ones'``: the input gradients of the transposed layer and of a strided convolution.

    The same for every picked pixel, so computed once per ``(k, s, p, size)``.
    """
    x = np.arange(1.0, size * size + 1).reshape(1, size, size)
    w = (10.0 * np.arange(1, k * k + 1)).reshape(1, 1, k, k)
    y = conv_transpose2d(x, w, stride=s, padding=p)
    h = y.shape[-1]
    # the transposed layer: its input gradient is conv2d(ones, w, s, p), flat where every tap lands inside
    grad_t = gradients.conv_transpose2d_backward(np.ones(y.shape), x, w, stride=s, padding=p)[0][0]
    inner_t = geometry.input_interior_range(size, k, s, p)
    # a strided convolution with the same kernel, reading an h×h input back to size×size:
    # its input gradient is conv_transpose2d(ones, w, s, p), the phase gains in the interior
    x_conv = np.ones((1, h, h))
    grad_c = gradients.conv2d_backward(np.ones((1, size, size)), x_conv, w, stride=s, padding=p)[0][0]
    inner_c = geometry.interior_range(size, k, s, p)
    frame_t = (inner_t.start, inner_t.start, len(inner_t), len(inner_t))
    frame_c = (inner_c.start, inner_c.start, len(inner_c), len(inner_c))
    notes = []
    if len(inner_t):
        flat = grad_t[inner_t.start:inner_t.stop, inner_t.start:inner_t.stop]
        notes.append(f"Transposed layer: the inputs whose whole stamp lands inside the output receive "
                     f"{', '.join(_num(v) for v in np.unique(flat))} (Σw = {_num(w.sum())})"
                     + ("." if len(inner_t) == size else "; greyed: inputs whose stamp the padding crops."))
    if len(inner_c) >= s:
        inside = grad_c[inner_c.start:inner_c.stop, inner_c.start:inner_c.stop]
        score = artifacts.checkerboard_score(inside, s)
        gains = ", ".join(_num(v) for v in np.unique(artifacts.phase_gains(w[0, 0], s)))
        notes.append(f"Convolution: the interior repeats the {s}×{s} phase gains of the kernel ({gains}), "
                     f"checkerboard score {_score(score)}."
                     + (" Checkerboard gradients come from strided convolutions, not from transposed ones."
                        if s > 1 else " With stride 1 there is one phase: no checkerboard."))
    else:
        notes.append("Convolution: no interior at this size, every position is near a border.")
    return (
        grid(f"∂L/∂x of the transposed layer ({size}×{size} → {h}×{h})", grad_t,
             frame=frame_t if len(inner_t) < size else None,
             note="its backward pass is a strided convolution of the ones"),
        grid(f"∂L/∂x of a strided convolution, same k, s, p ({h}×{h} → {size}×{size})", grad_c,
             frame=frame_c if len(inner_c) else None,
             note="its backward pass is a transposed convolution of the ones"),
        text(" ".join(notes)),
    )


EXPLORERS: dict[str, Explorer] = {
    e.name: e
    for e in (
        Explorer("stamps", "Stamp stepper",
                 "Every input element stamps a scaled copy of the kernel; overlaps add.",
                 _stamp_controls, stamps_panels, {"size": 2}),
        Explorer("geometry", "Geometry",
                 "How input size, kernel, stride, padding, output_padding and dilation set the output.",
                 lambda **_: _geometry_controls(), geometry_panels),
        Explorer("overlap", "Overlap and checkerboard",
                 "Uneven overlap of the stamps, and what a stack of layers makes of a constant image.",
                 lambda **_: _overlap_controls(), overlap_panels),
        Explorer("mitigation", "Mitigation",
                 "The same upsampling by transposed convolution, resize-convolution, bilinear and ICNR init.",
                 lambda **_: _mitigation_controls(), mitigation_panels),
        Explorer("gradients", "Gradient flow",
                 "Pick an output pixel: which inputs and weights receive its gradient? Or send back "
                 "all ones, through the transposed layer and through a strided convolution.",
                 _gradient_controls, gradient_panels, {"size": 3}),
    )
}


# --------------------------------------------------------------------------------------------
# The static front end: every combination, precomputed, as inline JSON
# --------------------------------------------------------------------------------------------

_ARRAY_KEYS = ("values", "highlight", "dim", "mark", "cells", "rows", "cols")


def _get(name: str) -> Explorer:
    try:
        return EXPLORERS[name]
    except KeyError:
        raise KeyError(f"no explorer called {name!r}; choose one of {sorted(EXPLORERS)}") from None


def export(name: str, **fixed) -> dict:
    """The panels of every combination of an explorer's control values, as JSON-ready data.

    Parameters
    ----------
    name : str
        A key of :data:`EXPLORERS`.
    **fixed
        The explorer's fixed arguments (e.g. ``size``).

    Returns
    -------
    dict
        ``controls`` (their specs), ``combos`` (``"i,j,..."``, the indices of
        each control's value, to a list of panel ids), ``panels`` (each
        distinct panel once; its arrays replaced by ids into ``arrays``) and
        ``arrays`` (each distinct array once).

    Examples
    --------
    >>> data = export("geometry")
    >>> len(data["combos"]) == 3 * 5 * 3 * 3 * 3 * 2
    True
    """
    explorer = _get(name)
    fixed = {**explorer.fixed, **fixed}
    controls = explorer.controls_for(fixed)
    arrays, array_ids, panels, panel_ids, combos = [], {}, [], {}, {}

    def intern(table, ids, value):
        key = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if key not in ids:
            ids[key] = len(table)
            table.append(value)
        return ids[key]

    for index in itertools.product(*(range(len(c.values)) for c in controls)):
        params = {c.name: c.values[i] for c, i in zip(controls, index)}
        refs = []
        for panel in explorer.panels(**params, **fixed):
            panel = {key: intern(arrays, array_ids, v) if key in _ARRAY_KEYS else v
                     for key, v in panel.items()}
            refs.append(intern(panels, panel_ids, panel))
        combos[",".join(map(str, index))] = refs
    return {"name": name, "title": explorer.title, "blurb": explorer.blurb,
            "controls": [c.spec() for c in controls], "combos": combos, "panels": panels, "arrays": arrays}


class StaticExplorer:
    """An explorer for the static site: its ``_repr_html_`` carries every combination as JSON.

    Attributes
    ----------
    data : dict
        What :func:`export` returns.
    """

    def __init__(self, name: str, **fixed):
        self.data = export(name, **fixed)

    def to_json(self) -> str:
        """Compact JSON, safe inside ``<script>``: ``<``, ``>`` and ``&`` are escaped."""
        raw = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def payload(self) -> str:
        """The JSON, gzipped (reproducibly: no time stamp) and in base64: what the page carries."""
        packed = gzip.compress(self.to_json().encode("utf-8"), compresslevel=9, mtime=0)
        return base64.b64encode(packed).decode("ascii")

    def _repr_html_(self) -> str:
        name = html.escape(self.data["name"])
        return (
            f'<div class="tconv-explorer tex2jax_ignore" data-explorer="{name}">'
            f'<script type="application/gzip" data-encoding="base64">{self.payload()}</script>'
            f'<p class="tconv-noscript">{html.escape(self.data["title"])}: this explorer needs '
            f"JavaScript, or run the page as a notebook.</p></div>"
        )

    def __repr__(self) -> str:
        return f"<StaticExplorer {self.data['name']!r}: {len(self.data['combos'])} combinations>"


# --------------------------------------------------------------------------------------------
# The live front end: ipywidgets, panels drawn as HTML
# --------------------------------------------------------------------------------------------

_SEQ = ((255, 255, 255), (33, 102, 172))
_DIV = ((33, 102, 172), (255, 255, 255), (178, 24, 43))


def _rgb(panel: dict, values: np.ndarray) -> np.ndarray:
    """Colours of the cells, shape (..., 3) uint8: the viewer's colour scale."""
    v = np.asarray(values, dtype=np.float64)
    vmin, vmax = panel["vmin"], panel["vmax"]
    if panel["scale"] == "seq":
        t = np.clip((v - vmin) / (vmax - vmin), 0, 1)[..., None]
        lo, hi = np.array(_SEQ[0]), np.array(_SEQ[1])
        return np.rint(lo + (hi - lo) * t).astype(np.uint8)
    t = np.clip(v / vmax, -1, 1)[..., None]
    neg, mid, pos = (np.array(c) for c in _DIV)
    return np.rint(np.where(t < 0, mid + (neg - mid) * -t, mid + (pos - mid) * t)).astype(np.uint8)


DIM_GREY = (232, 232, 232)  # a greyed cell: its colour, mostly grey


def _relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours, shape (..., 3) in 0-255 -> (...)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _cell_colours(panel: dict, values: np.ndarray, dim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backgrounds (..., 3) uint8 and whether the text on each is white (else black).

    Greyed cells are mixed towards light grey rather than made transparent, so that
    their numbers stay readable.  Black or white text, whichever contrasts more with
    the background: at least 4.5 : 1 on any colour.
    """
    colours = _rgb(panel, values).astype(np.float64)
    colours = np.where(dim[..., None], colours * 0.3 + np.array(DIM_GREY) * 0.7, colours)
    colours = np.rint(colours).astype(np.uint8)
    luminance = _relative_luminance(colours)
    white_text = (1.05 / (luminance + 0.05)) > ((luminance + 0.05) / 0.05)
    return colours, white_text


_STYLE = """<style>
.tcv-panels{display:flex;flex-wrap:wrap;align-items:flex-start;font-family:sans-serif}
.tcv-panel{margin:4px 12px 8px 0;min-width:9em}
.tcv-title{font-weight:600;font-size:12px;margin-bottom:2px}
.tcv-title,.tcv-cap{width:0;min-width:100%}
.tcv-cap{font-size:11px;color:#555}
.tcv-pick-title{font-weight:600;font-size:12px;margin:4px 0 2px}
.tcv-grid{border-collapse:collapse;border:1px solid #ccc;margin:0}
.tcv-grid td{padding:0;text-align:center;border:1px solid rgba(0,0,0,.06)}
.tcv-grid th{font-size:10px;font-weight:400;color:#666;padding:0 3px}
.tcv-a td{min-width:26px;height:22px;font-size:11px}
.tcv-s td{width:9px;height:9px;font-size:0}
.tcv-grid td{color:#000}
.tcv-grid td.w{color:#fff}
.tcv-grid td.h{outline:2px solid #e6550d;outline-offset:-2px}
.tcv-grid td.ft{border-top:2px solid #111}.tcv-grid td.fb{border-bottom:2px solid #111}
.tcv-grid td.fl{border-left:2px solid #111}.tcv-grid td.fr{border-right:2px solid #111}
.tcv-text{flex-basis:100%;margin:4px 0}
.tcv-formula{font-family:monospace;white-space:pre;background:#f5f5f5;padding:4px 8px}
.tcv-error{color:#b2182b;font-weight:600}
</style>"""


def _masked(panel: dict, key: str, shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for r, c in panel.get(key, []):
        mask[r, c] = True
    return mask


def _grid_html(panel: dict) -> str:
    values = np.asarray(panel["values"], dtype=np.float64)
    h, w = values.shape
    title = f'<div class="tcv-title">{html.escape(panel["title"])}</div>'
    note = f'<div class="tcv-cap">{html.escape(panel["note"])}</div>' if "note" in panel else ""
    dim = _masked(panel, "dim", (h, w))
    edges = np.full((h, w), "", dtype=object)  # the frame's outline, cell by cell
    if "frame" in panel:
        r0, c0, fh, fw = panel["frame"]
        outside = np.ones((h, w), dtype=bool)
        outside[r0:r0 + fh, c0:c0 + fw] = False
        dim |= outside
        if fh > 0 and fw > 0:
            edges[r0, c0:c0 + fw] += " ft"
            edges[r0 + fh - 1, c0:c0 + fw] += " fb"
            edges[r0:r0 + fh, c0] += " fl"
            edges[r0:r0 + fh, c0 + fw - 1] += " fr"
    colours, white_text = _cell_colours(panel, values, dim)
    if h * w > PNG_CELLS:  # an image: one pixel per cell, scaled up without smoothing
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(colours, "RGB").save(buf, format="PNG", compress_level=1)
        src = base64.b64encode(buf.getvalue()).decode("ascii")
        zoom = max(1, 400 // max(h, w))
        alt = html.escape(f"{panel['title']}: {h}×{w} values, drawn as colours")
        return (f'<div class="tcv-panel">{title}<img src="data:image/png;base64,{src}" width="{w * zoom}" '
                f'height="{h * zoom}" alt="{alt}" style="image-rendering:pixelated">{note}</div>')
    # one class string and one label per cell, built on whole arrays
    flags = (np.where(white_text, " w", "").astype(object)
             + np.where(_masked(panel, "highlight", (h, w)), " h", "").astype(object) + edges)
    backgrounds = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in colours.reshape(-1, 3).tolist()]
    if panel["annotate"]:
        labels = panel.get("cells") or [[_num(v) for v in row] for row in values.tolist()]
        labels = np.array([[html.escape(t) for t in row] for row in labels], dtype=object)
    else:
        labels = np.full((h, w), "", dtype=object)
    labels = labels + np.where(_masked(panel, "mark", (h, w)), "•", "").astype(object)
    flags, labels = flags.ravel().tolist(), labels.ravel().tolist()
    rows = []
    if "cols" in panel:
        rows.append("<tr>" + ("<th></th>" if "rows" in panel else "")
                    + "".join(f"<th>{html.escape(c)}</th>" for c in panel["cols"]) + "</tr>")
    for r in range(h):
        head = f'<th>{html.escape(panel["rows"][r])}</th>' if "rows" in panel else ""
        rows.append("<tr>" + head + "".join(
            f'<td class="{flags[i].strip()}" style="background:{backgrounds[i]}">{labels[i]}</td>'
            for i in range(r * w, (r + 1) * w)) + "</tr>")
    size = "tcv-a" if panel["annotate"] else "tcv-s"
    return f'<div class="tcv-panel">{title}<table class="tcv-grid {size}">{"".join(rows)}</table>{note}</div>'


def _series_html(panel: dict) -> str:
    values = np.asarray(panel["values"], dtype=np.float64)
    n = len(values)
    bar, height = max(6, min(28, 480 // max(n, 1))), 80
    vmax = panel["vmax"] or 1.0
    highlight = set(panel.get("highlight", []))
    parts = []
    for i, v in enumerate(values.tolist()):
        top = height * max(v, 0) / vmax
        colour = "#e6550d" if i in highlight else "#2166ac"
        parts.append(f'<rect x="{i * bar + 1}" y="{height - top + 14:.1f}" width="{bar - 2}" '
                     f'height="{top:.1f}" fill="{colour}"/>')
        if n <= 40:
            parts.append(f'<text x="{i * bar + bar / 2}" y="{height - top + 11:.1f}" font-size="9" '
                         f'text-anchor="middle">{_num(v)}</text>')
    svg = (f'<svg width="{n * bar}" height="{height + 16}" xmlns="http://www.w3.org/2000/svg">'
           + "".join(parts) + "</svg>")
    note = f'<div class="tcv-cap">{html.escape(panel["note"])}</div>' if "note" in panel else ""
    title = f'<div class="tcv-title">{html.escape(panel["title"])}</div>'
    return f'<div class="tcv-panel">{title}{svg}{note}</div>'


def _text_html(panel: dict) -> str:
    return f'<div class="tcv-text tcv-{panel["style"]}">{html.escape(panel["text"])}</div>'


def render_html(panels: list) -> str:
    """HTML of a list of panels, as the live widget shows it (self-contained: its own style sheet).

    Examples
    --------
    >>> render_html([text("hello")]).count("hello")
    1
    """
    renderers = {"grid": _grid_html, "series": _series_html, "text": _text_html}
    return _STYLE + '<div class="tcv-panels">' + "".join(renderers[p["kind"]](p) for p in panels) + "</div>"


class LiveExplorer:
    """An explorer as ipywidgets: controls, and the panels re-drawn as HTML on every change.

    A grid that can be clicked (a panel with ``pick``, such as the output of the
    gradient explorer) is drawn as buttons instead of HTML, so that clicking a
    cell in Jupyter sets the controls it names, as on the site.

    Attributes
    ----------
    widget : ipywidgets.VBox
        What the notebook displays.
    controls : dict of str to ipywidgets.Widget
        One value widget per control; each has a description and, for toggle
        buttons, one tooltip per value naming the control.
    picker : ipywidgets.VBox
        The clickable grids, as buttons (empty for explorers without one).
    output : ipywidgets.HTML
        The other panels.
    """

    def __init__(self, name: str, **fixed):
        import ipywidgets as widgets

        self._widgets = widgets
        self.explorer = _get(name)
        self.fixed = {**self.explorer.fixed, **fixed}
        self.controls = {}
        rows = []
        for control in self.explorer.controls_for(self.fixed):
            spec = control.spec(live=True)
            options = [(str(v), v) for v in spec["values"]]
            style = {"description_width": "initial"}
            tooltip = f"{control.label}: {{}}"
            if all(isinstance(v, int) for v in spec["values"]) and len(options) > 5:
                box = widgets.SelectionSlider(options=options, value=control.default,
                                              description=control.label, style=style,
                                              continuous_update=True)
            elif len(options) > 5:
                box = widgets.Dropdown(options=options, value=control.default, description=control.label,
                                       style=style)
            else:
                box = widgets.ToggleButtons(options=options, value=control.default,
                                            description=control.label, style=style,
                                            tooltips=[tooltip.format(label) for label, _ in options])
                box.style.button_width = "auto"
            box.add_class("tconv-control")
            box.add_class(f"tconv-control-{control.name}")
            self.controls[control.name] = box
            if control.play:
                play = widgets.Play(min=0, max=len(options) - 1, value=box.index, interval=800,
                                    description=f"play {control.label}",
                                    tooltip=f"step through {control.label}")
                widgets.jslink((play, "value"), (box, "index"))
                rows.append(widgets.HBox([play, box]))
            else:
                rows.append(box)
            box.observe(self.update, names="value")
        self.picker = widgets.VBox()
        self.output = widgets.HTML()
        explorer = self.explorer
        title = widgets.HTML(f"<b>{html.escape(explorer.title)}</b> — {html.escape(explorer.blurb)}")
        self.widget = widgets.VBox([title, *rows, self.picker, self.output])
        self.widget.add_class("tconv-live-explorer")
        self.update()

    def params(self) -> dict:
        """The controls' current values, keyed by name."""
        return {name: box.value for name, box in self.controls.items()}

    def pick(self, names, row: int, col: int) -> None:
        """What a click on cell ``(row, col)`` of a ``pick`` grid does: set those two controls."""
        targets = dict(zip(names, (row, col)))
        for name, value in targets.items():
            box = self.controls.get(name)
            if box is not None and value in [v for _, v in box.options]:
                box.unobserve(self.update, names="value")
                box.value = value
                box.observe(self.update, names="value")
        self.update()

    def _picker(self, panel: dict):
        """A pick grid as a grid of buttons: a click picks the cell."""
        widgets = self._widgets
        values = np.asarray(panel["values"], dtype=np.float64)
        h, w = values.shape
        highlight = _masked(panel, "highlight", (h, w))
        colours, white_text = _cell_colours(panel, values, np.zeros((h, w), dtype=bool))
        buttons = []
        for r in range(h):
            for c in range(w):
                red, green, blue = colours[r, c].tolist()
                picked = bool(highlight[r, c])
                button = widgets.Button(
                    description=_num(values[r, c]),
                    tooltip=f"{panel['title']}: pick pixel ({r}, {c})" + (" (picked)" if picked else ""),
                    layout=widgets.Layout(width="auto", height="auto", padding="0", margin="0",
                                          border="3px solid #e6550d" if picked else "1px solid #ddd"),
                    style=widgets.ButtonStyle(button_color=f"#{red:02x}{green:02x}{blue:02x}",
                                              text_color="#fff" if white_text[r, c] else "#000",
                                              font_weight="bold" if picked else "normal"),
                )
                button.add_class("tconv-pick")
                button.add_class(f"tconv-pick-{r}-{c}")
                button.on_click(lambda _, r=r, c=c: self.pick(panel["pick"], r, c))
                buttons.append(button)
        grid = widgets.GridBox(buttons, layout=widgets.Layout(
            grid_template_columns=f"repeat({w}, 2.4em)", grid_auto_rows="2em", grid_gap="1px"))
        parts = [widgets.HTML(f'<div class="tcv-pick-title">{html.escape(panel["title"])}</div>'), grid]
        if "note" in panel:
            parts.append(widgets.HTML(f'<div class="tcv-cap">{html.escape(panel["note"])}</div>'))
        return widgets.VBox(parts)

    def update(self, change=None) -> None:
        """Re-compute the panels for the current values and draw them."""
        panels = self.explorer.panels(**self.params(), **self.fixed)
        picks = [p for p in panels if p.get("kind") == "grid" and "pick" in p]
        self.picker.children = [self._picker(p) for p in picks]
        self.output.value = render_html([p for p in panels if p not in picks])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def explore(name: str, **fixed):
    """An explorer: live ipywidgets in Jupyter, precomputed panels on the static site.

    Parameters
    ----------
    name : str
        ``"stamps"``, ``"geometry"``, ``"overlap"``, ``"mitigation"`` or ``"gradients"``.
    **fixed
        Fixed arguments of the explorer, e.g. ``explore("stamps", size=3)``; an argument
        that names a control pins it (``explore("gradients", padding=0)``), see
        :meth:`Explorer.controls_for`.

    Returns
    -------
    StaticExplorer or LiveExplorer
        :class:`StaticExplorer` when the environment variable ``TCONV_STATIC_SITE``
        is ``"1"`` (the book build), otherwise :class:`LiveExplorer`.  Either
        displays itself as the last expression of a cell.

    Examples
    --------
    >>> os.environ[STATIC_ENV] = "1"
    >>> try:
    ...     print(repr(explore("gradients")))
    ... finally:
    ...     del os.environ[STATIC_ENV]
    <StaticExplorer 'gradients': 3600 combinations>
    """
    if os.environ.get(STATIC_ENV) == "1":
        return StaticExplorer(name, **fixed)
    return LiveExplorer(name, **fixed)
