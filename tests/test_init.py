"""Fans and initialisation of transposed layers, checked by measuring output variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import torch

import tconv_lib
from tconv_lib import geometry, init
from tconv_lib.artifacts import coverage_period
from tconv_lib.gradients import conv_transpose2d_backward

# --- counting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(32, 16, 4, 4), (16, 32, 3, 3), (8, 4, 1, 1), (6, 2, 5), (4, 3), (3, 5, 2, 3, 4)]
)
def test_torch_fan_in_fan_out_is_torchs(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.torch_fan_in_fan_out(shape) == expected, f"{shape}: torch says {expected}"


@pytest.mark.parametrize("shape", [(32, 16, 4, 4), (16, 32, 3, 3), (6, 2, 5)])
def test_torch_reads_a_transposed_weight_with_fans_swapped(shape):
    """At stride 1 without groups, the layer's (fan_in, fan_out) is PyTorch's pair reversed."""
    fan_in, fan_out = init.fan_in_fan_out(shape, transposed=True)
    assert (fan_out, fan_in) == init.torch_fan_in_fan_out(shape), f"{shape}: ({fan_in}, {fan_out})"
    # for an ordinary convolution PyTorch's reading is the layer's
    assert init.fan_in_fan_out(shape, transposed=False) == init.torch_fan_in_fan_out(shape), shape


def test_fans_with_stride_and_groups():
    # transposed 32 -> 16 channels in 2 groups, 4x4, stride 2: 16 inputs per group, 2x2 taps each
    fans = init.fan_in_fan_out((32, 8, 4, 4), stride=2, groups=2)
    assert fans == (64.0, 128.0), fans
    # the ordinary convolution's backward pass is the strided one: fan_out is thinned
    fans = init.fan_in_fan_out((16, 16, 4, 4), transposed=False, stride=2, groups=2)
    assert fans == (256.0, 32.0), fans
    with pytest.raises(ValueError, match="must be divisible by groups=3"):
        init.fan_in_fan_out((32, 8, 4, 4), groups=3)


# kernel, stride, dilation: the book's cases, gaps (k < s) and dilation included
FAN_IN_CASES = {
    "k4_s2": (4, 2, 1),
    "k3_s2": (3, 2, 1),
    "k1_s2_gaps": (1, 2, 1),
    "k2_s3_gaps": (2, 3, 1),
    "k5_s3": (5, 3, 1),
    "k3_s2_d2": (3, 2, 2),
    "k3_s1_d2": (3, 1, 2),
}


@pytest.mark.parametrize("case", FAN_IN_CASES)
def test_effective_fan_in_counts_the_products_per_output(case):
    """Run the layer on ones with a kernel of ones: each output counts its (input, tap) products."""
    k, s, d = FAN_IN_CASES[case]
    c_in, periods = 3, 4
    first = d * (k - 1)  # first canvas position every tap can reach
    n = math.ceil(first / s) + periods + 1  # enough inputs for `periods` whole periods after it
    counts = tconv_lib.conv_transpose2d(np.ones((c_in, n, n)), np.ones((c_in, 1, k, k)), stride=s, dilation=d)
    interior = counts[0, first : first + periods * s, first : first + periods * s]
    fan_in = init.effective_fan_in((k, k), s, c_in=c_in, dilation=d)
    assert interior.mean() == fan_in, f"{case}: counted {interior.mean()}, effective_fan_in {fan_in}"
    assert fan_in == c_in * (k / s) ** 2, f"{case}: {fan_in} != c_in (k/s)^2"
    # along one axis, the counts of the s phases are what artifacts.coverage_period says
    row = tconv_lib.conv_transpose1d(np.ones((1, n)), np.ones((1, 1, k)), stride=s, dilation=d)[0]
    phases = row[first : first + s]
    assert sorted(phases) == sorted(coverage_period(k, s, d)), case


def test_effective_fan_in_of_mixed_axes():
    assert init.effective_fan_in((4, 3), stride=(2, 1), c_in=8) == 8 * 2 * 3, "8 channels x 2 x 3 taps"
    assert init.effective_fan_in(3, stride=2, c_in=1) == 1.5, "an int kernel is one axis"


# --- measuring the variance ---------------------------------------------------------------------
#
# A decoder layer 32 -> 16 channels, 4x4 kernel, stride 2, padding 1 (DCGAN's), on a
# unit-variance input.  The layer's true fan-in is 32 * 4 * 4 / 2**2 = 128 products per output;
# PyTorch's "fan_in" for this weight is 16 * 4 * 4 = 256.
#
# We measure E[y^2] over the output away from the borders (there fewer stamps overlap).
# With zero-mean weights and input, E[y] = 0, so this is Var(y) = fan_in * Var(w) * Var(x).
#
# Tolerance: given the weights, E[y^2] averages the squares of all 32*16*16 = 8192 weights,
# whose sum fluctuates by sqrt(2 / 8192) = 1.6% (normal weights; 1% for uniform ones); the
# finite input adds about 1%.  Over 200 seeds (weights and input) the measured ratio to the
# prediction had a relative standard deviation of 1.6 - 2.0%, and 2.4% for the grouped layer
# (half the weights); none was more than 9% off.  rtol = 10% is 4 - 6 standard deviations;
# the effects asserted below are factors of 2 and more.  Each measurement takes ~20 ms.
C_IN, C_OUT, K, STRIDE, PADDING = 32, 16, 4, 2, 1
SHAPE = (C_IN, C_OUT, K, K)
TRUE_FAN_IN = C_IN * K * K / STRIDE**2  # 128
TORCH_FAN_IN = C_OUT * K * K  # 256
RTOL = 0.10


def output_power(weight, groups=1):
    """E[y^2] of the layer, away from the borders, on a fixed unit-variance input."""
    x = np.random.default_rng(1).standard_normal((4, C_IN, 16, 16))
    y = tconv_lib.conv_transpose2d(x, weight, stride=STRIDE, padding=PADDING, groups=groups)
    border = K
    return float(np.mean(y[..., border:-border, border:-border] ** 2))


def test_the_measurement_setup():
    assert init.fan_in_fan_out(SHAPE, stride=STRIDE) == (TRUE_FAN_IN, TORCH_FAN_IN), "layer fans"
    assert init.torch_fan_in_fan_out(SHAPE)[0] == TORCH_FAN_IN, "torch's fan_in is the layer's fan_out"


VARIANCE_CASES = {
    # name: (initialiser, keyword arguments, groups, expected E[y^2])
    # The ReLU gain doubles the output's variance: a following ReLU halves E[y^2] again.
    "he_normal_relu_gain": (init.kaiming_normal, dict(nonlinearity="relu"), 1, 2.0),
    "he_uniform_relu_gain": (init.kaiming_uniform, dict(nonlinearity="relu"), 1, 2.0),
    "he_normal_linear": (init.kaiming_normal, dict(nonlinearity="linear"), 1, 1.0),
    "he_uniform_linear": (init.kaiming_uniform, dict(nonlinearity="linear"), 1, 1.0),
    "he_normal_groups2": (init.kaiming_normal, dict(nonlinearity="linear"), 2, 1.0),
    # Xavier: Var(w) = 2 / (fan_in + fan_out) = 2 / (128 + 256), so E[y^2] = 128 * 2 / 384
    "xavier_normal": (init.xavier_normal, {}, 1, 2 / 3),
    "xavier_uniform": (init.xavier_uniform, {}, 1, 2 / 3),
}


@pytest.mark.parametrize("case", VARIANCE_CASES)
def test_init_for_transposed_layers_gives_the_predicted_variance(case):
    initialiser, kwargs, groups, expected = VARIANCE_CASES[case]
    weight = initialiser((C_IN, C_OUT // groups, K, K), stride=STRIDE, groups=groups, rng=0, **kwargs)
    measured = output_power(weight, groups=groups)
    assert measured == pytest.approx(expected, rel=RTOL), f"{case}: E[y^2] = {measured:.3f}"


def test_torch_default_init_shrinks_the_output_by_what_its_fans_predict():
    """nn.ConvTranspose2d's reset_parameters: kaiming_uniform(a=sqrt(5)) with torch's "fan_in".

    Var(w) = gain**2 / fan_in_torch with gain**2 = 2 / (1 + 5) = 1/3, so
    E[y^2] = TRUE_FAN_IN * Var(w) = (1/3) * (128 / 256) = 1/6:
    a third from a=sqrt(5), a half from counting the wrong axis without the stride.
    """
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(C_IN, C_OUT, K, stride=STRIDE, padding=PADDING)
    weight = layer.weight.detach().double().numpy()  # the bias is left out: it only adds a constant
    measured = output_power(weight)
    fan_factor = TRUE_FAN_IN / TORCH_FAN_IN
    assert fan_factor == 0.5, fan_factor
    assert measured == pytest.approx(fan_factor / 3, rel=RTOL), measured
    assert measured < 0.2, "far from the unit variance a variance-preserving init would give"


def test_torchs_kaiming_on_a_transposed_weight_misses_by_the_fan_factor():
    """torch.nn.init.kaiming_normal_ (ReLU gain) on a ConvTranspose2d weight: E[y^2] = 2 * 128/256."""
    weight = torch.empty(SHAPE, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(weight, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    theirs = output_power(weight.numpy())
    ours = output_power(init.kaiming_normal(SHAPE, nonlinearity="relu", stride=STRIDE, rng=0))
    assert theirs == pytest.approx(2 * TRUE_FAN_IN / TORCH_FAN_IN, rel=RTOL), theirs
    assert ours == pytest.approx(2.0, rel=RTOL), ours
    assert theirs / ours == pytest.approx(TRUE_FAN_IN / TORCH_FAN_IN, rel=RTOL), theirs / ours


def test_fan_out_mode_preserves_the_gradient_variance():
    """mode='fan_out': the input gradient (conv2d of grad_output) sums C_out * k*k products."""
    weight = init.kaiming_normal(SHAPE, mode="fan_out", nonlinearity="linear", stride=STRIDE, rng=0)
    x = np.zeros((4, C_IN, 16, 16))
    grad_output = np.random.default_rng(1).standard_normal((4, C_OUT, 32, 32))
    grad_x, _, _ = conv_transpose2d_backward(grad_output, x, weight, stride=STRIDE, padding=PADDING)
    measured = float(np.mean(grad_x[..., 2:-2, 2:-2] ** 2))
    assert measured == pytest.approx(1.0, rel=RTOL), measured


# --- the initialisers' plumbing ------------------------------------------------------------------


@pytest.mark.parametrize("initialiser", [init.xavier_uniform, init.xavier_normal,
                                         init.kaiming_uniform, init.kaiming_normal])
def test_initialisers_are_seeded_and_typed(initialiser):
    first = initialiser(SHAPE, rng=7, dtype=np.float32)
    assert first.shape == SHAPE and first.dtype == np.float32, (first.shape, first.dtype)
    np.testing.assert_array_equal(first, initialiser(SHAPE, rng=np.random.default_rng(7), dtype=np.float32))
    assert not np.array_equal(first, initialiser(SHAPE, rng=8, dtype=np.float32)), "seed 8 == seed 7"


@pytest.mark.parametrize(
    "nonlinearity, param",
    [("linear", None), ("conv_transpose2d", None), ("sigmoid", None), ("tanh", None),
     ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)],
)
def test_calculate_gain_is_torchs(nonlinearity, param):
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15), expected


def test_init_errors_say_what_is_valid():
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal(SHAPE, mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.kaiming_uniform(SHAPE, nonlinearity="gelu")
    with pytest.raises(ValueError, match="at least 3 axes"):
        init.fan_in_fan_out((4, 4))
    with pytest.raises(ValueError, match="at least 2 axes"):
        init.torch_fan_in_fan_out((4,))


# --- the two passes: what each mode preserves, and what the other pass gets --------------------

TRADE_OFF_SHAPES = {
    # name: (weight shape (C_in, C_out // g, k, k), stride, groups)
    "c32_c16_s2": ((32, 16, 4, 4), 2, 1),
    "c16_c32_s2": ((16, 32, 4, 4), 2, 1),
    "c64_c16_s2_both": ((64, 16, 4, 4), 2, 1),  # C_in = C_out * s^2: both passes preserved
    "c32_c32_s2_g4": ((32, 8, 4, 4), 2, 4),
    "c24_c12_s3_k3": ((24, 12, 3, 3), 3, 1),
}


@pytest.mark.parametrize("case", TRADE_OFF_SHAPES)
def test_torchs_kaiming_fan_in_is_the_layers_fan_out(case):
    """PyTorch's default mode='fan_in' on a transposed weight counts C_out/g * k*k: this layer's
    fan-out, the count of the backward pass; its mode='fan_out' counts C_in * k*k, neither."""
    shape, stride, groups = TRADE_OFF_SHAPES[case]
    weight = torch.empty(shape)
    fan_in, fan_out = init.fan_in_fan_out(shape, stride=stride, groups=groups)
    assert torch.nn.init._calculate_correct_fan(weight, "fan_in") == fan_out, case
    torch_fan_out = torch.nn.init._calculate_correct_fan(weight, "fan_out")
    assert torch_fan_out == shape[0] * shape[2] * shape[3] == fan_in * groups * stride**2, case


@pytest.mark.parametrize("case", TRADE_OFF_SHAPES)
def test_second_moment_factors_ratio_is_c_in_over_c_out_s2(case):
    """Whatever the weights, forward / backward = fan_in / fan_out = C_in / (C_out * s^2); groups cancel."""
    shape, stride, groups = TRADE_OFF_SHAPES[case]
    c_in, c_out = shape[0], shape[1] * groups
    forward, backward = init.second_moment_factors(shape, 0.01, stride=stride, groups=groups)
    assert forward / backward == pytest.approx(c_in / (c_out * stride**2), rel=1e-12), case


def _measured_factors(weight, stride, groups=1, n=12, seed=1):
    """E[a^2] through one transposed layer and its ReLU, and E[g^2] back through both, away from
    the borders, on a post-ReLU input with E[a^2] = 1 and a unit upstream gradient."""
    rng = np.random.default_rng(seed)
    c_in, k = weight.shape[0], weight.shape[-1]
    a = np.sqrt(2) * np.maximum(rng.standard_normal((4, c_in, n, n)), 0)
    y = tconv_lib.conv_transpose2d(a, weight, stride=stride, groups=groups)
    out = geometry.interior_range(n, k, stride)
    forward = np.mean(np.maximum(y, 0)[..., out.start:out.stop, out.start:out.stop] ** 2) / np.mean(a**2)
    g = rng.standard_normal(y.shape)
    grad_x, _, _ = conv_transpose2d_backward(g * (y > 0), a, weight, stride=stride, groups=groups)
    inp = geometry.input_interior_range(n, k, stride)
    backward = np.mean(grad_x[..., inp.start:inp.stop, inp.start:inp.stop] ** 2) / np.mean(g**2)
    return float(forward), float(backward)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("case", TRADE_OFF_SHAPES)
def test_each_mode_preserves_its_pass_and_scales_the_other_as_predicted(case, mode):
    """Measured through one layer + ReLU: the mode's pass is kept (factor 1), the other is
    multiplied by fan_out/fan_in (mode='fan_in') or fan_in/fan_out (mode='fan_out').  Tolerance as
    above: 15% (the gradient side averages fewer values)."""
    shape, stride, groups = TRADE_OFF_SHAPES[case]
    weight = init.kaiming_normal(shape, mode=mode, nonlinearity="relu", stride=stride, groups=groups, rng=0)
    fan_in, fan_out = init.fan_in_fan_out(shape, stride=stride, groups=groups)
    predicted = init.second_moment_factors(shape, 2 / (fan_in if mode == "fan_in" else fan_out),
                                           stride=stride, groups=groups)
    assert predicted[0 if mode == "fan_in" else 1] == pytest.approx(1.0)
    measured = _measured_factors(weight, stride, groups)
    assert measured == pytest.approx(predicted, rel=0.15), f"{case}, {mode}: {measured} vs {predicted}"


def test_our_fan_out_mode_is_torchs_default_kaiming_on_a_transposed_weight():
    """tconv_lib's mode='fan_out' has the variance of torch.nn.init.kaiming_normal_'s default."""
    for shape, stride, groups in TRADE_OFF_SHAPES.values():
        ours = init.kaiming_normal(shape, mode="fan_out", nonlinearity="relu", stride=stride, groups=groups,
                                   rng=0).var()
        theirs = torch.nn.init.kaiming_normal_(torch.empty(shape, dtype=torch.float64), nonlinearity="relu",
                                               generator=torch.Generator().manual_seed(0)).var().item()
        expected = 2 / init.fan_in_fan_out(shape, stride=stride, groups=groups)[1]
        assert ours == pytest.approx(expected, rel=0.1) and theirs == pytest.approx(expected, rel=0.1), shape
