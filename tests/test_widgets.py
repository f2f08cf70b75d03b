"""tconv_lib.widgets: the explorers show tconv_lib's numbers, export every combination, and run live."""

from __future__ import annotations

import base64
import gzip
import json
import math
import re

import numpy as np
import pytest
from conftest import F, t

import tconv_lib
from tconv_lib import artifacts, geometry, gradients, mitigation, widgets
from tconv_lib.widgets import EXPLORERS


def _panel(panels, title_start):
    found = [p for p in panels if p.get("title", "").startswith(title_start)]
    titles = [p.get("title") for p in panels]
    assert len(found) == 1, f"expected one panel titled {title_start!r}, got {titles}"
    return found[0]


def _formula_size(panels) -> int:
    (formula,) = [p for p in panels if p.get("style") == "formula"]
    return int(re.search(r"= (-?\d+)$", formula["text"]).group(1))


GEOMETRY_CASES = {
    "unet_n2_k3_s2_p1_op1": (2, 3, 2, 1, 1, 1),
    "default_n4_k3_s2_p1_op1": (4, 3, 2, 1, 1, 1),
    "gaps_n3_k1_s3_op2": (3, 1, 3, 0, 2, 1),
    "dilated_n3_k5_s1_p2_d2": (3, 5, 1, 2, 0, 2),
    "op_needs_dilation_n2_k2_s1_op1_d2": (2, 2, 1, 0, 1, 2),
}


@pytest.mark.parametrize("case", GEOMETRY_CASES)
def test_geometry_panels_show_the_library_sizes_and_coverage(case):
    n, k, s, p, op, d = GEOMETRY_CASES[case]
    panels = widgets.geometry_panels(n, k, s, p, op, d)
    out = geometry.conv_transpose_output_size(n, k, s, p, op, d)
    assert _formula_size(panels) == out
    grid = _panel(panels, f"output {out}×{out}")
    np.testing.assert_array_equal(grid["values"], artifacts.coverage2d(n, k, s, p, op, d))
    gaps = artifacts.gaps2d(n, k, s, p, op, d)
    assert sorted(map(tuple, grid.get("mark", []))) == sorted(map(tuple, np.argwhere(gaps)))
    series = _panel(panels, "stamps per output position")
    np.testing.assert_array_equal(series["values"], artifacts.coverage1d(n, k, s, p, op, d))
    stamps = _panel(panels, "stamps along one axis")
    assert stamps["frame"] == [0, p, n, out]


@pytest.mark.parametrize("settings", [
    dict(input_size=2, kernel_size=2, stride=1, padding=0, output_padding=1, dilation=1),
    dict(input_size=2, kernel_size=2, stride=1, padding=2, output_padding=0, dilation=1),
], ids=["op_too_large", "empty_output"])
def test_geometry_shows_pytorchs_objection(settings):
    panels = widgets.geometry_panels(**settings)
    assert _formula_size(panels) == geometry.conv_transpose_output_size(*settings.values())
    (error,) = [p for p in panels if p.get("style") == "error"]
    with pytest.raises(ValueError) as raised:
        tconv_lib.conv_transpose1d(np.ones((1, 1, 2)), np.ones((1, 1, 2)), stride=settings["stride"],
                                   padding=settings["padding"], output_padding=settings["output_padding"],
                                   dilation=settings["dilation"])
    assert error["text"] == str(raised.value)


@pytest.mark.parametrize("kernel", list(widgets._stamp_kernels()))
@pytest.mark.parametrize("stride, padding, output_padding, dilation",
                         [(1, 0, 0, 1), (2, 1, 1, 1), (3, 1, 0, 2)], ids=["s1", "s2_p1_op1", "s3_p1_d2"])
