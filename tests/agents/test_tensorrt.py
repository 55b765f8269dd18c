"""TensorRT: what runs everywhere (lazy import, unavailability, options, profiles, int8 routing)
and, marked `gpu`, real builds and runs on an NVIDIA GPU (`pytest -m gpu`)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from agents.engines import get_engine
from agents.engines.base import TensorInfo
from agents.engines.shapes import format_shapes, parse_shapes
from agents.engines.tensorrt import build as trt_build
from agents.engines.tensorrt import int8 as trt_int8
from agents.engines.tensorrt.profile import profile_shapes, within
from agents.errors import EngineUnavailable, UnsupportedVariant, UserError
from agents.inputs import Calibration, calibration_sha256
from agents.runner import run_job


def _unavailable_reason() -> str | None:
    try:
        get_engine("tensorrt").version()
    except EngineUnavailable as e:
        return e.reason
    return None


UNAVAILABLE = _unavailable_reason()
needs_gpu = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"TensorRT not usable here: {UNAVAILABLE}")
without_gpu = pytest.mark.skipif(UNAVAILABLE is None, reason="TensorRT and a CUDA device are usable here")


# --- everywhere ----------------------------------------------------------------------------

def test_importing_the_engine_imports_neither_tensorrt_nor_cuda():
    code = ("import sys, agents.runner, agents.engines.tensorrt.engine, agents.engines.tensorrt.session, "
            "agents.engines.tensorrt.build, agents.engines.tensorrt.int8, agents.engines.tensorrt.cuda;"
            "from agents.engines import get_engine; e = get_engine('tensorrt');"
            "e.options({'opt_shapes': 'input:1x256'}, 'test');"
            "print([m for m in ('tensorrt', 'cuda', 'onnxruntime') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@without_gpu
def test_version_says_precisely_why_tensorrt_is_unavailable():
    with pytest.raises(EngineUnavailable) as info:
        get_engine("tensorrt").version()
    assert info.value.engine == "tensorrt"
    assert info.value.reason.startswith(("cannot import tensorrt: ", "cannot load TensorRT",
                                         "cannot import cuda-python", "no CUDA device: "))
    assert len(info.value.reason) > len("cannot import tensorrt: ")


@without_gpu
def test_a_job_without_tensorrt_is_an_infra_error_with_the_reason(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "tensorrt"))
    assert result.status == "infra-error"
    assert result.error_type == "EngineUnavailable"
    assert UNAVAILABLE in result.error and "tensorrt" in result.error
    assert result.latencies_ns().size == 0


def test_tensorrt_is_a_known_engine_for_onnx_models():
    engine = get_engine("tensorrt")
    assert engine.formats == (".onnx",) and engine.precisions == ("fp32", "fp16", "int8")


@pytest.mark.parametrize("raw,message", [
    ({"colour": "red"}, "unknown option.*colour.*known:.*workspace_mb"),
    ({"quantization": "magic"}, "quantization must be one of auto, qdq, calibrator"),
    ({"builder_optimization_level": 7}, "builder_optimization_level must be 0-5"),
    ({"workspace_mb": 0}, "workspace_mb must be >= 1"),
    ({"device": -1}, "device must be >= 0"),
    ({"max_shapes": "input=4x256"}, "max_shapes: 'input=4x256' is not NAME:D1xD2"),
    ({"opt_shapes": "input:4xfour"}, "opt_shapes: 'input:4xfour': dims must be integers"),
    ({"include_copies": "maybe"}, "include_copies"),
])
def test_options_are_validated_by_name(raw, message):
    with pytest.raises(UserError, match=message):
        get_engine("tensorrt").options(raw, source="job 1 engine options")


def test_options_are_coerced_from_strings():
    opts = get_engine("tensorrt").options({"workspace_mb": "512", "tf32": "yes", "device": "1"}, "cli")
    assert (opts.workspace_mb, opts.tf32, opts.device) == (512, True, 1)


def test_every_option_that_shapes_the_plan_is_in_the_cache_key():
    import dataclasses

    engine = get_engine("tensorrt")
    run_only = {"device", "timing_cache", "include_copies", "device_timing"}
    fields = {f.name for f in dataclasses.fields(engine.Options)}
    assert set(engine.compile_keys) == fields - run_only  # device: covered by target()


def test_with_shapes_makes_the_users_shape_the_profile_optimum():
    engine = get_engine("tensorrt")
    opts = engine.with_shapes(engine.options({}, "t"), {"input": [4, 256]})
    assert opts.opt_shapes == "input:4x256"
    explicit = engine.options({"opt_shapes": "input:2x256"}, "t")
    assert engine.with_shapes(explicit, {"input": [4, 256]}).opt_shapes == "input:2x256"


def test_parse_shapes_reads_trtexec_syntax():
    assert parse_shapes("input:1x3x224x224, mask:1x128", "o") == {"input": [1, 3, 224, 224], "mask": [1, 128]}
    assert parse_shapes("input:0:4x2", "o") == {"input:0": [4, 2]}  # names with ':' (TF exports)
    assert parse_shapes("rate:", "o") == {"rate": []}
    assert parse_shapes(None, "o") == {} and parse_shapes("", "o") == {}
    shapes = {"b": [2, 3], "a": []}
    assert parse_shapes(format_shapes(shapes), "o") == shapes


@pytest.mark.parametrize("text,message", [
    ("a:1x2,a:1x3", "input 'a' is given twice"),
    ("a:1x-2", "dims must be >= 0"),
    (":1x2", "is not NAME"),
])
def test_parse_shapes_rejects_bad_items(text, message):
    with pytest.raises(UserError, match=message):
        parse_shapes(text, "min_shapes")


DYNAMIC = [TensorInfo("ids", "int64", ("batch", "seq")), TensorInfo("scale", "float32", (1,))]


def test_profile_defaults_min_and_max_to_the_optimum_like_trtexec():
    profile = profile_shapes(DYNAMIC, {"ids": [4, 128]}, {}, {})
    assert profile == {"ids": ([4, 128], [4, 128], [4, 128])}  # fixed inputs need no entry


def test_profile_takes_explicit_bounds():
    profile = profile_shapes(DYNAMIC, {"ids": [4, 128]}, {"ids": [1, 16]}, {"ids": [8, 512]})
    assert profile["ids"] == ([1, 16], [4, 128], [8, 512])
    assert within([2, 64], *profile["ids"][::2]) and not within([16, 64], *profile["ids"][::2])


@pytest.mark.parametrize("opt,mins,maxs,message", [
    ({}, {}, {}, r"input 'ids' has dynamic dims \['batch', 'seq'\].*opt_shapes=ids:NxN"),
    ({"ids": [4, 128]}, {"ids": [8, 128]}, {}, "min <= opt <= max.*min \\[8, 128\\]"),
    ({"ids": [4, 128]}, {}, {"ids": [4, 64]}, "min <= opt <= max"),
    ({"ids": [4]}, {}, {}, "opt_shapes: input 'ids' has rank 2, 1 dims given"),
    ({"ids": [4, 128]}, {"scale": [2]}, {}, "min_shapes: input 'scale' dim 0 is fixed at 1"),
    ({"ids": [4, 128], "nope": [1]}, {}, {}, "unknown input.*nope.*inputs: ids, scale"),
])
def test_profile_rejects_bad_requests_naming_the_input(opt, mins, maxs, message):
    with pytest.raises(UserError, match=message):
        profile_shapes(DYNAMIC, opt, mins, maxs)


@pytest.mark.parametrize("cc,fp16,int8", [
    ((5, 0), False, False), ((5, 3), True, False), ((6, 1), False, True),
    ((6, 0), True, False), ((7, 5), True, True), ((9, 0), True, True),
])
def test_fast_precisions_by_compute_capability(cc, fp16, int8):
    assert trt_build.fast_by_capability("fp16", *cc) is fp16
    assert trt_build.fast_by_capability("int8", *cc) is int8


def test_timing_cache_lives_beside_the_artifacts_one_file_per_target(tmp_path):
    workdir = tmp_path / ".tmp-abc-123"
    a = trt_build.default_timing_cache(workdir, "NVIDIA H100 80GB HBM3 sm_90 TensorRT 10.16.1.11")
    b = trt_build.default_timing_cache(workdir, "NVIDIA L4 sm_89 TensorRT 10.16.1.11")
    assert a.parent == tmp_path / "tensorrt-timing" and a != b
    assert " " not in a.name and a.name.endswith(".cache")


@pytest.fixture
def qdq_model(model_file, tmp_path):
    """resnet with symmetric int8 Q/DQ nodes inserted by onnxruntime (the qdq route's input)."""
    src = model_file("resnet")
    out = tmp_path / "resnet.qdq.onnx"
    trt_int8.quantize_qdq(src, out, Calibration(None, {}, samples=4), tmp_path)
    return out


def test_qdq_insertion_is_symmetric_as_tensorrt_requires(qdq_model):
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(qdq_model)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    zero_points = [inits[n.input[2]] for n in graph.node
                   if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits]
    assert zero_points and all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)


