"""tconv_lib.grading: hidden tests pass right answers and fail wrong, hostile and delegating ones
with a message a student can act on; graded cases come from a secret; graded functions run
where only NumPy exists.

Most tests run twice: as a student's practice check (a plain process whose imports are
limited to NumPy) and as the grader verifies (the bubblewrap sandbox).  The sandboxed
ones need bubblewrap: they are skipped without it locally and fail in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_sandbox

from tconv_lib.grading import GradingFailure, check, compare, keys, pickle_function, sandbox, student_id
from tconv_lib.grading.cases import (
    CONV_TRANSPOSE2D_STRATA,
    DERIVED_TAGS,
    Case,
    FromCatalogue,
    Part,
    Raising,
    Wide,
)
from tconv_lib.grading.parts import PARTS
from tconv_lib.grading.verify import MAX_PAYLOAD_BYTES, Isolation, Verdict, judge, verify

ROOT = Path(__file__).resolve().parents[1]


PRACTICE = Isolation(sandboxed=False)


@pytest.fixture(params=["practice", "sandbox"])
def isolation(request) -> Isolation:
    """How a graded function runs: a student's practice check, or the grader's sandbox."""
    if request.param == "practice":
        return PRACTICE
    needs_sandbox()
    return Isolation(sandboxed=True, uid=sandbox.sandbox_uid())


def graded(
    part_name: str, function, isolation: Isolation, student: str = "alice", secret=b"k" * 32
) -> Verdict:
    """What the grader decides on ``function`` as ``student``'s answer to ``part_name``."""
    cases = PARTS[part_name].cases(keys.graded_rng(secret, student, part_name))
    return verify({part_name: pickle_function(function)}, {part_name: cases}, PARTS, isolation)[part_name]


def output_size(n, k, s=1, p=0, op=0, d=1):
    size = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if size < 1:
        raise ValueError(f"output size {size}: reduce the padding")
    return size


def scatter_1d(x, weight, stride):
    out = np.zeros((len(x) - 1) * stride + len(weight))
    for i, value in enumerate(x):
        out[i * stride : i * stride + len(weight)] += value * weight
    return out


# --------------------------------------------------------------------------------------
# Right and wrong answers
# --------------------------------------------------------------------------------------


def test_a_right_answer_passes(isolation):
    assert graded("geometry.output_size", output_size, isolation) == Verdict(
        True, "geometry.output_size: all 12 hidden cases passed"
    )
    assert graded("mechanics.scatter_1d", scatter_1d, isolation).passed


def test_practice_check_says_its_cases_are_not_the_graded_ones(capsys):
    check("geometry.output_size", output_size, student="alice")
    out = capsys.readouterr().out
    assert "all 12 practice cases passed" in out and "key only the grader holds" in out, out


def test_graded_cases_come_from_the_secret_the_student_and_the_part():
    def descriptions(secret, student, part):
        return [c.description for c in PARTS[part].cases(keys.graded_rng(secret, student, part))]

    alice = descriptions(b"a" * 32, "alice", "geometry.output_size")
    assert alice == descriptions(b"a" * 32, "alice", "geometry.output_size"), "a regrade draws the same cases"
    assert alice != descriptions(b"b" * 32, "alice", "geometry.output_size"), "another secret, other cases"
    assert alice != descriptions(b"a" * 32, "bob", "geometry.output_size")
    practice = [
        c.description
        for c in PARTS["geometry.output_size"].cases(keys.practice_rng("alice", "geometry.output_size"))
    ]
    assert not set(alice) & set(practice), "practice cases are never the graded ones"


def test_the_course_secret_is_private_and_kept(tmp_path):
    secret = keys.course_secret(tmp_path)
    path = tmp_path / keys.SECRET_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    assert keys.course_secret(tmp_path) == secret and path.stat().st_mode & 0o777 == 0o600
    path.write_text("short\n")
    with pytest.raises(ValueError, match="does not hold a course secret"):
        keys.course_secret(tmp_path)


