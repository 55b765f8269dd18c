"""fp32/fp16/int8 on ONNX Runtime and OpenVINO, the artifact cache, and the accuracy check."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from agents.engines import get_engine
from agents.inputs import Calibration, calibration_sha256
from agents.runner import run_job, sha256_file

CASES = [(e, p) for e in ("onnxruntime", "openvino") for p in ("fp32", "fp16", "int8")]


@pytest.fixture
def calibration_npz(tmp_path):
    """16 input sets from the same distribution as the harness's random inputs."""
    path = tmp_path / "calib.npz"
    np.savez(path, input=np.random.default_rng(3).standard_normal((16, 1, 3, 64, 64)).astype(np.float32))
    return path


def _job(job_for, path, engine, precision, calibration=None):
    job = job_for(path, engine, options={"threads": 1})
    job.variant.precision = precision
    if calibration:
        job.calibration.path, job.calibration.sha256 = str(calibration), calibration_sha256(str(calibration))
    return job


@pytest.mark.parametrize("engine,precision", CASES)
def test_every_variant_runs_or_is_skipped_with_a_reason(model_file, job_for, calibration_npz, engine, precision):
    result = run_job(_job(job_for, model_file("resnet"), engine, precision, calibration_npz))
    if result.status == "model-error" and result.error_type == "UnsupportedVariant":
        assert (engine, precision) == ("openvino", "fp16") and "fp16" in result.error
        return
    assert result.status == "ok", result.error
    m = result.metrics
    if precision == "fp16":
        assert m["accuracy_cosine_min"] > 0.999
    if precision == "int8":
        assert m["accuracy_cosine_min"] > 0.95 and m["accuracy_top1_agreement"] >= 0.75
        assert "user data" in json.dumps(result.environment["artifact"]["tool_versions"])
        assert "calibration-generated" not in result.flags
    if precision != "fp32":
        assert m["artifact_bytes"] > 0 and result.environment["artifact"]["cache"] in ("miss", "hit")


def test_openvino_fp32_agrees_with_the_reference(model_file, job_for):
    result = run_job(_job(job_for, model_file("mobilenetv2"), "openvino", "fp32"))
    assert result.metrics["accuracy_cosine_min"] > 0.99999
    assert result.environment["accuracy"]["reference"].startswith("onnxruntime")


def test_reference_variant_reports_why_it_has_no_accuracy(model_file, job_for):
    result = run_job(_job(job_for, model_file("mlp"), "onnxruntime", "fp32"))
    assert result.metrics["accuracy_cosine_min"] is None
    assert result.environment["accuracy"]["reason"] == "this variant is the fp32 reference"


def test_int8_on_generated_data_is_flagged(model_file, job_for):
    result = run_job(_job(job_for, model_file("mobilenetv2"), "openvino", "int8"))
    assert result.status == "ok" and "calibration-generated" in result.flags


def test_dynamic_int8_for_a_matmul_model(model_file, job_for):
    result = run_job(_job(job_for, model_file("transformer"), "onnxruntime", "int8"))
    assert result.status == "ok", result.error
    assert "dynamic" in result.environment["artifact"]["tool_versions"]["quantization"]
    assert result.metrics["accuracy_cosine_min"] > 0.95


@pytest.mark.parametrize("model,engine,precision", [
    ("mobilenetv2", "onnxruntime", "fp16"), ("mlp", "ncnn", "fp16"), ("mlp", "mnn", "int8")])
def test_second_run_of_a_variant_hits_the_cache(model_file, job_for, tmp_path, model, engine, precision):
    from agents.errors import EngineUnavailable
    try:
        get_engine(engine).version()
    except EngineUnavailable as e:
        pytest.skip(f"{engine} is not usable here: {e.reason}")
    path = model_file(model)
    first = _job(job_for, path, engine, precision)
    first.cache_dir = str(tmp_path / "cache")
    second = _job(job_for, path, engine, precision)
    second.cache_dir = first.cache_dir
    a, b = run_job(first), run_job(second)
    assert a.status == "ok" and b.status == "ok", (a.error, b.error)
    assert a.environment["artifact"]["cache"] == "miss" and b.environment["artifact"]["cache"] == "hit"
    assert a.environment["artifact"]["path"] == b.environment["artifact"]["path"]
    assert b.phases_s["compile"] == 0.0 < a.phases_s["compile"]


_RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from agents.compile import compile_cached
    from agents.engines import get_engine
    from agents.inputs import Calibration
    model, sha, root, start = sys.argv[1:5]
    while time.time() < float(start):
        time.sleep(0.001)
    engine = get_engine("onnxruntime")
    a = compile_cached(engine, Path(model), sha, "int8", engine.options({"quantization": "static"}),
                       Path(root), Calibration(None, {}), None)
    print(a.cache, a.path)