def test_stamp_stepper_adds_up_to_the_transposed_convolution(kernel, stride, padding, output_padding,
                                                             dilation):
    w = widgets._stamp_kernels()[kernel]
    x = np.arange(1.0, 5.0).reshape(1, 2, 2)
    y = tconv_lib.conv_transpose2d(x, w[None, None], stride=stride, padding=padding,
                                   output_padding=output_padding, dilation=dilation)[0]
    args = dict(kernel=kernel, stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation)
    panels = widgets.stamps_panels(**args, step=4)
    output = _panel(panels, "output")
    np.testing.assert_allclose(output["values"], y, rtol=1e-3)
    # the output is the framed part of the canvas
    canvas = _panel(panels, "canvas after 4 of 4")
    r0, c0, h, w_ = canvas["frame"]
    np.testing.assert_array_equal(np.asarray(canvas["values"])[r0:r0 + h, c0:c0 + w_], output["values"])
    assert _formula_size(panels) == y.shape[0]
    # no stamp, no output; one stamp, the first element times the kernel
    assert not np.any(_panel(widgets.stamps_panels(**args, step=0), "output")["values"])
    first = np.asarray(_panel(widgets.stamps_panels(**args, step=1), "canvas")["values"])
    assert np.count_nonzero(first) == np.count_nonzero(w)


def test_stamp_stepper_reproduces_the_unet_lecture():
    case = tconv_lib.grading.references.get_case("ct2d_worked_unet_2x2_to_4x4")
    inputs = case.inputs()
    assert np.array_equal(widgets._stamp_kernels()["U-Net lecture 3×3"], inputs["weight"][0, 0])
    panels = widgets.stamps_panels("U-Net lecture 3×3", stride=2, padding=1, output_padding=1, step=4)
    assert _panel(panels, "output")["title"] == "output 4×4"


@pytest.mark.parametrize("kernel_size, stride, padding, row, col", [
    (3, 2, 0, 2, 2), (3, 2, 0, 3, 2), (2, 3, 0, 2, 2), (4, 1, 1, 0, 3), (2, 2, 1, 1, 0),
], ids=["overlap", "odd_row", "gap", "s1_p1", "s2_p1"])
def test_gradient_panels_match_torch_autograd(kernel_size, stride, padding, row, col):
    panels = widgets.gradient_panels(kernel_size, stride, padding, row, col)
    x = t(np.arange(1.0, 10.0).reshape(1, 1, 3, 3)).requires_grad_()
    w = t((10.0 * np.arange(1, kernel_size**2 + 1)).reshape(1, 1, kernel_size, kernel_size)).requires_grad_()
    y = F.conv_transpose2d(x, w, stride=stride, padding=padding)
    y[0, 0, row, col].backward()
    np.testing.assert_array_equal(_panel(panels, "∂L/∂x")["values"], x.grad[0, 0].numpy())
    np.testing.assert_array_equal(_panel(panels, "∂L/∂w")["values"], w.grad[0, 0].numpy())
    np.testing.assert_array_equal(_panel(panels, "output y")["values"], y[0, 0].detach().numpy())
    assert _panel(panels, "output y")["highlight"] == [[row, col]]
    grad_output = np.zeros(y.shape[1:])
    grad_output[0, row, col] = 1.0
    grad_x = gradients.conv_transpose2d_backward(grad_output, x.detach().numpy()[0], w.detach().numpy(),
                                                 stride=stride, padding=padding)[0]
    reached = sorted(map(tuple, np.argwhere(grad_x[0])))
    assert sorted(map(tuple, _panel(panels, "input x").get("highlight", []))) == reached


@pytest.mark.parametrize("kernel_size, stride, padding", [(3, 2, 0), (4, 2, 1), (2, 3, 0), (3, 1, 1)],
                         ids=["k3_s2", "k4_s2_p1", "k2_s3_gaps", "k3_s1_p1"])
