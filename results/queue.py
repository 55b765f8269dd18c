"""The job queue in the database: enqueue, claim with exclusive device leases, heartbeat,
finish, expire, cancel.

Every operation is one transaction. On PostgreSQL the rows a claim takes are locked with
`SELECT ... FOR UPDATE SKIP LOCKED`, so several orchestrators can claim at once without
waiting on each other; on SQLite each write transaction starts with a write, which takes the
database's single write lock at once (a deferred read-then-write transaction could fail to
upgrade its lock under contention). A device's lease lives on its row (`lease_job_id`, unique),
so no device is ever leased twice whatever the interleaving, and a job's lease fields say who
holds it until when. Finishing checks the holder and the attempt, so a late answer from a
lease that expired changes nothing.

Times are epoch seconds on the caller's clock (`now`), so tests drive them.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from results.models import Device, DevicePool, Job, Run, Study, utcnow

JOB, DEVICE, POOL = Job.__table__, Device.__table__, DevicePool.__table__
_CHUNK = 2000


@contextmanager
def write_txn(engine: Engine) -> Iterator[Connection]:
    """One write transaction; on SQLite it holds the single write lock from its first statement."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("UPDATE bench_meta SET value = value WHERE key = 'schema_version'")
        yield conn


@dataclass
class QueueItem:
    """One job to enqueue: its JobSpec as a dict, the devices it may run on, its artifact key."""

    spec: dict[str, Any]
    pool: Sequence[str]
    artifact: str = ""
    device: str | None = None


def pool_id(devices: Sequence[str]) -> str:
    """Content address of a device set."""
    return hashlib.sha256("\n".join(sorted(devices)).encode()).hexdigest()[:16]


def enqueue(engine: Engine, study: Study, items: Sequence[QueueItem], priority: int,
            now: float, max_attempts: int | None = None) -> int:
    """Store a study and its jobs (state `queued`) in one transaction.

    Returns:
        The number of jobs queued.
    """
    pools = {pool_id(i.pool): sorted(i.pool) for i in items}
    study.priority = priority
    rows = [_row(item, study.id, priority, now, n, max_attempts) for n, item in enumerate(items)]
    with write_txn(engine) as conn:
        known = set(conn.execute(select(POOL.c.id).where(POOL.c.id.in_(list(pools)))).scalars())
        new = [{"id": k, "devices": v} for k, v in pools.items() if k not in known]
        if new:
            conn.execute(insert(POOL), new)
        conn.execute(insert(Study.__table__), [study.model_dump()])
        for start in range(0, len(rows), _CHUNK * 5):
            conn.execute(insert(JOB), rows[start:start + _CHUNK * 5])
    return len(rows)


def _row(item: QueueItem, study_id: str, priority: int, now: float, position: int,
         max_attempts: int | None) -> dict[str, Any]:
    spec, variant = item.spec, item.spec["variant"]
    stamp = utcnow()
    return {"id": spec["job_id"], "study_id": study_id, "device": item.device or ",".join(item.pool),
            "engine": variant["engine"], "precision": variant["precision"],
            "scenario": spec["scenario"]["name"], "model_sha256": spec["model"]["sha256"],
            "state": "queued", "attempts": 0, "spec": spec, "created_at": stamp,
            "updated_at": stamp, "priority": priority, "queued_s": now, "position": position,
            "pool_id": pool_id(item.pool), "artifact_key": item.artifact,
            "max_attempts": max_attempts, "cancel_requested": False}


def queued(engine: Engine, study_id: str | None = None) -> list[Any]:
    """The scheduler's queued jobs in queue order (class, enqueue time, study, position); of
    one study only when `study_id` is given.

    Rows: id, study_id, engine, pool_id, priority, artifact_key, not_before_s, avoid.
    """
    q = (select(JOB.c.id, JOB.c.study_id, JOB.c.engine, JOB.c.pool_id, JOB.c.priority,
                JOB.c.artifact_key, JOB.c.not_before_s, JOB.c.avoid)
         .where(JOB.c.state == "queued", JOB.c.priority.is_not(None))
         .order_by(JOB.c.priority, JOB.c.queued_s, JOB.c.study_id, JOB.c.position))
    if study_id is not None:
        q = q.where(JOB.c.study_id == study_id)
    with engine.connect() as conn:
        return list(conn.execute(q))


def study_spec(engine: Engine, study_id: str) -> dict[str, Any]:
    """What a study row says it asked for (its `spec`), {} for an unknown study."""
    with engine.connect() as conn:
        spec = conn.execute(select(Study.__table__.c.spec).where(Study.__table__.c.id == study_id)).scalar()
    return dict(spec or {})