""")


def test_two_processes_racing_on_one_key_leave_one_good_entry(model_file, tmp_path):
    import time
    path = model_file("resnet")
    start = str(time.time() + 1.5)
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(path), sha256_file(path),
                               str(tmp_path / "cache"), start], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0][1] == outs[1][1]
    entries = [d for d in (tmp_path / "cache").iterdir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".tmp")
    import onnxruntime as ort
    ort.InferenceSession(outs[0][1], providers=["CPUExecutionProvider"])


def test_calibration_data_is_read_from_a_folder(model_file, tmp_path):
    from agents.engines.base import TensorInfo
    info = TensorInfo("input", "float32", (1, 256))
    (tmp_path / "calib").mkdir()
    for i in range(3):
        np.savez(tmp_path / "calib" / f"{i}.npz", input=np.full((1, 256), i, np.float32))
    sets = Calibration(str(tmp_path / "calib"), {}).sets([info])
    assert [float(s["input"][0, 0]) for s in sets] == [0.0, 1.0, 2.0]


def test_calibration_folder_of_npy_files_for_a_one_input_model(tmp_path):
    from agents.engines.base import TensorInfo
    from agents.errors import UserError
    info = TensorInfo("input", "float32", (1, 256))
    (tmp_path / "calib").mkdir()
    np.save(tmp_path / "calib" / "a.npy", np.full((1, 256), 7, np.float32))  # one sample
    np.save(tmp_path / "calib" / "b.npy", np.arange(2 * 256, dtype=np.float32).reshape(2, 1, 256))  # two
    sets = Calibration(str(tmp_path / "calib"), {}).sets([info])
    assert [float(s["input"][0, 0]) for s in sets] == [7.0, 0.0, 256.0]
    two = [info, TensorInfo("mask", "bool", (1, 256))]
    with pytest.raises(UserError, match=r"a.npy: .npy files fit a model with one input; this one has 2"):
        Calibration(str(tmp_path / "calib"), {}).sets(two)


def test_calibration_npz_with_sample_axis_is_split():
    from agents.engines.base import TensorInfo
    import tempfile
    info = TensorInfo("input", "float32", ("batch", 4))
    with tempfile.TemporaryDirectory() as d:
        np.savez(f"{d}/c.npz", input=np.zeros((5, 2, 4), np.float32))
        sets = Calibration(f"{d}/c.npz", {"input": [2, 4]}).sets([info])
    assert len(sets) == 5 and sets[0]["input"].shape == (2, 4)


def test_cache_key_changes_with_what_changes_the_artifact(model_file):
    from agents.compile import cache_key
    engine = get_engine("onnxruntime")
    base = cache_key(engine, "a" * 64, "int8", engine.options({}), "c1")[0]
    assert cache_key(engine, "a" * 64, "int8", engine.options({"threads": 2}), "c1")[0] == base
    assert cache_key(engine, "a" * 64, "int8", engine.options({"quantization": "dynamic"}), "c1")[0] != base
    assert cache_key(engine, "a" * 64, "int8", engine.options({}), "c2")[0] != base
    assert cache_key(engine, "b" * 64, "int8", engine.options({}), "c1")[0] != base
    assert cache_key(engine, "a" * 64, "fp16", engine.options({}), "c1")[0] != base


def test_int8_of_a_float16_model_is_skipped_with_the_reason(model_file, job_for):
    """Some exports are float16 already; ORT's quantizer would write a graph that cannot load."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    weight = nh.from_array(np.random.default_rng(0).standard_normal((16, 8)).astype(np.float16), "w")
    graph = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "half",
                         [h.make_tensor_value_info("x", T.FLOAT16, [4, 16])],
                         [h.make_tensor_value_info("y", T.FLOAT16, [4, 8])], [weight])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    job = job_for(model_file(model, filename="half.onnx"), "onnxruntime")
    job.variant.precision = "int8"
    result = run_job(job)
    assert result.error_type == "UnsupportedVariant"
    assert "already float16 (inputs x)" in result.error and "quantize the fp32 export" in result.error


def test_a_cached_artifact_that_no_longer_loads_is_rebuilt_once(model_file, job_for, tmp_path):
    """An entry written by an older benchlab, or damaged on disk, is evicted and rebuilt."""
    job = job_for(model_file("mlp"), "onnxruntime", cache_dir=str(tmp_path / "cache"))
    job.variant.precision = "fp16"
    first = run_job(job)
    assert first.status == "ok" and first.environment["artifact"]["cache"] == "miss"
    with open(first.environment["artifact"]["path"], "r+b") as f:
        f.write(b"\xff" * 64)  # the cached model is no longer a protobuf
    second = run_job(job)
    assert second.status == "ok", second.error
    assert second.environment["artifact"]["cache"] == "miss"
    assert second.environment["artifact"]["rebuilt"].startswith("the cached artifact did not load")
    third = run_job(job)
    assert third.environment["artifact"]["cache"] == "hit" and "rebuilt" not in third.environment["artifact"]
