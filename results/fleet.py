"""Devices in the database (inventory facts, probes, health) and the queue seen from a user:
jobs per state and per device, cancellation."""

from __future__ import annotations

import difflib
from typing import Any, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as model_select

from agents.errors import UserError
from results.models import Device, Study, utcnow
from results.queue import DEVICE, JOB, write_txn


def sync_devices(engine: Engine, devices: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Create or refresh a row per (name, transport, inventory facts); probes and health stay."""
    with Session(engine) as s:
        for name, transport, facts in devices:
            row = s.get(Device, name) or Device(name=name)
            row.transport, row.inventory, row.updated_at = transport, facts, utcnow()
            row.arch = facts.get("arch") or row.arch
            cost = facts.get("cost") or {}
            row.price_usd, row.cost_per_hour_usd = cost.get("price_usd"), cost.get("cost_per_hour_usd")
            row.tdp_w = facts.get("tdp_w")
            s.add(row)
        s.commit()


def store_probe(engine: Engine, name: str, probe: dict[str, Any], now: float) -> None:
    """Keep a device's probe and the facts read from it."""
    env = probe.get("environment", {})
    with write_txn(engine) as conn:
        conn.execute(update(DEVICE).where(DEVICE.c.name == name).values(
            probe=probe, probed_s=now, arch=env.get("arch"), cpu_model=env.get("cpu_model"),
            updated_at=utcnow()))


def set_device(engine: Engine, name: str, **values: Any) -> None:
    """Set device columns (health, failures, health_reason, health_checked_s ...)."""
    with write_txn(engine) as conn:
        conn.execute(update(DEVICE).where(DEVICE.c.name == name).values(**values))


def device_rows(engine: Engine, names: Sequence[str] | None = None) -> list[Device]:
    """Device rows, all or the named ones, by name."""
    q = model_select(Device).order_by(Device.name)
    if names is not None:
        q = q.where(Device.name.in_(list(names)))
    with Session(engine) as s:
        rows = list(s.exec(q))
        s.expunge_all()
    return rows


def state_counts(engine: Engine, study_id: str | None = None) -> dict[str, int]:
    """The scheduler's jobs (of one study, or all) per state."""
    q = select(JOB.c.state, func.count()).where(JOB.c.priority.is_not(None)).group_by(JOB.c.state)
    if study_id:
        q = q.where(JOB.c.study_id == study_id)
    with engine.connect() as conn:
        return {state: n for state, n in conn.execute(q)}


def device_counts(engine: Engine, study_id: str | None = None) -> dict[str, dict[str, int]]:
    """device -> state -> jobs; a job not yet on a device counts under what it was pinned to."""
    q = (select(JOB.c.device, JOB.c.state, func.count()).where(JOB.c.priority.is_not(None))
         .group_by(JOB.c.device, JOB.c.state))
    if study_id:
        q = q.where(JOB.c.study_id == study_id)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for device, state, n in conn.execute(q):
            out.setdefault(device, {})[state] = n
    return out


def recent_studies(engine: Engine, last: int = 10) -> list[Study]:
    """The newest studies that went through the queue, newest first."""
    q = (model_select(Study).where(Study.priority.is_not(None))
         .order_by(Study.created_at.desc()).limit(last))
    with Session(engine) as s:
        rows = list(s.exec(q))
        s.expunge_all()
    return rows


def cancel(engine: Engine, target: str, now: float) -> tuple[str, dict[str, int]]:
    """Cancel a study (all its unfinished jobs) or one job.

    Queued jobs end `cancelled` at once; leased and running ones are flagged, and their
    worker stops them (`Transport.cancel`) and ends them `cancelled`.

    Returns:
        ("study" or "job", {"cancelled": n, "stopping": m}).
    Raises:
        UserError: no such study or job, with the nearest study ids.
    """
    with write_txn(engine) as conn:
        if conn.execute(select(Study.__table__.c.id).where(Study.__table__.c.id == target)).first():
            kind, where = "study", JOB.c.study_id == target
        elif conn.execute(select(JOB.c.id).where(JOB.c.id == target)).first():
            kind, where = "job", JOB.c.id == target
        else:
            raise UserError(f"no study or job '{target}'{_nearest_ids(conn, target)}")
        queued = conn.execute(update(JOB).where(where, JOB.c.state == "queued").values(
            state="cancelled", reason="cancelled by the user", finished_s=now, updated_at=utcnow()))
        running = conn.execute(update(JOB).where(where, JOB.c.state.in_(("leased", "running"))).values(
            cancel_requested=True, updated_at=utcnow()))
    return kind, {"cancelled": queued.rowcount, "stopping": running.rowcount}


def _nearest_ids(conn, target: str) -> str:
    ids = list(conn.execute(select(Study.__table__.c.id).order_by(
        Study.__table__.c.created_at.desc()).limit(200)).scalars())
    close = difflib.get_close_matches(target, ids, 3, cutoff=0.5)
    if close:
        return f"; nearest studies: {', '.join(close)}"
    return f"; recent studies: {', '.join(ids[:5])}" if ids else "; the database holds no study"
