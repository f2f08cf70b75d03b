"""tconv_lib.grading: hidden tests pass right answers, and fail wrong, hostile and delegating
ones with a message a student can act on -- without harming the kernel that runs them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tconv_lib import grading
from tconv_lib.grading import GradingFailure, check, run_in_sandbox


def output_size(n, k, s=1, p=0, op=0, d=1):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def scatter_1d(x, weight, stride):
    out = np.zeros((len(x) - 1) * stride + len(weight))
    for i, value in enumerate(x):
        out[i * stride : i * stride + len(weight)] += value * weight
    return out


def test_a_right_answer_passes(capsys):
    check("geometry.output_size", output_size, student="alice")
    check("mechanics.scatter_1d", scatter_1d, student="alice")
    assert "all 12 hidden cases passed" in capsys.readouterr().out


def test_cases_are_seeded_per_student_and_part():
    def draw(student, part):
        rng = np.random.default_rng(grading._seed(student, part))
        return [grading.PARTS[part].draw(rng).description for _ in range(5)]

    assert draw("alice", "geometry.output_size") == draw("alice", "geometry.output_size")
    assert draw("alice", "geometry.output_size") != draw("bob", "geometry.output_size")
    assert draw("alice", "geometry.output_size") != draw("alice", "geometry.reachable_sizes")


def test_student_id_comes_from_nbgrader_layout(tmp_path, monkeypatch):
    folder = tmp_path / "autograded" / "carol" / "geometry"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TCONV_STUDENT_ID", raising=False)
    assert grading.student_id() == "carol"
    monkeypatch.setenv("TCONV_STUDENT_ID", "dave")
    assert grading.student_id() == "dave"


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda n, k, s=1, p=0, op=0, d=1: (n - 1) * s - 2 * p + d * (k - 1) + 1, "expected"),
        (lambda n, k, s=1, p=0, op=0, d=1: (n - 1) * s - p + d * (k - 1) + op + 1, "expected"),
        (lambda n, k, s=1, p=0, op=0, d=1: float(output_size(n, k, s, p, op, d)), "expected the integer"),
        (lambda n, k, s=1, p=0, op=0, d=1: 1 / 0, "raised ZeroDivisionError"),
    ],
    ids=["forgot_output_padding", "padding_once", "float_not_int", "raises"],
)
def test_wrong_answers_fail_with_the_case(wrong, message):
    with pytest.raises(GradingFailure) as failure:
        check("geometry.output_size", wrong, student="alice")
    text = str(failure.value)
    assert "Part A: the output size: hidden case" in text and "case: n=" in text, text
    assert message in text, text


def test_wrong_array_reports_position_and_values():
    def off_by_one(x, weight, stride):
        return scatter_1d(x, weight, stride)[1:]

    with pytest.raises(GradingFailure, match=r"result has shape \(\d+,\), expected shape"):
        check("mechanics.scatter_1d", off_by_one, student="alice")

    def slightly_wrong(x, weight, stride):
        out = scatter_1d(x, weight, stride)
        out[-1] += 0.5
        return out

    with pytest.raises(GradingFailure, match=r"differs at index \(\d+,\): expected .*, got"):
        check("mechanics.scatter_1d", slightly_wrong, student="alice")


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x, w, s: scatter_1d(x, w, s).astype(np.float32), "dtype float32, expected float64"),
        (lambda x, w, s: scatter_1d(x, w, s).tolist(), "is a list, expected a NumPy array"),
        (lambda x, w, s: scatter_1d(x, w, s) * np.nan, "not finite"),
    ],
    ids=["dtype", "list", "nan"],
)
def test_wrong_type_dtype_or_nan_fail(bad, message):
    with pytest.raises(GradingFailure, match=message):
        check("mechanics.scatter_1d", bad, student="alice")


# --- delegation: every route to a library convolution is caught -------------------------


def via_torch(x, weight, stride):
    import torch

    return torch.nn.functional.conv_transpose1d(
        torch.from_numpy(x)[None, None], torch.from_numpy(weight)[None, None], stride=stride
    )[0, 0].numpy()


def via_alias(x, weight, stride):
    import torch
    from torch.nn.functional import conv_transpose1d as innocent

    x, weight = torch.tensor(x)[None, None], torch.tensor(weight)[None, None]
    return innocent(x, weight, stride=stride)[0, 0].numpy()


def via_getattr(x, weight, stride):
    import importlib

    functional = importlib.import_module("torch.nn." + "functional")
    op = getattr(functional, "conv_" + "transpose1d")
    import torch

    return op(torch.tensor(x)[None, None], torch.tensor(weight)[None, None], stride=stride)[0, 0].numpy()


def via_module(x, weight, stride):
    import torch

    layer = torch.nn.ConvTranspose1d(1, 1, len(weight), stride=stride, bias=False).double()
    with torch.no_grad():
        layer.weight[:] = torch.tensor(weight)
        return layer(torch.tensor(x)[None, None])[0, 0].numpy()


def via_tconv_lib(x, weight, stride):
    import tconv_lib

    return tconv_lib.conv_transpose1d(x[None, None], weight[None, None], stride=stride)[0, 0]


def via_tconv_view(x, weight, stride):
    from tconv_lib.transposed import conv_transpose1d_scatter as mine

    return mine(x[None, None], weight[None, None], stride=stride)[0, 0]


def via_numpy_convolve(x, weight, stride):
    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return np.convolve(up, weight)


def via_scipy(x, weight, stride):
    from scipy import signal

    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return signal.convolve(up, weight)


@pytest.mark.parametrize(
    "cheat",
    [via_torch, via_alias, via_getattr, via_module, via_tconv_lib, via_tconv_view, via_numpy_convolve,
     via_scipy],
    ids=lambda f: f.__name__,
)
def test_delegation_earns_zero_with_a_message(cheat):
    with pytest.raises(GradingFailure, match="your function called .*earn no points"):
        check("mechanics.scatter_1d", cheat, student="alice")


# --- hostile and broken code stays in the sandbox ---------------------------------------


def test_infinite_loop_times_out():
    def forever(a):
        while True:
            pass

    start = __import__("time").perf_counter()
    assert run_in_sandbox(forever, [((1,), {})], call_timeout=1) == [("timeout", 1)]
    assert __import__("time").perf_counter() - start < 15


def test_loop_that_swallows_the_timer_is_killed():
    def stubborn(a):
        while True:
            try:
                while True:
                    pass
            except BaseException:  # noqa: BLE001 -- the hostile part
                continue

    results = run_in_sandbox(stubborn, [((1,), {}), ((2,), {})], call_timeout=0.5, startup_timeout=5)
    assert results[0][0] == "timeout" and results[1][0] == "skipped", results


def test_os_exit_and_sys_exit_end_only_the_sandbox():
    def hard_exit(a):
        os._exit(3)

    def soft_exit(a):
        raise SystemExit(0)

    assert run_in_sandbox(hard_exit, [((1,), {})])[0] == (
        "crashed", "the process exited with status 3 (sys.exit() or os._exit() in your code?)")
    assert run_in_sandbox(soft_exit, [((1,), {})])[0][0] == "error"


def test_huge_allocation_fails_inside_the_sandbox():
    def greedy(a):
        return np.ones((40, 2**30), dtype=np.uint8)  # 40 GB

    status, message = run_in_sandbox(greedy, [((1,), {})])[0]
    assert status == "error" and "MemoryError" in message


def test_printing_megabytes_is_harmless():
    def chatty(x, weight, stride):
        print("x" * 5_000_000)
        return scatter_1d(x, weight, stride)

    check("mechanics.scatter_1d", chatty, student="alice")


def test_monkeypatching_the_notebook_does_not_reach_the_grader(monkeypatch):
    """A student who patches numpy in the kernel gains nothing: the sandbox imports afresh."""
    monkeypatch.setattr(np, "isclose", lambda *a, **k: np.ones(np.broadcast(*a[:2]).shape, bool))

    def wrong(x, weight, stride):
        return np.zeros((len(x) - 1) * stride + len(weight))

    monkeypatch.undo()  # the comparison runs in this process; the patch must not leak into it
    with pytest.raises(GradingFailure):
        check("mechanics.scatter_1d", wrong, student="alice")


def test_unpicklable_function_gets_a_clear_message():
    import threading

    lock = threading.Lock()

    def uses_lock(x, weight, stride):
        with lock:
            return scatter_1d(x, weight, stride)

    with pytest.raises(GradingFailure, match="could not send your function to the grader"):
        check("mechanics.scatter_1d", uses_lock, student="alice")


def test_returning_a_torch_tensor_is_refused():
    def tensor(a):
        import torch

        return torch.zeros(2)

    status, message = run_in_sandbox(tensor, [((1,), {})])[0]
    assert status == "error" and "return a NumPy array" in message


def test_expected_exception_parts():
    def output_padding_for(n, target, k, s=1, p=0, d=1):
        for op in range(max(s, d)):
            if output_size(n, k, s, p, op, d) == target:
                return op
        raise ValueError(f"{target} is not reachable")

    check("geometry.output_padding_for", output_padding_for, student="erin")

    def never_raises(n, target, k, s=1, p=0, d=1):
        try:
            return output_padding_for(n, target, k, s, p, d)
        except ValueError:
            return 0

    with pytest.raises(GradingFailure, match="expected your function to raise ValueError"):
        check("geometry.output_padding_for", never_raises, student="erin")


def test_every_part_draws_at_least_8_hidden_cases():
    assert {name: part.n_cases for name, part in grading.PARTS.items() if part.n_cases < 8} == {}


def test_zero_insert_is_checked_with_int_and_pair_strides():
    def zero_insert(x, stride):
        sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
        out = np.zeros(((x.shape[0] - 1) * sh + 1, (x.shape[1] - 1) * sw + 1))
        out[::sh, ::sw] = x
        return out

    check("mechanics.zero_insert", zero_insert, student="alice")
    rng = np.random.default_rng(0)
    strides = [grading.PARTS["mechanics.zero_insert"].draw(rng).args[1] for _ in range(20)]
    assert {type(s) for s in strides} == {int, tuple}, strides

    def int_stride_only(x, stride):
        return zero_insert(x, (stride, stride))

    with pytest.raises(GradingFailure, match="stride=\\(\\d, \\d\\)"):
        check("mechanics.zero_insert", int_stride_only, student="alice")


# --- hidden cases drawn from the PyTorch reference catalogue -----------------------------


CATALOGUE_PARTS = ["mechanics.conv_transpose2d", "gradients.conv_transpose2d_backward", "gradients.grad_bias"]


def test_catalogue_drawer_spreads_a_students_cases_over_every_stratum():
    """One stratum per hyper-parameter: every student's set exercises each of them, with no repeats."""
    from tconv_lib import references

    strata = grading._CONV_TRANSPOSE2D_STRATA
    drawer = grading.FromCatalogue("conv_transpose2d", lambda case: case, strata, require=("bias",))
    for seed in range(5):
        cases = drawer.many(np.random.default_rng(seed), len(strata))
        assert len({case.name for case in cases}) == len(strata), f"seed {seed}: a case is drawn twice"
        for case, tags in zip(cases, strata):
            assert {"bias", *tags} <= case.tags, f"seed {seed}: {case.name} lacks the tags {tags}"
        assert [c.name for c in drawer.many(np.random.default_rng(seed), len(strata))] == [
            c.name for c in cases], f"seed {seed}: the same seed must draw the same cases"
    one = drawer(np.random.default_rng(0))
    assert isinstance(one, references.Case) and "bias" in one.tags, one


