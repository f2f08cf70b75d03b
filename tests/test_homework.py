"""The homework round trip: stock nbgrader for the release and trusted notebooks, the grading
command (sandboxed, hidden cases from the course secret) for the class.

For every assignment in solutions/: the committed release in exercises/ is exactly what
`nbgrader generate_assignment` makes from the source; the source notebook earns full marks
on every autograded part under stock `nbgrader autograde` (trusted: its hidden tests run
practice cases in the kernel) and under `python -m tconv_lib.grade autograde`, and its
written answers wait for a grader; under the grading command the untouched release earns
zero, its blank written answers included (they need no grader), and still runs to the end,
and each known-wrong submission loses the points of exactly the parts it breaks.

Student data goes to temporary grading folders (TCONV_GRADING_DIR, --grading); the
repository is not written to.  Scores are read from the gradebook, never from exit codes
(`nbgrader` exits 0 when a notebook fails).
"""

from __future__ import annotations

import copy
import filecmp
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import needs_sandbox

from tconv_lib.grading.parts import PARTS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions"
RELEASE = ROOT / "exercises"
ASSIGNMENTS = sorted(p.parent.name for p in SOURCE.glob("*/*.ipynb") if p.stem == p.parent.name)
COURSE_ID = "tconv"  # nbgrader_config.py

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"


# --------------------------------------------------------------------------------------
# Known-wrong submissions: edits to the source notebook's solution cells
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wrong:
    """A mistake students make, as edits to solution cells, and the test cells it must fail.

    Each edit is ``(solution grade_id, old text, new text)``; ``old=None`` replaces the whole
    body between BEGIN and END SOLUTION.  ``breaks`` names the graded test cells that must score
    zero -- a later part that calls a broken earlier one breaks with it -- and every other
    graded cell must keep full marks.
    """

    edits: tuple[tuple[str, str | None, str], ...]
    breaks: tuple[str, ...]


DELEGATE_TO_TORCH = '''\
    import torch
    from torch.nn.functional import conv_transpose2d as upsample  # an innocent-looking alias

    tensor = lambda a: None if a is None else torch.from_numpy(a)
    return upsample(tensor(x), tensor(weight), tensor(bias), stride, padding, output_padding, groups,
                    dilation).numpy()
'''

BACKWARD_BY_TORCH = '''\
    import torch
    from torch.nn.functional import conv_transpose2d as layer  # an innocent-looking alias

    x_t, w_t = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    out = layer(x_t, w_t, None, stride, padding, output_padding, groups, dilation)
    out.backward(torch.from_numpy(grad_output))
    return x_t.grad.numpy(), w_t.grad.numpy(), conv_transpose2d_grad_bias(grad_output)
'''

