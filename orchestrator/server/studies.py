"""A study submitted over HTTP: checked, expanded and queued like `bench submit` does, once
per idempotency key.

Idempotency: a submission with an `Idempotency-Key` gets a study id derived from (token, key),
so that two requests racing with the same key both try to insert the same study row and the
database's primary key lets exactly one of them in; the other returns the winner's study.
The key is then recorded with a fingerprint of the request, so a later reuse of the key for a
different study is refused (409) instead of silently answered with the old one.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agents.engines import get_engine
from agents.errors import UserError
from agents.spec import RunLength
from inventory import select as select_devices
from inventory.yamlsrc import Where
from orchestrator import devices as dev
from orchestrator.commands.submit import _study, probe_missing
from orchestrator.expand import expand, prepare, refuse_if_empty
from orchestrator.scheduler import priority_rank
from orchestrator.server.schemas import StudyIn
from orchestrator.study import ModelEntry, StudyConfig
from results import auth, fleet, queue
from results.models import Study

KEY_LIMIT = 200


@dataclass
class Created:
    """A submission's outcome: the study, whether this request created it, what was skipped."""

    study: Study
    created: bool
    skipped: list[str]


def submit(ctx, body: StudyIn, principal: auth.Principal, key: str | None) -> Created:
    """Queue a study, or return the one this idempotency key already made.

    Raises:
        HTTPException: 409 when the key was used for a different study; 422 for a model that
            is not stored here.
        UserError: a study that cannot run (a bad selector, engine, shape; no capable device).
    """
    if key is not None and not 0 < len(key) <= KEY_LIMIT:
        raise HTTPException(422, detail=f"Idempotency-Key must be 1 to {KEY_LIMIT} characters")
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    if key is not None:
        replay = _replay(ctx, principal, key, fingerprint)
        if replay is not None:
            return replay
    config = _config(ctx, body)
    inv = ctx.inventory
    devices = [d for s in config.devices for d in select_devices(inv, s)]
    fleet.sync_devices(ctx.db, [(d.name, d.transport, d.describe()) for d in _unique(devices)])
    why_not = probe_missing(ctx.db, _unique(devices), dev.transport_for, time.time)
    available = {r.name: dev.available_engines(r.probe) if r.probe else None
                 for r in fleet.device_rows(ctx.db, [d.name for d in _unique(devices)])}
    if not config.engines:
        config.engines = _default_engines(config, available)
    config.check(Where("study"))
    prepared = prepare(config, inv)
    study = _study(config, prepared)
    study.source = f"api:{principal.name}"
    if key is not None:
        study.id = _study_id(principal.token_id, key)
    items, skipped = expand(prepared, study.id, available, why_not)
    refuse_if_empty(items, skipped, prepared)
    try:
        queue.enqueue(ctx.db, study, items, priority_rank(config.priority), time.time(), config.max_attempts)
    except IntegrityError:
        if key is None:
            raise
        return Created(_existing(ctx, study.id), False, skipped)  # a racing twin won
    if key is not None:
        auth.remember_key(ctx.db, principal.token_id, key, study.id, fingerprint)
    ctx.wake()
    return Created(study, True, skipped)


def _replay(ctx, principal, key: str, fingerprint: str) -> Created | None:
    found = auth.find_key(ctx.db, principal.token_id, key)
    if found is None:
        existing = _get(ctx, _study_id(principal.token_id, key))
        return Created(existing, False, []) if existing is not None else None
    if found.fingerprint != fingerprint:
        raise HTTPException(409, detail=f"Idempotency-Key {key!r} was used for another study "
                                        f"({found.study_id}) with different settings")
    return Created(_existing(ctx, found.study_id), False, [])


def _study_id(token_id: str, key: str) -> str:
    return hashlib.sha256(f"{token_id}\n{key}".encode()).hexdigest()[:12]


def _get(ctx, study_id: str) -> Study | None:
    with Session(ctx.db) as s:
        row = s.get(Study, study_id)
        if row is not None:
            s.expunge(row)
        return row


def _existing(ctx, study_id: str) -> Study:
    row = _get(ctx, study_id)
    if row is None:
        raise HTTPException(409, detail=f"study {study_id} is being created by another request; retry")
    return row


def _config(ctx, body: StudyIn) -> StudyConfig:
    """The StudyConfig of a request whose models are stored here.

    Raises:
        HTTPException: 422 when no model is given or one is not stored on this server.
    """
    if not body.models:
        raise HTTPException(422, detail="a study needs a model: upload one (multipart 'model') "
                                        "or name a stored one by sha256 in 'models'")
    entries = []
    for m in body.models:
        stored = auth.stored_model(ctx.db, m.sha256)
        if stored is None:
            raise HTTPException(422, detail=f"model {m.sha256} is not stored on this server; upload it")
        entries.append(ModelEntry(path=_path(stored), shapes=dict(m.shapes)))
    r = body.run
    load = {k: v for k, v in body.load.model_dump().items() if v is not None}
    config = StudyConfig(
        models=entries, devices=list(body.devices), engines=list(body.engines or []),
        precisions=list(body.precisions), scenarios=list(body.scenarios),
        batch_sizes=list(body.batch_sizes) if body.batch_sizes else None, load=load,
        spread=body.spread, priority=body.priority, threads=body.threads,
        options={e: dict(o) for e, o in body.options.items()},
        length=RunLength(warmup_s=r.warmup_s, min_duration_s=r.duration_s, min_iterations=r.iterations,
                         max_duration_s=r.max_duration_s or max(60.0, 2 * r.duration_s),
                         target_ci_pct=r.target_ci_pct, timeout_s=r.timeout_s),
        max_attempts=body.max_attempts, name=body.name or None, source="api")
    return config


def _path(stored: auth.StoredModel):
    from pathlib import Path
    path = Path(stored.path)
    if not path.is_file():
        raise HTTPException(422, detail=f"model {stored.sha256} is recorded but its file is gone from "
                                        "the model store; upload it again")
    return path


def _default_engines(config: StudyConfig, available: dict) -> list[str]:
    """Every engine a selected device's probe found that runs every model's format."""
    found = sorted(set().union(*[e for e in available.values() if e]) if available else set())
    suffixes = {m.path.suffix.lower() for m in config.models}
    engines = [n for n in found if all(_runs(n, s) for s in suffixes)]
    if not engines:
        raise UserError("no engine given and none of the selected devices has one that runs "
                        f"{', '.join(sorted(suffixes))} models (devices: {', '.join(available) or 'none'})")
    return engines


def _runs(engine: str, suffix: str) -> bool:
    try:
        return get_engine(engine).supports(suffix) is None
    except UserError:  # an engine a board has that this server does not know
        return False


def _unique(devices: list) -> list:
    seen: dict[str, object] = {}
    for d in devices:
        seen.setdefault(d.name, d)
    return list(seen.values())

