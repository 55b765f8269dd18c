"""Models of more than one file: ONNX external data (and an IR's .bin) hashed, checked and run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest

from agents import modelfiles
from agents.errors import UserError
from agents.runner import run_job
import zoo


def external(tmp_path, name="mlp", location="mlp.weights", folder="ext"):
    """The zoo model saved with every initializer in one external data file."""
    out = tmp_path / folder
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.onnx"
    onnx.save(zoo.build(name), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=location, size_threshold=0)
    return path


def ext_job(job_for, path, engine="onnxruntime", **kw):
    job = job_for(path, engine, **kw)
    job.model.sha256, job.model.companions = modelfiles.describe(path)
    return job


def test_companions_are_found_and_change_the_identity(tmp_path):
    path = external(tmp_path)
    sha, companions = modelfiles.describe(path)
    assert list(companions) == ["mlp.weights"] and sha != modelfiles.sha256_file(path)
    # New weights under the same file names are a new model.
    other = external(tmp_path / "b", name="mlp")
    data = bytearray((other.parent / "mlp.weights").read_bytes())
    data[100] ^= 0xFF
    (path.parent / "mlp.weights").write_bytes(bytes(data))
    assert modelfiles.describe(path)[0] != sha
    plain = tmp_path / "plain.onnx"
    onnx.save(zoo.build("mlp"), str(plain))
    assert modelfiles.describe(plain) == (modelfiles.sha256_file(plain), {})


def test_openvino_ir_carries_its_bin(tmp_path):
    (tmp_path / "m.xml").write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"\0" * 8)
    assert modelfiles.companion_names(tmp_path / "m.xml") == ["m.bin"]


def test_a_location_outside_the_models_folder_is_refused(tmp_path):
    path = external(tmp_path, location="w.bin")
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = "../../etc/w.bin"
    onnx.save(model, str(path))
    with pytest.raises(UserError, match=r"external data location '../../etc/w.bin' leaves the model's folder"):
        modelfiles.describe(path)


def test_a_missing_companion_is_one_line(tmp_path, bench):
    path = external(tmp_path)
    (path.parent / "mlp.weights").unlink()
    out = bench("run", str(path), "-e", "onnxruntime", "--db", str(tmp_path / "b.db"))
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "external data file 'mlp.weights' is missing" in out.stderr


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_external_data_model_runs_and_agrees(tmp_path, job_for, engine):
    path = external(tmp_path)
    result = run_job(ext_job(job_for, path, engine, options={"threads": 1}))
    assert result.status == "ok", result.error
    if engine == "openvino":
        assert result.metrics["accuracy_cosine_min"] > 0.9999


def test_changed_weights_are_not_served_from_the_artifact_cache(tmp_path, job_for):
    path = external(tmp_path)
    job = ext_job(job_for, path)
    job.variant.precision = "fp16"
    first = run_job(job)
    assert first.status == "ok" and first.environment["artifact"]["cache"] == "miss"
    rng = np.random.default_rng(0)
    model = onnx.load(str(path))  # new weights, same names
    for t in model.graph.initializer:
        arr = onnx.numpy_helper.to_array(t)
        t.CopyFrom(onnx.numpy_helper.from_array((arr + rng.standard_normal(arr.shape) * 0.1).astype(arr.dtype), t.name))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="mlp.weights", size_threshold=0)
    job = ext_job(job_for, path)
    job.variant.precision = "fp16"
    second = run_job(job)
    assert second.status == "ok" and second.environment["artifact"]["cache"] == "miss"


def test_a_tampered_companion_is_an_infra_error(tmp_path, job_for):
    path = external(tmp_path)
    job = ext_job(job_for, path)
    with open(path.parent / "mlp.weights", "r+b") as f:
        f.seek(10)
        f.write(b"\x01\x02")
    result = run_job(job)
    assert result.status == "infra-error" and "does not match sha256" in result.error


def test_bench_run_stores_the_identity_with_companions(tmp_path, bench):
    path = external(tmp_path)
    db = tmp_path / "b.db"
    out = bench("run", str(path), "-e", "onnxruntime", "--duration", "0.2", "--warmup", "0.05",
                "--iterations", "20", "--db", str(db))
    assert out.returncode == 0, out.stderr
    runs = json.loads(bench("results", "--db", str(db), "--format", "json").stdout)
    assert runs[0]["job"]["model"]["companions"].keys() == {"mlp.weights"}
    assert runs[0]["job"]["model"]["sha256"] == modelfiles.describe(path)[0]
    shutil.rmtree(path.parent)
