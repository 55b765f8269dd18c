"""The database: a SQLite file by default (`./bench.db`), any SQLAlchemy URL otherwise.

The URL comes from the caller (`--db`), else `BENCH_DB`, else `sqlite:///bench.db`. A plain
path is taken as a SQLite file.
"""

from __future__ import annotations

import os

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, create_engine, select

from agents.errors import UserError
import results.auth  # noqa: F401  (the server's tables belong to the schema)
from results.migrations import upgrade
from results.models import DB_SCHEMA_VERSION, Meta

DEFAULT_URL = "sqlite:///bench.db"


def resolve_url(url: str | None = None) -> str:
    """The database URL to use, from the argument, `BENCH_DB`, or the default."""
    url = url or os.environ.get("BENCH_DB") or DEFAULT_URL
    return url if "://" in url else f"sqlite:///{url}"


def open_db(url: str | None = None) -> Engine:
    """Connect, upgrade the schema to the newest alembic revision, and check the version.

    Raises:
        UserError: the database cannot be opened, or was written by a newer benchlab.
    """
    url = resolve_url(url)
    try:
        engine = _engine(url)
        upgrade(engine)  # alembic: results/alembic/versions/ (see results/migrations.py)
        _check_version(engine)
    except SQLAlchemyError as e:
        raise UserError(f"cannot open database {_redact(url)}: {' '.join(str(e.orig or e).split())[:300]}") from None
    return engine


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
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


def _check_version(engine: Engine) -> None:
    with Session(engine) as s:
        row = s.exec(select(Meta).where(Meta.key == "schema_version")).first()
        if row is None:
            s.add(Meta(key="schema_version", value=str(DB_SCHEMA_VERSION)))
            try:
                s.commit()
            except IntegrityError:  # another process opening the new database wrote it first
                s.rollback()
        elif int(row.value) > DB_SCHEMA_VERSION:
            raise UserError(f"database schema version {row.value} is newer than this benchlab "
                            f"understands ({DB_SCHEMA_VERSION}); upgrade benchlab")
        elif int(row.value) < DB_SCHEMA_VERSION:
            from results.migrate import add_missing
            add_missing(engine)
            row.value = str(DB_SCHEMA_VERSION)
            s.add(row)
            s.commit()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
