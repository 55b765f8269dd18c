"""`bench serve`: the team orchestrator over HTTP (FastAPI), with the scheduler and dispatcher
running in the same process.

    settings.py   ServerSettings and the shared ServerContext (database, inventory, model store)
    auth.py       bearer tokens: who may read, who may write
    uploads.py    multipart uploads streamed to disk with a size limit and sha256
    studies.py    a submitted study: checked, expanded and queued once per idempotency key
    schemas.py    the request and response bodies (the OpenAPI schema)
    routes.py     /v1 routes; app.py: the app factory, error mapping, the dispatcher loop
"""

from orchestrator.server.app import create_app
from orchestrator.server.settings import ServerSettings

__all__ = ["create_app", "ServerSettings"]
