"""The PyTorch reference fixtures: the catalogue, the stored answers, and tconv_lib against them.

Tolerances (tconv_lib.grading.references.TOLERANCES, compared with ``scaled_error``, i.e.
``max|a - ref| / max(1, max|ref|)``): float64 1e-10, float32 1e-5.  Inputs are
standard normal and a stored value sums at most ~1.5e3 products (weight gradients:
N * H_out * W_out terms), so two summation orders differ by about eps * sqrt(K) of
the largest value: ~1e-14 in float64 (eps 2.2e-16), ~5e-6 in float32 (eps 1.2e-7)
at the very worst; measured on this catalogue: 1.3e-15 and 1.0e-6.  TF32 (10-bit
mantissa) would miss the float32 bound by two orders of magnitude.
"""

from __future__ import annotations

import collections
import datetime
import io

import numpy as np
import pytest
from conftest import torch

import tconv_lib
from tconv_lib.grading import references as R
from tconv_lib.grading.references import TOLERANCES, Case, load_reference, scaled_error

META = R.reference_metadata()
ON_CPU_REASON = "fixtures were generated on the CPU; regenerate on a CUDA machine"
OP_DTYPE = pytest.mark.parametrize(
    ("op", "dtype"), [pytest.param(op, dtype, id=f"{op}-{dtype}") for op in R.OPS for dtype in R.DTYPES]
)


def _assert_matches(results: dict[str, np.ndarray], what: str) -> None:
    """Every result matches its fixture: shape, dtype, then values within the dtype's tolerance."""
    failures, worst = [], (0.0, "")
    for key, result in results.items():
        name, kind, dtype = key.split("/")
        ref = load_reference(name, kind, dtype)
        assert result.shape == ref.shape, f"{what} {key}: shape {result.shape} != fixture {ref.shape}"
        assert result.dtype == ref.dtype, f"{what} {key}: dtype {result.dtype} != fixture {ref.dtype}"
        err = scaled_error(result, ref)
        worst = max(worst, (err, key))
        if err > TOLERANCES[dtype]:
            failures.append(f"{key}: scaled error {err:.2e} > {TOLERANCES[dtype]:.0e}")
    assert not failures, f"{what}: {len(failures)} arrays differ from the fixtures:\n" + "\n".join(
        failures[:20]
    )
    assert results, f"{what}: nothing compared"


# --- the catalogue ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", R.OPS)
def test_catalogue_is_large_small_and_tagged(op):
    cases = R.catalogue(op)
    assert len(cases) >= 300, f"{op}: only {len(cases)} cases"
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    for case in cases:
        assert case.op == op and case.name.startswith(R.PREFIX[op] + "_"), case.name
        assert max(case.x_shape[-case.ndim :]) <= 8, f"{case.name}: input larger than 8"
        assert case.c_out <= 4 and case.x_shape[-case.ndim - 1] <= 4, f"{case.name}: channels > 4"
    counts = collections.Counter(tag for case in cases for tag in case.tags)
    for tag in R._features(op):
        assert counts[tag] >= 10, f"{op}: only {counts[tag]} cases tagged {tag!r}"
    assert set(counts) <= set(R.TAGS)


@pytest.mark.parametrize("op", R.OPS)
def test_each_hyper_parameter_has_cases_that_change_only_it(op):
    """A grader can ask for 'stride and nothing else': focused cases carry only the tags they need."""
    wanted = [{"stride"}, {"padding"}, {"dilation"}, {"groups"}, {"bias"}, {"batch"}, {"unbatched"}]
    if op.startswith("conv_transpose"):
        wanted.append({"output_padding", "stride"})
    else:
        wanted += [{"padding_same"}, {"padding_valid"}]
    if op.endswith("2d"):
        wanted.append({"nonsquare"})
    for tags in wanted:
        allowed = tags | ({"padding"} if "padding_same" in tags else set())  # 'same' pads
        found = [case for case in R.catalogue(op, tags_all=tags) if case.tags <= allowed]
        assert len(found) >= 5, f"{op}: {len(found)} cases tagged {sorted(tags)} and nothing else"


@pytest.mark.parametrize("op", ["conv_transpose1d", "conv_transpose2d"])
def test_output_padding_at_least_stride_comes_with_a_larger_dilation(op):
    cases = R.catalogue(op, tags_all=["output_padding_ge_stride"])
    assert len(cases) >= 20
    for case in cases:
        assert any(o >= s for o, s in zip(case.output_padding, case.stride)), case.name
        assert all(o < max(s, d) for o, s, d in zip(case.output_padding, case.stride, case.dilation))
    assert any("stride" in case.tags for case in cases), "also with stride > 1"


