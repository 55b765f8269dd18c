"""Real pnnx conversions and real ncnn runs of zoo models through the agent's runner."""

from __future__ import annotations

import importlib.util

import pytest

from agents.engines import get_engine
from agents.errors import UserError
from agents.runner import run_job
import zoo

HAS_NCNN = all(importlib.util.find_spec(m) for m in ("ncnn", "pnnx"))
pytestmark = pytest.mark.skipif(not HAS_NCNN, reason="ncnn/pnnx not installed (pip install "
                                "benchlab[ncnn]; pnnx with --no-deps, see the Makefile)")


def _job(job_for, path, precision="fp32", **options):
    job = job_for(path, "ncnn", options={"threads": 1, **options})
    job.variant.precision = precision
    return job


@pytest.mark.parametrize("name,precision,min_cosine", [
    ("mlp", "fp32", 0.9999), ("resnet", "fp32", 0.9999), ("resnet", "fp16", 0.999),
    ("mobilenetv2", "fp16", 0.999)])
def test_converted_model_runs_and_matches_the_reference(model_file, job_for, name, precision, min_cosine):
    result = run_job(_job(job_for, model_file(name), precision))
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["accuracy_cosine_min"] > min_cosine and m["iterations"] >= 20
    if name != "mlp":
        assert m["accuracy_top1_agreement"] == 1.0
    tools = result.environment["artifact"]["tool_versions"]
    assert tools["pnnx"] and f"{precision} weights" in tools["conversion"]
    assert m["artifact_bytes"] > 0 and result.environment["artifact"]["cache"] == "miss"


def test_fp32_pins_ncnns_fp16_defaults_off_and_fp16_turns_them_on(model_file, job_for):
    path = model_file("mlp")
    fp32, fp16 = (run_job(_job(job_for, path, p)).engine_config for p in ("fp32", "fp16"))
    assert fp32["use_fp16_storage"] is fp32["use_fp16_arithmetic"] is fp32["use_bf16_storage"] is False
    assert fp16["use_fp16_storage"] is fp16["use_fp16_arithmetic"] is True
    assert fp32["threads"] == 1 and "cpu_fp16_arithmetic" in fp32


def test_int8_is_skipped_with_the_reason(model_file, job_for):
    result = run_job(_job(job_for, model_file("resnet"), "int8"))
    assert result.status == "model-error" and result.error_type == "UnsupportedVariant"
    assert "ncnn2int8" in result.error


def test_int64_token_ids_run_as_int32(model_file, job_for):
    result = run_job(_job(job_for, model_file("transformer")))
    assert result.status == "ok", result.error
    assert result.metrics["accuracy_cosine_min"] > 0.9999


def test_dynamic_model_is_converted_at_the_given_shape_and_batch_over_1_refused(model_file, job_for):
    path = model_file("mlp", batch=None)
    job = _job(job_for, path)
    job.inputs.shapes = {"input": [1, 256]}
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.engine_config["input_shapes"] == "input:1x256"
    job = _job(job_for, path)
    job.inputs.shapes = {"input": [4, 256]}
    result = run_job(job)
    assert result.error_type == "UnsupportedVariant" and "batch 4" in result.error


def test_scalar_input_is_refused_naming_it(model_file, job_for):
    job = _job(job_for, model_file(zoo.build_multi_input(), filename="multi.onnx"))
    job.inputs.shapes = {"audio": [1, 800], "mask": [1, 800]}
    result = run_job(job)
    assert result.error_type == "UnsupportedVariant"
    assert "'sample_rate'" in result.error or "'mask'" in result.error


def test_converter_failure_is_a_model_error_with_pnnxs_message(model_file, job_for):
    result = run_job(_job(job_for, model_file(zoo.build_unsupported_op(), filename="bad.onnx")))
    assert result.status == "model-error" and result.error_type == "ModelError"
    assert "pnnx could not convert bad.onnx" in result.error and "NoSuchOp" in result.error


def test_options_are_typed_and_unknown_keys_refused():
    engine = get_engine("ncnn")
    assert engine.options({"threads": "2", "lightmode": "false"}).lightmode is False
    with pytest.raises(UserError, match="unknown option.*winograd"):
        engine.options({"winograd": "on"})
    with pytest.raises(UserError, match="input_shapes"):
        engine.options({"input_shapes": "input"})


def test_weights_in_external_data_are_inlined_for_pnnx(tmp_path, job_for):
    import onnx
    path = tmp_path / "mlp.onnx"
    onnx.save(zoo.build("mlp"), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location="mlp.data", size_threshold=0)
    result = run_job(_job(job_for, path))
    assert result.status == "ok", result.error
    assert result.metrics["accuracy_cosine_min"] > 0.9999  # pnnx alone reads garbage weights
