"""Schema migrations with alembic (revisions in `results/alembic/versions/`).

`open_db` calls `upgrade(engine)` first: a database already at the head revision costs one
query (the head is read from the revision files, without importing alembic); otherwise the
upgrade runs under a lock, so that two processes opening one new database do not both create
it: PostgreSQL's transaction-level advisory lock, SQLite's write lock (`BEGIN IMMEDIATE`)
held for the whole upgrade, whose DDL is transactional on both. A database from before
alembic (no `alembic_version`) goes through the first revision, which adds what it lacks.

For developers:

    python -m results.migrations revision -m "verdict tables"   # autogenerate the next revision
    python -m results.migrations check                          # models == head? (exit 1 if not)
    python -m results.migrations current --db URL               # the revision of a database
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from agents.errors import UserError
from results.connect import connect, resolve_url, sqlite_pragmas

SCRIPTS = Path(__file__).resolve().parent / "alembic"
VERSIONS = SCRIPTS / "versions"
_PG_LOCK = 0x62656E63  # "benc": the advisory lock of schema upgrades
_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=(.*)$", re.M)
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_TABLE_CLASS = re.compile(r"^class \w+\(.*\btable=True", re.M)


@lru_cache(maxsize=1)
def revisions() -> tuple[frozenset[str], str]:
    """(every revision id, the head), read from the revision files' assignments."""
    known, parents = set(), set()
    for path in VERSIONS.glob("*.py"):
        if path.name.startswith("_"):
            continue
        found = {k: _QUOTED.findall(v) for k, v in _ASSIGN.findall(path.read_text(encoding="utf-8"))}
        known.update(found.get("revision", []))
        parents.update(found.get("down_revision", []))
    heads = known - parents
    if len(heads) != 1:
        raise RuntimeError(f"{VERSIONS}: expected one head revision, found {sorted(heads)}")
    return frozenset(known), heads.pop()


def head() -> str:
    """The newest revision this benchlab knows."""
    return revisions()[1]


def current(conn: Connection) -> str | None:
    """The database's revision; None when alembic never ran on it."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, target: str = "head", unrevised: bool = True) -> None:
    """Bring the database to `target` (a database already there is left alone).

    Args:
        unrevised: also create the tables of the models that no revision creates yet (a
            model added without its revision still works; tests/results/test_migrations.py
            fails until the revision exists). False: the revisions alone.
    Raises:
        UserError: the database is at a revision this benchlab does not know (a newer one).
    """
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        now = current(conn)
        missing = unrevised and now == head() and bool(set(SQLModel.metadata.tables)
                                                       - set(inspect(conn).get_table_names()))
    if target == "head" and now == head() and not missing:
        return
    if now is not None and now not in revisions()[0]:
        raise _newer(now)
    locking = _sqlite_locking(engine) if engine.dialect.name == "sqlite" else engine
    try:
        with locking.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            if current(conn) != head() or target != "head":
                _command("upgrade", conn, target)
            if unrevised:
                SQLModel.metadata.create_all(conn)
    finally:
        if locking is not engine:
            locking.dispose()


def _newer(revision: str) -> UserError:
    return UserError(f"database schema revision '{revision}' is newer than this benchlab "
                     f"understands (newest known: {head()}); upgrade benchlab")


def _sqlite_locking(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions take the write lock at BEGIN."""
    locking = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 60})

    @event.listens_for(locking, "connect")
    def _manual(dbapi_conn, record):  # let SQLAlchemy's BEGIN below be the only one
        sqlite_pragmas(dbapi_conn, record)
        dbapi_conn.isolation_level = None

    @event.listens_for(locking, "begin")
    def _immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return locking


def config(connection: Connection | None = None):
    """An alembic Config on the packaged scripts, migrating `connection` when given."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(rev)s")  # rev ids are already 0003_slug
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _command(name: str, conn: Connection, *args, **kwargs):
    from alembic import command
    from alembic.util import CommandError

    # "setup plugin ..." at INFO on every start says nothing to a user; upgrades still log.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        return getattr(command, name)(config(conn), *args, **kwargs)
    except CommandError as e:
        if "Can't locate revision" in str(e):
            raise _newer(current(conn) or "?") from None
        raise


def differences(engine: Engine) -> list:
    """What the models have that the database (at head) has not, as alembic diff tuples."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    load_models()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, SQLModel.metadata)
    return [d for d in diffs if not _ignorable(d)]


def load_models() -> list[str]:
    """Import every module of `results` that defines tables, so that SQLModel.metadata holds
    the whole schema (the models and the revisions are compared on it)."""
    import importlib

    names = []
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        if _TABLE_CLASS.search(path.read_text(encoding="utf-8")):
            names.append(f"results.{path.stem}")
            importlib.import_module(names[-1])
    return names


def _ignorable(diff) -> bool:
    # SQLite reflects an unnamed UNIQUE as a nameless constraint, so alembic sees a
    # remove/add pair of the same constraint; only names and columns matter here.
    item = diff[0] if isinstance(diff, list) else diff
    return item[0] in ("add_constraint", "remove_constraint") and getattr(item[1], "name", None) is None


def _scratch_engine(tmp: str) -> Engine:
    load_models()
    engine = connect(f"sqlite:///{tmp}/scratch.db")
    upgrade(engine, unrevised=False)
    return engine


def main(argv: list[str] | None = None) -> int:
    """`python -m results.migrations revision|check|current|upgrade`."""
    parser = argparse.ArgumentParser(prog="python -m results.migrations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("revision", "check", "current", "upgrade"))
    parser.add_argument("-m", "--message", help="revision: what it changes")
    parser.add_argument("--db", help="current/upgrade/check: SQLAlchemy URL or SQLite path")
    args = parser.parse_args(argv)

    if args.action == "revision":
        if not args.message:
            parser.error("revision needs -m MESSAGE")
        with tempfile.TemporaryDirectory() as tmp:
            engine = _scratch_engine(tmp)
            number = len(revisions()[0]) + 1
            slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")[:24]
            with engine.begin() as conn:
                _command("revision", conn, message=args.message, autogenerate=True,
                         rev_id=f"{number:04d}_{slug}")
        return 0
    if args.action == "check":
        if args.db:
            engine = connect(resolve_url(args.db))
            upgrade(engine, unrevised=False)
            diffs = differences(engine)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                diffs = differences(_scratch_engine(tmp))
        for d in diffs:
            print(d)
        print("models match the head revision" if not diffs else
              f"{len(diffs)} difference(s): run `python -m results.migrations revision -m ...`")
        return 1 if diffs else 0
    engine = connect(resolve_url(args.db))
    if args.action == "upgrade":
        upgrade(engine)
    with engine.connect() as conn:
        print(current(conn) or "none (never migrated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