@pytest.mark.parametrize("part_name", CATALOGUE_PARTS)
def test_catalogue_cases_carry_the_pytorch_fixture(part_name):
    """Expected values come from tconv_lib, references from the stored PyTorch answers, and they agree."""
    from tconv_lib import references

    source = f"PyTorch fixture ({references.reference_metadata()['device']})"
    cases = grading.PARTS[part_name].cases(np.random.default_rng(0))
    assert len({case.description for case in cases}) == len(cases), [case.description for case in cases]
    for case in cases:
        assert list(case.references) == [source], f"{case.description}: references {list(case.references)}"
        message = grading.compare(case.references[source], case.expected, rtol=1e-9, atol=1e-10)
        assert message is None, f"{part_name}, {case.description}: tconv_lib and the fixture: {message}"


def _reference_solution(assignment: str, name: str):
    """A function of the source notebook's reference solution (tconv_lib's own is forbidden to students)."""
    import nbformat

    path = Path(__file__).resolve().parents[1] / "solutions" / assignment / f"{assignment}.ipynb"
    namespace = {"np": np}
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, namespace)
    return namespace[name]


def test_backward_part_passes_a_right_answer_and_names_the_failing_gradient(capsys):
    conv_transpose2d_backward = _reference_solution("gradients", "conv_transpose2d_backward")
    check("gradients.conv_transpose2d_backward", conv_transpose2d_backward, student="alice")
    assert "all 10 hidden cases passed" in capsys.readouterr().out

    def bias_gradient_doubled(*args, **kwargs):
        grad_x, grad_weight, grad_bias = conv_transpose2d_backward(*args, **kwargs)
        return grad_x, grad_weight, 2 * grad_bias

    with pytest.raises(GradingFailure, match=r"result\[2\] differs at index \(0,\)"):
        check("gradients.conv_transpose2d_backward", bias_gradient_doubled, student="alice")