def test_int8_route_prefers_the_models_own_qdq(model_file, qdq_model):
    plain = model_file("resnet")
    assert trt_int8.choose_route(qdq_model, "auto", True, "10.16") == "qdq-model"
    assert trt_int8.choose_route(plain, "auto", True, "10.16") == "calibrator"
    assert trt_int8.choose_route(plain, "auto", False, "11.4") == "qdq-onnxruntime"
    assert trt_int8.choose_route(plain, "qdq", True, "10.16") == "qdq-onnxruntime"
    assert trt_int8.choose_route(qdq_model, "calibrator", True, "10.16") == "calibrator"
    with pytest.raises(UnsupportedVariant, match="11.4 has no int8 calibrator.*quantization=qdq"):
        trt_int8.choose_route(plain, "calibrator", False, "11.4")


# --- on an NVIDIA GPU (pytest -m gpu) --------------------------------------------------------

@pytest.fixture
def calibration_npz(tmp_path):
    path = tmp_path / "calib.npz"
    np.savez(path, input=np.random.default_rng(3).standard_normal((16, 1, 3, 64, 64)).astype(np.float32))
    return path


def _job(job_for, path, precision, options=None, calibration=None):
    job = job_for(path, "tensorrt", options=dict(options or {}))
    job.variant.precision = precision
    if calibration:
        job.calibration.path, job.calibration.sha256 = str(calibration), calibration_sha256(str(calibration))
    return job