def test_uniform_upstream_gradient_panels_match_torch_autograd(kernel_size, stride, padding):
    """upstream='all ones': the transposed layer's input gradient is flat inside, a strided
    convolution's (same kernel, stride and padding) repeats the phase gains."""
    panels = widgets.gradient_panels(kernel_size, stride, padding, upstream="all ones")
    shown_t, shown_c = [p for p in panels if p.get("title", "").startswith("∂L/∂x")]
    k, s, p = kernel_size, stride, padding
    x = t(np.arange(1.0, 10.0).reshape(1, 1, 3, 3)).requires_grad_()
    w = t((10.0 * np.arange(1, k * k + 1)).reshape(1, 1, k, k))
    F.conv_transpose2d(x, w, stride=s, padding=p).sum().backward()
    np.testing.assert_array_equal(shown_t["values"], x.grad[0, 0].numpy())
    h = geometry.conv_transpose_output_size(3, k, s, p)
    xc = t(np.ones((1, 1, h, h))).requires_grad_()
    F.conv2d(xc, w, stride=s, padding=p).sum().backward()
    np.testing.assert_array_equal(shown_c["values"], xc.grad[0, 0].numpy())
    inner = geometry.input_interior_range(3, k, s, p)
    flat = np.array(shown_t["values"])[inner.start:inner.stop, inner.start:inner.stop]
    assert np.all(flat == w.sum().item()), f"transposed: interior {flat}"
    r = geometry.interior_range(3, k, s, p)
    inside = np.array(shown_c["values"], dtype=float)[r.start:r.stop, r.start:r.stop]
    if s > 1 and len(r) >= s:
        assert artifacts.checkerboard_score(inside, s) == 1.0, f"conv: interior {inside}"
        assert "Checkerboard gradients come from strided convolutions" in panels[-1]["text"]


def test_gradient_panels_outside_the_output_say_so():
    panels = widgets.gradient_panels(2, 1, 1, 9, 9)
    assert [p["kind"] for p in panels] == ["grid", "text"] and panels[1]["style"] == "error"


@pytest.mark.parametrize("kernel_size, stride", [(3, 2), (4, 2), (5, 3), (1, 2), (2, 1)])
@pytest.mark.parametrize("weights", ["ones", "random"])
def test_overlap_panels_show_the_library_coverage(kernel_size, stride, weights):
    panels = widgets.overlap_panels(kernel_size, stride, layers=2, weights=weights)
    k, s = kernel_size, stride
    np.testing.assert_array_equal(_panel(panels, "1D")["values"], artifacts.coverage1d(6, k, s))
    np.testing.assert_array_equal(_panel(panels, "2D")["values"], artifacts.coverage2d(6, k, s))
    variance = artifacts.coverage_variance(kernel_size, stride)
    assert f"V = {variance} " in [p for p in panels if p["kind"] == "text"][0]["text"]
    stack = _panel(panels, "2 stacked layers")
    response = np.asarray(stack["values"], dtype=float)
    score = float(stack["note"].split(": ")[1])
    assert score == pytest.approx(artifacts.checkerboard_score(response, stride), abs=1e-3)
    if weights == "ones" and kernel_size % stride == 0:
        assert score == 0, "even overlap with equal weights draws no checkerboard"


def test_overlap_stack_matches_a_large_constant_image():
    """Cropping to the interior between layers changes nothing: the same pattern as one big image."""
    k, s = 3, 2
    panels = widgets.overlap_panels(k, s, layers=2, weights="ones")
    ones = np.ones((1, 1, k, k))
    big = tconv_lib.conv_transpose2d(tconv_lib.conv_transpose2d(np.ones((1, 1, 40, 40)), ones, stride=s),
                                     ones, stride=s)
    response = np.asarray(_panel(panels, "2 stacked layers")["values"])
    r1 = geometry.interior_range(40, k, s)
    r2 = geometry.interior_range(geometry.conv_transpose_output_size(40, k, s), k, s, input_range=r1)
    inner = big[0, 0, r2.start:r2.stop, r2.start:r2.stop]
    # the same periodic pattern, up to where the window starts within a period
    period = s * s
    assert any(np.array_equal(inner[a:a + period, b:b + period], response[:period, :period])
               for a in range(period) for b in range(period))