WRONG: dict[str, dict[str, Wrong]] = {
    "algebra": {
        "matrix_built_for_stride_1": Wrong(
            (("conv1d_matrix", "output_length = (input_length + 2 * padding - k) // stride + 1",
              "output_length = input_length + 2 * padding - k + 1"),
             ("conv1d_matrix", "i = j * stride - padding + a", "i = j - padding + a")),
            breaks=("conv1d_matrix_rows_are_shifted_kernels", "transpose_1d_is_c_transpose_times_y",
                    "input_gradient_is_c_transpose"),
        ),
        "transpose_length_forgets_padding": Wrong(
            (("conv_transpose1d_via_matrix", "(len(y) - 1) * stride - 2 * padding + len(weight)",
              "(len(y) - 1) * stride + len(weight)"),),
            breaks=("transpose_1d_is_c_transpose_times_y",),
        ),
        "matrix_2d_flattened_column_major": Wrong(
            (("conv2d_matrix", "C[i * w_out + j, r * w + c]", "C[j * h_out + i, c * h + r]"),),
            breaks=("conv2d_matrix_is_doubly_block_toeplitz",),
        ),
        "gradient_ignores_input_length": Wrong(
            (("conv1d_input_gradient", None,
              "    return conv_transpose1d_via_matrix(grad_output, weight, stride, padding)\n"),),
            breaks=("input_gradient_is_c_transpose",),
        ),
        "unread_inputs_forget_the_dilation": Wrong(
            (("unread_inputs", "positions = starts + a * dilation", "positions = starts + a"),),
            breaks=("unread_inputs_have_zero_columns",),
        ),
        "unread_inputs_without_a_window_are_all_of_them": Wrong(
            (("unread_inputs", "    if n_out < 1:\n", "    if n_out < -10**9:\n"),),
            breaks=("unread_inputs_have_zero_columns",),
        ),
        "unread_inputs_read_by_the_padding": Wrong(  # taps in the padding count as reading an input
            (("unread_inputs", "read[positions[(positions >= 0) & (positions < input_length)]] = True",
              "read[np.clip(positions, 0, input_length - 1)] = True"),),
            breaks=("unread_inputs_have_zero_columns",),
        ),
    },
    "mechanics": {
        "scatter_crops_padding_minus_1": Wrong(
            (("conv_transpose2d_scatter", "canvas[ph : canvas.shape[0] - ph, pw : canvas.shape[1] - pw]",
              "canvas[ph - 1 : canvas.shape[0] - ph + 1, pw - 1 : canvas.shape[1] - pw + 1]"),),
            breaks=("scatter_2d_matches_the_lectures",),
        ),
        "kernel_not_flipped": Wrong(
            (("conv_transpose2d_zero_insertion", "flipped = weight[::-1, ::-1]", "flipped = weight"),),
            breaks=("zero_insertion_matches_the_stamps",),
        ),
        "output_padding_forgotten": Wrong(
            (("conv_transpose2d", "(oph, opw), (dh, dw) = pair(output_padding), pair(dilation)",
              "(oph, opw), (dh, dw) = (0, 0), pair(dilation)"),),
            breaks=("conv_transpose2d_full_signature",),
        ),
        "weight_read_as_c_out_first": Wrong(
            (("conv_transpose2d", "    pair = lambda",
              "    weight = weight.transpose(1, 0, 2, 3)  # taken for (C_out, C_in // groups, kH, kW)\n"
              "    pair = lambda"),),
            breaks=("conv_transpose2d_full_signature",),
        ),
        "delegates_to_torch_via_an_alias": Wrong(
            (("conv_transpose2d", None, DELEGATE_TO_TORCH),),
            breaks=("conv_transpose2d_full_signature",),
        ),
        "scatter_returns_what_a_crop_leaves_of_nothing": Wrong(
            (("conv_transpose2d_scatter", "if 2 * ph >= canvas.shape[0] or 2 * pw >= canvas.shape[1]:",
              "if False:"),),
            breaks=("scatter_2d_matches_the_lectures",),
        ),
        "full_signature_forgets_the_dilation": Wrong(
            (("conv_transpose1d_full", "kernel[::dilation] = weight", "kernel[: len(weight)] = weight"),),
            breaks=("conv_transpose1d_full_matches_pytorch",),
        ),
        "full_signature_output_padding_at_the_start": Wrong(
            (("conv_transpose1d_full", "padded = np.concatenate([np.zeros(span - 1, dtype=x.dtype), up,",
              "padded = np.concatenate([np.zeros(span - 1 + output_padding, dtype=x.dtype), up,"),
             ("conv_transpose1d_full", "np.zeros(span - 1 + output_padding, dtype=x.dtype)])",
              "np.zeros(span - 1, dtype=x.dtype)])")),
            breaks=("conv_transpose1d_full_matches_pytorch",),
        ),
        "full_signature_accepts_any_output_padding": Wrong(
            (("conv_transpose1d_full", "if not 0 <= output_padding < max(stride, dilation):",
              "if output_padding < 0:"),),
            breaks=("conv_transpose1d_full_matches_pytorch",),
        ),
    },
    "geometry": {
        "size_forgets_output_padding": Wrong(
            (("conv_transpose_output_size", "+ op + 1", "+ 1"),),
            breaks=("output_size_formula", "reachable_sizes_one_per_output_padding",
                    "output_padding_reaches_the_target", "decoder_returns_to_every_encoder_size"),
        ),
        "size_without_output_returned": Wrong(  # 0 or a negative size, instead of a ValueError
            (("conv_transpose_output_size", "    if size < 1:\n", "    if size < -10**9:\n"),),
            breaks=("output_size_formula",),
        ),
        "keras_mode_read_case_sensitively": Wrong(
            (("keras_to_torch_padding", "mode = padding.lower() if isinstance(padding, str) else padding",
              "mode = padding"),),
            breaks=("keras_padding_in_torch_terms",),
        ),
        "keras_refuses_only_the_visible_unknown_mode": Wrong(  # passes the visible test, not the hidden ones
            (("keras_to_torch_padding", 'if mode not in ("same", "valid"):', 'if mode == "full":'),
             ("keras_to_torch_padding", 'if mode == "valid":', 'if mode != "same":')),
            breaks=("keras_padding_in_torch_terms",),
        ),
        "decoder_paddings_in_the_encoders_order": Wrong(
            (("decoder_output_paddings", "return paddings[::-1]", "return paddings"),),
            breaks=("decoder_returns_to_every_encoder_size",),
        ),
        "decoder_floor_forgets_dilation": Wrong(
            (("decoder_output_paddings", "size = (sizes[-1] + 2 * p - d * (k - 1) - 1) // s + 1",
              "size = (sizes[-1] + 2 * p - (k - 1) - 1) // s + 1"),),
            breaks=("decoder_returns_to_every_encoder_size",),
        ),
        "reachable_sizes_stop_at_the_stride": Wrong(
            (("reachable_output_sizes", "range(max(s, d))", "range(s)"),),
            breaks=("reachable_sizes_one_per_output_padding", "output_padding_reaches_the_target"),
        ),
        "unreachable_target_returns_none": Wrong(
            (("output_padding_for", "        raise ValueError(",
              "        return None\n        raise ValueError("),),
            breaks=("output_padding_reaches_the_target",),
        ),
        "keras_gaps_not_filled": Wrong(
            (("keras_to_torch_padding", "return 0, -excess", "return 0, 0"),),
            breaks=("keras_padding_in_torch_terms",),
        ),
    },
    "artifacts": {
        "coverage_forgets_padding": Wrong(
            (("coverage1d", "return counts[p : len(counts) - p]", "return counts"),),
            breaks=("coverage_counts_the_stamps",),
        ),
        "variance_uses_k_over_s": Wrong(
            (("coverage_variance", "r = k % s", "r = k"),),
            breaks=("variance_of_the_coverage",),
        ),
        "polyphase_takes_contiguous_taps": Wrong(
            (("polyphase_kernels", "padded[r::stride]", "padded[r * length : (r + 1) * length]"),),
            breaks=("polyphase_kernels_gather_every_s_th_tap", "polyphase_view_matches_the_stamps",
                    "random_phase_gains_have_the_coverage_statistics"),
        ),
        "score_divides_by_the_rms_with_the_mean": Wrong(  # the score the course used to teach
            (("checkerboard_score", "spread = image.std()", "spread = np.sqrt(np.mean(image**2))"),),
            breaks=("checkerboard_score_of_an_image",),
        ),
        "polyphase_2d_forgets_the_dilation": Wrong(
            (("conv_transpose2d_polyphase", "qa, ra = divmod(a * dh, sh)", "qa, ra = divmod(a, sh)"),
             ("conv_transpose2d_polyphase", "qb, rb = divmod(b * dw, sw)", "qb, rb = divmod(b, sw)")),
            breaks=("polyphase_2d_matches_pytorch",),
        ),
        "polyphase_2d_crops_padding_once": Wrong(  # only at the start, as the U-Net lecture does
            (("conv_transpose2d_polyphase", "return canvas[ph : full_h - ph, pw : full_w - pw]",
              "return canvas[ph : full_h, pw : full_w]"),),
            breaks=("polyphase_2d_matches_pytorch",),
        ),
        "gains_read_at_the_border": Wrong(  # the first period: not every tap reaches it
            (("random_phase_gains", "gains[t] = out[start : start + stride]", "gains[t] = out[:stride]"),),
            breaks=("random_phase_gains_have_the_coverage_statistics",),
        ),
        "gains_read_one_phase_late": Wrong(  # a period that starts on phase 1: the phases rolled
            (("random_phase_gains", "gains[t] = out[start : start + stride]",
              "gains[t] = out[start + 1 : start + 1 + stride]"),),
            breaks=("random_phase_gains_have_the_coverage_statistics",),
        ),
        "gains_read_from_the_first_full_window": Wrong(  # passes the visible tests: position k - 1 is not
            (("random_phase_gains", "gains[t] = out[start : start + stride]",  # always phase 0
              "gains[t] = out[kernel_size - 1 : kernel_size - 1 + stride]"),),
            breaks=("random_phase_gains_have_the_coverage_statistics",),
        ),
        "gains_of_one_kernel_drawn_once": Wrong(  # every trial measures the same kernel
            (("random_phase_gains", "    rng = np.random.default_rng(seed)\n",
              "    rng = np.random.default_rng(seed)\n"
              "    first = rng.normal(weight_mean, weight_std, kernel_size)\n"),
             ("random_phase_gains", "weight = rng.normal(weight_mean, weight_std, kernel_size)",
              "weight = first")),
            breaks=("random_phase_gains_have_the_coverage_statistics",),
        ),
    },
    "mitigation": {
        "resize_padding_forgets_output_padding": Wrong(
            (("resize_conv", "total = kernel_size - 1 + output_padding - 2 * padding",
              "total = kernel_size - 1 - 2 * padding"),),
            breaks=("resize_conv_matches_the_transposed_size",),
        ),
        "pixel_shuffle_reads_channels_as_r_r_c": Wrong(  # TensorFlow's depth_to_space order
            (("pixel_shuffle", "x[..., i * r + j :: r * r, :, :]",
              "x[..., (i * r + j) * c : (i * r + j + 1) * c, :, :]"),),
            breaks=("pixel_shuffle_fills_blocks_row_by_row",),
        ),
        "icnr_tiles_instead_of_repeating": Wrong(
            (("icnr", "np.repeat(base, r * r, axis=0)", "np.tile(base, (r * r, 1, 1, 1))"),),
            breaks=("icnr_shares_kernels_within_a_block",),
        ),
        "clean_upsample_smooths_with_zero_padding": Wrong(  # the border comes out darker
            (("clean_upsample", 'padded = np.pad(up, ((0, 0), (1, 1), (1, 1)), mode="edge")',
              "padded = np.pad(up, ((0, 0), (1, 1), (1, 1)))"),),
            breaks=("clean_upsample_keeps_constants_constant",),
        ),
        "clean_upsample_fills_the_size_with_zeros": Wrong(
            (("clean_upsample", '(0, w_out - smooth.shape[2])), mode="edge")',
              "(0, w_out - smooth.shape[2])))"),),
            breaks=("clean_upsample_keeps_constants_constant",),
        ),
        "training_climbs_the_gradient": Wrong(
            (("train_upsampler", "weight -= lr * gradient", "weight += lr * gradient"),),
            breaks=("training_spread_follows_the_target",),
        ),
        "training_records_the_spread_after_the_step": Wrong(  # passes the visible tests
            (("train_upsampler", "        spreads.append(spread(weight))\n", ""),
             ("train_upsampler", "            weight -= lr * gradient\n",
              "            weight -= lr * gradient\n        spreads.append(spread(weight))\n")),
            breaks=("training_spread_follows_the_target",),
        ),
    },
    "gradients": {
        "input_gradient_flips_the_kernel": Wrong(
            (("conv_transpose1d_grad_input", "grad_x += weight[a] * canvas",
              "grad_x += weight[k - 1 - a] * canvas"),),
            breaks=("input_gradient_is_the_forward_convolution",),
        ),
        "weight_gradient_forgets_the_stride": Wrong(
            (("conv_transpose1d_grad_weight",
              "canvas[a * dilation : a * dilation + (n - 1) * stride + 1 : stride]",
              "canvas[a * dilation : a * dilation + n]"),),
            breaks=("weight_gradient_reads_the_input_s_apart",),
        ),
        "bias_gradient_of_the_first_batch_element": Wrong(
            (("conv_transpose2d_grad_bias", "return grad_output.sum(axis=(0, 2, 3))",
              "return grad_output[0].sum(axis=(1, 2))"),),
            breaks=("bias_gradient_sums_each_channel", "backward_matches_pytorch_autograd"),
        ),
        "backward_delegates_to_torch_via_an_alias": Wrong(  # Part G calls it: its measurement fails too
            (("conv_transpose2d_backward", None, BACKWARD_BY_TORCH),),
            breaks=("backward_matches_pytorch_autograd", "second_moments_match_the_fans"),
        ),
        "he_std_with_pytorchs_fan_in": Wrong(
            (("he_std", "fan_in = c_in / groups", "fan_in = weight_shape[1]"),
             ("he_std", "fan_in *= k / s", "fan_in *= k")),
            breaks=("he_std_uses_the_true_fan_in",),
        ),
        "conv2d_gradient_of_the_smallest_input": Wrong(  # forgets that the floor threw rows away
            (("conv2d_grad_input", "    h, w = input_shape\n",
              "    h = (h_out - 1) * sh + dh * (kh - 1) + 1 - 2 * ph\n"
              "    w = (w_out - 1) * sw + dw * (kw - 1) + 1 - 2 * pw\n"),),
            breaks=("conv2d_input_gradient_matches_autograd",),
        ),
        "conv2d_gradient_flips_the_kernel": Wrong(  # passes the visible tests: their kernels are symmetric
            (("conv2d_grad_input", "weight[outs, :, a, b])", "weight[outs, :, kh - 1 - a, kw - 1 - b])"),),
            breaks=("conv2d_input_gradient_matches_autograd",),
        ),
        "second_moments_of_standard_normal_weights": Wrong(
            (("measure_second_moments", "weight = rng.normal(0.0, std, weight_shape)",
              "weight = rng.standard_normal(weight_shape)"),),
            breaks=("second_moments_match_the_fans",),
        ),
        "second_moments_in_the_wrong_order": Wrong(
            (("measure_second_moments", "return float(forward), float(backward)",
              "return float(backward), float(forward)"),),
            breaks=("second_moments_match_the_fans",),
        ),
    },
}

