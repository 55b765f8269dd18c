"""The dispatcher with real local devices, real agents and real engines on tiny zoo models:
retries on another device, model errors, quarantine and recovery, cancellation, timeouts,
and leases left behind by a dead orchestrator."""

import socket
import subprocess
import time

import pytest
from sqlmodel import Session, select

from agents.spec import JobSpec, RunResult
from inventory import load_inventory
from inventory.yamlsrc import Where
import zoo
from orchestrator import enqueue
from orchestrator.execute.dispatcher import DispatchConfig, Dispatcher
from orchestrator.execute.policy import HealthPolicy, RetryPolicy
from orchestrator.plan.study import ModelEntry, Study
from results import fleet, queue
from results.db import open_db
from results.ingest import ingest
from results.models import Job, Run


def study(model, devices, fast_length, engines=("onnxruntime",), **kw):
    length = kw.pop("length", None) or fast_length()
    return Study(models=[ModelEntry(model)], devices=devices, engines=list(engines),
                       threads=1, length=length, **kw)


def submit(study: Study, inventory: str, db_url: str) -> enqueue.Submitted:
    """Check and queue a study, as `bench submit` does."""
    prepared = enqueue.check(study, load_inventory(inventory), Where("test"))
    return enqueue.submit(prepared, open_db(db_url))


def quick(**health) -> DispatchConfig:
    return DispatchConfig(lease_ttl_s=30.0, heartbeat_s=0.2, poll_s=0.1,
                          retry=RetryPolicy(max_attempts=3, backoff_s=0.05),
                          health=HealthPolicy(**{"quarantine_after": 5, "check_interval_s": 0.3, **health}))


def runs(db, study_id):
    with Session(db) as s:
        q = select(Run.job_id, Run.attempt, Run.status, Run.device).join(Job, Job.id == Run.job_id) \
            .where(Job.study_id == study_id).order_by(Run.id)
        return [tuple(r) for r in s.exec(q)]


def job_rows(db, study_id):
    with Session(db) as s:
        return list(s.exec(select(Job).where(Job.study_id == study_id)))


def test_infra_error_retried_on_another_device_and_model_error_not_retried(
        tmp_path, lab_file, broken_python, model_file, fast_length, run_until):
    python, unplugged = broken_python
    inv = lab_file({"name": "a-bad", "python": str(python)}, {"name": "b-good"})
    db_url = f"sqlite:///{tmp_path / 'q.db'}"
    good = submit(study(model_file("mlp"), ["name:a-bad,name:b-good"], fast_length, spread="any"), str(inv), db_url)
    bad_model = model_file(zoo.build_unsupported_op(), filename="bad.onnx")
    broken = submit(study(bad_model, ["name:b-good"], fast_length), str(inv), db_url)
    unplugged.touch()  # probed fine at submit; now the board is gone
    db = good.db
    dispatcher = Dispatcher(db, list(load_inventory(inv).devices.values()), quick())
    run_until(dispatcher, lambda: queue.open_jobs(db) == 0)
    ((job_id, _, _, _), *_) = runs(db, good.row.id)
    assert runs(db, good.row.id) == [(job_id, 1, "infra-error", "a-bad"), (job_id, 2, "ok", "b-good")]
    (j,) = job_rows(db, good.row.id)
    assert (j.state, j.attempts, j.avoid) == ("done", 2, ["a-bad"])
    assert [r[1:3] for r in runs(db, broken.row.id)] == [(1, "model-error")]
    (j,) = job_rows(db, broken.row.id)
    assert j.state == "failed" and j.attempts == 1 and j.reason.startswith("model-error (not retried)")


def test_device_quarantined_after_k_infra_errors_and_back_after_its_health_check(
        tmp_path, lab_file, broken_python, model_file, fast_length, run_until):
    python, unplugged = broken_python
    inv = lab_file({"name": "flaky", "python": str(python)})
    done = submit(study(model_file("mlp"), ["flaky"], fast_length, max_attempts=4), str(inv),
                  f"sqlite:///{tmp_path / 'q.db'}")
    unplugged.touch()
    db, seen = done.db, []

    def replug_once_quarantined() -> bool:
        (row,) = fleet.device_rows(db, ["flaky"])
        if row.health == "quarantined" and unplugged.exists():
            seen.append((row.failures, row.health_reason))
            unplugged.unlink()  # the board is back; only a health check can tell
        return queue.open_jobs(db) == 0

    dispatcher = Dispatcher(db, list(load_inventory(inv).devices.values()), quick(quarantine_after=2))
    run_until(dispatcher, replug_once_quarantined)
    assert seen and seen[0][0] == 2 and "2 consecutive infra-errors" in seen[0][1]
    assert [r[1:3] for r in runs(db, done.row.id)] == [(1, "infra-error"), (2, "infra-error"), (3, "ok")]
    (row,) = fleet.device_rows(db, ["flaky"])
    assert (row.health, row.failures) == ("ok", 0)