@pytest.mark.parametrize("image", ["constant", "ramp", "random"])
@pytest.mark.parametrize("scale", [2, 3])
def test_mitigation_panels_upsample_by_the_scale_and_score_with_the_library(image, scale):
    panels = widgets.mitigation_panels(image, scale, kernel_size=4, seed=1)
    grids = [p for p in panels if p["kind"] == "grid"]
    assert np.shape(grids[0]["values"]) == (8, 8)
    for grid in grids[1:]:
        values = np.asarray(grid["values"], dtype=float)
        assert values.shape == (8 * scale, 8 * scale), grid["title"]
        r0, c0, h, w = grid["frame"]
        score = float(grid["note"].split(": ")[1].split(" ")[0])
        assert score == pytest.approx(artifacts.checkerboard_score(values[r0:r0 + h, c0:c0 + w], scale),
                                      abs=2e-3), grid["title"]
    bilinear = _panel(panels, "transposed conv, bilinear init")
    fcn = mitigation.fcn_bilinear_params(scale)
    x = widgets._mitigation_input(image, 8)
    expected = tconv_lib.conv_transpose2d(x, mitigation.bilinear_kernel(fcn["kernel_size"], channels=1),
                                          stride=scale, padding=fcn["padding"])[0]
    np.testing.assert_allclose(bilinear["values"], expected, rtol=1e-3, atol=1e-12)
    if image == "constant":
        scores = [float(g["note"].split(": ")[1].split(" ")[0]) for g in grids[2:]]
        assert scores == [0, 0, 0], "resize-conv, bilinear and ICNR draw no checkerboard on a constant"


def _decode(data, key):
    """The panels of one combination, with their arrays put back."""
    out = []
    for pid in data["combos"][key]:
        panel = dict(data["panels"][pid])
        for k in widgets._ARRAY_KEYS:
            if k in panel:
                panel[k] = data["arrays"][panel[k]]
        out.append(panel)
    return out


@pytest.fixture(scope="module")
def exports():
    return {name: widgets.export(name) for name in EXPLORERS}


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_static_export_holds_every_combination(exports, name):
    data = exports[name]
    explorer = EXPLORERS[name]
    controls = explorer.controls(**explorer.fixed)
    assert [c["name"] for c in data["controls"]] == [c.name for c in controls]
    assert len(data["combos"]) == math.prod(len(c.values) for c in controls)
    rng = np.random.default_rng(0)
    keys = list(data["combos"])
    for key in [keys[0], keys[-1], *rng.choice(keys, 10)]:
        index = list(map(int, key.split(",")))
        params = {c.name: c.values[i] for c, i in zip(controls, index)}
        direct = json.loads(json.dumps(explorer.panels(**params, **explorer.fixed)))
        assert _decode(data, key) == direct, f"{name} {params}: the export differs from panels()"
    default = ",".join(str(c.values.index(c.default)) for c in controls)
    assert default in data["combos"]


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_static_html_embeds_the_data_safely_and_modestly(exports, name):
    static = widgets.StaticExplorer.__new__(widgets.StaticExplorer)
    static.data = exports[name]
    page = static._repr_html_()
    match = re.fullmatch(r'<div class="tconv-explorer tex2jax_ignore" data-explorer="(\w+)">'
                         r'<script type="application/gzip" data-encoding="base64">([A-Za-z0-9+/=]*)</script>'
                         r'<p class="tconv-noscript">.*</p></div>', page, flags=re.S)
    assert match and match.group(1) == name
    text = gzip.decompress(base64.b64decode(match.group(2))).decode("utf-8")
    assert "<" not in text, "a '<' inside the JSON could end the script element"
    assert json.loads(text) == exports[name]
    assert page == static._repr_html_(), "the payload must not change from one build to the next"
    size = len(match.group(2))
    assert size < 150_000, f"{name}: {size / 1e3:.0f} kB of data on the page"


