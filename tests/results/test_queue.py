"""The queue in the database (results/queue.py, results/fleet.py) on SQLite and PostgreSQL:
ordering, exclusive claims under concurrency, heartbeats, expiry, finish, cancel, migration."""

import sqlite3
import threading
import uuid

import pytest
from sqlmodel import Session, select

from agents.errors import UserError
from agents.spec import JobSpec, ModelRef, RunResult, Variant
from results import fleet, queue
from results.db import open_db
from results.ingest import ingest
from results.models import Device, Job, Study


def spec(study="s1", engine="onnxruntime"):
    s = JobSpec(job_id=uuid.uuid4().hex[:16], model=ModelRef("/m.onnx", "ab" * 32, name="m"),
                variant=Variant(engine), study_id=study)
    return s.to_dict() if hasattr(s, "to_dict") else __import__("json").loads(s.to_json())


def study(db, name, priority, n, pool=("a", "b"), now=0.0, **kw):
    s = Study(id=name, name=name)
    items = [queue.QueueItem(spec(name), list(pool), artifact=f"k{i % 2}") for i in range(n)]
    queue.enqueue(db, s, items, priority, now, **kw)
    return [i.spec["job_id"] for i in items]


@pytest.fixture
def db(db_url):
    engine = open_db(db_url)
    fleet.sync_devices(engine, [("a", "local", {}), ("b", "local", {}), ("c", "local", {})])
    return engine


def test_queue_order_is_class_then_fifo(db):
    nightly = study(db, "n", 1, 3, now=1.0)
    inter = study(db, "i", 0, 2, now=2.0)
    later = study(db, "n2", 1, 1, now=3.0)
    assert [r.id for r in queue.queued(db)] == inter + nightly + later
    assert queue.open_jobs(db) == 6 and queue.open_jobs(db, "i") == 2
    (row,) = [r for r in queue.queued(db) if r.id == later[0]]
    assert queue.pools(db, [row.pool_id]) == {row.pool_id: ["a", "b"]}


def test_claim_leases_device_and_job_once(db):
    j1, j2 = study(db, "s", 1, 2)
    got = queue.claim(db, [(j1, "a"), (j2, "a")], "h1", now=10.0, ttl_s=5.0)
    assert [(c.job_id, c.device, c.attempt) for c in got] == [(j1, "a", 1)]
    assert queue.claim(db, [(j2, "a")], "h2", 10.0, 5.0) == []  # a is leased
    assert queue.claim(db, [(j1, "b")], "h2", 10.0, 5.0) == []  # j1 is not queued
    assert [(l.device, l.job_id, l.holder, l.expires_s) for l in queue.leases(db)] == [("a", j1, "h1", 15.0)]


def test_concurrent_claimers_never_share_a_device_or_a_job(db):
    jobs = study(db, "s", 1, 12, pool=("a", "b", "c"))
    won: list = []
    barrier = threading.Barrier(4)

    def claimer(k):
        barrier.wait()
        for j in jobs:
            won.extend(queue.claim(db, [(j, d)], f"h{k}", 0.0, 60.0) for d in ("a", "b", "c"))

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    claims = [c for batch in won for c in batch]
    assert len(claims) == 3
    assert len({c.device for c in claims}) == 3 and len({c.job_id for c in claims}) == 3


def test_heartbeat_extends_and_expiry_finds_stale_or_dead_holders(db):
    (j,) = study(db, "s", 1, 1)
    queue.claim(db, [(j, "a")], "h1", 0.0, 10.0)
    assert queue.stale(db, 9.0) == []
    assert queue.heartbeat(db, "h1", 8.0, 10.0) == []
    assert queue.stale(db, 17.0) == [] and len(queue.stale(db, 18.0)) == 1
    assert [s.holder for s in queue.stale(db, 1.0, dead_holders=["h1"])] == ["h1"]


def test_finish_requeues_with_next_attempt_and_ignores_a_lost_lease(db):
    (j,) = study(db, "s", 1, 1)
    queue.claim(db, [(j, "a")], "h1", 0.0, 10.0)
    retry = queue.Finish("queued", "infra-error: x", not_before_s=5.0, avoid="a")
    assert not queue.finish(db, j, "a", "other-holder", 1, retry, 1.0)
    assert not queue.finish(db, j, "a", "h1", 2, retry, 1.0)  # wrong attempt
    assert queue.finish(db, j, "a", "h1", 1, retry, 1.0, {"failures": 1})
    (row,) = queue.queued(db)
    assert (row.not_before_s, row.avoid) == (5.0, ["a"])
    assert queue.leases(db) == []
    (again,) = queue.claim(db, [(j, "b")], "h2", 6.0, 10.0)
    assert again.attempt == 2 and again.avoid == ["a"]
    assert queue.finish(db, j, "b", "h2", 2, queue.Finish("done", artifact="k0"), 7.0)
    rows = {d.name: d for d in fleet.device_rows(db)}
    assert rows["a"].failures == 1 and rows["b"].last_artifact == "k0" and rows["b"].lease_job_id is None
    assert fleet.state_counts(db) == {"done": 1} and queue.open_jobs(db) == 0