@pytest.mark.parametrize("op", ["conv_transpose2d", "conv2d"])
def test_two_d_cases_include_unequal_strides_and_nonsquare_shapes(op):
    cases = R.catalogue(op, tags_all=["nonsquare"])
    assert sum(case.stride[0] != case.stride[1] for case in cases) >= 10
    assert sum(case.weight_shape[2] != case.weight_shape[3] for case in cases) >= 10
    assert sum(case.x_shape[-2] != case.x_shape[-1] for case in cases) >= 10


def test_names_read_as_their_parameters():
    for case in R.catalogue(tags_none=["worked_example"]):
        words = case.name.split("_")
        assert words[0] == R.PREFIX[case.op], case.name
        assert ("bias" in words) == case.bias, case.name
        assert ("unbatched" in words) == (not case.batched), case.name
        assert (f"g{case.groups}" in words) == (case.groups > 1), case.name
        assert any(w.startswith("s") and w[1:2].isdigit() for w in words), case.name
        assert words[1] == "k" + "x".join(dict.fromkeys(map(str, case.weight_shape[2:]))), case.name
        assert words[-1].isdigit() and len(words[-1]) == 2, case.name
        if isinstance(case.padding, str):
            assert f"p{case.padding}" in words, case.name


def test_tags_follow_the_parameters():
    unet = R.get_case("ct2d_worked_unet_2x2_to_4x4")
    assert unet.tags == {"stride", "padding", "output_padding", "worked_example"}
    made = Case(op="conv2d", name="made_up", x_shape=(3, 5, 4), weight_shape=(2, 3, 1, 3), bias=True,
                stride=(1, 2), padding="same", output_padding=(0, 0), groups=1, dilation=(1, 1),
                seed=1)
    assert made.tags == {"padding", "padding_same", "bias", "unbatched", "nonsquare", "stride"}
    assert made.out_shape == (2, 5, 4)
    assert made.params == {"stride": (1, 2), "padding": "same", "groups": 1, "dilation": 1}


def test_catalogue_queries():
    assert len(R.catalogue()) == sum(len(R.catalogue(op)) for op in R.OPS)
    assert R.catalogue(dims=1) == R.catalogue(["conv_transpose1d", "conv1d"])
    for case in R.catalogue(tags_all=["groups", "bias"], tags_none=["batch"]):
        assert {"groups", "bias"} <= case.tags and "batch" not in case.tags
    with pytest.raises(ValueError, match="unknown operator or tag"):
        R.catalogue(tags_all=["strides"])
    with pytest.raises(KeyError, match="no case called"):
        R.get_case("ct2d_nothing")


def test_draw_is_reproducible_per_seed_and_respects_tags():
    first = R.draw(12345, "conv_transpose2d", 8, require=["stride"], forbid=["groups", "dilation"])
    assert first == R.draw(12345, "conv_transpose2d", 8, require=["stride"], forbid=["groups", "dilation"])
    assert len({case.name for case in first}) == 8
    for case in first:
        assert case.op == "conv_transpose2d" and "stride" in case.tags
        assert not case.tags & {"groups", "dilation"}
    assert first != R.draw(12346, "conv_transpose2d", 8, require=["stride"], forbid=["groups", "dilation"])
    # student ids work as seeds; a Generator draws through NumPy
    assert R.draw("ada", "conv1d", 3) == R.draw("ada", "conv1d", 3)
    assert R.draw(np.int64(5), "conv1d", 3) == R.draw(5, "conv1d", 3)
    by_rng = R.draw(np.random.default_rng(0), "conv1d", 4)
    assert by_rng == R.draw(np.random.default_rng(0), "conv1d", 4)
    with pytest.raises(ValueError, match="the catalogue has"):
        R.draw(1, "conv2d", 10_000)


def test_inputs_come_from_the_seed():
    case = R.get_case("ct2d_worked_stamp_2x2_to_3x3")
    np.testing.assert_array_equal(case.inputs()["x"][0, 0], [[1, 2], [3, 4]])
    for case in R.draw(7, None, 40):
        a, b = case.inputs(), case.inputs()
        for name in ("x", "weight", "bias"):
            if a[name] is None:
                assert b[name] is None and not case.bias
                continue
            np.testing.assert_array_equal(a[name], b[name])
            np.testing.assert_array_equal(case.inputs("float32")[name], a[name].astype(np.float32))
        assert a["x"].shape == case.x_shape and a["weight"].shape == case.weight_shape
        assert case.grad_output().shape == case.out_shape
        assert case.grad_output("float32").dtype == np.float32


