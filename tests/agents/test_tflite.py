"""Real LiteRT runs of real .tflite files (zoo_tflite) through the agent's runner."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from agents.engines import get_engine
from agents.engines.tflite.convert import converter_missing
from agents.errors import UserError
from agents.runner import run_job
import zoo
from zoo import tflite as zoo_tflite

# The converter may live in this environment or in one named by $BENCH_TFLITE_CONVERT_PYTHON
# (`make test` builds .venv-onnx2tf and points the variable at it).
HAS_ONNX2TF = converter_missing() is None
needs_onnx2tf = pytest.mark.skipif(not HAS_ONNX2TF, reason=f"no ONNX -> TFLite converter: {converter_missing()}")


@pytest.fixture
def tflite_file(tmp_path):
    """Factory: write a .tflite zoo model into tmp_path and return its path."""
    return lambda name, batch=1: zoo_tflite.save(name, tmp_path / f"{name}.tflite", batch=batch)


def _session(path, precision, shapes=None, **options):
    engine = get_engine("tflite")
    opts = engine.options(options)
    return engine.load(engine.compile(path, precision, opts, path.parent), opts, shapes or {})


def _outputs(session, feed):
    return session.to_numpy(session.infer(session.prepare(feed)))


@pytest.mark.parametrize("name,precision", [("cnn", "fp32"), ("cnn-fp16", "fp16"), ("cnn-int8", "int8")])
def test_tflite_file_runs_and_is_measured(tflite_file, job_for, name, precision):
    job = job_for(tflite_file(name), "tflite", options={"threads": 1})
    job.variant.precision = precision
    result = run_job(job)
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["iterations"] >= 20 and m["iterations"] == result.latencies_ns().size
    assert 0 < m["latency_min_ms"] <= m["latency_p50_ms"] <= m["latency_max_ms"]
    assert m["cold_start_ms"] > m["first_inference_ms"] > 0
    cfg = result.engine_config
    assert cfg["threads"] == 1 and cfg["threads_source"] == "option" and cfg["xnnpack"] is True
    assert cfg["package"] == "ai-edge-litert"
    assert cfg["package_version"] == result.environment["engine_version"]
    assert result.environment["input_shapes"] == {"input": [1, 32, 32, 3]}


def test_xnnpack_option_decides_whether_the_delegate_runs(tflite_file, job_for):
    path = tflite_file("cnn")
    on = run_job(job_for(path, "tflite", options={"xnnpack": "true"}))
    off = run_job(job_for(path, "tflite", options={"xnnpack": "false"}))
    assert on.status == off.status == "ok", (on.error, off.error)
    assert on.engine_config["delegate_partitions"] >= 1 and on.engine_config["op_resolver"] == "BUILTIN"
    assert off.engine_config["delegate_partitions"] == 0
    assert off.engine_config["op_resolver"] == "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
    assert on.engine_config["threads_source"] == "litert-default"


def test_int8_session_takes_float_inputs_and_returns_dequantized_outputs(tflite_file):
    fp32, int8 = _session(tflite_file("cnn"), "fp32"), _session(tflite_file("cnn-int8"), "int8")
    assert int8.inputs[0].dtype == "float32" and int8.outputs[0].dtype == "float32"
    rng = np.random.default_rng(7)
    feeds = [{"input": rng.standard_normal((1, 32, 32, 3)).astype(np.float32)} for _ in range(16)]
    (index, quantized), = int8.prepare(feeds[0])
    assert quantized.dtype == np.int8 and len(np.unique(quantized)) > 50
    ref = np.concatenate([_outputs(fp32, f)[0] for f in feeds])
    got = np.concatenate([_outputs(int8, f)[0] for f in feeds])
    assert got.dtype == np.float32 and np.allclose(got.sum(axis=1), 1.0, atol=0.05)
    cosine = (ref * got).sum(axis=1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
    assert cosine.min() > 0.99 and np.abs(ref - got).max() < 0.05


@pytest.mark.parametrize("name,asked", [("cnn", "int8"), ("cnn-int8", "fp32"), ("cnn-fp16", "fp32")])
def test_precision_other_than_the_files_is_an_unsupported_variant(tflite_file, job_for, name, asked):
    job = job_for(tflite_file(name), "tflite")
    job.variant.precision = asked
    result = run_job(job)
    assert result.status == "model-error" and result.error_type == "UnsupportedVariant"
    found = {"cnn": "fp32", "cnn-int8": "int8", "cnn-fp16": "fp16"}[name]
    assert f"is {found}" in result.error and f"so {asked} needs" in result.error
    assert result.latencies_ns().size == 0


def test_dynamic_dims_are_resized_from_job_shapes(tflite_file, job_for):
    job = job_for(tflite_file("embed"), "tflite")
    job.inputs.shapes = {"tokens": [1, 12], "features": [1, 12, 16]}
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"] == {"tokens": [1, 12], "features": [1, 12, 16]}


def test_dynamic_batch_runs_at_the_given_batch(tflite_file):
    session = _session(tflite_file("cnn", batch=None), "fp32", {"input": [4, 32, 32, 3]})
    out, = _outputs(session, {"input": np.zeros((4, 32, 32, 3), np.float32)})
    assert out.shape == (4, 10)


def test_dynamic_dim_without_a_shape_is_a_model_error_naming_the_input(tflite_file, job_for):
    result = run_job(job_for(tflite_file("embed"), "tflite"))
    assert result.status == "model-error"
    assert "'tokens'" in result.error and "--shape tokens=1,N" in result.error


def test_truncated_tflite_is_one_line_and_exit_1(bench, tflite_file, tmp_path):
    path = tflite_file("cnn")
    path.write_bytes(path.read_bytes()[:3000])
    proc = bench("run", str(path), "--engine", "tflite", "--db", str(tmp_path / "b.db"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a valid TFLite model" in lines[0]
    assert not (tmp_path / "b.db").exists()


@pytest.mark.skipif(HAS_ONNX2TF, reason="the converter is installed here")
def test_onnx_without_the_converter_is_skipped_not_a_device_fault(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "tflite"))
    assert result.status == "model-error" and result.error_type == "UnsupportedVariant"
    assert "pip install benchlab[tflite-convert]" in result.error and "onnx2tf" in result.error


def test_options_are_typed_and_unknown_keys_refused():
    engine = get_engine("tflite")
    assert engine.options({"threads": "2", "xnnpack": "off"}).xnnpack is False
    with pytest.raises(UserError, match="thread"):
        engine.options({"thread": 2})
    with pytest.raises(UserError, match="threads must be >= 1"):
        engine.options({"threads": 0})


def test_importing_the_engine_does_not_import_litert():
    code = "import sys, agents.engines.tflite.engine; print('ai_edge_litert' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@needs_onnx2tf
@pytest.mark.parametrize("precision,min_cosine", [("fp32", 0.9999), ("fp16", 0.999), ("int8", 0.95)])
def test_onnx_is_converted_and_matches_the_onnx_reference(model_file, tmp_path, precision, min_cosine):
    import onnxruntime as ort

    source = model_file("resnet")
    engine = get_engine("tflite")
    opts = engine.options({"threads": 1})
    workdir = tmp_path / precision
    workdir.mkdir()
    session = engine.load(engine.compile(source, precision, opts, workdir), opts, {})
    assert "'input' transposed (0, 2, 3, 1)" in session.layout_note
    assert session.inputs[0].shape == (1, 64, 64, 3)
    ref = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for _ in range(4):
        feed = {"input": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)}
        expected = ref.run(None, feed)[0]
        got = session.adapt_outputs(_outputs(session, session.adapt_inputs(feed)))[0]
        cosine = float((expected * got).sum() / np.linalg.norm(expected) / np.linalg.norm(got))
        assert cosine > min_cosine


@needs_onnx2tf
@pytest.mark.parametrize("precision,min_cosine", [("fp32", 0.9999), ("int8", 0.95)])
def test_converted_model_runs_end_to_end_on_nchw_data_with_calibration(model_file, job_for, tmp_path,
                                                                     precision, min_cosine):
    """The whole job: user data in the ONNX layout, a calibration file for int8, the accuracy
    check against ONNX Runtime through the converter's layout map."""
    from agents.inputs import calibration_sha256

    rng = np.random.default_rng(5)
    np.save(tmp_path / "x.npy", rng.standard_normal((1, 3, 64, 64)).astype(np.float32))
    np.savez(tmp_path / "cal.npz", input=rng.standard_normal((8, 1, 3, 64, 64)).astype(np.float32))
    job = job_for(model_file("resnet"), "tflite", options={"threads": 1})
    job.variant.precision = precision
    job.inputs.files = {"input": str(tmp_path / "x.npy")}
    job.calibration.path = str(tmp_path / "cal.npz")
    job.calibration.sha256 = calibration_sha256(job.calibration.path)
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"] == {"input": [1, 64, 64, 3]}
    assert result.metrics["accuracy_cosine_min"] > min_cosine
    assert "'input' transposed (0, 2, 3, 1)" in result.environment["accuracy"]["layout"]
    assert "calibration-generated" not in result.flags