def test_student_id_comes_from_nbgrader_layout(tmp_path, monkeypatch):
    folder = tmp_path / "autograded" / "carol" / "geometry"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TCONV_STUDENT_ID", raising=False)
    assert student_id() == "carol"
    monkeypatch.setenv("TCONV_STUDENT_ID", "dave")
    assert student_id() == "dave"


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda n, k, s=1, p=0, op=0, d=1: output_size(n, k, s, p, 0, d), "expected"),
        (lambda n, k, s=1, p=0, op=0, d=1: output_size(n, k, s, p, op, d) + p, "expected"),
        (lambda n, k, s=1, p=0, op=0, d=1: float(output_size(n, k, s, p, op, d)), "expected the integer"),
        (lambda n, k, s=1, p=0, op=0, d=1: 1 / 0, "raised ZeroDivisionError"),
        (lambda n, k, s=1, p=0, op=0, d=1: (n - 1) * s - 2 * p + d * (k - 1) + op + 1, "to raise ValueError"),
    ],
    ids=["forgot_output_padding", "padding_once", "float_not_int", "raises", "no_output_returned"],
)
def test_wrong_answers_fail_with_the_case(wrong, message):
    with pytest.raises(GradingFailure) as failure:
        check("geometry.output_size", wrong, student="alice")
    text = str(failure.value)
    assert "Part A: the output size: hidden case" in text and "case: n=" in text, text
    assert message in text, text


def test_wrong_array_reports_position_and_values(isolation):
    def off_by_one(x, weight, stride):
        return scatter_1d(x, weight, stride)[1:]

    verdict = graded("mechanics.scatter_1d", off_by_one, isolation)
    assert "result has shape (" in verdict.message and "expected shape" in verdict.message, verdict

    def slightly_wrong(x, weight, stride):
        out = scatter_1d(x, weight, stride)
        out[-1] += 0.5
        return out

    verdict = graded("mechanics.scatter_1d", slightly_wrong, isolation)
    assert "differs at index (" in verdict.message and "got" in verdict.message, verdict


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x, w, s: scatter_1d(x, w, s).astype(np.float32), "dtype float32, expected float64"),
        (lambda x, w, s: scatter_1d(x, w, s).tolist(), "is a list, expected a NumPy array"),
        (lambda x, w, s: scatter_1d(x, w, s) * np.nan, "not finite"),
        (lambda x, w, s: scatter_1d(x, w, s).astype(object), "returned an array of dtype object"),
        (lambda x, w, s: iter([1.0]), "returned a list_iterator"),
    ],
    ids=["dtype", "list", "nan", "object_array", "iterator"],
)
def test_wrong_type_dtype_or_nan_fail(bad, message, isolation):
    verdict = graded("mechanics.scatter_1d", bad, isolation)
    assert not verdict.passed and message in verdict.message, verdict


def test_expected_exception_parts(isolation):
    def output_padding_for(n, target, k, s=1, p=0, d=1):
        for op in range(max(s, d)):
            if output_size(n, k, s, p, op, d) == target:
                return op
        raise ValueError(f"{target} is not reachable")

    assert graded("geometry.output_padding_for", output_padding_for, isolation, student="erin").passed

    class Unreachable(ValueError):
        """A subclass of ValueError is a ValueError."""

    def subclass(n, target, k, s=1, p=0, d=1):
        try:
            return output_padding_for(n, target, k, s, p, d)
        except ValueError as error:
            raise Unreachable(str(error)) from None

    assert graded("geometry.output_padding_for", subclass, isolation, student="erin").passed

    def never_raises(n, target, k, s=1, p=0, d=1):
        try:
            return output_padding_for(n, target, k, s, p, d)
        except ValueError:
            return 0

    verdict = graded("geometry.output_padding_for", never_raises, isolation, student="erin")
    assert "expected your function to raise ValueError" in verdict.message, verdict


def _positive(value):
    return (
        None
        if isinstance(value, float) and value > 0
        else f"you measured {value!r}, expected a positive number"
    )


def test_a_case_with_a_check_is_judged_on_the_property_it_checks(isolation):
    """Case.check replaces the comparison with ``expected``: any result with the property passes,
    one without it fails with the check's message, and a check that cannot read a result fails the
    case with a message instead of stopping the grader."""
    cases = [Case("x=1", (1.0,), expected=999.0, check=_positive), Case("x=2", (2.0,), check=_positive)]
    part = Part("test.measure", "Part Z (experiment): a measurement", lambda rng: cases[0])

    def run(function):
        payload = pickle_function(function)
        return verify({part.name: payload}, {part.name: cases}, {part.name: part}, isolation)[part.name]

    assert run(lambda x: x * 0.5).passed, "0.5 and 1.0 are not 999.0, but they are positive"
    verdict = run(lambda x: -x)
    assert not verdict.passed and "hidden case 1 of 2" in verdict.message, verdict
    assert "you measured -1.0, expected a positive number" in verdict.message, verdict
    assert "raised ZeroDivisionError" in run(lambda x: 1 / 0).message
    cases[1] = Case("x=2", (2.0,), check=lambda value: None if value["key"] else "no key")
    verdict = run(lambda x: x)
    assert "hidden case 2 of 2" in verdict.message and "could not check your result 2.0" in verdict.message, (
        verdict
    )