def test_distinct_drawer_does_not_repeat_a_small_parameter_space():
    cases = grading.PARTS["mitigation.bilinear_kernel"].cases(np.random.default_rng(0))
    assert len({case.description for case in cases}) == len(cases), [case.description for case in cases]


def test_integer_results_get_an_integer_dtype_hint():
    message = grading.compare(np.zeros(3), np.zeros(3, dtype=np.int64))
    assert message == "result has dtype float64, expected int64 (make the array with dtype=int)", message


# --- ways around the tripwire -------------------------------------------------------------


def switches_profiling_off(x, weight, stride):
    import sys

    sys.setprofile(None)
    return via_tconv_lib(x, weight, stride)


def delegates_in_a_thread(x, weight, stride):
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("y", via_tconv_lib(x, weight, stride)))
    thread.start()
    thread.join()
    return result["y"]


def delegates_to_another_process(x, weight, stride):
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return scatter_1d(x, weight, stride)


@pytest.mark.parametrize(
    "cheat", [switches_profiling_off, delegates_in_a_thread, delegates_to_another_process],
    ids=lambda f: f.__name__,
)
def test_the_tripwire_cannot_be_switched_off_or_sidestepped(cheat):
    with pytest.raises(GradingFailure, match="your function called"):
        check("mechanics.scatter_1d", cheat, student="alice")


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tconv-grading-pwned",))


def test_a_hostile_return_value_never_runs_in_the_grader(tmp_path):
    marker = "/tmp/tconv-grading-pwned"
    if os.path.exists(marker):
        os.remove(marker)
    status, message = run_in_sandbox(lambda a: _Hostile(), [((1,), {})])[0]
    assert status == "error" and "cannot be used" in message, (status, message)
    assert not os.path.exists(marker), "unpickling the result ran the student's __reduce__"
