"""Fixtures of the server tests: an API-only `bench serve` on SQLite and on PostgreSQL, shared
by the tests of this package, and a zoo model stored on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from server_helpers import UPLOAD_LIMIT_MB, fresh_pg_database, start_server, stop_server


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    """An API-only server (no dispatcher: jobs stay queued), an 8 MiB upload limit, on each database."""
    tmp = tmp_path_factory.mktemp(f"api-{request.param}")
    drop = None
    if request.param == "sqlite":
        db = f"sqlite:///{tmp / 'bench.db'}"
    else:
        db, drop = fresh_pg_database()
    server = start_server(db, tmp / "models", "--no-worker", "--max-upload-mb", str(UPLOAD_LIMIT_MB))
    yield server
    stop_server(server)
    if drop:
        drop()


@pytest.fixture(scope="package")
def mlp_model(tmp_path_factory) -> Path:
    """A zoo MLP on disk."""
    import zoo

    return zoo.save("mlp", tmp_path_factory.mktemp("zoo") / "mlp.onnx", batch=1)


@pytest.fixture(scope="package")
def stored_mlp(api, mlp_model) -> str:
    """The MLP uploaded to the `api` server; its sha256."""
    with api.client() as c:
        r = c.post("/v1/models", files={"model": ("mlp.onnx", mlp_model.read_bytes())})
        assert r.status_code in (200, 201), r.text
        return r.json()["sha256"]