def _ok_or_skipped(result, precision):
    if result.status == "model-error" and result.error_type == "UnsupportedVariant":
        assert precision in result.error
        pytest.skip(f"this GPU skips {precision}: {result.error}")
    assert result.status == "ok", result.error


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("precision,cosine", [("fp32", 0.9999), ("fp16", 0.999), ("int8", 0.95)])
def test_resnet_builds_runs_and_is_cached(model_file, job_for, calibration_npz, precision, cosine):
    path = model_file("resnet")
    first = run_job(_job(job_for, path, precision, calibration=calibration_npz))
    _ok_or_skipped(first, precision)
    assert first.metrics["accuracy_cosine_min"] > cosine
    assert first.metrics["artifact_bytes"] > 0 and first.metrics["compile_s"] > 0
    notes = first.environment["artifact"]["tool_versions"]
    assert notes["tensorrt"] == first.environment["engine_version"] and float(notes["build_s"]) > 0
    if precision == "int8":
        assert notes["int8_route"] in ("calibrator", "qdq-onnxruntime") and "user data" in notes["quantization"]
    cfg = first.engine_config
    assert cfg["timed_region"] == "execute_async_v3 + stream sync" and cfg["gpu"]
    second = run_job(_job(job_for, path, precision, calibration=calibration_npz))
    assert second.status == "ok", second.error
    assert (first.environment["artifact"]["cache"], second.environment["artifact"]["cache"]) == ("miss", "hit")
    assert second.metrics["compile_s"] == 0.0


@pytest.mark.gpu
@needs_gpu
def test_a_qdq_model_builds_as_explicit_int8(qdq_model, job_for):
    result = run_job(_job(job_for, qdq_model, "int8"))
    _ok_or_skipped(result, "int8")
    assert result.environment["artifact"]["tool_versions"]["int8_route"] == "qdq-model"