def test_stale_lease_reports_a_run_stored_before_its_holder_died(db):
    (j,) = study(db, "s", 1, 1)
    (c,) = queue.claim(db, [(j, "a")], "h1", 0.0, 10.0)
    from agents.spec import JobSpec as JS
    result = RunResult(job_id=j, attempt=1, status="ok", job=JS.from_dict({**c.spec, "device": "a"}))
    ingest(db, result)
    (st,) = queue.stale(db, 100.0)
    assert (st.job_id, st.attempt, st.run_status) == (j, 1, "ok")


def test_cancel_study_and_job(db):
    j1, j2, j3 = study(db, "s", 1, 3)
    queue.claim(db, [(j1, "a")], "h1", 0.0, 10.0)
    assert queue.mark_running(db, j1, "h1") == "running"
    assert fleet.cancel(db, j3, 1.0) == ("job", {"cancelled": 1, "stopping": 0})
    assert fleet.cancel(db, "s", 1.0) == ("study", {"cancelled": 1, "stopping": 1})
    assert queue.heartbeat(db, "h1", 2.0, 10.0) == [j1]
    assert fleet.state_counts(db, "s") == {"running": 1, "cancelled": 2}
    with pytest.raises(UserError, match="no study or job 'q'"):
        fleet.cancel(db, "q", 1.0)


def test_mark_running_reports_cancel_and_lost_leases(db):
    j1, j2 = study(db, "s", 1, 2)
    queue.claim(db, [(j1, "a"), (j2, "b")], "h1", 0.0, 10.0)
    fleet.cancel(db, j1, 1.0)
    assert queue.mark_running(db, j1, "h1") == "cancel"
    assert queue.mark_running(db, j2, "someone-else") == "lost"


def test_device_probe_and_health_are_stored(db):
    fleet.store_probe(db, "a", {"environment": {"arch": "x86_64", "cpu_model": "cpu"}, "engines": {}}, 5.0)
    fleet.set_device(db, "b", health="quarantined", failures=3, health_reason="boom")
    rows = {d.name: d for d in fleet.device_rows(db)}
    assert (rows["a"].arch, rows["a"].probed_s) == ("x86_64", 5.0)
    assert (rows["b"].health, rows["b"].failures) == ("quarantined", 3)
    (j,) = study(db, "s", 1, 1, pool=("b",))
    assert queue.claim(db, [(j, "b")], "h", 0.0, 10.0) == []  # quarantined: no lease


def test_a_version_1_database_gains_the_queue_columns(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE bench_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
        INSERT INTO bench_meta VALUES ('schema_version', '1');
        CREATE TABLE device (name VARCHAR PRIMARY KEY, transport VARCHAR NOT NULL, arch VARCHAR,
            cpu_model VARCHAR, probe JSON, updated_at DATETIME NOT NULL);
        INSERT INTO device VALUES ('local', 'local', 'x86_64', NULL, '{}', '2024-01-01 00:00:00');
        CREATE TABLE study (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, source VARCHAR NOT NULL,
            spec JSON, created_at DATETIME NOT NULL);
        CREATE TABLE job (id VARCHAR PRIMARY KEY, study_id VARCHAR NOT NULL REFERENCES study(id),
            device VARCHAR NOT NULL, engine VARCHAR NOT NULL, precision VARCHAR NOT NULL,
            scenario VARCHAR NOT NULL, model_sha256 VARCHAR NOT NULL, state VARCHAR NOT NULL,
            attempts INTEGER NOT NULL, spec JSON, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL);
        INSERT INTO study VALUES ('old', 'old', 'cli', '{}', '2024-01-01 00:00:00');
        INSERT INTO job VALUES ('j-old', 'old', 'local', 'onnxruntime', 'fp32', 'single-stream', 'ab',
            'done', 1, '{}', '2024-01-01 00:00:00', '2024-01-01 00:00:00');
    """)
    conn.commit()
    conn.close()
    db = open_db(str(path))
    with Session(db) as s:
        old = s.get(Job, "j-old")
        assert old.state == "done" and old.priority is None and old.position == 0
        assert s.get(Device, "local").health == "ok"
    assert queue.queued(db) == []  # a bench-run job is not the scheduler's
    study(db, "new", 0, 1, pool=("local",))
    assert len(queue.queued(db)) == 1
    with Session(db) as s:
        assert s.exec(select(Job.cancel_requested).where(Job.id == "j-old")).one() in (False, 0)