def last_served(engine: Engine) -> dict[str, float]:
    """Study -> when it last had a job started, for the studies with queued jobs (fairness)."""
    waiting = select(JOB.c.study_id).where(JOB.c.state == "queued", JOB.c.priority.is_not(None))
    q = (select(JOB.c.study_id, func.max(JOB.c.started_s))
         .where(JOB.c.study_id.in_(waiting), JOB.c.started_s.is_not(None))
         .group_by(JOB.c.study_id))
    with engine.connect() as conn:
        return {study: t for study, t in conn.execute(q)}


def pools(engine: Engine, ids: Sequence[str]) -> dict[str, list[str]]:
    """Device lists of the given pool ids."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), _CHUNK):
            q = select(POOL.c.id, POOL.c.devices).where(POOL.c.id.in_(list(ids[start:start + _CHUNK])))
            out.update({r.id: r.devices for r in conn.execute(q)})
    return out


@dataclass
class Claimed:
    """A job this holder now leases: run attempt `attempt` of it on `device`."""

    job_id: str
    device: str
    attempt: int
    spec: dict[str, Any]
    study_id: str
    artifact: str | None = None
    max_attempts: int | None = None
    avoid: list[str] = field(default_factory=list)


def claim(engine: Engine, pairs: Sequence[tuple[str, str]], holder: str, now: float,
          ttl_s: float) -> list[Claimed]:
    """Lease each (job, device) pair whose job is still queued and whose device is still free
    and healthy; the others are skipped (another orchestrator was faster)."""
    if not pairs:
        return []
    with write_txn(engine) as conn:
        jobs = _lock_jobs(conn, [j for j, _ in pairs])
        free = _lock_free_devices(conn, [d for _, d in pairs])
        won, taken = [], set()
        for j, d in pairs:  # a device or a job appears once in a claim, whatever the caller asked
            if j in jobs and d in free and d not in taken and j not in taken:
                won.append((jobs[j], d))
                taken.update((j, d))
        if not won:
            return []
        conn.execute(update(JOB).where(JOB.c.id == bindparam("b_id")).values(
            state="leased", device=bindparam("b_dev"), attempts=JOB.c.attempts + 1,
            lease_device=bindparam("b_dev"), lease_holder=holder, lease_expires_s=now + ttl_s,
            heartbeat_s=now, started_s=now, updated_at=utcnow()),
            [{"b_id": r.id, "b_dev": d} for r, d in won])
        conn.execute(update(DEVICE).where(DEVICE.c.name == bindparam("b_dev")).values(
            lease_job_id=bindparam("b_id"), lease_holder=holder, lease_expires_s=now + ttl_s),
            [{"b_id": r.id, "b_dev": d} for r, d in won])
    return [Claimed(r.id, d, r.attempts + 1, r.spec, r.study_id, r.artifact_key, r.max_attempts,
                    list(r.avoid or [])) for r, d in won]


def _lock_jobs(conn: Connection, ids: list[str]) -> dict[str, Any]:
    out = {}
    for start in range(0, len(ids), _CHUNK):
        q = (select(JOB.c.id, JOB.c.attempts, JOB.c.spec, JOB.c.study_id, JOB.c.artifact_key,
                    JOB.c.max_attempts, JOB.c.avoid)
             .where(JOB.c.id.in_(ids[start:start + _CHUNK]), JOB.c.state == "queued")
             .with_for_update(skip_locked=True))
        out.update({r.id: r for r in conn.execute(q)})
    return out


def _lock_free_devices(conn: Connection, names: list[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(names), _CHUNK):
        q = (select(DEVICE.c.name)
             .where(DEVICE.c.name.in_(names[start:start + _CHUNK]), DEVICE.c.lease_job_id.is_(None),
                    DEVICE.c.health == "ok")
             .with_for_update(skip_locked=True))
        out.update(conn.execute(q).scalars())
    return out


def mark_running(engine: Engine, job_id: str, holder: str) -> str:
    """Move a leased job to `running` before its holder starts it.

    Returns:
        "running"; "cancel" when a user cancelled it meanwhile (it is not started);
        "lost" when `holder` no longer leases it.
    """
    with write_txn(engine) as conn:
        row = conn.execute(select(JOB.c.state, JOB.c.cancel_requested).where(
            JOB.c.id == job_id, JOB.c.lease_holder == holder)).first()
        if row is None or row.state != "leased":
            return "lost"
        if row.cancel_requested:
            return "cancel"
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(state="running", updated_at=utcnow()))
    return "running"


def heartbeat(engine: Engine, holder: str, now: float, ttl_s: float) -> list[str]:
    """Extend every lease `holder` has; returns its jobs that a user asked to cancel."""
    with write_txn(engine) as conn:
        conn.execute(update(JOB).where(JOB.c.lease_holder == holder).values(
            lease_expires_s=now + ttl_s, heartbeat_s=now))
        conn.execute(update(DEVICE).where(DEVICE.c.lease_holder == holder).values(
            lease_expires_s=now + ttl_s))
        q = select(JOB.c.id).where(JOB.c.lease_holder == holder, JOB.c.cancel_requested.is_(True))
        return list(conn.execute(q).scalars())


def leases(engine: Engine) -> list[Any]:
    """Every device lease: rows of device, job_id, holder, expires_s."""
    q = (select(DEVICE.c.name.label("device"), DEVICE.c.lease_job_id.label("job_id"),
                DEVICE.c.lease_holder.label("holder"), DEVICE.c.lease_expires_s.label("expires_s"))
         .where(DEVICE.c.lease_job_id.is_not(None)))
    with engine.connect() as conn:
        return list(conn.execute(q))


@dataclass
class Stale:
    """A lease that expired (or whose holder is dead), with what is known of its attempt."""

    job_id: str
    device: str
    holder: str | None
    attempt: int
    max_attempts: int | None
    cancel_requested: bool
    run_status: str | None
    run_error: str | None


def stale(engine: Engine, now: float, dead_holders: Sequence[str] = ()) -> list[Stale]:
    """Leases past their expiry or held by a holder known to be dead; `run_status` is the
    status of the attempt's stored run if it reached the database before its holder died."""
    cond = DEVICE.c.lease_expires_s <= now
    if dead_holders:
        cond = cond | DEVICE.c.lease_holder.in_(list(dead_holders))
    q = (select(DEVICE.c.name, DEVICE.c.lease_holder, JOB.c.id, JOB.c.attempts, JOB.c.max_attempts,
                JOB.c.cancel_requested, Run.__table__.c.status, Run.__table__.c.error)
         .join(JOB, JOB.c.id == DEVICE.c.lease_job_id)
         .outerjoin(Run.__table__, (Run.__table__.c.job_id == JOB.c.id)
                    & (Run.__table__.c.attempt == JOB.c.attempts))
         .where(DEVICE.c.lease_job_id.is_not(None), cond))
    with engine.connect() as conn:
        return [Stale(r.id, r.name, r.lease_holder, r.attempts, r.max_attempts,
                      bool(r.cancel_requested), r.status, r.error) for r in conn.execute(q)]