def test_raising_and_wide_draw_every_reason_to_raise():
    """Raising (arrays) and Wide (integers) end a set with cases that must raise, one reason after another."""
    ok = lambda rng: Case(f"ok {rng.integers(10**9)}", (), expected=1)  # noqa: E731
    first = lambda rng: Case("no output", (), raises=ValueError)  # noqa: E731
    second = lambda rng: Case("unknown mode", (), raises=ValueError)  # noqa: E731
    cases = Raising(ok, (first, second), n_raises=3).many(np.random.default_rng(0), 8)
    assert [c.description for c in cases[5:]] == ["no output", "unknown mode", "no output"], cases
    assert all(c.raises is None for c in cases[:5])
    cases = Wide(ok, ok, n_wide=2, draw_raises=(first, second)).many(np.random.default_rng(0), 8)
    assert [c.description for c in cases[4:6]] == ["no output", "unknown mode"], cases


# --------------------------------------------------------------------------------------
# Delegation fails by construction: graded code has NumPy and nothing else
# --------------------------------------------------------------------------------------


def via_torch(x, weight, stride):
    import torch

    return torch.nn.functional.conv_transpose1d(
        torch.from_numpy(x)[None, None], torch.from_numpy(weight)[None, None], stride=stride
    )[0, 0].numpy()


def via_getattr(x, weight, stride):
    import importlib

    functional = importlib.import_module("torch.nn." + "functional")
    import torch

    op = getattr(functional, "conv_" + "transpose1d")
    return op(torch.tensor(x)[None, None], torch.tensor(weight)[None, None], stride=stride)[0, 0].numpy()


def via_aten(x, weight, stride):
    import torch

    out = torch.ops.aten.convolution(
        torch.tensor(x)[None, None], torch.tensor(weight)[None, None], None, [stride], [0], [1], True, [0], 1
    )
    return out[0, 0].numpy()


def via_tconv_lib(x, weight, stride):
    import tconv_lib

    return tconv_lib.conv_transpose1d(x[None, None], weight[None, None], stride=stride)[0, 0]


def via_numpy_convolve(x, weight, stride):
    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return np.convolve(up, weight)


def via_numpy_core(x, weight, stride):
    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return np._core.multiarray.correlate2(up, weight[::-1], 2)


def via_scipy(x, weight, stride):
    from scipy import signal

    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return signal.convolve(up, weight)


def via_a_thread(x, weight, stride):
    import _thread
    import time

    result = {}
    _thread.start_new_thread(lambda: result.setdefault("y", via_torch(x, weight, stride)), ())
    time.sleep(2)
    return result["y"]


def via_map_from_c(x, weight, stride):
    import importlib

    return next(map(lambda m: via_torch(x, weight, stride), [importlib.import_module("torch")]))


