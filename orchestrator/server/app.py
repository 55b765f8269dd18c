"""The FastAPI app of `bench serve`: routes, error mapping, `/healthz`, and the dispatcher loop
started with the app and stopped with it."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from agents.errors import BenchError, UserError
from inventory import load_inventory
from orchestrator.server import routes
from orchestrator.server.schemas import Health
from orchestrator.server.settings import ServerContext, ServerSettings
from orchestrator.server.views import NotFound
from results import fleet
from results.db import open_db

log = logging.getLogger("benchlab.server")


def _version() -> str:
    try:
        return version("benchlab")
    except PackageNotFoundError:
        return "unknown"


def create_app(settings: ServerSettings) -> FastAPI:
    """Open the database (migrated to the newest schema), read the inventory, build the app.

    The dispatcher loop (when `settings.worker`) starts with the app's lifespan and stops
    with it; its running jobs then go back to the queue.

    Raises:
        UserError: the database cannot be opened, the inventory is bad, the model store
            cannot be created.
    """
    engine = open_db(settings.db)
    inventory = load_inventory(settings.inventory)
    try:
        (settings.model_store / "incoming").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"model store {settings.model_store}: {e.strerror}") from None
    fleet.sync_devices(engine, [(d.name, d.transport, d.describe()) for d in inventory.devices.values()])
    ctx = ServerContext(settings, engine, inventory)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.worker:
            from orchestrator.server.loop import DispatchLoop
            ctx.loop = DispatchLoop(engine, list(inventory.devices.values()), settings.dispatch)
            ctx.loop.start()
        try:
            yield
        finally:
            if ctx.loop is not None:
                await run_in_threadpool(ctx.loop.close)
            engine.dispose()

    app = FastAPI(title="benchlab", version=_version(), lifespan=lifespan,
                  description="The team orchestrator of benchlab: submit studies, follow their "
                              "jobs, read runs. Every /v1 route needs `Authorization: Bearer TOKEN` "
                              "(`bench token create`); writes need a token that is not read-only.")
    app.state.ctx = ctx
    app.include_router(routes.router)
    _errors(app)
    _schema_of_bodies(app)

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> JSONResponse:
        """Liveness and readiness: the database answers, the dispatcher runs (no token needed)."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except SQLAlchemyError as e:
            database = f"error: {' '.join(str(e.orig or e).split())[:200]}"
        dispatcher = ctx.loop.state if ctx.loop is not None else "off (API only)"
        ok = database == "ok" and not dispatcher.startswith(("error", "stopped"))
        body = Health(status="ok" if ok else "degraded", database=database, dispatcher=dispatcher,
                      version=_version(), max_upload_bytes=settings.max_upload_bytes,
                      anonymous_read=settings.anonymous_read)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    return app


def _schema_of_bodies(app: FastAPI) -> None:
    """Put StudyIn in the OpenAPI components: POST /v1/studies reads its body itself (JSON or
    multipart), so FastAPI does not see the model."""
    from fastapi.openapi.utils import get_openapi

    from orchestrator.server.schemas import StudyIn

    def build() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            study = StudyIn.model_json_schema(ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                {**study.pop("$defs", {}), "StudyIn": study})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build


def _errors(app: FastAPI) -> None:
    """A user's mistake is 422 with one line, a missing thing 404, a database outage 503."""

    @app.exception_handler(NotFound)
    async def not_found(_: Request, e: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(BenchError)
    async def bench_error(_: Request, e: BenchError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=422)

    @app.exception_handler(OperationalError)
    async def database_down(_: Request, e: OperationalError) -> JSONResponse:
        log.warning("database error: %s", e)
        return JSONResponse({"detail": f"database unavailable: {' '.join(str(e.orig or e).split())[:200]}"},
                            status_code=503, headers={"Retry-After": "5"})