@pytest.mark.gpu
@needs_gpu
def test_dynamic_batch_runs_anywhere_inside_its_profile(model_file, job_for):
    path = model_file("mlp", batch=None)
    options = {"opt_shapes": "input:4x256", "min_shapes": "input:1x256", "max_shapes": "input:8x256"}
    for batch, cache in ((4, "miss"), (8, "hit"), (1, "hit")):
        job = _job(job_for, path, "fp32", options)
        job.inputs.shapes = {"input": [batch, 256]}
        result = run_job(job)
        assert result.status == "ok", result.error
        assert result.environment["artifact"]["cache"] == cache
        assert json.loads(result.environment["artifact"]["tool_versions"]["profile"]) == \
            {"input": [[1, 256], [4, 256], [8, 256]]}
    job = _job(job_for, path, "fp32", options)
    job.inputs.shapes = {"input": [16, 256]}
    outside = run_job(job)
    assert outside.status == "model-error" and "outside the plan's profile" in outside.error


@pytest.mark.gpu
@needs_gpu
def test_dynamic_model_without_a_profile_names_the_option(model_file, job_for):
    job = _job(job_for, model_file("mlp", batch=None), "fp32")
    job.inputs.shapes = {"input": [4, 256]}
    result = run_job(job)
    assert result.status == "model-error" and "opt_shapes=input:Nx256" in result.error


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("include_copies", [False, True])
def test_session_agrees_with_onnxruntime_and_keeps_device_times(model_file, tmp_path, include_copies):
    import onnxruntime as ort

    from agents.compile import compile_cached
    from agents.runner import sha256_file

    path = model_file("mlp")
    engine = get_engine("tensorrt")
    opts = engine.options({"include_copies": include_copies}, "test")
    artifact = compile_cached(engine, path, sha256_file(path), "fp32", opts, tmp_path / "cache", None, None)
    assert list((tmp_path / "cache" / "tensorrt-timing").glob("*.cache"))  # the timing cache
    session = engine.load(artifact, opts, {})
    try:
        feeds = [{"input": np.random.default_rng(i).standard_normal((1, 256)).astype(np.float32)}
                 for i in range(3)]
        prepared = [session.prepare(f) for f in feeds]
        outs = [session.to_numpy(session.infer(p)) for p in prepared]
        device_ms = session.take_device_times_ms()
        assert session.resolved_config()["include_copies"] is include_copies
    finally:
        session.close()
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for feed, out in zip(feeds, outs):
        np.testing.assert_allclose(out[0], ref.run(None, feed)[0], rtol=1e-3, atol=1e-5)
    assert len(device_ms) == 3 and all(ms > 0 for ms in device_ms)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("include_copies", [False, True])
def test_request_pool_runs_one_context_per_request_and_agrees_with_infer(model_file, tmp_path,
                                                                         include_copies):
    from agents.compile import compile_cached
    from agents.runner import sha256_file

    path = model_file("mlp")
    engine = get_engine("tensorrt")
    opts = engine.options({"include_copies": include_copies}, "test")
    artifact = compile_cached(engine, path, sha256_file(path), "fp32", opts, tmp_path / "cache", None, None)
    session = engine.load(artifact, opts, {})
    done: dict[int, np.ndarray] = {}
    try:
        prepared = [session.prepare({"input": np.full((1, 256), i / 8, np.float32)}) for i in range(8)]
        expected = [session.to_numpy(session.infer(p))[0] for p in prepared]
        session.take_device_times_ms()
        pool = session.request_pool(3)
        assert pool.mechanism == "3 TensorRT execution contexts on 3 CUDA streams" and not pool.serialized
        for rounds in range(4):
            for i, p in enumerate(prepared):
                pool.submit(p, lambda start, end, out, i=i: done.setdefault(i, session.to_numpy(out)[0]))
        pool.wait_all()
        pool.close()
        assert session.resolved_config()["execution_contexts"] == 3
        assert len(session.take_device_times_ms()) == 32
    finally:
        session.close()
    assert sorted(done) == list(range(8))
    for i in range(8):
        np.testing.assert_allclose(done[i], expected[i], rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_gpu
def test_offline_scenario_with_two_contexts_runs(model_file, job_for):
    from agents.spec import Scenario

    job = _job(job_for, model_file("resnet"), "fp16")
    job.scenario = Scenario(name="offline", concurrency=2)
    result = run_job(job)
    _ok_or_skipped(result, "fp16")
    assert result.engine_config["execution_contexts"] == 2
    assert result.metrics["throughput_ips"] > 0
    print(f"tensorrt offline fp16 resnet, 2 contexts: {result.metrics['throughput_ips']:.0f} inf/s")
