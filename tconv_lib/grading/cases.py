"""Hidden cases and graded parts: what a part is, how its cases are drawn, the registry.

A :class:`Part` names a graded function of an assignment (``"mechanics.scatter_2d"``)
and how to draw its hidden cases from a random generator; each assignment's parts live
in :mod:`tconv_lib.grading.parts` (one module per assignment) and register themselves
in :data:`PARTS`.  Every :class:`Case` carries its call and its expected answers, all
computed here, in the grader: by tconv_lib, and by PyTorch on the CPU where it is
installed.  The generator decides everything, so a part's cases depend only on the key
it is seeded with (:mod:`tconv_lib.grading.keys`).

Two rules keep a case set from being answered by a table instead of a function:

* inputs are drawn afresh for every student (arrays of random values; the reference
  catalogue lends a case its *parameters*, never its public inputs);
* a part whose inputs are a few small integers draws some cases far outside the
  teaching range (:class:`Wide`), where no table shipped with a notebook can reach.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import references

__all__ = [
    "Case",
    "Part",
    "PARTS",
    "register",
    "Distinct",
    "Wide",
    "Raising",
    "FromCatalogue",
    "small_array",
    "fmt_params",
    "torch_reference",
    "torch_grads",
]


@dataclass
class Case:
    """One hidden test case: the call to make and what it must return.

    ``expected`` is tconv_lib's answer; ``references`` holds further answers the
    result must also match (e.g. ``{"PyTorch": array}``).  ``raises`` names an
    exception type the call must raise instead of returning.

    ``check``, for a part graded on a *property* of what the student returns rather than
    on one right answer (an experiment whose numbers depend on the student's random draws,
    an upsampler of the student's design), replaces the comparison with ``expected``:
    ``check(value)`` returns ``None`` when the value has the property, else the message the
    student reads (what was measured, what was expected of it).  It runs in the grader, on
    the value read back from the sandbox, and must never raise for any value it is given.
    """

    description: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    references: dict = field(default_factory=dict)
    raises: type[BaseException] | None = None
    check: Callable[[Any], str | None] | None = None


@dataclass(frozen=True)
class Part:
    """A graded part: its title (as the notebook's heading says it) and how to draw its cases.

    ``draw(rng)`` makes one case.  A drawer that also has ``many(rng, n)`` (such as
    :class:`FromCatalogue`) makes the whole set at once, so that it can keep the cases
    distinct and spread them over the parameters.
    """

    name: str
    title: str
    draw: Callable[[np.random.Generator], Case]
    n_cases: int = 8
    call_timeout: float = 10.0
    rtol: float = 1e-7
    atol: float = 1e-9

    def cases(self, rng: np.random.Generator) -> list[Case]:
        """The part's ``n_cases`` hidden cases, drawn with ``rng``."""
        many = getattr(self.draw, "many", None)
        if many is not None:
            return many(rng, self.n_cases)
        return [self.draw(rng) for _ in range(self.n_cases)]


PARTS: dict[str, Part] = {}


def register(part: Part) -> Part:
    if part.name in PARTS:
        raise ValueError(f"part {part.name!r} is registered twice")
    PARTS[part.name] = part
    return part


# --------------------------------------------------------------------------------------
# Drawers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distinct:
    """A case drawer that never repeats a case within one student's set.

    For parts with few parameters (a kernel size, a kernel size and a stride), where
    independent draws would often repeat: ``many(rng, n)`` redraws a case whose
    description it has already drawn, up to ``tries`` times.
    """

    draw: Callable[[np.random.Generator], Case]
    tries: int = 50

    def __call__(self, rng: np.random.Generator) -> Case:
        return self.draw(rng)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        cases: list[Case] = []
        for _ in range(n):
            for _ in range(self.tries):
                case = self.draw(rng)
                if all(case.description != other.description for other in cases):
                    break
            cases.append(case)
        return cases


@dataclass(frozen=True)
class Wide:
    """Cases from the teaching range, then ``n_wide`` from far beyond it, in one set.

    For a part whose inputs are a few small integers (an output size, a kernel size and a
    stride): within the teaching range every answer could be computed in advance and
    shipped as a table; the wide cases (sizes in the thousands or millions) make that
    useless, while the formula the chapter teaches answers them as easily.  A part whose
    function must raise on some inputs also draws ``n_raises`` cases from ``draw_raises``
    (a tuple of drawers: one after the other, one per reason to raise), so that a function
    that never raises cannot pass by luck.
    """

    draw: Callable[[np.random.Generator], Case]
    draw_wide: Callable[[np.random.Generator], Case]
    n_wide: int = 2
    draw_raises: Callable[[np.random.Generator], Case] | tuple[Callable, ...] | None = None
    n_raises: int = 2

    def __call__(self, rng: np.random.Generator) -> Case:
        return self.draw(rng)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        n_raises = self.n_raises if self.draw_raises is not None else 0
        cases = Distinct(self.draw).many(rng, n - self.n_wide - n_raises)
        cases += [_nth(self.draw_raises, i)(rng) for i in range(n_raises)]
        return cases + [self.draw_wide(rng) for _ in range(self.n_wide)]


def _nth(drawers, i: int) -> Callable[[np.random.Generator], Case]:
    """Drawer ``i`` of a tuple of drawers, taken in turn (one reason to raise after another), or the one."""
    return drawers[i % len(drawers)] if isinstance(drawers, tuple) else drawers


@dataclass(frozen=True)
class Raising:
    """Cases from ``draw``, then ``n_raises`` from ``draw_raises``: inputs the function must refuse.

    For a part on arrays (not a few integers, where :class:`Wide` does the same) whose
    function must raise on some inputs, e.g. a padding that crops everything away: a
    function that never raises cannot pass by luck.
    """

    draw: Callable[[np.random.Generator], Case]
    draw_raises: Callable[[np.random.Generator], Case] | tuple[Callable, ...]
    n_raises: int = 2

    def __call__(self, rng: np.random.Generator) -> Case:
        return self.draw(rng)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        cases = [self.draw(rng) for _ in range(n - self.n_raises)]
        return cases + [_nth(self.draw_raises, i)(rng) for i in range(self.n_raises)]


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _floor_remainder(case: references.Case) -> bool:
    """A forward convolution whose size formula throws a remainder away on some axis."""
    params = case.params
    return any(
        (n + 2 * p - d * (k - 1) - 1) % s != 0
        for n, k, s, p, d in zip(
            case.x_shape[-2:],
            case.weight_shape[2:],
            _pair(params.get("stride", 1)),
            _pair(params.get("padding", 0)),
            _pair(params.get("dilation", 1)),
        )
    )


#: Strata that the catalogue's tags do not name, as predicates on a case (see :class:`FromCatalogue`).
DERIVED_TAGS: dict[str, Callable[[references.Case], bool]] = {
    # output_padding adds positions beyond the stamps' reach, which only the bias fills
    "output_padding_gt_padding": lambda case: any(
        o > p
        for o, p in zip(_pair(case.params.get("output_padding", 0)), _pair(case.params.get("padding", 0)))
    ),
    # a strided convolution that maps more than one input size to its output size
    "floor_remainder": lambda case: not case.transposed and _floor_remainder(case),
}


@dataclass(frozen=True)
class FromCatalogue:
    """A case drawer that takes each case's *parameters* from the reference catalogue.

    The catalogue (:mod:`tconv_lib.grading.references`) covers every argument of the
    operators, tagged by which hyper-parameter each case exercises; its PyTorch answers
    are stored as fixtures.  A hidden case keeps a catalogue case's shapes and
    hyper-parameters and draws fresh inputs (the catalogue's own inputs are public, and a
    notebook could carry a table of its answers).  Before a catalogue case lends its
    parameters, tconv_lib's answer on it is checked against the stored PyTorch fixture
    (:func:`fixture_agrees`): a grader whose library disagrees with PyTorch stops rather
    than grade.

    Parameters
    ----------
    op : str
        The operator, one of :data:`tconv_lib.grading.references.OPS`.
    build : callable
        ``build(catalogue_case, rng) -> Case``: fresh inputs of the case's shapes, the
        call and its answers.
    strata : tuple of tuple of str
        Tags that case ``i`` of a set must carry, ``strata[i % len(strata)]``: with one
        stratum per hyper-parameter, every student's set exercises every one of them.
        A tag may also be one of :data:`DERIVED_TAGS` (a property of the parameters that
        the catalogue does not tag).
    require, forbid : tuple of str
        Tags every case must carry / must not carry.
    """

    op: str
    build: Callable[[references.Case, np.random.Generator], Case]
    strata: tuple[tuple[str, ...], ...] = ((),)
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()

    def __call__(self, rng: np.random.Generator) -> Case:
        (case,) = references.draw(rng, self.op, 1, require=self.require, forbid=self.forbid)
        fixture_agrees(case)
        return self.build(case, rng)

    def many(self, rng: np.random.Generator, n: int) -> list[Case]:
        chosen: list[references.Case] = []
        for i in range(n):
            tags = self.require + self.strata[i % len(self.strata)]
            derived = [DERIVED_TAGS[t] for t in tags if t in DERIVED_TAGS]
            tags = tuple(t for t in tags if t not in DERIVED_TAGS)
            pool = [
                c
                for c in references.catalogue(self.op, tags_all=tags, tags_none=self.forbid)
                if c not in chosen and all(holds(c) for holds in derived)
            ]
            if not pool:
                raise ValueError(
                    f"the {self.op} catalogue has no further case with tags {tags} and none of {self.forbid}"
                )
            chosen.append(pool[int(rng.integers(len(pool)))])
        for case in chosen:
            fixture_agrees(case)
        return [self.build(case, rng) for case in chosen]


@functools.cache
def fixture_agrees(case: references.Case) -> None:
    """Raise if tconv_lib's output (and, for transposed operators, gradients) on ``case``
    differs from the stored PyTorch fixture beyond :data:`references.TOLERANCES`."""
    from .. import gradients, transposed

    arrays = case.inputs("float64")
    ours = {"out": case.call(getattr(transposed, case.op))}
    backward = getattr(gradients, f"{case.op}_backward", None)
    if backward is not None:
        grads = backward(case.grad_output("float64"), arrays["x"], arrays["weight"], **case.params)
        ours.update(grad_x=grads[0], grad_weight=grads[1])
    for kind, value in ours.items():
        error = references.scaled_error(value, references.load_reference(case, kind))
        if not error <= references.TOLERANCES["float64"]:
            raise RuntimeError(
                f"tconv_lib disagrees with the stored PyTorch fixture on {case.name} ({kind}: scaled "
                f"error {error:.3g}); the grader will not grade with a library that PyTorch contradicts. "
                f"Run `python -m tconv_lib.grading.references check --live`."
            )


# --------------------------------------------------------------------------------------
# Helpers the parts share
# --------------------------------------------------------------------------------------


def small_array(rng: np.random.Generator, shape) -> np.ndarray:
    """Small integers as floats: exact sums, readable in a failure message."""
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def fmt_params(**params) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def torch_reference(name: str, *args, **kwargs) -> dict:
    """``{"PyTorch": answer}`` from ``torch.nn.functional.<name>`` on the CPU; ``{}`` without torch."""
    try:
        import torch
    except ImportError:
        return {}
    tensors = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    with torch.no_grad():
        out = getattr(torch.nn.functional, name)(*tensors, **kwargs)
    return {"PyTorch": out.numpy()}


def torch_grads(
    op: str, x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, bias=None, **params
) -> dict:
    """PyTorch's autograd on the CPU, float64: ``{"x", "weight"[, "bias"]}`` gradients, or ``{}``."""
    try:
        import torch
    except ImportError:
        return {}
    arrays = {"x": x, "weight": weight, "bias": bias}
    leaves = {name: torch.tensor(a, requires_grad=True) for name, a in arrays.items() if a is not None}
    out = getattr(torch.nn.functional, op)(leaves["x"], leaves["weight"], leaves.get("bias"), **params)
    out.backward(torch.from_numpy(grad_output))
    return {name: leaf.grad.numpy() for name, leaf in leaves.items()}


# --------------------------------------------------------------------------------------
# Cases with a catalogue case's parameters and fresh inputs
# --------------------------------------------------------------------------------------

#: One stratum per hyper-parameter of conv_transpose2d's signature, and an output_padding beyond the padding.
CONV_TRANSPOSE2D_STRATA = (
    ("output_padding",),
    ("groups",),
    ("dilation",),
    ("stride", "padding"),
    ("bias",),
    ("unbatched",),
    ("batch",),
    ("nonsquare", "stride"),
    ("output_padding_ge_stride",),
    ("output_padding_gt_padding",),
)


def fresh_inputs(case: references.Case, rng: np.random.Generator) -> dict[str, np.ndarray | None]:
    """New ``x``, ``weight``, ``bias`` and ``grad_output`` of ``case``'s shapes (small integers, float64)."""
    return {
        "x": small_array(rng, case.x_shape),
        "weight": small_array(rng, case.weight_shape),
        "bias": small_array(rng, (case.c_out,)) if case.bias else None,
        "grad_output": small_array(rng, case.out_shape),
    }


def describe_catalogue_case(case: references.Case, *names: str) -> str:
    """``x.shape=(2, 4, 3, 3), weight.shape=(4, 1, 2, 3), bias=shape (2,), stride=2, ...``.

    ``names`` are the arrays of the call, in order; their shapes come from the case.
    """
    shapes = {"x": case.x_shape, "weight": case.weight_shape, "grad_output": case.out_shape}
    text = [f"{name}.shape={shapes[name]}" for name in names if name != "bias"]
    if "bias" in names:
        text.append(f"bias={'shape ' + str((case.c_out,)) if case.bias else 'None'}")
    return ", ".join(text + [fmt_params(**case.params)])