@dataclass
class Finish:
    """How an attempt ends for the queue.

    Args:
        state: queued (retry), done, failed or cancelled.
        reason: why, shown by `bench status`.
        not_before_s: earliest start of a retry.
        avoid: a device the retry should avoid.
        artifact: the artifact the device now holds (it reached the engine), for `last_artifact`.
    """

    state: str
    reason: str | None = None
    not_before_s: float | None = None
    avoid: str | None = None
    artifact: str | None = None


def finish(engine: Engine, job_id: str, device: str, holder: str | None, attempt: int,
           outcome: Finish, now: float, device_values: dict[str, Any] | None = None) -> bool:
    """End attempt `attempt` of a job and release its device, in one transaction.

    Args:
        device_values: device columns to set with the release (health, failures ...).
    Returns:
        False, changing nothing, when the job is no longer leased by `holder` at `attempt`
        (its lease expired and another attempt took over).
    """
    with write_txn(engine) as conn:
        row = conn.execute(select(JOB.c.avoid).where(
            JOB.c.id == job_id, JOB.c.lease_holder == holder, JOB.c.attempts == attempt,
            JOB.c.state.in_(("leased", "running", "done", "failed")))).first()
        if row is None:
            return False
        avoid = list(row.avoid or [])
        if outcome.avoid and outcome.avoid not in avoid:
            avoid.append(outcome.avoid)
        conn.execute(update(JOB).where(JOB.c.id == job_id).values(
            state=outcome.state, reason=outcome.reason, not_before_s=outcome.not_before_s,
            avoid=avoid or None, lease_device=None, lease_holder=None, lease_expires_s=None,
            finished_s=None if outcome.state == "queued" else now, updated_at=utcnow()))
        values = {"lease_job_id": None, "lease_holder": None, "lease_expires_s": None,
                  **({"last_artifact": outcome.artifact} if outcome.artifact else {}),
                  **(device_values or {})}
        conn.execute(update(DEVICE).where(DEVICE.c.name == device,
                                          DEVICE.c.lease_job_id == job_id).values(**values))
    return True


def open_jobs(engine: Engine, study_id: str | None = None) -> int:
    """How many of the scheduler's jobs (of one study, or all) are not in a final state."""
    q = select(func.count()).select_from(JOB).where(
        JOB.c.state.in_(("queued", "leased", "running")), JOB.c.priority.is_not(None))
    if study_id:
        q = q.where(JOB.c.study_id == study_id)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())
