"""Nightly history on SQLite and PostgreSQL: which stored runs form a series' baseline, and the
fingerprints and reference samples a baseline is built from."""

import uuid

import numpy as np
import pytest

from agents.spec import JobSpec, ModelRef, RunResult, Variant
from results import verdicts
from results.baseline import (decode_sample, describe_changes, device_state, reference_sample,
                              series_title, suite_series, toolchain)
from results.db import open_db
from results.ingest import ingest
from results.verdicts import SeriesRun


def _run(engine, sha: str = "a" * 64) -> int:
    spec = JobSpec(job_id=uuid.uuid4().hex[:16], model=ModelRef("/m.onnx", sha, name="m"),
                   variant=Variant("onnxruntime"))
    result = RunResult(job_id=spec.job_id, status="ok", job=spec)
    result.set_latencies_ns(np.full(10, 1_000_000, dtype=np.int64))
    row, _ = ingest(engine, result)
    return row.id


def _file(engine, series: str, good: bool = True, new_baseline: bool = False, suite: str = "s") -> SeriesRun:
    row = SeriesRun(suite=suite, series=series, title=series, nightly_id="n", run_id=_run(engine),
                    created_s=0.0, model_sha256="a" * 64, good=good, new_baseline=new_baseline,
                    toolchain={"onnxruntime": "1.0"}, peak_rss_mb=100.0,
                    sample=reference_sample(np.arange(1, 101.0)))
    verdicts.add(engine, [row])
    return row


def test_baseline_is_the_last_good_runs_since_the_newest_new_baseline(db_url):
    engine = verdicts.ensure(open_db(db_url))
    old = [_file(engine, "x") for _ in range(3)]
    start = _file(engine, "x", new_baseline=True)     # a toolchain change: a new baseline
    outlier = _file(engine, "x", good=False)          # flagged, not confirmed: left out
    after = [_file(engine, "x") for _ in range(3)]
    other = _file(engine, "y")
    _file(engine, "x", suite="other-suite")
    found = verdicts.baselines(engine, "s", ["x", "y", "z"], runs=10)
    assert [r.id for r in found["x"]] == [start.id, *[r.id for r in after]]
    assert [r.id for r in found["y"]] == [other.id] and "z" not in found
    assert [r.id for r in verdicts.baselines(engine, "s", ["x"], runs=2)["x"]] == [r.id for r in after[1:]]
    before = verdicts.baselines(engine, "s", ["x"], runs=10, before_id=start.id)["x"]
    assert [r.id for r in before] == [r.id for r in old]
    stored = found["x"][-1]  # the newest member carries the fingerprints a change is found by
    assert stored.toolchain == {"onnxruntime": "1.0"} and stored.device_state == {}
    assert found["x"][0].toolchain is None
    assert stored.peak_rss_mb == 100.0 and stored.throughput_ips is None
    assert decode_sample(stored.sample)[[0, -1]].tolist() == [1.0, 100.0]
    assert outlier.id not in {r.id for r in found["x"]}


def test_tables_appear_in_a_database_opened_before_they_were_known(tmp_path):
    import sqlalchemy as sa
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = open_db(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS verdict")
    verdicts.ensure(engine)
    assert "verdict" in sa.inspect(engine).get_table_names()


def test_reference_sample_keeps_the_distribution():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0, 0.3, 5000)
    ref = decode_sample(reference_sample(x))
    assert ref.size == 64 and np.all(np.diff(ref) >= 0)
    assert np.median(ref) == pytest.approx(np.median(x), rel=0.01)
    assert decode_sample(reference_sample(np.array([]))).size == 0


def _result(env: dict, engine: str = "openvino") -> RunResult:
    spec = JobSpec(job_id="j", model=ModelRef("/m.onnx", "b" * 64, name="bert"),
                   variant=Variant(engine, options={"threads": 2}))
    return RunResult(job_id="j", status="ok", job=spec, environment=env)


def test_toolchain_and_device_state_changes_are_named():
    before = _result({"engine": "openvino", "engine_version": "2026.3", "agent_version": "0.1.0",
                      "python": "3.11.7", "cpu_model": "EPYC", "cpu_affinity": 2,
                      "telemetry": {"before": {"power_mode": "MAXN", "cpu_governors": ["performance"],
                                               "cpu_max_freq_khz": {"cpu0": 2400000, "cpu1": 2400000}}}})
    after = _result({**before.environment, "engine_version": "2026.4",
                     "telemetry": {"before": {"power_mode": "15W", "cpu_governors": ["performance"],
                                              "cpu_max_freq_khz": {"cpu0": 1200000}}}})
    assert describe_changes(toolchain(before), toolchain(after)) == ["openvino 2026.3 -> 2026.4"]
    assert describe_changes(device_state(before), device_state(after)) == [
        "max clock 2.40 GHz -> 1.20 GHz", "power mode MAXN -> 15W"]
    assert describe_changes({"a": "1"}, {}) == ["a 1 -> (none)"]


def test_suite_series_follows_the_model_name_not_its_hash():
    a, b = _result({}).job, _result({}).job
    b.model.sha256 = "c" * 64  # a new export of the same model
    assert suite_series(a) == suite_series(b)
    b.variant.precision = "int8"
    assert suite_series(a) != suite_series(b)
    assert series_title(a) == "bert · local · openvino fp32 threads=2 · single-stream b1"