def via_child_process(x, weight, stride):
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, torch; x, w, s = json.load(sys.stdin); print(json.dumps(torch.nn.functional."
        "conv_transpose1d(torch.tensor([[x]]), torch.tensor([[w]]), stride=s)[0, 0].tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([x.tolist(), weight.tolist(), stride]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return np.array(json.loads(out))


def via_the_system_python(x, weight, stride):
    import json
    import subprocess

    code = (
        "import json, sys, scipy.signal as s; x, w = json.load(sys.stdin); print(json.dumps("
        "s.convolve(x, w).tolist()))"
    )
    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    out = subprocess.run(
        ["/usr/bin/python3", "-c", code],
        input=json.dumps([up.tolist(), weight.tolist()]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return np.array(json.loads(out))


DELEGATIONS = [
    via_torch,
    via_getattr,
    via_aten,
    via_tconv_lib,
    via_numpy_convolve,
    via_numpy_core,
    via_scipy,
    via_a_thread,
    via_map_from_c,
    via_child_process,
    via_the_system_python,
]


@pytest.mark.parametrize("cheat", DELEGATIONS, ids=lambda f: f.__name__)
def test_delegation_earns_zero_with_a_message(cheat):
    """In the sandbox, whatever route a function takes to a library, the library is not there."""
    needs_sandbox()
    verdict = graded("mechanics.scatter_1d", cheat, Isolation(sandboxed=True, uid=sandbox.sandbox_uid()))
    assert not verdict.passed, f"{cheat.__name__} passed in the sandbox"
    assert "hidden case 1 of" in verdict.message, verdict.message


@pytest.mark.parametrize(
    "cheat", [via_torch, via_getattr, via_tconv_lib, via_numpy_convolve, via_scipy], ids=lambda f: f.__name__
)
def test_delegation_is_named_in_practice_too(cheat):
    with pytest.raises(GradingFailure, match="built from NumPy's array operations"):
        check("mechanics.scatter_1d", cheat, student="alice")


# --------------------------------------------------------------------------------------
# Hostile and broken code costs only its part
# --------------------------------------------------------------------------------------


def quick_part(name: str, draw_args=(1,)) -> Part:
    from tconv_lib.grading.cases import Case

    return Part(
        name, f"Part {name}", lambda rng: Case("one", draw_args, expected=2), n_cases=2, call_timeout=1
    )


def run_parts(functions: dict, isolation: Isolation) -> dict[str, Verdict]:
    parts = {name: quick_part(name) for name in functions}
    cases = {name: part.cases(np.random.default_rng(0)) for name, part in parts.items()}
    return verify({n: pickle_function(f) for n, f in functions.items()}, cases, parts, isolation)


def add_one(a):
    return a + 1


def test_loops_time_out_and_a_crash_costs_only_its_part(isolation):
    def forever(a):
        while True:
            pass

    def stubborn(a):  # swallows the timer, then switches it off
        import signal

        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        while True:
            pass

    def hard_exit(a):
        os._exit(3)

    def soft_exit(a):
        raise SystemExit(0)

    verdicts = run_parts(
        {"a": forever, "b": add_one, "c": stubborn, "d": hard_exit, "e": soft_exit, "f": add_one}, isolation
    )
    assert "took longer than 1 s" in verdicts["a"].message, verdicts["a"]
    assert "took longer than 1 s" in verdicts["c"].message, verdicts["c"]
    assert "the process ended (exit status 3)" in verdicts["d"].message, verdicts["d"]
    assert "raised SystemExit" in verdicts["e"].message, verdicts["e"]
    assert verdicts["b"].passed and verdicts["f"].passed, verdicts


def test_huge_allocation_fails_inside_the_sandbox(isolation):
    def greedy(a):
        return np.ones((40, 2**30), dtype=np.uint8)  # 40 GB

    verdict = run_parts({"a": greedy, "b": add_one}, isolation)
    assert "MemoryError" in verdict["a"].message and verdict["b"].passed, verdict


def test_printing_megabytes_is_harmless(isolation):
    def chatty(x, weight, stride):
        print("x" * 5_000_000)
        return scatter_1d(x, weight, stride)

    assert graded("mechanics.scatter_1d", chatty, isolation).passed


def test_unpicklable_function_gets_a_clear_message():
    import threading

    lock = threading.Lock()

    def uses_lock(x, weight, stride):
        with lock:
            return scatter_1d(x, weight, stride)

    with pytest.raises(GradingFailure, match="could not send your function to the grader"):
        check("mechanics.scatter_1d", uses_lock, student="alice")


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch /tmp/tconv-grading-pwned",))


def test_a_hostile_return_value_never_runs_in_the_grader(isolation):
    marker = Path("/tmp/tconv-grading-pwned")
    marker.unlink(missing_ok=True)
    verdict = run_parts({"a": lambda a: _Hostile()}, isolation)["a"]
    assert "returned a" in verdict.message and "_Hostile" in verdict.message, verdict
    assert not marker.exists(), "the student's __reduce__ ran"


def test_a_function_carrying_a_table_is_refused(isolation):
    table = np.zeros(MAX_PAYLOAD_BYTES // 8 + 1)

    def lookup(n, k, s=1, p=0, op=0, d=1):
        return int(table[0]) + output_size(n, k, s, p, op, d)

    verdict = graded("geometry.output_size", lookup, isolation)
    assert "the grader accepts 1 MiB" in verdict.message, verdict


# --------------------------------------------------------------------------------------
# What the verification sandbox sees
# --------------------------------------------------------------------------------------


def probe(_):
    """Everything a graded function could reach, reported as a dict of plain values."""
    import importlib.util
    import socket
    import sys

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_OnlyAllowed"]  # as a cheat would
    found = {
        "modules": [
            m
            for m in ("torch", "scipy", "tconv_lib", "nbgrader", "sqlalchemy")
            if importlib.util.find_spec(m) is not None
        ]
    }
    found["environment"] = sorted(os.environ)
    found["uid"] = os.getuid()
    try:
        socket.create_connection(("127.0.0.1", 54329), timeout=1)
        found["network"] = "connected"
    except OSError as error:
        found["network"] = type(error).__name__
    writable = []
    for folder in ("/", "/usr", "/job/in", "/opt/tconv", "/etc", str(ROOT)):
        try:
            with open(os.path.join(folder, "tconv-probe"), "w") as f:
                f.write("x")
            writable.append(folder)
        except OSError:
            pass
    found["writable"] = writable
    found["visible"] = sorted(os.listdir("/"))
    found["solutions"] = os.path.exists(str(ROOT / "solutions"))
    found["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return found


def test_the_verification_sandbox_holds_numpy_and_nothing_of_the_grader(monkeypatch):
    needs_sandbox()
    from tconv_lib.grading.cases import Case
    from tconv_lib.grading.verify import _run

    monkeypatch.setenv("TCONV_GRADEBOOK_URL", "postgresql://grader:canary-password@db/grades")
    part = Part("probe", "probe", lambda rng: Case("one", (1,)), n_cases=1)
    isolation = Isolation(sandboxed=True, uid=sandbox.sandbox_uid())
    outcome = _run(
        ["probe"], {"probe": pickle_function(probe)}, {"probe": part.cases(None)}, {"probe": part}, isolation
    )["probe"][0]
    assert outcome["status"] == "ok", outcome
    found = outcome["value"]
    assert found["modules"] == [], f"graded code can import {found['modules']}"
    assert "TCONV_GRADEBOOK_URL" not in found["environment"], found["environment"]
    assert found["network"] != "connected"
    assert found["writable"] == [], f"graded code can write into {found['writable']}"
    assert not found["solutions"], "graded code sees solutions/"
    assert found["processes"][-1] < 10, f"graded code sees the grader's processes: {found['processes']}"
    if os.geteuid() == 0:
        assert found["uid"] == sandbox.sandbox_uid(), found["uid"]


def test_an_environment_under_tmp_is_seen_inside_the_sandbox(monkeypatch, tmp_path):
    """A course cloned under /tmp (as CI may): its environment is mounted over the private /tmp."""
    import subprocess
    import tempfile

    needs_sandbox()
    environment = Path(tempfile.mkdtemp(prefix="tconv-env-", dir="/tmp"))
    private = Path(tempfile.mkdtemp(prefix="tconv-private-", dir="/tmp"))
    try:
        environment.chmod(0o755)
        (environment / "marker").write_text("the course's environment\n")
        roots = sandbox._python_roots()
        monkeypatch.setattr(sandbox, "_python_roots", lambda: [*roots, environment])
        (private / "runtime").mkdir()
        work = tmp_path / "work"
        work.mkdir()
        spec = sandbox.Spec("notebook", str(private), ["/bin/cat", str(environment / "marker")], {}, None)
        argv, fds = sandbox.bwrap_argv(spec, work, None)
        result = subprocess.run(argv, capture_output=True, text=True, pass_fds=fds, timeout=60)
        assert result.stdout == "the course's environment\n", result.stderr
    finally:
        subprocess.run(["rm", "-rf", str(environment), str(private)], check=False)


# --------------------------------------------------------------------------------------
# The parts' hidden cases
# --------------------------------------------------------------------------------------


def test_every_part_draws_at_least_8_hidden_cases():
    assert {name: part.n_cases for name, part in PARTS.items() if part.n_cases < 8} == {}


def test_zero_insert_is_checked_with_int_and_pair_strides():
    def zero_insert(x, stride):
        sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
        out = np.zeros(((x.shape[0] - 1) * sh + 1, (x.shape[1] - 1) * sw + 1))
        out[::sh, ::sw] = x
        return out

    check("mechanics.zero_insert", zero_insert, student="alice")
    rng = np.random.default_rng(0)
    strides = [PARTS["mechanics.zero_insert"].draw(rng).args[1] for _ in range(20)]
    assert {type(s) for s in strides} == {int, tuple}, strides

    def int_stride_only(x, stride):
        return zero_insert(x, (stride, stride))

    with pytest.raises(GradingFailure, match="stride=\\(\\d, \\d\\)"):
        check("mechanics.zero_insert", int_stride_only, student="alice")


WIDE_PARTS = sorted(name for name, part in PARTS.items() if isinstance(part.draw, Wide))


def test_parts_with_few_integer_inputs_draw_wide_cases():
    assert {
        "geometry.output_size",
        "geometry.reachable_sizes",
        "geometry.output_padding_for",
        "geometry.keras_padding",
        "artifacts.coverage1d",
        "artifacts.coverage_variance",
        "mitigation.bilinear_kernel",
        "gradients.he_std",
    } <= set(WIDE_PARTS), WIDE_PARTS


@pytest.mark.parametrize("part_name", WIDE_PARTS)
def test_a_table_of_every_teaching_range_answer_fails(part_name):
    """The answers to every case the teaching range can draw, shipped as a table, do not pass."""
    part = PARTS[part_name]
    table = {}
    for seed in range(300):
        case = part.draw.draw(np.random.default_rng(seed))
        table[repr(case.args)] = case.expected
    cases = part.cases(keys.graded_rng(b"s" * 32, "mallory", part_name))
    missing = [c for c in cases if repr(c.args) not in table]
    assert len(missing) >= part.draw.n_wide, f"{part_name}: every graded case is in a table of teaching cases"


CATALOGUE_PARTS = ["mechanics.conv_transpose2d", "gradients.conv_transpose2d_backward", "gradients.grad_bias"]


def test_catalogue_drawer_spreads_a_students_cases_over_every_stratum():
    """One stratum per hyper-parameter: every student's set exercises each of them, with no repeats."""
    from tconv_lib.grading import references

    strata = CONV_TRANSPOSE2D_STRATA
    drawer = FromCatalogue("conv_transpose2d", lambda case, rng: case, strata, require=("bias",))
    for seed in range(5):
        cases = drawer.many(np.random.default_rng(seed), len(strata))
        assert len({case.name for case in cases}) == len(strata), f"seed {seed}: a case is drawn twice"
        for case, tags in zip(cases, strata):
            derived = [tag for tag in tags if tag in DERIVED_TAGS]
            assert {"bias", *tags} - set(derived) <= case.tags, (
                f"seed {seed}: {case.name} lacks the tags {tags}"
            )
            assert all(DERIVED_TAGS[tag](case) for tag in derived), (
                f"seed {seed}: {case.name} is not {derived}"
            )
        assert [c.name for c in drawer.many(np.random.default_rng(seed), len(strata))] == [
            c.name for c in cases
        ], f"seed {seed}: the same seed must draw the same cases"
    one = drawer(np.random.default_rng(0))
    assert isinstance(one, references.Case) and "bias" in one.tags, one


@pytest.mark.parametrize("part_name", CATALOGUE_PARTS)
def test_catalogue_cases_have_fresh_inputs_and_agree_with_pytorch(part_name):
    """A catalogue case lends its parameters, not its public inputs; tconv_lib and PyTorch agree on them."""
    from tconv_lib.grading import references

    public = {
        arr.tobytes()
        for case in references.catalogue("conv_transpose2d")
        for arr in (case.inputs()["x"], case.grad_output())
    }
    cases = PARTS[part_name].cases(keys.graded_rng(b"s" * 32, "alice", part_name))
    assert len({case.description for case in cases}) == len(cases), [case.description for case in cases]
    for case in cases:
        assert case.args[0].tobytes() not in public, f"{case.description}: the catalogue's own input"
        assert list(case.references) == ["PyTorch"], f"{case.description}: references {list(case.references)}"
        message = compare(case.references["PyTorch"], case.expected, rtol=1e-9, atol=1e-10)
        assert message is None, f"{part_name}, {case.description}: tconv_lib and PyTorch: {message}"


def test_a_library_that_pytorch_contradicts_does_not_grade(monkeypatch):
    from tconv_lib.grading import cases, references

    case = references.catalogue("conv_transpose2d")[3]
    cases.fixture_agrees.cache_clear()
    real = references.load_reference
    monkeypatch.setattr(references, "load_reference", lambda c, kind="out", *a, **k: real(c, kind) + 1.0)
    try:
        with pytest.raises(RuntimeError, match="disagrees with the stored PyTorch fixture"):
            cases.fixture_agrees(case)
    finally:
        cases.fixture_agrees.cache_clear()


def _reference_solution(assignment: str, name: str):
    """A function of the source notebook's reference solution."""
    import nbformat

    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    namespace = {"np": np}
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, namespace)
    return namespace[name]


def test_backward_part_passes_a_right_answer_and_names_the_failing_gradient(isolation):
    conv_transpose2d_backward = _reference_solution("gradients", "conv_transpose2d_backward")
    assert graded("gradients.conv_transpose2d_backward", conv_transpose2d_backward, isolation).passed

    def bias_gradient_doubled(*args, **kwargs):
        grad_x, grad_weight, grad_bias = conv_transpose2d_backward(*args, **kwargs)
        return grad_x, grad_weight, 2 * grad_bias

    bias_gradient_doubled.__globals__["conv_transpose2d_backward"] = conv_transpose2d_backward
    verdict = graded("gradients.conv_transpose2d_backward", bias_gradient_doubled, isolation)
    assert "result[2] differs at index (0,)" in verdict.message, verdict


def test_integer_results_get_an_integer_dtype_hint():
    message = compare(np.zeros(3), np.zeros(3, dtype=np.int64))
    assert message == "result has dtype float64, expected int64 (make the array with dtype=int)", message


# --------------------------------------------------------------------------------------
# Parts graded on a property: right measurements pass whatever their draws, wrong ones fail
# --------------------------------------------------------------------------------------


def _outcome(function, case) -> dict:
    """What the runner would report for ``function`` on ``case``, computed in this process."""
    try:
        return {"status": "ok", "value": function(*case.args, **case.kwargs)}
    except Exception as exc:  # noqa: BLE001 -- judged like the runner's error outcome
        return {"status": "error", "value": f"{type(exc).__name__}: {exc}", "types": ["Exception"]}


def _read_one_phase_late(f):
    return lambda *args: np.roll(f(*args), -1, axis=1)


def _darken_the_first_row(f):
    def darker(*args):
        out = f(*args).copy()
        out[:, 0, :] *= 0.75  # what a transposed bilinear layer does at its border
        return out

    return darker


def _spreads_one_step_late(f):
    def late(*args):
        losses, spreads = f(*args)
        return losses, np.concatenate([spreads[1:], spreads[-1:]])

    return late


def _passes_swapped(f):
    return lambda *args: f(*args)[::-1]


PROPERTY_PARTS = [
    ("artifacts", "artifacts.random_phase_gains", "random_phase_gains", _read_one_phase_late),
    ("mitigation", "mitigation.clean_upsample", "clean_upsample", _darken_the_first_row),
    ("mitigation", "mitigation.training_spread", "train_upsampler", _spreads_one_step_late),
    ("gradients", "gradients.second_moments", "measure_second_moments", _passes_swapped),
]


@pytest.mark.parametrize(
    "assignment, part_name, function, wrong", PROPERTY_PARTS, ids=[p[1] for p in PROPERTY_PARTS]
)
def test_property_parts_pass_right_measurements_and_fail_wrong_ones(assignment, part_name, function, wrong):
    """Every case of a property part has a check; the reference solution passes it for every student's
    draws (12 secrets here; the bounds were set far beyond what thousands of right runs reach), and a
    typical mistake fails some case of every student's set."""
    part = PARTS[part_name]
    right = _reference_solution(assignment, function)
    for seed in range(12):
        cases = part.cases(np.random.default_rng(seed))
        assert all(case.check is not None for case in cases), f"{part_name}: a case without a check"
        verdict = judge(part, cases, [_outcome(right, case) for case in cases])
        assert verdict.passed, f"{part_name}, seed {seed}: {verdict.message}"
        verdict = judge(part, cases, [_outcome(wrong(right), case) for case in cases])
        assert not verdict.passed, f"{part_name}, seed {seed}: {wrong.__name__} passes every case"
