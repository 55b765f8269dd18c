"""Connecting to the database: the URL, and a SQLAlchemy engine with benchlab's SQLite settings.

The URL comes from the caller (`--db`), else `BENCH_DB`, else `sqlite:///bench.db`. A plain
path is taken as a SQLite file. `results.db.open_db` connects and brings the schema up to date;
the migrations connect through here without that (they are what brings it up to date).
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

DEFAULT_URL = "sqlite:///bench.db"


def resolve_url(url: str | None = None) -> str:
    """The database URL to use, from the argument, `BENCH_DB`, or the default."""
    url = url or os.environ.get("BENCH_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


def connect(url: str) -> Engine:
    """A SQLAlchemy engine for `url` (nothing is opened yet): SQLite in WAL mode with foreign
    keys, shared across threads, waiting up to 30 s for a lock; others with pre-ping."""
    if url.startswith("sqlite"):
        db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(db, "connect", sqlite_pragmas)
        return db
    return create_engine(url, pool_pre_ping=True)


def sqlite_pragmas(dbapi_conn, _record) -> None:
    """On every new SQLite connection: WAL journal and foreign keys."""
    # WAL lets readers (dashboards, `bench results`) run while a benchmark writes.
    cur = dbapi_conn.cursor()
    _wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _wal(cur) -> None:
    # Switching a new file to WAL needs its lock and does not wait for it (no busy handler):
    # a second process opening the file while the first migrates it retries for a while.
    import sqlite3
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
