"""What `bench serve` is configured with, and what every request shares."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from inventory import Inventory
from orchestrator.execute.dispatcher import DispatchConfig

DEFAULT_MAX_UPLOAD_BYTES = 512 * 2**20


def default_model_store() -> Path:
    """`$BENCH_MODEL_STORE`, else ~/.cache/benchlab/models (beside the artifact cache)."""
    env = os.environ.get("BENCH_MODEL_STORE")
    return Path(env) if env else Path.home() / ".cache" / "benchlab" / "models"


@dataclass
class ServerSettings:
    """How a server runs.

    Args:
        db: SQLAlchemy URL or SQLite path (None: `$BENCH_DB`, else ./bench.db).
        inventory: inventory file (None: `$BENCH_INVENTORY`, else ./lab.yaml, else `local`).
        model_store: where uploaded models are kept, one folder per sha256.
        max_upload_bytes: the largest model accepted; a larger upload is refused with 413.
        max_concurrent_uploads: uploads received at once; one more is refused with 503 and
            Retry-After, so the disk an upload burst can fill is bounded by this x the size limit.
        anonymous_read: GET requests need no token (writes always do).
        worker: run the scheduler and dispatcher in this process (False: only the API; a
            `bench worker` elsewhere works the queue off).
        dispatch: the dispatcher's timing and policies.
    """

    db: str | None = None
    inventory: str | None = None
    model_store: Path = field(default_factory=default_model_store)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_concurrent_uploads: int = 4
    anonymous_read: bool = False
    worker: bool = True
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)


@dataclass
class ServerContext:
    """What the routes share: settings, the database, the fleet, the model store, the loop."""

    settings: ServerSettings
    db: Engine
    inventory: Inventory
    loop: Any = None  # orchestrator.server.loop.DispatchLoop when the worker runs here
    touched: dict[str, float] = field(default_factory=dict)
    uploads_in_flight: int = 0  # changed on the event loop only
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wake(self) -> None:
        """Tell the dispatcher that new jobs are queued (it would otherwise see them at its
        next poll)."""
        if self.loop is not None:
            self.loop.wake()