SOLUTION_STUDENT = "sample"  # the source notebook, submitted as it is
BLANK_STUDENT = "untouched"  # the release notebook, submitted as it is


# --------------------------------------------------------------------------------------
# Notebook helpers
# --------------------------------------------------------------------------------------


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _cells(nb, **wanted):
    """Cells whose nbgrader metadata has the wanted values, e.g. ``grade=True, solution=False``."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and all(meta.get(key) == value for key, value in wanted.items()):
            yield cell


def _grade_cells(nb) -> dict[str, float]:
    """grade_id -> points of every autograded test cell."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in _cells(nb, grade=True, solution=False)}


def _written_cells(nb) -> dict[str, float]:
    """grade_id -> points of every written answer (a markdown cell graded by hand)."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in _cells(nb, grade=True, solution=True) if c.cell_type == "markdown"}


def _all_points(nb) -> list[float]:
    """The points of every graded cell, autograded or written, in the notebook's order."""
    return [float(c.metadata["nbgrader"]["points"]) for c in _cells(nb, grade=True)]


def _solution_body(source: str) -> tuple[int, int]:
    """Start and end of the lines between BEGIN SOLUTION and END SOLUTION."""
    start = source.index(BEGIN_SOLUTION) + len(BEGIN_SOLUTION) + 1
    return start, source.rindex("\n", 0, source.index(END_SOLUTION)) + 1


