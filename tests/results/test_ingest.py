"""Storing runs: idempotent ingest, full round trip, queries; on SQLite and PostgreSQL."""

import threading
import uuid

import numpy as np
import pytest
from sqlmodel import Session, func, select

from agents.errors import UserError
from agents.spec import JobSpec, ModelRef, RunResult, Variant
from results.db import open_db, resolve_url
from results.ingest import add_jobs, ingest
from results.models import DB_SCHEMA_VERSION, Job, Meta, Run, Study
from results.queries import run_results, runs_frame


def _result(job_id=None, attempt=1, status="ok", p50=1.0) -> RunResult:
    job_id = job_id or uuid.uuid4().hex[:16]
    spec = JobSpec(job_id=job_id, attempt=attempt, study_id="s1",
                   model=ModelRef("/m.onnx", "ab" * 32, name="m"), variant=Variant("onnxruntime"))
    r = RunResult(job_id=job_id, attempt=attempt, status=status, job=spec,
                  metrics={"latency_p50_ms": p50, "iterations": 3},
                  environment={"engine_version": "1.0", "arch": "x86_64", "input_shapes": {"x": [1]}})
    r.set_latencies_ns(np.array([900_000, 1_000_000, 1_100_000]))
    return r


def _count(engine, model=Run) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_ingest_is_idempotent(db_url):
    db = open_db(db_url)
    r = _result()
    first, created = ingest(db, r)
    again, created_again = ingest(db, r)
    assert created and not created_again and first.id == again.id
    assert _count(db) == 1


def test_a_second_attempt_is_a_second_run(db_url):
    db = open_db(db_url)
    r1 = _result(status="infra-error")
    r2 = _result(job_id=r1.job_id, attempt=2)
    ingest(db, r1), ingest(db, r2)
    assert _count(db) == 2
    with Session(db) as s:
        assert s.get(Job, r1.job_id).state == "done" and s.get(Job, r1.job_id).attempts == 2


def test_concurrent_ingest_of_one_result_stores_it_once(db_url):
    db = open_db(db_url)
    r = _result()
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(ingest(db, r)[1])) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert _count(db) == 1 and outcomes.count(True) == 1


def test_stored_run_reads_back_whole(db_url):
    db = open_db(db_url)
    r = _result(p50=2.5)
    ingest(db, r)
    (back,) = run_results(db)
    assert back.job == r.job and back.metrics == r.metrics and back.environment == r.environment
    np.testing.assert_array_equal(back.latencies_ns(), r.latencies_ns())


def test_runs_frame_has_metric_columns_newest_last(db_url):
    db = open_db(db_url)
    for p50 in (1.0, 2.0, 3.0):
        ingest(db, _result(p50=p50))
    frame = runs_frame(db, last=2)
    assert list(frame["latency_p50_ms"]) == [2.0, 3.0]
    assert set(frame["engine"]) == {"onnxruntime"} and set(frame["device"]) == {"local"}


def test_jobs_are_queued_with_their_study(db_url):
    db = open_db(db_url)
    spec = _result().job
    add_jobs(db, Study(id="st1", name="x"), [spec])
    with Session(db) as s:
        job = s.get(Job, spec.job_id)
        assert job.state == "queued" and job.study_id == "st1"
        assert JobSpec.from_dict(job.spec) == spec


def test_schema_version_is_recorded_and_a_newer_one_refused(db_url):
    db = open_db(db_url)
    with Session(db) as s:
        row = s.get(Meta, "schema_version")
        assert row.value == str(DB_SCHEMA_VERSION)
        row.value = "99"
        s.add(row)
        s.commit()
    with pytest.raises(UserError, match="newer than this benchlab"):
        open_db(db_url)


def test_plain_path_means_sqlite(tmp_path, monkeypatch):
    assert resolve_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    monkeypatch.setenv("BENCH_DB", "sqlite:///elsewhere.db")
    assert resolve_url() == "sqlite:///elsewhere.db"


def test_unreachable_database_is_one_clear_error():
    with pytest.raises(UserError, match="cannot open database"):
        open_db("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_series_key_separates_what_changes_the_measurement():
    from results.ingest import series_key
    base = _result().job
    key = series_key(base)
    other = JobSpec.from_json(base.to_json())
    assert series_key(other) == key
    other.scenario.target_qps = 200
    assert series_key(other) != key
    threads = JobSpec.from_json(base.to_json())
    threads.variant.options = {"threads": 2}
    assert series_key(threads) != key