def test_explore_is_static_when_the_book_builds(monkeypatch):
    monkeypatch.setenv(widgets.STATIC_ENV, "1")
    assert isinstance(widgets.explore("overlap"), widgets.StaticExplorer)
    monkeypatch.delenv(widgets.STATIC_ENV)
    assert isinstance(widgets.explore("overlap"), widgets.LiveExplorer)
    with pytest.raises(KeyError, match="choose one of"):
        widgets.explore("nonsense")


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_live_widget_builds_and_updates(name, monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    live = widgets.explore(name)
    assert isinstance(live.widget, ipywidgets.VBox)
    assert live.output in live.widget.children
    assert "text/plain" in live._repr_mimebundle_()
    for control_name, box in live.controls.items():
        assert isinstance(box, ipywidgets.ValueWidget)
        before = live.output.value
        values = [v for _, v in box.options]
        box.value = values[(values.index(box.value) + 1) % len(values)]
        assert live.output.value != before, f"{name}: changing {control_name} changed nothing"
        assert live.params()[control_name] == box.value


def test_live_gradient_explorer_picks_the_clicked_pixel(monkeypatch):
    """In Jupyter the output grid is buttons: a click sets the row and column, as on the site."""
    pytest.importorskip("ipywidgets")
    live = widgets.LiveExplorer("gradients")
    (picker,) = live.picker.children
    grid = picker.children[1]
    kernel_size, stride, padding = (live.params()[k] for k in ("kernel_size", "stride", "padding"))
    h = geometry.conv_transpose_output_size(3, kernel_size, stride, padding)
    assert len(grid.children) == h * h
    grid.children[1 * h + 3].click()
    assert (live.params()["row"], live.params()["col"]) == (1, 3)
    expected = widgets.gradient_panels(**live.params())
    assert widgets.render_html([p for p in expected if "pick" not in p]) == live.output.value
    (picked,) = [b for b in live.picker.children[0].children[1].children if "(picked)" in b.tooltip]
    assert picked.tooltip.endswith("pixel (1, 3) (picked)")


def test_live_widget_draws_large_grids_as_images():
    live = widgets.LiveExplorer("mitigation", size=32)
    assert "data:image/png;base64," in live.output.value
    assert "<table" in live.output.value  # the 32×32 input is still a table


def test_controls_check_their_defaults():
    with pytest.raises(ValueError, match="default"):
        widgets.Control("stride", "stride", (1, 2), 3)
    with pytest.raises(ValueError, match="live_values"):
        widgets.Control("stride", "stride", (1, 2), 1, live_values=(1, 3))


def test_rounding_keeps_four_significant_digits_and_integers():
    r = widgets._round(np.array([1.0, 2.0, 3.0]))
    assert r.dtype.kind == "i"
    np.testing.assert_array_equal(widgets._round(np.array([0.123456, 123456.7, -1e-20, 2.0])),
                                  [0.1235, 123500.0, 0.0, 2.0])


def test_a_fixed_argument_that_names_a_control_pins_it():
    """explore("gradients", padding=0): no padding control, and every panel drawn with padding 0."""
    import tconv_lib.widgets
    from tconv_lib.widgets import EXPLORERS, export

    full = export("gradients")
    pinned = export("gradients", padding=0)
    others = [c["name"] for c in full["controls"] if c["name"] != "padding"]
    assert [c["name"] for c in pinned["controls"]] == others
    assert len(pinned["combos"]) * 2 == len(full["combos"])
    live = tconv_lib.widgets.LiveExplorer("gradients", padding=0)
    assert "padding" not in live.controls and live.fixed["padding"] == 0
    assert "padding" in {c.name for c in EXPLORERS["gradients"].controls_for({})}