def _apply(nb, wrong: Wrong):
    """A copy of the source notebook with the wrong answer written into its solution cells."""
    nb = copy.deepcopy(nb)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in _cells(nb, solution=True)}
    for grade_id, old, new in wrong.edits:
        assert grade_id in cells, f"no solution cell {grade_id!r}; update WRONG in {__file__}"
        source = cells[grade_id].source
        if old is None:
            start, end = _solution_body(source)
            source = source[:start] + new + source[end:]
        else:
            assert source.count(old) == 1, (
                f"{grade_id}: the wrong-submission edit expects {old!r} once in the solution; "
                f"update WRONG in {__file__} to match the edited notebook")
            source = source.replace(old, new)
        cells[grade_id].source = source
    return nb


# --------------------------------------------------------------------------------------
# Running nbgrader
# --------------------------------------------------------------------------------------


def _nbgrader(grading: Path, *args: str) -> float:
    """Run `nbgrader ARGS` from the repository root with student data in `grading`; return seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_STUDENT_ID")}
    env["TCONV_GRADING_DIR"] = str(grading)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=1200)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    assert "[ERROR]" not in result.stderr and "| ERROR]" not in result.stderr, result.stderr
    return elapsed


def _submit(grading: Path, student: str, assignment: str, nb) -> None:
    folder = grading / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


@dataclass
class Graded:
    """One assignment: its release and sample graded by stock nbgrader, its class by the grading command."""

    assignment: str
    grading: Path  # stock nbgrader's grading folder for this assignment
    command_grading: Path  # the grading command's folder, shared by every assignment
    seconds_per_student: float  # stock nbgrader autograding the sample student's notebook
    stock_scores: dict[str, float]  # the sample, under stock nbgrader
    scores: dict[str, dict[str, float]]  # student -> grade_id -> score, under the grading command
    to_grade: dict[str, set[str]]  # student -> graded cells that wait for a manual grade

    @property
    def release(self) -> Path:
        return self.grading / "release"

    def autograded(self, student: str):
        path = self.command_grading / "autograded" / student / self.assignment / f"{self.assignment}.ipynb"
        return _read(path)


def _release_and_grade_the_sample(assignment: str, grading: Path) -> float:
    """Generate the release into the grading folder, autograde the source notebook; return its time."""
    _nbgrader(grading, "generate_assignment", assignment, "--force",
              f"--CourseDirectory.release_directory={grading / 'release'}")
    _submit(grading, SOLUTION_STUDENT, assignment, _read(SOURCE / assignment / f"{assignment}.ipynb"))
    return _nbgrader(grading, "autograde", assignment, "--student", SOLUTION_STUDENT)


def _submit_the_class(assignment: str, grading: Path) -> None:
    source = _read(SOURCE / assignment / f"{assignment}.ipynb")
    _submit(grading, SOLUTION_STUDENT, assignment, source)
    _submit(grading, BLANK_STUDENT, assignment, _read(RELEASE / assignment / f"{assignment}.ipynb"))
    for name, wrong in WRONG.get(assignment, {}).items():
        _submit(grading, name, assignment, _apply(source, wrong))


def _grade_the_class(grading: Path, assignments: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TCONV_GRADEBOOK_URL", "TCONV_GRADING_DIR")}
    result = subprocess.run([sys.executable, "-m", "tconv_lib.grade", "autograde", *assignments,
                             "--grading", str(grading), "--workers", str(os.cpu_count() or 1)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, f"the grading command failed:\n{result.stdout}\n{result.stderr[-5000:]}"


def _scores(assignment: str, grading: Path, students) -> tuple[dict, dict]:
    """student -> grade_id -> score, and student -> the grade_ids that wait for a manual grade."""
    from nbgrader.api import Gradebook

    scores, to_grade = {}, {}
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for student in students:
            grades = gb.find_submission_notebook(assignment, assignment, student).grades
            scores[student] = {grade.name: grade.score for grade in grades}
            to_grade[student] = {grade.name for grade in grades if grade.needs_manual_grade}
    return scores, to_grade


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory) -> dict[str, Graded]:
    """Every assignment the selected tests need, released and autograded once per session.

    Stock nbgrader grades the sample student first, one assignment after the other, so that
    its time is what one student's notebook takes (the releases are made on the way); then
    the grading command grades every assignment's class in one run.
    """
    needs_sandbox()
    needed = sorted({getattr(item, "callspec", None) and item.callspec.params.get("assignment")
                     for item in request.session.items if "graded" in item.fixturenames} - {None})
    folders = {a: tmp_path_factory.mktemp(f"grading-{a}") for a in needed}
    seconds = {a: _release_and_grade_the_sample(a, folders[a]) for a in needed}
    command_grading = tmp_path_factory.mktemp("grading-command")
    for assignment in needed:
        _submit_the_class(assignment, command_grading)
    _grade_the_class(command_grading, needed)
    students = [SOLUTION_STUDENT, BLANK_STUDENT]
    graded = {}
    for a in needed:
        scores, to_grade = _scores(a, command_grading, students + list(WRONG.get(a, {})))
        stock = _scores(a, folders[a], [SOLUTION_STUDENT])[0][SOLUTION_STUDENT]
        graded[a] = Graded(a, folders[a], command_grading, seconds[a], stock, scores, to_grade)
    return graded


# --------------------------------------------------------------------------------------
# The notebooks themselves (fast)
# --------------------------------------------------------------------------------------


def test_assignments_are_found():
    assert {"algebra", "mechanics", "geometry", "artifacts", "mitigation", "gradients"} <= set(ASSIGNMENTS), (
        ASSIGNMENTS)
    assert sorted(p.name for p in RELEASE.iterdir() if p.is_dir()) == ASSIGNMENTS, (
        "exercises/ and solutions/ hold different assignments; run "
        "`nbgrader generate_assignment <name> --force` for each assignment in solutions/")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_runs_hidden_tests_of_its_own_assignment(assignment):
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    graded_cells = list(_cells(nb, grade=True, solution=False))
    assert len(graded_cells) >= 4, f"{assignment}: at least four autograded parts"
    used = []
    for cell in graded_cells:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert cell.metadata["nbgrader"]["locked"], f"{grade_id}: test cells are locked"
        assert re.match(r'"""[^\n]+"""\n', cell.source), f"{grade_id}: open with a one-line docstring"
        hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*)### END HIDDEN TESTS", cell.source, re.S)
        assert hidden, f"{grade_id}: no hidden tests"
        parts = re.findall(r'check\("([^"]+)", \w+\)', hidden.group(1))
        assert len(parts) == 1 and parts[0] in PARTS, f"{grade_id}: hidden tests must call check() on a part"
        assert parts[0].startswith(f"{assignment}."), f"{grade_id} checks {parts[0]}"
        used.append(parts[0])
    registered = sorted(name for name in PARTS if name.startswith(f"{assignment}."))
    assert sorted(used) == registered, f"{assignment}: parts in tconv_lib.grading without a test cell"


PART_HEADING = re.compile(
    r"^## Part (\w+)(?: \((challenge|written|experiment)\))?: .*\((\d+) points?\)$", re.M)


def _headings(nb) -> list[tuple[str, str, float]]:
    """(letter, kind, points) of every '## Part X[ (kind)]: ... (N points)' heading, in order."""
    return [(letter, kind, float(points)) for cell in nb.cells if cell.cell_type == "markdown"
            for letter, kind, points in PART_HEADING.findall(cell.source)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_in_each_heading_match_its_test_cell(assignment):
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    heading_points = [points for _, _, points in _headings(nb)]
    assert heading_points == _all_points(nb), (
        f"{assignment}: the points in the '## Part X: ... (N points)' headings differ from the "
        f"graded cells' points {_all_points(nb)} (autograded test cells and written answers, in order)")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_in_the_intro_table_match_the_parts(assignment):
    """The intro's table of parts lists every part with the points of its heading, and the total."""
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    rows = re.findall(r"^\| ([A-Z]) \| .* \| (\d+) \|$", nb.cells[0].source, re.M)
    total = re.search(r"^\| \| total \| (\d+) \|$", nb.cells[0].source, re.M)
    assert [(letter, float(points)) for letter, points in rows] == [(h[0], h[2]) for h in _headings(nb)], (
        f"{assignment}: the intro's table of parts differs from the parts' headings")
    assert total and float(total.group(1)) == sum(_all_points(nb)), f"{assignment}: the table's total"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_has_a_challenge_and_a_written_part(assignment):
    """A challenge (autograded, its heading says so), one written part graded by hand with a rubric that
    only the source holds, and in artifacts, mitigation and gradients an experiment graded on a property."""
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    kinds = [kind for _, kind, _ in _headings(nb)]
    assert "challenge" in kinds, f"{assignment}: no part whose heading says (challenge)"
    assert kinds.count("written") == 1, f"{assignment}: one written part, got {kinds.count('written')}"
    if assignment in ("artifacts", "mitigation", "gradients"):
        assert "experiment" in kinds, f"{assignment}: no part whose heading says (experiment)"
        experiments = [name for name in PARTS if name.startswith(f"{assignment}.")
                       and "(experiment)" in PARTS[name].title]
        assert experiments, f"{assignment}: no registered part titled (experiment)"
        for name in experiments:
            cases = PARTS[name].cases(np.random.default_rng(0))
            assert all(case.check is not None for case in cases), f"{name}: graded on one number"
    written = _written_cells(nb)
    assert len(written) == 1, f"{assignment}: written answers {written}"
    (grade_id,) = written
    answer = next(_cells(nb, grade_id=grade_id))
    start, end = _solution_body(answer.source)
    assert "Rubric" in answer.source[start:end], f"{grade_id}: the source's answer cell holds no rubric"
    released = next(_cells(_read(RELEASE / assignment / f"{assignment}.ipynb"), grade_id=grade_id))
    assert released.source == "YOUR ANSWER HERE", f"{grade_id}: the release shows {released.source[:80]!r}"


