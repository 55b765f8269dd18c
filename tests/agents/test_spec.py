"""JobSpec / RunResult: the wire format and its migrations."""

import json

import numpy as np
import pytest

from agents.spec import (SCHEMA_VERSION, JobSpec, ModelRef, RunResult, Variant,
                         decode_latencies, encode_latencies)


def _spec() -> JobSpec:
    return JobSpec(job_id="j1", model=ModelRef("/m.onnx", "ab" * 32, name="m"),
                   variant=Variant("openvino", "fp32", {"hint": "LATENCY", "threads": 2}))


def test_jobspec_round_trip_keeps_every_field():
    spec = _spec()
    spec.inputs.shapes = {"x": [1, 3, 8, 8]}
    back = JobSpec.from_json(spec.to_json())
    assert back == spec
    assert json.loads(spec.to_json())["schema_version"] == SCHEMA_VERSION


def test_runresult_round_trip_with_latencies():
    r = RunResult(job_id="j1", status="ok", job=_spec(), metrics={"latency_p50_ms": 1.5})
    samples = np.array([1_000_000, 1_250_000, 987_654_321], dtype=np.int64)
    r.set_latencies_ns(samples)
    back = RunResult.from_json(r.to_json())
    assert back.job == r.job and back.metrics == r.metrics
    np.testing.assert_array_equal(back.latencies_ns(), samples)


def test_latencies_are_stored_compactly():
    rng = np.random.default_rng(0)
    samples = (1_000_000 + rng.integers(0, 20_000, 10_000)).astype(np.int64)
    blob = encode_latencies(samples)
    assert len(blob["data"]) < samples.nbytes / 2
    np.testing.assert_array_equal(decode_latencies(blob), samples)


def test_reads_a_version_1_record():
    v1 = {"schema_version": 1, "job_id": "old", "status": "ok", "latencies_ms": [1.5, 2.0],
          "job": {"schema_version": 1, "job_id": "old", "engine": "onnxruntime",
                  "precision": "fp32", "options": {"threads": 1},
                  "model_path": "/m.onnx", "model_sha256": "cd" * 32}}
    r = RunResult.from_dict(v1)
    assert r.schema_version == SCHEMA_VERSION
    assert r.job.variant == Variant("onnxruntime", "fp32", {"threads": 1})
    assert r.job.model.path == "/m.onnx"
    np.testing.assert_array_equal(r.latencies_ns(), [1_500_000, 2_000_000])


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1, "2"])
def test_unknown_schema_version_is_refused(version):
    with pytest.raises(ValueError, match="schema_version"):
        JobSpec.from_dict({**json.loads(_spec().to_json()), "schema_version": version})


def test_unknown_field_is_named():
    data = json.loads(_spec().to_json())
    data["variant"]["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        JobSpec.from_dict(data)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown run status"):
        RunResult(job_id="j", status="fine")
