"""Real TVM (Relax) compiles for this CPU and real runs of zoo models through the agent's runner."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from agents.engines import get_engine
from agents.errors import UserError
from agents.runner import run_job
import zoo

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tvm") is None,
                                reason="apache-tvm not installed (pip install benchlab[tvm])")


def _job(job_for, path, precision="fp32", **options):
    job = job_for(path, "tvm", options={"threads": 1, **options})
    job.variant.precision = precision
    return job


@pytest.mark.parametrize("name", ["mlp", "resnet"])
def test_compiled_library_runs_and_matches_the_reference(model_file, job_for, name):
    result = run_job(_job(job_for, model_file(name)))
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["accuracy_cosine_min"] > 0.9999 and m["accuracy_top1_agreement"] == 1.0
    art = result.environment["artifact"]
    assert art["path"].endswith("model.so") and art["tool_versions"]["tvm"]
    assert '"mcpu"' in art["tool_versions"]["target"] and "untuned" in art["tool_versions"]["schedules"]
    assert result.engine_config["threads"] == 1


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_other_precisions_are_skipped_with_the_reason(model_file, job_for, precision):
    result = run_job(_job(job_for, model_file("mlp"), precision))
    assert result.error_type == "UnsupportedVariant" and f"no {precision}" in result.error


def test_multi_input_model_with_int64_scalar_bool_mask_and_two_outputs(model_file, job_for, tmp_path):
    np.savez(tmp_path / "in.npz", sample_rate=np.array(16000, dtype=np.int64))
    job = _job(job_for, model_file(zoo.build_multi_input(), filename="multi.onnx"))
    job.inputs.shapes = {"audio": [1, 800], "mask": [1, 800]}
    job.inputs.npz = str(tmp_path / "in.npz")
    result = run_job(job)
    assert result.status == "ok", result.error
    assert set(result.environment["accuracy"]["outputs"]) == {"energy", "rate_check"}
    assert result.metrics["accuracy_max_abs_error"] < 1e-4


def test_shapes_are_compiled_in_and_part_of_the_cache_key(model_file, job_for, tmp_path):
    path = model_file("mlp", batch=None)
    runs = []
    for batch in (2, 2, 3):
        job = _job(job_for, path)
        job.inputs.shapes = {"input": [batch, 256]}
        job.cache_dir = str(tmp_path / "cache")
        runs.append(run_job(job))
    assert all(r.status == "ok" for r in runs), [r.error for r in runs]
    assert [r.environment["artifact"]["cache"] for r in runs] == ["miss", "hit", "miss"]
    assert runs[2].engine_config["input_shapes"] == "input:3x256"


def test_dynamic_dim_left_open_is_a_model_error_naming_the_input(model_file, job_for):
    result = run_job(_job(job_for, model_file("mlp", batch=None)))
    assert result.status == "model-error" and "'input'" in result.error and "--shape" in result.error


def test_compile_failure_is_a_model_error_with_tvms_message(model_file, job_for):
    result = run_job(_job(job_for, model_file(zoo.build_unsupported_op(), filename="bad.onnx")))
    assert result.status == "model-error" and result.error_type == "ModelError"
    assert "tvm could not compile bad.onnx" in result.error and "NoSuchOp" in result.error


def test_options_are_validated_by_name():
    engine = get_engine("tvm")
    with pytest.raises(UserError, match="threads must be >= 1"):
        engine.options({"threads": 0})
    with pytest.raises(UserError, match="unknown option.*opt_level"):
        engine.options({"opt_level": 3})