def test_the_course_has_at_least_36_parts():
    count = sum(len(_headings(_read(SOURCE / a / f"{a}.ipynb"))) for a in ASSIGNMENTS)
    assert count >= 36, f"{count} parts in all"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solutions_do_not_delegate(assignment):
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    for cell in _cells(nb, solution=True):
        if cell.cell_type != "code":
            continue  # a written answer
        start, end = _solution_body(cell.source)
        for word in ("import", "tconv_lib", "torch", "scipy", "convolve", "correlate"):
            assert word not in cell.source[start:end], f"{cell.metadata['nbgrader']['grade_id']} uses {word}"


def test_every_assignment_has_wrong_submissions():
    missing = [a for a in ASSIGNMENTS if not WRONG.get(a)]
    assert not missing, f"add known-wrong submissions for {missing} to WRONG in {__file__}"


# --------------------------------------------------------------------------------------
# The round trip through nbgrader (slow: notebooks are executed)
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_what_generate_assignment_makes(assignment, graded):
    made, committed = graded[assignment].release / assignment, RELEASE / assignment
    comparison = filecmp.dircmp(made, committed)
    assert not (comparison.left_only or comparison.right_only), (
        f"exercises/{assignment} has different files from the regenerated release: "
        f"{comparison.left_only} / {comparison.right_only}")
    for name in comparison.common_files:
        assert (made / name).read_bytes() == (committed / name).read_bytes(), (
            f"exercises/{assignment}/{name} is out of date: run "
            f"`nbgrader generate_assignment {assignment} --force` from the repository root")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_earns_full_marks(assignment, graded):
    """Full marks on every autograded part; the model's written answers wait for a grader (0 until then)."""
    result = graded[assignment]
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    expected = {**_grade_cells(nb), **{grade_id: 0.0 for grade_id in _written_cells(nb)}}
    assert result.scores[SOLUTION_STUDENT] == expected, _failures(result, SOLUTION_STUDENT)
    assert result.to_grade[SOLUTION_STUDENT] == set(_written_cells(nb)), result.to_grade[SOLUTION_STUDENT]
    assert result.stock_scores == expected, f"under stock nbgrader: {result.stock_scores}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_earns_zero_and_runs_to_the_end(assignment, graded):
    result = graded[assignment]
    assert set(result.scores[BLANK_STUDENT].values()) == {0.0}, result.scores[BLANK_STUDENT]
    assert result.to_grade[BLANK_STUDENT] == set(), f"blank written answers need no grader: {result.to_grade}"
    nb = result.autograded(BLANK_STUDENT)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "autograding stopped early"
    for cell in _cells(nb, grade=True, solution=False):
        errors = [o.ename for o in cell.outputs if o.output_type == "error"]
        assert errors == ["NotImplementedError"], f"{cell.metadata['nbgrader']['grade_id']}: {errors}"


