"""The /v1 routes. Every one needs a bearer token (reads: any; writes: not read-only).

Database work runs on worker threads (plain `def` routes, or `run_in_threadpool`), so the
event loop only parses requests and streams uploads, and one slow client delays nobody else.
"""

from __future__ import annotations

import json
import time
from typing import Optional

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from agents.errors import UserError
from orchestrator.server import studies, uploads, views
from orchestrator.server.auth import reader, writer
from orchestrator.server.schemas import (SHA256, CancelOut, DeviceOut, JobDetail, RunsPage,
                                         StoredModelOut, StudyIn, StudyOut)
from results import auth, fleet
from results.auth import Principal

router = APIRouter(prefix="/v1")


def _id():
    # A fresh Path() per parameter: FastAPI binds a Param object to the first name it serves.
    return Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


_MULTIPART = {"multipart/form-data": {"schema": {
    "type": "object", "required": ["model"],
    "properties": {"model": {"type": "string", "format": "binary", "description": "an .onnx or .tflite file"},
                   "sha256": {"type": "string", "pattern": SHA256, "description": "checked against the upload"},
                   "study": {"type": "string", "description": "the study as JSON (StudyIn) without the "
                             "uploaded model; its `shapes` apply to the uploaded model"}}}}}
_ERRORS = {401: {"description": "no token, or an invalid one"}, 403: {"description": "read-only token"},
           404: {"description": "not found"}, 409: {"description": "idempotency key reused differently"},
           413: {"description": "upload over the size limit"}, 415: {"description": "not multipart"},
           422: {"description": "bad input, with the reason"},
           503: {"description": "the server's limit of uploads at once is reached; retry after Retry-After"}}


def _ctx(request: Request):
    return request.app.state.ctx


