"""PyTorch reference outputs and gradients, stored as fixtures inside tconv_lib.

A *catalogue* of small, seeded cases covers every argument of
:func:`torch.nn.functional.conv_transpose1d` / ``conv_transpose2d`` /
``conv1d`` / ``conv2d``: stride, padding (also ``'same'`` / ``'valid'``),
output_padding (also ``output_padding >= stride`` under a larger dilation),
dilation, groups, bias, batched / unbatched inputs, non-square kernels and
inputs, unequal strides, and the lectures' worked examples.  Every case is a
frozen :class:`Case` that makes its own inputs from its seed, so only PyTorch's
*answers* are stored: the forward output and the gradients with respect to
input, weight and bias for a seeded upstream gradient, in float64 and in
float32, one compressed ``.npz`` per operator in ``tconv_lib/grading/reference_data/``,
described by ``metadata.json`` beside them (which device, torch, CUDA and cuDNN
versions, flags, date, a hash of the catalogue and a checksum of every case's
inputs, so that a stale fixture is detected).

Homework graders draw per-student subsets with :func:`draw`; tests and graders
read the answers with :func:`load_reference`.

Commands
--------
Regenerate every fixture (on a CUDA machine: ``--device cuda``; the metadata
records what was used)::

    python -m tconv_lib.grading.references generate --device cuda

``--device cpu`` runs on the CPU and ``--out DIR`` writes elsewhere than the
package's ``reference_data/``.  float32 runs with TF32 off and deterministic
algorithms on; on CUDA the largest float32 difference that TF32 would have made
is measured and recorded too.  Compare tconv_lib with every fixture, and
PyTorch live (on the GPU when there is one) with both::

    python -m tconv_lib.grading.references check [--live] [--root DIR]

Tolerances
----------
A result ``a`` matches a reference ``ref`` of dtype ``dt`` when
``max|a - ref| <= TOLERANCES[dt] * max(1, max|ref|)``
(:func:`scaled_error`).  Inputs are standard normal; a value sums at most
``K ~ 1.5e3`` products (weight gradients: ``N * H_out * W_out`` terms,
outputs: ``C_in/g * kH * kW <= 64``).  Two summation orders then differ by
about ``eps * sqrt(K)`` of the largest value (random rounding) and at worst
``K * eps`` of the sum of magnitudes: float64 (eps 2.2e-16) stays below
1e-12 while the bound is 1e-10; float32 (eps 1.2e-7) stays near 1e-6 while the
bound is 1e-5.  TF32 (a 10-bit mantissa, ~1e-3) fails the float32 bound, which
is how a fixture computed with TF32 on would be caught.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import importlib.resources
import json
import math
import os
import platform
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .. import geometry

__all__ = [
    "OPS",
    "DTYPES",
    "KINDS",
    "TAGS",
    "TOLERANCES",
    "Case",
    "catalogue",
    "catalogue_hash",
    "get_case",
    "draw",
    "load_reference",
    "reference_metadata",
    "reference_keys",
    "scaled_error",
    "torch_references",
    "library_results",
    "generate",
    "check",
]

#: The operators, named as in :mod:`torch.nn.functional` and :mod:`tconv_lib`.
OPS = ("conv_transpose1d", "conv_transpose2d", "conv1d", "conv2d")
#: Short prefixes that start every case name.
PREFIX = {"conv_transpose1d": "ct1d", "conv_transpose2d": "ct2d", "conv1d": "c1d", "conv2d": "c2d"}
DTYPES = ("float64", "float32")
#: What is stored per case: ``grad_bias`` only for cases with a bias.
KINDS = ("out", "grad_x", "grad_weight", "grad_bias")
#: Every tag a case can carry; each names a hyper-parameter away from its default.
TAGS = (
    "stride",  # some stride > 1
    "padding",  # some padding > 0 (or 'same' that pads)
    "padding_same",  # conv only: padding='same'
    "padding_valid",  # conv only: padding='valid'
    "output_padding",  # transposed only: some output_padding > 0
    "output_padding_ge_stride",  # output_padding >= stride on an axis (allowed by a larger dilation)
    "dilation",  # some dilation > 1
    "groups",  # groups > 1
    "bias",
    "batch",  # a batch axis with N >= 2
    "unbatched",  # no batch axis
    "nonsquare",  # 2D only: kernel, input or some per-axis parameter differs between the axes
    "worked_example",  # a lecture's numbers, not random ones
)
#: Largest scaled error (see :func:`scaled_error`) that counts as a match, by dtype.
TOLERANCES = {"float64": 1e-10, "float32": 1e-5}

DATA_PACKAGE = "reference_data"
METADATA_FILE = "metadata.json"
FORMAT = 2  # per op: flat 'float64' and 'float32' arrays and a JSON 'index'
GENERATE_COMMAND = "python -m tconv_lib.grading.references generate"
CUBLAS_WORKSPACE_CONFIG = ":4096:8"

# Limits that keep the committed fixtures at a few MB.
_MAX_SIZE = 8  # spatial input size of every axis
_MAX_CHANNELS = 4
_MAX_OUT_ELEMENTS = 512
_MAX_X_ELEMENTS = 256


@dataclasses.dataclass(frozen=True)
class Case:
    """One call of a convolution operator, with inputs made from a seed.

    Parameters
    ----------
    op : str
        One of :data:`OPS`.
    name : str
        Reads as a sentence: ``ct2d_k3_s2_p1_op1_g2_bias_n2_07`` is a 2D transposed
        convolution, 3x3 kernel, stride 2, padding 1, output_padding 1, 2 groups, with
        bias, batch of 2, the eighth case with that description.  Axes that differ
        read ``k2x3``; ``unbatched`` stands for a missing batch axis.
    x_shape : tuple of int
        ``(N, C_in, *spatial)`` or, unbatched, ``(C_in, *spatial)``.
    weight_shape : tuple of int
        ``(C_in, C_out // groups, *kernel)`` for transposed operators,
        ``(C_out, C_in // groups, *kernel)`` for ordinary ones.
    bias : bool
        Whether a bias of shape ``(C_out,)`` is passed.
    stride, dilation, output_padding : tuple of int
        One entry per spatial axis; ``output_padding`` is all zeros for ordinary convolutions.
    padding : tuple of int or str
        One entry per axis, or ``'same'`` / ``'valid'`` (ordinary convolutions only).
    groups : int
    seed : int
        Seeds the inputs and the upstream gradient (:meth:`inputs`, :meth:`grad_output`).
    values : tuple of (tuple of float), optional
        Fixed ``(x, weight)`` values, flattened in C order, for worked examples.
    """

    op: str
    name: str
    x_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    bias: bool
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    output_padding: tuple[int, ...]
    groups: int
    dilation: tuple[int, ...]
    seed: int
    values: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def ndim(self) -> int:
        """Number of spatial axes (1 or 2)."""
        return len(self.weight_shape) - 2

    @property
    def transposed(self) -> bool:
        return self.op.startswith("conv_transpose")

    @property
    def batched(self) -> bool:
        return len(self.x_shape) == self.ndim + 2

    @property
    def c_out(self) -> int:
        if self.transposed:
            return self.weight_shape[1] * self.groups
        return self.weight_shape[0]

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the operator's output, from :mod:`tconv_lib.geometry`."""
        sizes = self.x_shape[-self.ndim :]
        kernel = self.weight_shape[2:]
        if self.transposed:
            spatial = tuple(
                geometry.conv_transpose_output_size(n, k, s, p, op, d)
                for n, k, s, p, op, d in zip(
                    sizes, kernel, self.stride, self.padding, self.output_padding, self.dilation
                )
            )
        elif self.padding == "same":
            spatial = tuple(sizes)
        else:
            padding = (0,) * self.ndim if self.padding == "valid" else self.padding
            spatial = tuple(
                geometry.conv_output_size(n, k, s, p, d)
                for n, k, s, p, d in zip(sizes, kernel, self.stride, padding, self.dilation)
            )
        batch = self.x_shape[:1] if self.batched else ()
        return (*batch, self.c_out, *spatial)

    @property
    def params(self) -> dict:
        """Keyword arguments of the operator other than ``x``, ``weight`` and ``bias``.

        Each per-axis argument is an int when every axis has the same value and a
        tuple otherwise, as a person would write it.
        """

        def short(values):
            if isinstance(values, str) or len(set(values)) > 1:
                return values
            return values[0]

        params = {"stride": short(self.stride), "padding": short(self.padding)}
        if self.transposed:
            params["output_padding"] = short(self.output_padding)
        params["groups"] = self.groups
        params["dilation"] = short(self.dilation)
        return params

    @functools.cached_property
    def tags(self) -> frozenset[str]:
        """Which hyper-parameters are away from their defaults (names from :data:`TAGS`)."""
        tags = set()
        if any(s > 1 for s in self.stride):
            tags.add("stride")
        if self.padding == "same":
            tags.add("padding_same")
            if any(k > 1 for k in self.weight_shape[2:]):
                tags.add("padding")
        elif self.padding == "valid":
            tags.add("padding_valid")
        elif any(self.padding):
            tags.add("padding")
        if any(self.output_padding):
            tags.add("output_padding")
        if any(op >= s for op, s in zip(self.output_padding, self.stride) if op):
            tags.add("output_padding_ge_stride")
        if any(d > 1 for d in self.dilation):
            tags.add("dilation")
        if self.groups > 1:
            tags.add("groups")
        if self.bias:
            tags.add("bias")
        if not self.batched:
            tags.add("unbatched")
        elif self.x_shape[0] >= 2:
            tags.add("batch")
        if self.ndim == 2:
            per_axis = [
                self.weight_shape[2:],
                self.x_shape[-2:],
                self.stride,
                self.dilation,
                self.output_padding,
            ]
            if not isinstance(self.padding, str):
                per_axis.append(self.padding)
            if any(a != b for a, b in per_axis):
                tags.add("nonsquare")
        if self.values is not None:
            tags.add("worked_example")
        return frozenset(tags)

    def inputs(self, dtype: str = "float64") -> dict[str, np.ndarray | None]:
        """The case's ``x``, ``weight`` and ``bias`` (``None`` without bias).

        Standard normal float64 values from ``numpy.random.default_rng(seed)``, drawn in
        the order x, weight, bias (worked examples: their fixed values); float32 is the
        float64 draw cast.  New arrays on every call.
        """
        rng = np.random.default_rng(self.seed)
        if self.values is None:
            x = rng.standard_normal(self.x_shape)
            weight = rng.standard_normal(self.weight_shape)
        else:
            x = np.array(self.values[0], dtype=np.float64).reshape(self.x_shape)
            weight = np.array(self.values[1], dtype=np.float64).reshape(self.weight_shape)
        bias = rng.standard_normal(self.c_out) if self.bias else None
        cast = np.dtype(dtype)
        return {
            "x": x.astype(cast),
            "weight": weight.astype(cast),
            "bias": None if bias is None else bias.astype(cast),
        }

    def grad_output(self, dtype: str = "float64") -> np.ndarray:
        """The upstream gradient, shape :attr:`out_shape`: standard normal from ``[seed, 1]``."""
        return np.random.default_rng([self.seed, 1]).standard_normal(self.out_shape).astype(dtype)

    def call(self, fn, dtype: str = "float64"):
        """``fn(x, weight, bias, **params)`` on this case's inputs."""
        arrays = self.inputs(dtype)
        return fn(arrays["x"], arrays["weight"], arrays["bias"], **self.params)

    def kinds(self) -> tuple[str, ...]:
        """The stored kinds of this case: ``grad_bias`` only when it has a bias."""
        return KINDS if self.bias else KINDS[:-1]

    def key(self, kind: str = "out", dtype: str = "float64") -> str:
        """Array name in the fixture file, ``f"{name}/{kind}/{dtype}"``."""
        return f"{self.name}/{kind}/{dtype}"

    def input_checksum(self) -> str:
        """First 16 hex digits of the SHA-256 of the float64 inputs and upstream gradient."""
        digest = hashlib.sha256()
        arrays = self.inputs("float64")
        for name in ("x", "weight", "bias"):
            if arrays[name] is not None:
                digest.update(np.ascontiguousarray(arrays[name]).tobytes())
        digest.update(self.grad_output("float64").tobytes())
        return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------


class _Dice:
    """Deterministic integers from SHA-256 counters: the same on every platform and version."""

    def __init__(self, key: str):
        self._key = key
        self._count = 0

    def integer(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``, both ends included."""
        self._count += 1
        digest = hashlib.sha256(f"{self._key}:{self._count}".encode()).digest()
        return lo + int.from_bytes(digest[:8], "big") % (hi - lo + 1)

    def coin(self) -> bool:
        return self.integer(0, 1) == 1


def _seed_of(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def _short(values) -> str:
    return "x".join(map(str, values)) if len(set(values)) > 1 else str(values[0])


def _stem(op, x_shape, weight_shape, bias, stride, padding, output_padding, groups, dilation) -> str:
    nd = len(weight_shape) - 2
    words = [PREFIX[op], f"k{_short(weight_shape[2:])}", f"s{_short(stride)}"]
    if isinstance(padding, str):
        words.append(f"p{padding}")
    elif any(padding):
        words.append(f"p{_short(padding)}")
    if any(output_padding):
        words.append(f"op{_short(output_padding)}")
    if any(d > 1 for d in dilation):
        words.append(f"d{_short(dilation)}")
    if groups > 1:
        words.append(f"g{groups}")
    if bias:
        words.append("bias")
    words.append(f"n{x_shape[0]}" if len(x_shape) == nd + 2 else "unbatched")
    return "_".join(words)


def _sample(op: str, dice: _Dice, on: set[str]) -> dict | None:
    """Arguments of one case with the features in ``on`` switched on, or None if invalid."""
    nd = 2 if op.endswith("2d") else 1
    transposed = op.startswith("conv_transpose")
    aniso = "nonsquare" in on and nd == 2

    def axes(lo: int, hi: int) -> tuple[int, ...]:
        # One value per axis; a non-square case draws them independently.
        if aniso:
            return tuple(dice.integer(lo, hi) for _ in range(nd))
        return (dice.integer(lo, hi),) * nd

    kernel = axes(1, 4)
    stride = (axes(1, 3) if aniso else axes(2, 3)) if "stride" in on else (1,) * nd
    dilation = (axes(1, 3) if aniso else axes(2, 3)) if "dilation" in on else (1,) * nd
    spans = tuple(geometry.effective_kernel_size(k, d) for k, d in zip(kernel, dilation))
    output_padding = (0,) * nd
    if transposed:
        if "output_padding" in on:
            limit = [max(s, d) - 1 for s, d in zip(stride, dilation)]
            if max(limit) == 0:
                return None
            if aniso:
                output_padding = tuple(dice.integer(0, lim) for lim in limit)
            else:
                output_padding = (dice.integer(1, limit[0]),) * nd
        sizes = axes(1, 6 if nd == 2 else _MAX_SIZE)
        padding = (0,) * nd
        if "padding" in on:
            full = [
                geometry.conv_transpose_output_size(n, k, s, 0, op, d)
                for n, k, s, op, d in zip(sizes, kernel, stride, output_padding, dilation)
            ]
            limit = [(f - 1) // 2 for f in full]
            if min(limit) < 1 and not aniso:
                return None
            if aniso:
                padding = tuple(dice.integer(0, lim) for lim in limit)
            else:
                padding = (dice.integer(1, min(limit)),) * nd
    else:
        if "padding_same" in on:
            if "stride" in on:
                return None
            padding = "same"
        elif "padding_valid" in on:
            padding = "valid"
        elif "padding" in on:
            hi = max(spans) // 2 + 1
            padding = axes(0, hi) if aniso else axes(1, hi)
        else:
            padding = (0,) * nd
        pads = (0,) * nd if isinstance(padding, str) else padding
        lowest = [1 if padding == "same" else max(1, span - 2 * p) for span, p in zip(spans, pads)]
        if max(lowest) > _MAX_SIZE:
            return None
        if aniso:
            sizes = tuple(dice.integer(lo, _MAX_SIZE) for lo in lowest)
        else:
            sizes = (dice.integer(max(lowest), _MAX_SIZE),) * nd
    if "groups" in on:
        groups = dice.integer(2, _MAX_CHANNELS)
        c_in_g = dice.integer(1, _MAX_CHANNELS // groups)
        c_out_g = dice.integer(1, _MAX_CHANNELS // groups)
    else:
        groups, c_in_g, c_out_g = 1, dice.integer(1, _MAX_CHANNELS), dice.integer(1, _MAX_CHANNELS)
    if "unbatched" in on:
        batch = ()
    elif "batch" in on:
        batch = (dice.integer(2, 3),)
    else:
        batch = (1,)
    x_shape = (*batch, c_in_g * groups, *sizes)
    if transposed:
        weight_shape = (c_in_g * groups, c_out_g, *kernel)
    else:
        weight_shape = (c_out_g * groups, c_in_g, *kernel)
    return dict(
        op=op,
        x_shape=x_shape,
        weight_shape=weight_shape,
        bias="bias" in on,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )


def _features(op: str) -> tuple[str, ...]:
    """The switchable features of an operator (tags that a sampler can aim for)."""
    common = ("stride", "padding", "dilation", "groups", "bias", "batch", "unbatched")
    if op.startswith("conv_transpose"):
        specific = ("output_padding", "output_padding_ge_stride")
    else:
        specific = ("padding_same", "padding_valid")
    return common + specific + (("nonsquare",) if op.endswith("2d") else ())


def _profiles(op: str) -> list[tuple[str, frozenset[str], frozenset[str], int]]:
    """(label, features on, features left to chance, how many cases) for one operator.

    Focused profiles switch on one hyper-parameter (plus what it needs) and keep every
    other at its default, so a grader can ask for exactly that; "mixed" profiles leave
    every feature to a coin.
    """
    f = frozenset
    profiles = [
        ("plain", f(), f(), 12),
        ("stride", f({"stride"}), f(), 20),
        ("padding", f({"padding"}), f(), 20),
        ("dilation", f({"dilation"}), f(), 20),
        ("groups", f({"groups"}), f(), 20),
        ("bias", f({"bias"}), f(), 16),
        ("batch", f({"batch"}), f(), 16),
        ("unbatched", f({"unbatched"}), f(), 16),
    ]
    if op.startswith("conv_transpose"):
        profiles += [
            ("output_padding", f({"output_padding", "stride"}), f(), 20),
            (
                "output_padding_ge_stride",
                f({"output_padding", "output_padding_ge_stride", "dilation"}),
                f({"stride", "padding"}),
                20,
            ),
        ]
    else:
        profiles += [
            ("padding_same", f({"padding_same"}), f({"dilation"}), 14),
            ("padding_valid", f({"padding_valid"}), f(), 6),
        ]
    if op.endswith("2d"):
        profiles += [
            ("nonsquare", f({"nonsquare"}), f(), 20),
            ("unequal_strides", f({"nonsquare", "stride"}), f(), 14),
        ]
    profiles.append(("mixed", f(), f(_features(op)) - {"output_padding_ge_stride"}, 220))
    return profiles


def _acceptable(case: Case, label: str, on: frozenset[str], free: frozenset[str]) -> bool:
    tags = case.tags
    if label == "unequal_strides" and case.stride[0] == case.stride[1]:
        return False
    if not on <= tags:
        return False
    if label == "mixed":
        return True
    # A focused case carries no tag beyond those it asked for or left to chance
    # ('same' pads whenever the kernel is longer than 1).
    allowed = on | free | ({"padding"} if "padding_same" in on else set())
    return tags <= allowed


def _worked_examples() -> list[Case]:
    """The lectures' examples with their own numbers (see tests/test_worked_examples.py)."""

    def case(op, name, x, weight, **params):
        nd = weight.ndim - 2
        full = dict(
            stride=(1,) * nd, padding=(0,) * nd, output_padding=(0,) * nd, groups=1, dilation=(1,) * nd
        )
        full.update({k: (v,) * nd if isinstance(v, int) and k != "groups" else v for k, v in params.items()})
        return Case(
            op=op,
            name=name,
            x_shape=x.shape,
            weight_shape=weight.shape,
            bias=False,
            seed=_seed_of(name),
            values=(tuple(x.ravel().tolist()), tuple(weight.ravel().tolist())),
            **full,
        )

    stamp = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    unet_x = np.array([[[[2.0, 1.0], [3.0, 2.0]]]])
    unet_filter = np.array([[[[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]]])
    return [
        # Lectures 000/001: 2x2 input, 2x2 kernel, stride 1 -> 3x3.
        case("conv_transpose2d", "ct2d_worked_stamp_2x2_to_3x3", stamp, stamp),
        # Lecture 002 (U-Net): 3x3 filter, stride 2, "padding 1" -> 4x4.
        case(
            "conv_transpose2d",
            "ct2d_worked_unet_2x2_to_4x4",
            unet_x,
            unet_filter,
            stride=2,
            padding=1,
            output_padding=1,
        ),
        # Notes 003: Keras' Conv2DTranspose(1, (1, 1), strides=2) doubles 3x3 to 6x6.
        case(
            "conv_transpose2d",
            "ct2d_worked_keras_1x1_s2_3x3_to_6x6",
            np.arange(1.0, 10.0).reshape(1, 1, 3, 3),
            np.ones((1, 1, 1, 1)),
            stride=2,
            output_padding=1,
        ),
        # The algebra chapter's 1D convolution: length 5, kernel [1, 0, -1], stride 2, padding 1.
        case(
            "conv1d",
            "c1d_worked_algebra_5_to_3",
            np.arange(1.0, 6.0).reshape(1, 1, 5),
            np.array([[[1.0, 0.0, -1.0]]]),
            stride=2,
            padding=1,
        ),
    ]


def _op_catalogue(op: str) -> list[Case]:
    cases = [c for c in _worked_examples() if c.op == op]
    counts: dict[str, int] = {}
    for label, on, free, count in _profiles(op):
        dice = _Dice(f"{op}/{label}")
        made = 0
        for _ in range(200 * count):
            if made == count:
                break
            switched = set(on) | {feature for feature in sorted(free) if dice.coin()}
            if {"batch", "unbatched"} <= switched:
                switched.discard("batch" if dice.coin() else "unbatched")
            if "padding_same" in switched:
                switched -= {"stride", "padding", "padding_valid"}
            if "output_padding" in switched and not switched & {"stride", "dilation"}:
                switched.add("stride")
            args = _sample(op, dice, switched)
            if args is None:
                continue
            stem = _stem(**args)
            candidate = Case(name=stem, seed=0, **args)
            out_elements = math.prod(candidate.out_shape)
            if out_elements > _MAX_OUT_ELEMENTS or math.prod(candidate.x_shape) > _MAX_X_ELEMENTS:
                continue
            if not _acceptable(candidate, label, on, free):
                continue
            name = f"{stem}_{counts.get(stem, 0):02d}"
            counts[stem] = counts.get(stem, 0) + 1
            cases.append(dataclasses.replace(candidate, name=name, seed=_seed_of(name)))
            made += 1
        if made < count:
            raise RuntimeError(f"catalogue: made {made} of {count} cases of {op}/{label}")
    return cases


@functools.lru_cache(maxsize=1)
def _all_cases() -> tuple[Case, ...]:
    return tuple(case for op in OPS for case in _op_catalogue(op))


@functools.lru_cache(maxsize=1)
def _by_name() -> dict[str, Case]:
    return {case.name: case for case in _all_cases()}


def catalogue(
    op: str | Iterable[str] | None = None,
    tags_all: Iterable[str] = (),
    tags_none: Iterable[str] = (),
    dims: int | None = None,
) -> list[Case]:
    """The cases, in catalogue order, filtered by operator, tags and dimensionality.

    Parameters
    ----------
    op : str or iterable of str, optional
        Keep these operators (names from :data:`OPS`); all of them by default.
    tags_all : iterable of str
        Keep cases that carry every one of these tags (see :data:`TAGS`).
    tags_none : iterable of str
        Drop cases that carry any of these tags.
    dims : {1, 2}, optional
        Keep 1D or 2D operators only.

    Returns
    -------
    list of Case

    Examples
    --------
    >>> cases = catalogue("conv_transpose2d", tags_all=("stride", "groups"), tags_none=("bias",))
    >>> all({"stride", "groups"} <= c.tags and "bias" not in c.tags for c in cases)
    True
    >>> [c.name for c in catalogue(tags_all=["worked_example"], dims=2)]  # doctest: +NORMALIZE_WHITESPACE
    ['ct2d_worked_stamp_2x2_to_3x3', 'ct2d_worked_unet_2x2_to_4x4',
     'ct2d_worked_keras_1x1_s2_3x3_to_6x6']
    """
    ops = OPS if op is None else ((op,) if isinstance(op, str) else tuple(op))
    required, excluded = set(tags_all), set(tags_none)
    unknown = sorted((set(ops) - set(OPS)) | ((required | excluded) - set(TAGS)))
    if unknown:
        raise ValueError(f"unknown operator or tag {unknown}; operators: {OPS}, tags: {TAGS}")
    if dims not in (None, 1, 2):
        raise ValueError(f"dims must be 1, 2 or None, got {dims!r}")
    return [
        case
        for case in _all_cases()
        if case.op in ops
        and (dims is None or case.ndim == dims)
        and required <= case.tags
        and not excluded & case.tags
    ]


def get_case(name: str) -> Case:
    """The case called ``name``.

    Examples
    --------
    >>> get_case("ct2d_worked_unet_2x2_to_4x4").params
    {'stride': 2, 'padding': 1, 'output_padding': 1, 'groups': 1, 'dilation': 1}
    """
    try:
        return _by_name()[name]
    except KeyError:
        raise KeyError(f"no case called {name!r} in the reference catalogue") from None


def catalogue_hash(cases: Sequence[Case] | None = None) -> str:
    """SHA-256 of the case definitions (every field of every case, in order).

    A fixture whose recorded hash differs from this was made from another catalogue.
    """
    cases = _all_cases() if cases is None else cases
    text = json.dumps([dataclasses.asdict(case) for case in cases], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def draw(rng_or_seed, op: str | Iterable[str] | None, k: int, require=(), forbid=()) -> list[Case]:
    """``k`` distinct cases of ``op`` for one student, the same ones for the same seed.

    Parameters
    ----------
    rng_or_seed : int, str or numpy.random.Generator
        A seed (a student id works) ranks the matching cases by
        ``sha256(f"{seed}/{case.name}")`` and takes the first ``k``: independent of
        NumPy's version and stable when cases are added elsewhere in the catalogue.
        A Generator chooses with ``rng.choice`` instead.
    op : str, iterable of str or None
        Operator(s) to draw from, as in :func:`catalogue`.
    k : int
        How many cases.
    require, forbid : iterable of str
        Tags every drawn case must carry / must not carry.

    Returns
    -------
    list of Case, length k

    Examples
    --------
    >>> mine = draw("student-42", "conv_transpose2d", 5, require=["stride"], forbid=["groups"])
    >>> mine == draw("student-42", "conv_transpose2d", 5, require=["stride"], forbid=["groups"])
    True
    >>> all("stride" in c.tags and "groups" not in c.tags for c in mine)
    True
    """
    pool = catalogue(op, tags_all=require, tags_none=forbid)
    if not 0 <= k <= len(pool):
        raise ValueError(
            f"asked for {k} cases of {op} with tags {sorted(require)} and none of {sorted(forbid)}, "
            f"but the catalogue has {len(pool)}"
        )
    if isinstance(rng_or_seed, np.random.Generator):
        return [pool[i] for i in rng_or_seed.choice(len(pool), size=k, replace=False)]
    if isinstance(rng_or_seed, np.integer):
        rng_or_seed = int(rng_or_seed)
    if not isinstance(rng_or_seed, (int, str)) or isinstance(rng_or_seed, bool):
        raise TypeError(f"rng_or_seed must be an int, a str or a numpy Generator, got {rng_or_seed!r}")
    rank = lambda case: hashlib.sha256(f"{rng_or_seed}/{case.name}".encode()).digest()
    return sorted(pool, key=rank)[:k]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _root(root):
    """The fixture folder: ``root`` or the package's ``reference_data/`` (a Traversable)."""
    return importlib.resources.files("tconv_lib.grading") / DATA_PACKAGE if root is None else Path(root)


def reference_metadata(root=None) -> dict:
    """The fixtures' metadata: who computed them, where, with what, from which catalogue.

    Parameters
    ----------
    root : path, optional
        Folder of the fixtures; the package's ``reference_data/`` by default.

    Returns
    -------
    dict
        Keys include ``device`` (``"cpu"`` or the GPU's name), ``device_type``,
        ``torch``, ``cuda``, ``cudnn``, ``dtypes``, ``flags``, ``generated_utc``,
        ``catalogue_hash``, ``tf32`` (measured on CUDA only), ``ops`` and
        ``input_checksums`` (case name -> :meth:`Case.input_checksum`).

    Examples
    --------
    >>> meta = reference_metadata()
    >>> meta["dtypes"], meta["flags"]["tf32_cudnn"], meta["flags"]["deterministic_algorithms"]
    (['float64', 'float32'], False, True)
    """
    return json.loads((_root(root) / METADATA_FILE).read_text())


def _pack(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One flat array per dtype plus a JSON index ``key -> [offset, shape]``.

    A zip member per small array would cost ~300 bytes of headers each, more than the data.
    """
    index, flat = {}, {dtype: [] for dtype in DTYPES}
    offsets = dict.fromkeys(DTYPES, 0)
    for key, array in arrays.items():
        dtype = key.rsplit("/", 1)[1]
        if array.dtype != np.dtype(dtype):
            raise TypeError(f"{key} has dtype {array.dtype}")
        index[key] = [offsets[dtype], list(array.shape)]
        flat[dtype].append(array.ravel())
        offsets[dtype] += array.size
    packed = {dtype: np.concatenate(parts or [np.empty(0)]).astype(dtype) for dtype, parts in flat.items()}
    packed["index"] = np.array(json.dumps(index))
    return packed


@functools.lru_cache(maxsize=16)
def _arrays(op: str, root: str | None) -> dict[str, np.ndarray]:
    """Every stored array of ``op`` by key, as read-only views of the unpacked file."""
    with (_root(root) / f"{op}.npz").open("rb") as file, np.load(file) as npz:
        packed = {name: npz[name] for name in npz.files}
    for dtype in DTYPES:
        packed[dtype].flags.writeable = False
    arrays = {}
    for key, (offset, shape) in json.loads(str(packed["index"])).items():
        flat = packed[key.rsplit("/", 1)[1]]
        arrays[key] = flat[offset : offset + math.prod(shape)].reshape(shape)
    return arrays


def reference_keys(op: str, root=None) -> list[str]:
    """Names of every array stored for ``op``, ``f"{case}/{kind}/{dtype}"``."""
    return list(_arrays(op, None if root is None else str(root)))


def load_reference(case: Case | str, kind: str = "out", dtype: str = "float64", root=None) -> np.ndarray:
    """PyTorch's answer for one case, as stored in the fixtures.

    Parameters
    ----------
    case : Case or str
        The case or its name.
    kind : {'out', 'grad_x', 'grad_weight', 'grad_bias'}
        The forward output (shape ``case.out_shape``) or a gradient of
        ``sum(out * case.grad_output())`` (shape of x, weight or bias).
    dtype : {'float64', 'float32'}
    root : path, optional
        Folder of the fixtures; the package's ``reference_data/`` by default.

    Returns
    -------
    ndarray of dtype ``dtype``
        A read-only view of the cached fixture.

    Examples
    --------
    >>> load_reference("ct2d_worked_unet_2x2_to_4x4")[0, 0]
    array([[ 0.,  4.,  0.,  1.],
           [10.,  7.,  6.,  3.],
           [ 0.,  7.,  0.,  2.],
           [ 6.,  3.,  4.,  2.]])
    """
    case = get_case(case) if isinstance(case, str) else case
    if kind not in case.kinds() or dtype not in DTYPES:
        raise ValueError(f"{case.name} stores kinds {case.kinds()} in dtypes {DTYPES}, not {kind}/{dtype}")
    return _arrays(case.op, None if root is None else str(root))[case.key(kind, dtype)]


def scaled_error(result, ref) -> float:
    """``max|result - ref| / max(1, max|ref|)``: the error relative to the array's scale.

    Compared with :data:`TOLERANCES` of the reference's dtype.  Shapes must agree.

    Examples
    --------
    >>> scaled_error(np.array([100.0, 1.0]), np.array([100.0, 1.5]))
    0.005
    """
    result, ref = np.asarray(result, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if result.shape != ref.shape:
        raise ValueError(f"shape {result.shape} != reference shape {ref.shape}")
    if ref.size == 0:
        return 0.0
    return float(np.max(np.abs(result - ref)) / max(1.0, float(np.max(np.abs(ref)))))


# ---------------------------------------------------------------------------------------------
# Computing: PyTorch and tconv_lib
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _numerics(torch, tf32: bool = False):
    """TF32 on or off, deterministic algorithms on, one CPU thread; restored afterwards.

    One thread: the catalogue's tiny convolutions run ~10x faster than with a thread pool.
    """
    cuda_matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (
        cuda_matmul.allow_tf32,
        cudnn.allow_tf32,
        cudnn.deterministic,
        cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
    )
    cuda_matmul.allow_tf32 = cudnn.allow_tf32 = tf32
    cudnn.deterministic, cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            # torch's note that padding='same' with an even kernel copies the input
            warnings.filterwarnings("ignore", "Using padding='same' with even kernel lengths")
            yield
    finally:
        cuda_matmul.allow_tf32, cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark = saved[:4]
        torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])
        torch.set_num_threads(saved[6])


def _import_torch(device: str):
    """torch, with CUBLAS_WORKSPACE_CONFIG set first when CUDA will run deterministically."""
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device")
    return torch


def torch_references(
    cases: Iterable[Case], device: str = "cpu", dtypes: Sequence[str] = DTYPES, tf32: bool = False
) -> dict[str, np.ndarray]:
    """PyTorch's outputs and gradients for ``cases``, keyed ``f"{name}/{kind}/{dtype}"``.

    Parameters
    ----------
    cases : iterable of Case
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    dtypes : sequence of str
    tf32 : bool
        Allow TF32 in cuBLAS and cuDNN (off for the fixtures).  Deterministic
        algorithms are on either way; every flag is restored afterwards.

    Returns
    -------
    dict of str to ndarray
        ``out`` (shape ``case.out_shape``) and ``grad_x``, ``grad_weight`` and, with a bias,
        ``grad_bias`` of ``sum(out * case.grad_output(dtype))``, in ``dtype``.
    """
    torch = _import_torch(device)
    functional = torch.nn.functional
    results = {}
    with _numerics(torch, tf32=tf32):
        for case in cases:
            for dtype in dtypes:
                arrays = case.inputs(dtype)
                leaves = {
                    name: torch.tensor(a, device=device, requires_grad=True)
                    for name, a in arrays.items()
                    if a is not None
                }
                out = getattr(functional, case.op)(
                    leaves["x"], leaves["weight"], leaves.get("bias"), **case.params
                )
                out.backward(torch.tensor(case.grad_output(dtype), device=device))
                found = {
                    "out": out.detach(),
                    "grad_x": leaves["x"].grad,
                    "grad_weight": leaves["weight"].grad,
                }
                if "bias" in leaves:
                    found["grad_bias"] = leaves["bias"].grad
                for kind, tensor in found.items():
                    results[case.key(kind, dtype)] = tensor.cpu().numpy()
    return results


def _gradients_module():
    try:
        from .. import gradients
    except ImportError:
        return None
    return gradients


def library_results(
    cases: Iterable[Case], dtypes: Sequence[str] = DTYPES, gradients: bool = True
) -> dict[str, np.ndarray]:
    """tconv_lib's answers for ``cases``, keyed and shaped as :func:`torch_references`.

    Forward outputs come from ``tconv_lib.<op>``; gradients from
    ``tconv_lib.gradients.<op>_backward(grad_output, x, weight, **params)`` when that
    module exists and ``gradients`` is true.
    """
    import tconv_lib

    backward_module = _gradients_module() if gradients else None
    results = {}
    for case in cases:
        for dtype in dtypes:
            results[case.key("out", dtype)] = case.call(getattr(tconv_lib, case.op), dtype)
            if backward_module is None:
                continue
            arrays = case.inputs(dtype)
            backward = getattr(backward_module, f"{case.op}_backward")
            grads = backward(case.grad_output(dtype), arrays["x"], arrays["weight"], **case.params)
            for kind, grad in zip(KINDS[1:], grads):
                if kind in case.kinds():
                    results[case.key(kind, dtype)] = grad
    return results


def _compare(results: dict[str, np.ndarray], refs: dict[str, np.ndarray]) -> dict:
    """Largest absolute and scaled differences per (op, kind, dtype) over the common keys."""
    table: dict[tuple[str, str, str], list] = {}
    for key in results.keys() & refs.keys():
        name, kind, dtype = key.split("/")
        row = table.setdefault((get_case(name).op, kind, dtype), [0, 0.0, 0.0, "-"])
        a, ref = np.asarray(results[key], np.float64), np.asarray(refs[key], np.float64)
        err = scaled_error(a, ref)
        row[0] += 1
        row[1] = max(row[1], float(np.max(np.abs(a - ref), initial=0.0)))
        if err > row[2]:
            row[2], row[3] = err, name
    return {key: tuple(row) for key, row in sorted(table.items())}


# ---------------------------------------------------------------------------------------------
# Generating and checking
# ---------------------------------------------------------------------------------------------


def _device_description(torch, device: str) -> dict:
    on_cuda = device.startswith("cuda")
    return {
        "device": torch.cuda.get_device_name(torch.device(device)) if on_cuda else "cpu",
        "device_type": "cuda" if on_cuda else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def generate(device: str = "cpu", out=None, cases: Sequence[Case] | None = None) -> dict:
    """Compute every fixture with PyTorch and write ``<op>.npz`` and ``metadata.json``.

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).  On CUDA, ``CUBLAS_WORKSPACE_CONFIG`` is set
        before CUDA starts, and the float32 difference TF32 would make is measured.
    out : path, optional
        Where to write; the package's ``reference_data/`` by default.
    cases : sequence of Case, optional
        The whole catalogue by default (a fixture folder must hold all of it to pass the tests).

    Returns
    -------
    dict
        The metadata written.
    """
    torch = _import_torch(device)
    cases = list(_all_cases() if cases is None else cases)
    out = Path(out) if out is not None else Path(__file__).resolve().parent / DATA_PACKAGE
    out.mkdir(parents=True, exist_ok=True)
    arrays = torch_references(cases, device=device)
    with _numerics(torch, tf32=False):
        flags = {
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        }
    tf32 = None
    if device.startswith("cuda"):
        with_tf32 = torch_references(cases, device=device, dtypes=("float32",), tf32=True)
        diffs = _compare(with_tf32, arrays)
        worst = max(diffs.items(), key=lambda item: item[1][2])
        tf32 = {
            "max_abs_diff": max(row[1] for row in diffs.values()),
            "max_scaled_diff": worst[1][2],
            "worst_case": worst[1][3],
            "note": "float32 with TF32 on minus TF32 off (the fixtures), over the whole catalogue",
        }
    ops = {}
    for op in OPS:
        names = {case.name for case in cases if case.op == op}
        if not names:
            continue
        mine = {key: a for key, a in arrays.items() if key.split("/")[0] in names}
        tmp = out / f".{op}.tmp.npz"
        np.savez_compressed(tmp, **_pack(mine))
        tmp.replace(out / f"{op}.npz")
        ops[op] = {"file": f"{op}.npz", "cases": len(names), "arrays": len(mine)}
    metadata = {
        "format": FORMAT,
        "generator": f"{GENERATE_COMMAND} --device {device}",
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **_device_description(torch, device),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "dtypes": list(DTYPES),
        "kinds": list(KINDS),
        "flags": flags,
        "tf32": tf32,
        "tolerances": TOLERANCES,
        "catalogue_hash": catalogue_hash(cases),
        "ops": ops,
        "input_checksums": {case.name: case.input_checksum() for case in cases},
    }
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
    return metadata


def _print_table(title: str, table: dict, file=sys.stdout) -> None:
    print(f"\n{title}", file=file)
    print(
        f"{'op':17} {'kind':12} {'dtype':8} {'arrays':>6} {'max|diff|':>10} {'max scaled':>10} "
        f"{'tolerance':>9}  worst case",
        file=file,
    )
    for (op, kind, dtype), (count, abs_diff, scaled, worst) in table.items():
        print(
            f"{op:17} {kind:12} {dtype:8} {count:6d} {abs_diff:10.2e} {scaled:10.2e} "
            f"{TOLERANCES[dtype]:9.0e}  {worst}",
            file=file,
        )


def check(root=None, live: bool | None = None, file=sys.stdout) -> dict:
    """Compare tconv_lib, and optionally PyTorch run now, with every fixture; print tables.

    Parameters
    ----------
    root : path, optional
        Folder of the fixtures; the package's by default.
    live : bool, optional
        Also run PyTorch now: on the CPU in float64 and float32, and on CUDA in float64 and
        float32 with TF32 off when a GPU is present.  Default: only when CUDA is available.
    file : text stream
        Where the tables go.

    Returns
    -------
    dict
        ``{(source, against): {(op, kind, dtype): (arrays, max_abs, max_scaled, worst_case)}}``
        with sources ``"tconv_lib"``, ``"torch cpu"``, ``"torch cuda"`` and ``"fixture"``,
        each against the others in the same dtype, and ``(f"{source} float32",
        "fixture float64")``: float32 answers against the float64 fixture.
    """
    meta = reference_metadata(root)
    root_key = None if root is None else str(root)
    fixtures = {key: a for op in meta["ops"] for key, a in _arrays(op, root_key).items()}
    cases = [case for case in catalogue() if case.name in meta["input_checksums"]]
    print(
        f"fixtures: {len(cases)} cases, {len(fixtures)} arrays, computed on {meta['device']} "
        f"(torch {meta['torch']}, CUDA {meta['cuda']}, cuDNN {meta['cudnn']}) "
        f"at {meta['generated_utc']}",
        file=file,
    )
    if meta["catalogue_hash"] != catalogue_hash():
        print(f"WARNING: stale fixtures: regenerate with `{GENERATE_COMMAND}`", file=file)
    if meta.get("tf32"):
        print(f"TF32 on vs off, float32: {meta['tf32']}", file=file)
    sources = {"tconv_lib": library_results(cases)}
    if _gradients_module() is None:
        print("tconv_lib.gradients is missing: gradients are compared for PyTorch only", file=file)
    if live is None:
        live = _cuda_available()
    if live:
        sources["torch cpu"] = torch_references(cases, device="cpu")
        if _cuda_available():
            sources["torch cuda"] = torch_references(cases, device="cuda")
    report = {}
    names = list(sources)
    for i, source in enumerate(names):
        for against in ["fixture", *names[:i]]:
            refs = fixtures if against == "fixture" else sources[against]
            report[source, against] = table = _compare(sources[source], refs)
            _print_table(f"{source} against {against}", table, file=file)
    # float32 answers against float64 ones: what float32 (and TF32, if it crept in) costs
    as_float32 = {
        key.replace("/float64", "/float32"): a for key, a in fixtures.items() if key.endswith("/float64")
    }
    for source in ["fixture", *names]:
        results = fixtures if source == "fixture" else sources[source]
        report[f"{source} float32", "fixture float64"] = table = _compare(results, as_float32)
        _print_table(f"{source} float32 against fixture float64", table, file=file)
    return report


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tconv_lib.grading.references",
        description="Generate or check the PyTorch reference fixtures of tconv_lib.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="compute every fixture with PyTorch")
    gen.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    gen.add_argument("--out", default=None, help="folder to write (default: the package's reference_data)")
    chk = commands.add_parser("check", help="compare tconv_lib (and PyTorch run now) with the fixtures")
    chk.add_argument("--root", default=None, help="folder of the fixtures (default: the package's)")
    chk.add_argument(
        "--live",
        action="store_true",
        default=None,
        help="also run PyTorch now on the CPU (always done when CUDA is available)",
    )
    args = parser.parse_args(argv)
    if args.command == "check" or args.device.startswith("cuda"):
        # before anything starts CUDA: cuBLAS reads it once, and deterministic mode needs it
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    if args.command == "generate":
        try:
            meta = generate(device=args.device, out=args.out)
        except RuntimeError as error:  # e.g. --device cuda without a GPU
            parser.error(str(error))
        sizes = {op: entry["arrays"] for op, entry in meta["ops"].items()}
        print(
            f"wrote {sum(sizes.values())} arrays {sizes} computed on {meta['device']} "
            f"to {args.out or Path(__file__).resolve().parent / DATA_PACKAGE}"
        )
        if meta["tf32"]:
            print(f"TF32 on vs off, float32: {meta['tf32']}")
        return 0
    report = check(root=args.root, live=args.live)
    worst = {
        dtype: max(
            (row[2] for table in report.values() for (_, _, dt), row in table.items() if dt == dtype),
            default=0.0,
        )
        for dtype in DTYPES
    }
    failing = {dtype: err for dtype, err in worst.items() if err > TOLERANCES[dtype]}
    print(f"\nlargest scaled difference per dtype: {worst}; tolerances {TOLERANCES}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