WRONG_CASES = [(a, name) for a in ASSIGNMENTS for name in WRONG.get(a, {})]


@pytest.mark.slow
@pytest.mark.parametrize("assignment, name", WRONG_CASES, ids=[f"{a}-{n}" for a, n in WRONG_CASES])
def test_wrong_submission_loses_exactly_the_parts_it_breaks(assignment, name, graded):
    result = graded[assignment]
    nb = _read(SOURCE / assignment / f"{assignment}.ipynb")
    points = _grade_cells(nb)
    breaks = WRONG[assignment][name].breaks
    assert set(breaks) <= set(points), f"unknown test cells in {name}.breaks: {set(breaks) - set(points)}"
    expected = {grade_id: 0.0 if grade_id in breaks else full for grade_id, full in points.items()}
    expected |= {grade_id: 0.0 for grade_id in _written_cells(nb)}  # the model's answers, not graded yet
    assert result.scores[name] == expected, _failures(result, name)


def _failures(result: Graded, student: str) -> str:
    """The scores, and the first line of each error in the autograded notebook: why a part failed."""
    lines = [f"{student}: {result.scores[student]}"]
    for cell in _cells(result.autograded(student), grade=True, solution=False):
        for output in cell.outputs:
            if output.output_type == "error":
                lines.append(f"  {cell.metadata['nbgrader']['grade_id']}: {output.ename}: "
                             f"{output.evalue.splitlines()[0] if output.evalue else ''}")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograding_time_for_one_student(assignment, graded, record_property):
    """Measured and reported (run pytest with -s to see it); bounded only against a runaway."""
    seconds = graded[assignment].seconds_per_student
    record_property("autograde_seconds", seconds)
    print(f"autograding one student's {assignment} notebook: {seconds:.1f} s")
    assert seconds < 120
