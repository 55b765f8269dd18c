"""Bring an older database up to the current schema: add the columns and indexes it lacks.

Every column added since schema version 1 is nullable or has a server default, so adding it
to a table that already holds rows needs no data rewrite; existing columns are never touched.
"""

from __future__ import annotations

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.schema import CreateIndex
from sqlmodel import SQLModel


def add_missing(engine: Engine) -> list[str]:
    """Add the tables' missing columns and indexes.

    Returns:
        What was added, as `table.column` / `index name`.
    """
    with engine.begin() as conn:
        return complete_tables(conn, SQLModel.metadata)


def create_or_complete(conn: Connection, metadata: MetaData) -> list[str]:
    """Bring the tables of `metadata` into being on `conn`: add what existing ones lack
    (columns, indexes), create the missing ones. The alembic revisions use it with their own,
    frozen table definitions, so a revision also adopts a database that already has some of
    its tables (an older benchlab's, or one made by `create_all`).

    Returns:
        What was added, as `table.column` / `index name` / `table`.
    """
    added = complete_tables(conn, metadata)
    insp = inspect(conn)
    missing = [t for t in metadata.sorted_tables if not insp.has_table(t.name)]
    metadata.create_all(conn, tables=missing, checkfirst=False)
    return added + [t.name for t in missing]


def complete_tables(conn: Connection, metadata: MetaData) -> list[str]:
    """Add the missing columns and indexes of the tables of `metadata` that exist on `conn`."""
    added: list[str] = []
    insp = inspect(conn)
    for table in metadata.sorted_tables:
        if not insp.has_table(table.name):
            continue  # create_all makes it
        have = {c["name"] for c in insp.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                _add_column(conn, table.name, column)
                added.append(f"{table.name}.{column.name}")
        indexes = {i["name"] for i in insp.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                conn.execute(CreateIndex(index))
                added.append(index.name)
    return added


def _add_column(conn: Connection, table: str, column) -> None:
    dialect = conn.dialect
    ddl = f"ALTER TABLE {dialect.identifier_preparer.quote(table)} ADD COLUMN " \
          f"{dialect.identifier_preparer.quote(column.name)} {column.type.compile(dialect)}"
    default = column.server_default
    if default is not None:
        text = default.arg if isinstance(default.arg, str) else default.arg.compile(dialect=dialect)
        ddl += f" DEFAULT {_literal(text)}"
    try:
        conn.exec_driver_sql(ddl)
    except (OperationalError, ProgrammingError) as e:  # another process added it first
        if "duplicate" not in str(e).lower() and "already exists" not in str(e).lower():
            raise


def _literal(text) -> str:
    text = str(text)
    if text.lstrip("-").isdigit() or text.lower() in ("true", "false", "0", "1"):
        return text
    return "'" + text.replace("'", "''") + "'"