@router.post("/studies", status_code=201, response_model=StudyOut, responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/StudyIn"}}, **_MULTIPART}}})
async def create_study(request: Request, response: Response, who: Principal = Depends(writer),
                       idempotency_key: Optional[str] = Header(None, max_length=studies.KEY_LIMIT)) -> StudyOut:
    """Queue a study. JSON names stored models by sha256; multipart uploads the model with
    it (`model` file, `study` JSON field). The same `Idempotency-Key` makes one study."""
    ctx = _ctx(request)
    if request.headers.get("content-type", "").startswith("multipart/"):
        got = await uploads.receive_upload(ctx, request)
        data = uploads.study_field(got)
        if got.folder is None:
            raise HTTPException(422, detail="multipart study without a 'model' file part")
        stored = await uploads.store_upload(ctx, got, who.token_id)
        models = data.setdefault("models", [])
        if not isinstance(models, list):
            raise HTTPException(422, detail="'models' must be a list")
        models.append({"sha256": stored.sha256, "shapes": data.pop("shapes", None) or {}})
    else:
        try:
            data = json.loads(await request.body() or b"null")
        except ValueError as e:
            raise HTTPException(422, detail=f"body is not JSON: {e}") from None
    body = _study_in(data)
    done = await run_in_threadpool(studies.submit, ctx, body, who, idempotency_key)
    response.status_code = 201 if done.created else 200
    if not done.created:
        response.headers["Idempotent-Replayed"] = "true"
    out = await run_in_threadpool(views.study, ctx.db, done.study.id)
    out.skipped = done.skipped
    return out


def _study_in(data) -> StudyIn:
    if not isinstance(data, dict):
        raise HTTPException(422, detail="the study must be a JSON object")
    try:
        return StudyIn.model_validate(data)
    except ValidationError as e:
        raise HTTPException(422, detail=json.loads(e.json(include_url=False, include_input=False))) from None


@router.post("/models", status_code=201, response_model=StoredModelOut, responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": _MULTIPART}})
async def upload_model(request: Request, response: Response, who: Principal = Depends(writer)) -> StoredModelOut:
    """Store a model (multipart `model` file, optional `sha256`); a stored content is kept once."""
    ctx = _ctx(request)
    got = await uploads.receive_upload(ctx, request)
    if got.folder is None:
        raise HTTPException(422, detail="no 'model' file part")
    known = await run_in_threadpool(auth.stored_model, ctx.db, got.sha256)
    stored = await uploads.store_upload(ctx, got, who.token_id)
    response.status_code = 200 if known is not None else 201
    return StoredModelOut(**stored.model_dump())


@router.get("/models/{sha256}", response_model=StoredModelOut, responses=_ERRORS)
def get_model(request: Request, sha256: str = Path(pattern=SHA256), who: Principal = Depends(reader)) -> StoredModelOut:
    """A stored model by content hash (404: upload it)."""
    found = auth.stored_model(_ctx(request).db, sha256)
    if found is None:
        raise HTTPException(404, detail=f"model {sha256} is not stored here")
    return StoredModelOut(**found.model_dump())


@router.get("/studies", response_model=list[StudyOut], responses=_ERRORS)
def list_studies(request: Request, last: int = Query(20, ge=1, le=500),
                 who: Principal = Depends(reader)) -> list[StudyOut]:
    """The newest studies, newest first, with their jobs per state."""
    return views.recent_studies(_ctx(request).db, last)


@router.get("/studies/{study_id}", response_model=StudyOut, responses=_ERRORS)
def get_study(request: Request, study_id: str = _id(), jobs: bool = True,
              who: Principal = Depends(reader)) -> StudyOut:
    """A study: jobs per state, and each job with its state and device."""
    return views.study(_ctx(request).db, study_id, with_jobs=jobs)


@router.get("/jobs/{job_id}", response_model=JobDetail, responses=_ERRORS)
def get_job(request: Request, job_id: str = _id(), who: Principal = Depends(reader)) -> JobDetail:
    """A job, its JobSpec and the runs of its attempts."""
    return views.job(_ctx(request).db, job_id)


@router.post("/studies/{study_id}/cancel", response_model=CancelOut, responses=_ERRORS)
def cancel_study(request: Request, study_id: str = _id(), who: Principal = Depends(writer)) -> CancelOut:
    """Cancel a study: queued jobs at once; running ones are stopped by the dispatcher."""
    return _cancel(request, study_id, "study")


@router.post("/jobs/{job_id}/cancel", response_model=CancelOut, responses=_ERRORS)
def cancel_job(request: Request, job_id: str = _id(), who: Principal = Depends(writer)) -> CancelOut:
    """Cancel one job."""
    return _cancel(request, job_id, "job")


def _cancel(request: Request, target: str, kind: str) -> CancelOut:
    ctx = _ctx(request)
    if views.kind_of(ctx.db, target) != kind:
        raise views.NotFound(f"no {kind} '{target}'")
    _, counts = fleet.cancel(ctx.db, target, time.time())
    ctx.wake()
    return CancelOut(kind=kind, id=target, **counts)


@router.get("/runs", response_model=RunsPage, responses=_ERRORS)
def list_runs(request: Request, who: Principal = Depends(reader),
              study: Optional[str] = Query(None, max_length=64), status: Optional[str] = Query(None, max_length=32),
              device: Optional[str] = Query(None, max_length=200), engine: Optional[str] = Query(None, max_length=64),
              precision: Optional[str] = Query(None, max_length=16),
              model_sha256: Optional[str] = Query(None, max_length=64),
              series_key: Optional[str] = Query(None, max_length=64),
              after_id: Optional[int] = Query(None, ge=0, le=2**62),
              limit: int = Query(100, ge=1, le=views.MAX_PAGE),
              full: bool = Query(False, description="include each whole RunResult (raw latencies too)")) -> Response:
    """Stored runs, oldest first: the newest `limit`, or the `limit` after `after_id` (pages)."""
    filters = {"study": study, "status": status, "device": device, "engine": engine,
               "precision": precision, "model_sha256": model_sha256, "series_key": series_key}
    page = views.runs(_ctx(request).db, filters, after_id, limit, full)
    # Serialized here: FastAPI would validate the page again on its way out.
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/devices", response_model=list[DeviceOut], responses=_ERRORS)
def list_devices(request: Request, who: Principal = Depends(reader)) -> list[DeviceOut]:
    """The server's devices: state (idle, busy, QUARANTINED, unprobed), health, engines."""
    ctx = _ctx(request)
    return views.devices(ctx.db, ctx.inventory)


@router.get("/studies/{study_id}/dashboard", response_class=HTMLResponse, responses=_ERRORS)
def dashboard(request: Request, study_id: str = _id(), slo_p99_ms: Optional[float] = Query(None, gt=0, le=1e9),
              who: Principal = Depends(reader)) -> HTMLResponse:
    """The study page of `bench dashboard --study` (self-contained HTML)."""
    try:
        from dashboards import build
    except ImportError as e:
        raise HTTPException(503, detail=f"this server has no plotly ({e.name}): pip install 'benchlab[dash]'") from None
    ctx = _ctx(request)
    views.study(ctx.db, study_id, with_jobs=False)  # 404 for an unknown study
    try:
        return HTMLResponse(build.study_html(ctx.db, study_id, slo_p99_ms))
    except UserError as e:  # a study without runs yet
        raise HTTPException(404, detail=str(e)) from None