def test_cancel_stops_a_running_job_and_timeout_fails_it(tmp_path, lab_file, model_file, fast_length, run_until):
    inv = lab_file({"name": "d0", "cpus": [0]}, {"name": "d1", "cpus": [1]})
    url = f"sqlite:///{tmp_path / 'q.db'}"
    long = fast_length(timeout_s=None)
    long.min_duration_s, long.max_duration_s = 60.0, 120.0
    cancelled = submit(study(model_file("mlp"), ["d0"], fast_length, length=long), str(inv), url)
    slow = fast_length(timeout_s=2.0)
    slow.min_duration_s, slow.max_duration_s = 60.0, 120.0
    timed = submit(study(model_file("mlp"), ["d1"], fast_length, length=slow, max_attempts=1), str(inv), url)
    db, asked = cancelled.db, []
    t0 = time.monotonic()

    def cancel_when_running() -> bool:
        if not asked and fleet.state_counts(db, cancelled.row.id).get("running"):
            asked.append(fleet.cancel(db, cancelled.row.id, time.time()))
        return queue.open_jobs(db) == 0

    run_until(Dispatcher(db, list(load_inventory(inv).devices.values()), quick()), cancel_when_running)
    assert time.monotonic() - t0 < 30
    assert asked == [("study", {"cancelled": 0, "stopping": 1})]
    (j,) = job_rows(db, cancelled.row.id)
    assert j.state == "cancelled" and [r[2] for r in runs(db, cancelled.row.id)] == ["infra-error"]
    (j,) = job_rows(db, timed.row.id)
    assert j.state == "failed" and "timed out after 2 s" in j.reason


def test_leases_of_a_dead_orchestrator_are_taken_back_without_rerunning_stored_runs(
        tmp_path, lab_file, model_file, fast_length, run_until):
    inv = lab_file({"name": "local"})
    done = submit(study(model_file("mlp"), ["local"], fast_length, scenarios=["single-stream", "offline"]),
                  str(inv), f"sqlite:///{tmp_path / 'q.db'}")
    db = done.db
    fleet.sync_devices(db, [("other", "local", {})])
    dead = subprocess.Popen(["true"])
    dead.wait()
    holder = f"{socket.gethostname()}:{dead.pid}:gone"
    first, second = [r.id for r in queue.queued(db)]
    (c1,) = queue.claim(db, [(first, "local")], holder, time.time(), 3600.0)
    (c2,) = queue.claim(db, [(second, "other")], holder, time.time(), 3600.0)
    # The dead orchestrator had stored the second job's run before it died.
    spec = JobSpec.from_dict({**c2.spec, "device": "other", "attempt": 1})
    ingest(db, RunResult(job_id=second, attempt=1, status="ok", job=spec))
    run_until(Dispatcher(db, list(load_inventory(inv).devices.values()), quick()),
              lambda: queue.open_jobs(db) == 0)
    assert sorted(r[1:4] for r in runs(db, done.row.id)) == [(1, "ok", "other"), (2, "ok", "local")]
    assert {j.id: (j.state, j.attempts) for j in job_rows(db, done.row.id)} == \
        {first: ("done", 2), second: ("done", 1)}
    assert queue.leases(db) == []


@pytest.mark.parametrize("spread, pools", [("each", [["d0"], ["d1"]]), ("any", [["d0", "d1"]])])
def test_expansion_pins_or_pools_devices(tmp_path, lab_file, model_file, fast_length, spread, pools):
    inv = lab_file({"name": "d0", "tags": ["cpu"]}, {"name": "d1", "tags": ["cpu"]})
    done = submit(study(model_file("mlp"), ["tag:cpu"], fast_length, spread=spread,
                        engines=("onnxruntime", "openvino"), batch_sizes=None),
                  str(inv), f"sqlite:///{tmp_path / 'q.db'}")
    rows = queue.queued(done.db)
    assert done.jobs == 2 * len(pools) == len(rows)
    got = queue.pools(done.db, sorted({r.pool_id for r in rows}))
    assert sorted(got.values()) == pools
