"""A study submitted over HTTP: checked, expanded and queued through `orchestrator.enqueue`, the
road `bench submit` takes, once per idempotency key.

Idempotency: a submission with an `Idempotency-Key` gets a study id derived from (token, key),
so that two requests racing with the same key both try to insert the same study row and the
database's primary key lets exactly one of them in; the other returns the winner's study.
The key is then recorded with a fingerprint of the request, so a later reuse of the key for a
different study is refused (409) instead of silently answered with the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from inventory import select as select_devices
from inventory.yamlsrc import Where
from orchestrator import enqueue
from orchestrator.plan.knobs import run_length
from orchestrator.plan.study import ModelEntry, Study
from orchestrator.server.schemas import StudyIn
from results import auth
from results.models import Study as StudyRow

KEY_LIMIT = 200


@dataclass
class Created:
    """A submission's outcome: the study, whether this request created it, what was skipped."""

    study: StudyRow
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
    study = _config(ctx, body)
    study.source = f"api:{principal.name}"
    if not study.engines:  # every engine the selected devices' probes found
        devices = _unique([d for sel in study.devices for d in select_devices(ctx.inventory, sel)])
        available, _ = enqueue.survey(ctx.db, devices)
        study.engines = enqueue.default_engines(study, available)
    prepared = enqueue.check(study, ctx.inventory, Where("study"))
    try:
        done = enqueue.submit(prepared, ctx.db, study_id=_study_id(principal.token_id, key) if key else None)
    except IntegrityError:
        if key is None:
            raise
        return Created(_existing(ctx, _study_id(principal.token_id, key)), False, [])  # a racing twin won
    if key is not None:
        auth.remember_key(ctx.db, principal.token_id, key, done.row.id, fingerprint)
    ctx.wake()
    return Created(done.row, True, done.skipped)


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


def _get(ctx, study_id: str) -> StudyRow | None:
    with Session(ctx.db) as s:
        row = s.get(StudyRow, study_id)
        if row is not None:
            s.expunge(row)
        return row


def _existing(ctx, study_id: str) -> StudyRow:
    row = _get(ctx, study_id)
    if row is None:
        raise HTTPException(409, detail=f"study {study_id} is being created by another request; retry")
    return row


def _config(ctx, body: StudyIn) -> Study:
    """The Study of a request whose models are stored here.

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
    return Study(
        models=entries, devices=list(body.devices), engines=list(body.engines or []),
        precisions=list(body.precisions), scenarios=list(body.scenarios),
        batch_sizes=list(body.batch_sizes) if body.batch_sizes else None, load=load,
        spread=body.spread, priority=body.priority, threads=body.threads,
        options={e: dict(o) for e, o in body.options.items()},
        length=run_length(r.warmup_s, r.duration_s, r.iterations, r.max_duration_s, r.target_ci_pct,
                          r.timeout_s),
        max_attempts=body.max_attempts, name=body.name or None, source="api")


def _path(stored: auth.StoredModel) -> Path:
    path = Path(stored.path)
    if not path.is_file():
        raise HTTPException(422, detail=f"model {stored.sha256} is recorded but its file is gone from "
                                        "the model store; upload it again")
    return path


def _unique(devices: list) -> list:
    seen: dict[str, object] = {}
    for d in devices:
        seen.setdefault(d.name, d)
    return list(seen.values())

