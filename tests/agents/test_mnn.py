"""Real MNNConvert conversions and real MNN runs of zoo models through the agent's runner."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from agents.engines import get_engine
from agents.errors import UserError
from agents.runner import run_job
import zoo

pytestmark = pytest.mark.skipif(importlib.util.find_spec("MNN") is None,
                                reason="MNN not installed (pip install benchlab[mnn])")


def _job(job_for, path, precision="fp32", **options):
    job = job_for(path, "mnn", options={"threads": 1, **options})
    job.variant.precision = precision
    return job


@pytest.mark.parametrize("name,precision,min_cosine", [
    ("mlp", "fp32", 0.9999), ("resnet", "fp32", 0.9999), ("resnet", "fp16", 0.999),
    ("resnet", "int8", 0.95), ("mobilenetv2", "int8", 0.95)])
def test_converted_model_runs_and_matches_the_reference(model_file, job_for, name, precision, min_cosine):
    result = run_job(_job(job_for, model_file(name), precision))
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["accuracy_cosine_min"] > min_cosine and m["iterations"] >= 20
    if name != "mlp":
        assert m["accuracy_top1_agreement"] >= 0.75
    tools = result.environment["artifact"]["tool_versions"]
    assert tools["MNN"] and tools["conversion"].startswith("MNNConvert")
    assert m["artifact_bytes"] > 0
    assert "calibration-generated" not in result.flags  # weight-only int8 uses no calibration


def test_each_precision_pins_its_runtime_mode_and_says_what_the_weights_are(model_file, job_for):
    path = model_file("mlp")
    cfg = {p: run_job(_job(job_for, path, p)).engine_config for p in ("fp32", "fp16", "int8")}
    assert (cfg["fp32"]["precision"], cfg["fp16"]["precision"]) == ("high", "low")
    assert cfg["int8"]["memory"] == "low" and "int8 weights" in cfg["int8"]["weights"]
    assert cfg["fp32"]["threads"] == 1 and isinstance(cfg["fp16"]["cpu_fp16_arithmetic"], bool)


def test_int8_artifact_is_smaller_than_fp16_smaller_than_fp32(model_file, job_for):
    path = model_file("resnet")
    sizes = [run_job(_job(job_for, path, p)).metrics["artifact_bytes"] for p in ("fp32", "fp16", "int8")]
    assert sizes[0] > sizes[1] > sizes[2]


def test_multi_input_model_with_int64_scalar_and_bool_mask(model_file, job_for, tmp_path):
    np.savez(tmp_path / "in.npz", sample_rate=np.array(16000, dtype=np.int64))
    job = _job(job_for, model_file(zoo.build_multi_input(), filename="multi.onnx"))
    job.inputs.shapes = {"audio": [1, 800], "mask": [1, 800]}
    job.inputs.npz = str(tmp_path / "in.npz")
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.metrics["accuracy_max_abs_error"] < 1e-4


def test_dynamic_model_runs_at_the_given_shape(model_file, job_for):
    job = _job(job_for, model_file("mlp", batch=None))
    job.inputs.shapes = {"input": [4, 256]}
    result = run_job(job)
    assert result.status == "ok", result.error
    assert result.environment["input_shapes"] == {"input": [4, 256]}
    assert result.metrics["accuracy_cosine_min"] > 0.9999


def test_int64_token_ids(model_file, job_for):
    result = run_job(_job(job_for, model_file("transformer")))
    assert result.status == "ok", result.error
    assert result.metrics["accuracy_cosine_min"] > 0.9999


def test_converter_failure_is_a_model_error_with_its_message(model_file, job_for):
    result = run_job(_job(job_for, model_file(zoo.build_unsupported_op(), filename="bad.onnx")))
    assert result.status == "model-error" and result.error_type == "ModelError"
    assert "MNNConvert could not convert bad.onnx" in result.error and "NoSuchOp" in result.error


def test_options_are_validated_by_name():
    engine = get_engine("mnn")
    assert engine.options({"precision": "normal"}).precision == "normal"
    with pytest.raises(UserError, match="precision must be high, normal or low"):
        engine.options({"precision": "fp8"})
    with pytest.raises(UserError, match="unknown option.*backend"):
        engine.options({"backend": "OPENCL"})


def test_what_mnn_prints_on_import_reaches_neither_stdout_nor_stderr(tmp_path, bench):
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "agents", "probe"], capture_output=True, text=True,
                         check=True)
    engines = json.loads(out.stdout)["engines"]  # the agent's stdout is its JSON alone
    assert engines["mnn"]["available"] and engines["mnn"]["version"]
    assert "device supports" not in out.stderr
    bad = bench("run", str(tmp_path / "missing.onnx"), "--db", str(tmp_path / "b.db"))
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_importing_the_seed_engines_imports_no_sdk():
    import subprocess
    import sys
    code = ("import sys, agents.engines.mnn.engine, agents.engines.ncnn.engine, agents.engines.tvm.engine;"
            "print([m for m in ('MNN', '_mnncengine', 'ncnn', 'tvm', 'onnx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