@needs_onnx2tf
def test_conversion_failure_is_a_model_error_with_the_converters_message(model_file, job_for):
    path = model_file(zoo.build_unsupported_op(), filename="bad.onnx")
    result = run_job(job_for(path, "tflite"))
    assert result.status == "model-error" and "onnx2tf could not convert bad.onnx" in result.error


def test_offline_keeps_several_interpreters_in_flight(tmp_path, job_for):
    from zoo.tflite import build_cnn
    path = tmp_path / "cnn.tflite"
    path.write_bytes(build_cnn("fp32"))
    job = job_for(path, "tflite", options={"threads": 1})
    job.scenario.name, job.scenario.concurrency = "offline", 2
    result = run_job(job)
    assert result.status == "ok", result.error
    assert "requests-serialized" not in result.flags
    assert result.metrics["requests_in_flight"] == 2
    assert "2 interpreters" in json.dumps(result.environment)


def test_user_data_in_the_onnx_layout_is_transposed_for_a_converted_model(tflite_file, tmp_path, job_for):
    """--input data is given as the ONNX source takes it (NCHW); a converted TFLite model (NHWC)
    gets it transposed by the converter's recorded permutation. The layout file stands in for
    onnx2tf's (same format as tflite/convert.py writes), beside a real NHWC .tflite."""
    import json

    from agents.engines.tflite.convert import Layout

    path = tflite_file("cnn")
    Layout.path_for(path).write_text(json.dumps({
        "source": "cnn.onnx (onnx2tf test stand-in)",
        "inputs": [{"name": "input", "source": "input", "perm": [0, 2, 3, 1]}],
        "outputs": [{"name": "output", "source": "output", "perm": None}],
        "reference_outputs": ["output"]}))
    nchw = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", nchw)
    job = job_for(path, "tflite")
    job.inputs.files = {"input": str(tmp_path / "x.npy")}
    job.accuracy_check = False
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"] == {"input": [1, 32, 32, 3]}
    # The same numbers as feeding the NHWC transpose directly.
    session = _session(path, "fp32")
    direct = _outputs(session, {"input": np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))})[0]
    adapted = _outputs(session, session.adapt_inputs({"input": nchw}))[0]
    np.testing.assert_array_equal(direct, adapted)
    assert "'input' transposed (0, 2, 3, 1)" in session.layout_note


def test_layout_leaves_inputs_without_user_data_alone():
    from agents.engines.tflite.convert import Layout

    layout = Layout("m.onnx", [{"name": "a", "source": "a", "perm": [0, 2, 3, 1]},
                               {"name": "b", "source": "b", "perm": None}], [], [])
    out = layout.to_tflite({"a": np.zeros((1, 3, 4, 5), np.float32)})
    assert list(out) == ["a"] and out["a"].shape == (1, 4, 5, 3)
