"""The database: a SQLite file by default (`./bench.db`), any SQLAlchemy URL otherwise.

`open_db` connects (results/connect.py: the URL from the caller, `BENCH_DB` or the default),
brings the schema to the newest revision and checks its version.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from agents.errors import UserError
import results.auth  # noqa: F401  (the server's tables belong to the schema)
from results.connect import connect, resolve_url
from results.migrations import upgrade
from results.models import DB_SCHEMA_VERSION, Meta


def open_db(url: str | None = None) -> Engine:
    """Connect, upgrade the schema to the newest alembic revision, and check the version.

    Raises:
        UserError: the database cannot be opened, or was written by a newer benchlab.
    """
    url = resolve_url(url)
    try:
        db = connect(url)
        upgrade(db)  # alembic: results/alembic/versions/ (see results/migrations.py)
        _check_version(db)
    except SQLAlchemyError as e:
        raise UserError(f"cannot open database {_redact(url)}: {' '.join(str(e.orig or e).split())[:300]}") from None
    return db


def _check_version(db: Engine) -> None:
    with Session(db) as s:
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
            add_missing(db)
            row.value = str(DB_SCHEMA_VERSION)
            s.add(row)
            s.commit()


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