# --- the fixtures ----------------------------------------------------------------------------


def test_metadata_fields_present_and_consistent():
    for field in ("format", "generator", "generated_utc", "device", "device_type", "torch", "cuda",
                  "cudnn", "numpy", "dtypes", "kinds", "flags", "tf32", "catalogue_hash", "ops",
                  "input_checksums"):
        assert field in META, f"metadata lacks {field!r}"
    assert META["format"] == R.FORMAT
    assert META["dtypes"] == list(R.DTYPES) and META["kinds"] == list(R.KINDS)
    flags = META["flags"]
    assert flags["tf32_matmul"] is False and flags["tf32_cudnn"] is False
    assert flags["deterministic_algorithms"] is True and flags["cudnn_deterministic"] is True
    assert flags["cudnn_benchmark"] is False
    when = datetime.datetime.fromisoformat(META["generated_utc"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert META["device_type"] in ("cpu", "cuda")
    assert META["generator"].endswith(f"--device {META['device_type']}")
    if META["device_type"] == "cpu":
        assert META["device"] == "cpu" and META["tf32"] is None
    else:
        assert META["device"] != "cpu" and META["cuda"] and META["cudnn"]
        assert flags["cublas_workspace_config"] in (":4096:8", ":16:8")  # what deterministic cuBLAS needs
        assert {"max_abs_diff", "max_scaled_diff", "worst_case"} <= set(META["tf32"])
    assert sorted(META["ops"]) == sorted(R.OPS)
    for op, entry in META["ops"].items():
        assert entry["cases"] == len(R.catalogue(op))
        assert entry["arrays"] == len(R.reference_keys(op))


def test_references_came_from_cuda():
    if META["device_type"] == "cpu":
        pytest.skip(ON_CPU_REASON)
    assert META["device_type"] == "cuda" and META["cuda"] is not None
    assert META["tf32"]["max_scaled_diff"] >= 0


def test_fixtures_match_the_catalogue():
    """No stale fixture: same catalogue, every array of every case, nothing else, same inputs."""
    assert META["catalogue_hash"] == R.catalogue_hash(), (
        f"the catalogue changed since the fixtures were made: run `{R.GENERATE_COMMAND}`"
    )
    checksums = META["input_checksums"]
    assert list(checksums) == [case.name for case in R.catalogue()]
    for op in R.OPS:
        expected = {case.key(kind, dtype) for case in R.catalogue(op)
                    for kind in case.kinds() for dtype in R.DTYPES}
        stored = set(R.reference_keys(op))
        assert stored == expected, (
            f"{op}: missing {sorted(expected - stored)[:5]}, extra {sorted(stored - expected)[:5]}"
        )
    changed = [case.name for case in R.catalogue() if case.input_checksum() != checksums[case.name]]
    assert not changed, f"inputs no longer match the fixtures (NumPy's generator changed?): {changed[:5]}"


@pytest.mark.parametrize("op", R.OPS)
def test_fixture_shapes_and_dtypes(op):
    for case in R.catalogue(op):
        arrays = case.inputs()
        shapes = {"out": case.out_shape, "grad_x": case.x_shape, "grad_weight": case.weight_shape,
                  "grad_bias": (case.c_out,)}
        for kind in case.kinds():
            for dtype in R.DTYPES:
                ref = load_reference(case, kind, dtype)
                assert ref.shape == shapes[kind], f"{case.name}/{kind}: {ref.shape} != {shapes[kind]}"
                assert ref.dtype == np.dtype(dtype) and not ref.flags.writeable
        assert arrays["x"].shape == case.x_shape


@pytest.mark.parametrize("op", R.OPS)
def test_float32_fixtures_agree_with_float64(op):
    """float32 with TF32 off is float64 up to float32 rounding (TF32 would be ~1e-3 off)."""
    for case in R.catalogue(op):
        for kind in case.kinds():
            err = scaled_error(load_reference(case, kind, "float32"), load_reference(case, kind, "float64"))
            assert err <= TOLERANCES["float32"], f"{case.name}/{kind}: float32 off by {err:.2e}"


def test_worked_examples_have_the_lectures_numbers():
    stamp = load_reference("ct2d_worked_stamp_2x2_to_3x3")[0, 0]
    np.testing.assert_array_equal(stamp, [[1, 4, 4], [6, 20, 16], [9, 24, 16]])
    unet = load_reference("ct2d_worked_unet_2x2_to_4x4")[0, 0]
    np.testing.assert_array_equal(unet, [[0, 4, 0, 1], [10, 7, 6, 3], [0, 7, 0, 2], [6, 3, 4, 2]])
    keras = load_reference("ct2d_worked_keras_1x1_s2_3x3_to_6x6", dtype="float32")[0, 0]
    assert keras.shape == (6, 6)
    np.testing.assert_array_equal(keras[::2, ::2], np.arange(1, 10).reshape(3, 3))
    assert not keras[1::2].any() and not keras[:, 1::2].any()
    np.testing.assert_array_equal(load_reference("c1d_worked_algebra_5_to_3")[0, 0], [-2, -2, 4])


# --- tconv_lib and PyTorch against the fixtures ----------------------------------------------


@OP_DTYPE
def test_tconv_lib_forward_matches_fixtures(op, dtype):
    results = {case.key("out", dtype): case.call(getattr(tconv_lib, op), dtype) for case in R.catalogue(op)}
    _assert_matches(results, f"tconv_lib.{op}")


@OP_DTYPE
def test_tconv_lib_gradients_match_fixtures(op, dtype):
    gradients = pytest.importorskip("tconv_lib.gradients")
    backward = getattr(gradients, f"{op}_backward")
    results = {}
    for case in R.catalogue(op):
        arrays = case.inputs(dtype)
        grads = backward(case.grad_output(dtype), arrays["x"], arrays["weight"], **case.params)
        for kind, grad in zip(R.KINDS[1:], grads):
            if kind in case.kinds():
                results[case.key(kind, dtype)] = grad
    _assert_matches(results, f"tconv_lib.gradients.{op}_backward")


def test_every_case_is_valid_for_torch_and_reproduces_on_this_cpu():
    """PyTorch accepts every case, and its float64 CPU answers now are the fixtures'."""
    results = R.torch_references(R.catalogue(), device="cpu", dtypes=("float64",))
    _assert_matches(results, f"torch {torch.__version__} cpu")
    # the numerics flags are restored afterwards
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_live_cuda_matches_fixtures_and_cpu():
    sample = [case for op in R.OPS for case in R.draw("cuda-sample", op, 40)]
    on_gpu = R.torch_references(sample, device="cuda")
    _assert_matches(on_gpu, "torch cuda (TF32 off)")
    on_cpu = R.torch_references(sample, device="cpu")
    for key, ref in on_cpu.items():
        dtype = key.rsplit("/", 1)[1]
        assert scaled_error(on_gpu[key], ref) <= TOLERANCES[dtype], f"{key}: GPU and CPU differ"


def test_generate_and_check_round_trip(tmp_path):
    """`generate --out DIR` writes fixtures that load and check from DIR."""
    cases = [R.get_case("ct2d_worked_unet_2x2_to_4x4"), *R.draw(3, None, 6)]
    meta = R.generate(device="cpu", out=tmp_path, cases=cases)
    assert meta == R.reference_metadata(root=tmp_path)
    assert meta["device"] == "cpu" and meta["catalogue_hash"] == R.catalogue_hash(cases)
    assert sum(entry["cases"] for entry in meta["ops"].values()) == len(cases)
    for case in cases:  # regenerated here, possibly on another CPU than the committed ones: within tolerance
        for kind in case.kinds():
            for dtype in R.DTYPES:
                made = load_reference(case, kind, dtype, root=tmp_path)
                committed = load_reference(case, kind, dtype)
                assert made.shape == committed.shape, f"{case.name}/{kind}/{dtype}: shape {made.shape}"
                assert scaled_error(made, committed) <= TOLERANCES[dtype], f"{case.name}/{kind}/{dtype}"
    out = io.StringIO()
    report = R.check(root=tmp_path, live=True, file=out)
    assert {("tconv_lib", "fixture"), ("torch cpu", "fixture"), ("torch cpu", "tconv_lib"),
            ("torch cpu float32", "fixture float64")} <= set(report)
    for table in report.values():
        for (_, _, dtype), (count, _, scaled, _) in table.items():
            assert count > 0 and scaled <= TOLERANCES[dtype]
    assert "tconv_lib against fixture" in out.getvalue()
