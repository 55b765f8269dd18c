"""Real ONNX Runtime and OpenVINO on zoo models, through the agent's runner."""

import numpy as np
import pytest

from agents.engines import get_engine, known_engines, register
from agents.errors import UserError
from agents.runner import run_job
import zoo

ENGINES = ["onnxruntime", "openvino"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["mlp", "resnet", "mobilenetv2", "transformer"])
def test_zoo_model_runs_and_is_measured(model_file, job_for, engine, name):
    result = run_job(job_for(model_file(name), engine, options={"threads": 1}))
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["iterations"] >= 20 and m["iterations"] == result.latencies_ns().size
    assert 0 < m["latency_min_ms"] <= m["latency_p50_ms"] <= m["latency_p99_ms"] <= m["latency_max_ms"]
    assert m["cold_start_ms"] > m["first_inference_ms"] > 0
    assert set(result.phases_s) >= {"compile", "load", "first_inference", "warmup", "measure"}
    assert result.environment["engine_version"] and result.environment["cpu_model"]


def test_onnxruntime_records_resolved_options(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}))
    assert result.engine_config["intra_op_threads"] == 1
    assert result.engine_config["provider"] == "CPUExecutionProvider"


def test_openvino_records_resolved_options_and_pins_fp32(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "openvino", options={"threads": 1, "hint": "latency"}))
    cfg = result.engine_config
    assert result.status == "ok", result.error
    assert cfg["performance_hint"] == "LATENCY" and cfg["inference_num_threads"] == 1
    assert cfg["inference_precision_hint"] == "f32"


@pytest.mark.parametrize("engine", ENGINES)
def test_dynamic_model_runs_with_shape(model_file, job_for, engine):
    job = job_for(model_file("mlp", batch=None), engine)
    job.inputs.shapes = {"input": [4, 256]}
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"] == {"input": [4, 256]}


@pytest.mark.parametrize("engine", ENGINES)
def test_dynamic_model_without_shape_is_a_model_error_naming_the_input(model_file, job_for, engine):
    result = run_job(job_for(model_file("mlp", batch=None), engine))
    assert result.status == "model-error"
    assert "'input'" in result.error and "--shape" in result.error


@pytest.mark.parametrize("engine", ENGINES)
def test_multi_input_model_with_int64_scalar_and_real_data(model_file, job_for, tmp_path, engine):
    np.savez(tmp_path / "in.npz", sample_rate=np.array(16000, dtype=np.int64))
    job = job_for(model_file(zoo.build_multi_input(), filename="multi.onnx"), engine)
    job.inputs.shapes = {"audio": [1, 800], "mask": [1, 800]}
    job.inputs.npz = str(tmp_path / "in.npz")
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"]["sample_rate"] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_unsupported_op_is_a_model_error_with_the_engines_message(model_file, job_for, engine):
    result = run_job(job_for(model_file(zoo.build_unsupported_op(), filename="bad.onnx"), engine))
    assert result.status == "model-error"
    assert "NoSuchOp" in result.error
    assert result.latencies_ns().size == 0


def test_changed_model_file_is_an_infra_error(model_file, job_for):
    path = model_file("mlp")
    job = job_for(path, "onnxruntime")
    path.write_bytes(path.read_bytes() + b"\0")
    result = run_job(job)
    assert result.status == "infra-error" and "sha256" in result.error


def test_unavailable_device_is_an_infra_error(model_file, job_for):
    result = run_job(job_for(model_file("mlp"), "openvino", options={"device": "NPU"}))
    assert result.status == "infra-error" and "NPU" in result.error


def test_unknown_engine_lists_known_ones():
    with pytest.raises(UserError, match="unknown engine 'ovino'; known: .*onnxruntime.*openvino"):
        get_engine("ovino")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register("onnxruntime", lambda: None)
    assert {"onnxruntime", "openvino"} <= set(known_engines())


@pytest.mark.parametrize("raw,message", [
    ({"colour": "red"}, "unknown option.*colour"),
    ({"threads": "many"}, "threads"),
    ({"threads": 0}, "threads must be >= 1"),
])
def test_engine_options_are_validated_by_name(raw, message):
    with pytest.raises(UserError, match=message):
        get_engine("onnxruntime").options(raw, source="test")


def test_openvino_hint_is_validated():
    with pytest.raises(UserError, match="hint must be one of"):
        get_engine("openvino").options({"hint": "fastest"}, source="test")


def test_importing_agents_imports_no_vendor_sdk():
    import subprocess
    import sys
    code = ("import sys, agents.runner, agents.engines.onnxruntime.engine, agents.engines.openvino.engine;"
            "print([m for m in ('onnxruntime', 'openvino', 'tensorrt', 'pandas', 'sqlmodel') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_options_of_a_plugin_without_postponed_annotations_are_coerced():
    import dataclasses

    from agents.engines.base import build_options

    @dataclasses.dataclass
    class PluginOptions:
        threads: int = 1
        scale: float | None = None
        fast: bool = False

    opts = build_options(PluginOptions, {"threads": "3", "scale": "0.5", "fast": "yes"}, "test")
    assert opts == PluginOptions(threads=3, scale=0.5, fast=True)
