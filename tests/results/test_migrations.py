"""Schema migrations (alembic): a new database is created by the revisions, a database from
before alembic is upgraded without losing runs, concurrent openers migrate once, a newer
revision is refused, and the models match the head revision; on SQLite and PostgreSQL."""

import importlib.util
import threading

import pytest
import sqlalchemy as sa

from agents.errors import UserError
from results import migrations
from results.db import open_db


def _base_tables():
    spec = importlib.util.spec_from_file_location("rev0001", migrations.VERSIONS / "0001_base.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.META


def _revision(engine):
    with engine.connect() as conn:
        return migrations.current(conn)


def test_a_new_database_is_made_by_the_revisions_up_to_head(db_url):
    engine = open_db(db_url)
    assert _revision(engine) == migrations.head()
    assert {"run", "job", "api_token", "idempotency_key", "stored_model"} <= set(sa.inspect(engine).get_table_names())


def test_the_models_match_the_head_revision(db_url):
    """A table or column added to a model needs a revision:
    `python -m results.migrations revision -m "what changed"` writes it."""
    from results.connect import connect

    migrations.load_models()
    engine = connect(db_url)
    migrations.upgrade(engine, unrevised=False)  # what the revisions alone make
    diffs = migrations.differences(engine)
    shown = [f"{d[0]} {getattr(d[1], 'name', d[1])}" if isinstance(d, tuple) else str(d)[:200] for d in diffs]
    assert diffs == [], ("the models need a revision: `python -m results.migrations revision -m "
                         f"'what changed'` writes it ({'; '.join(shown)})")


def test_a_database_from_before_alembic_keeps_its_runs(db_url):
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # what benchlab with schema version 2 (create_all) left behind
        _base_tables().create_all(conn)
        conn.execute(sa.text("INSERT INTO bench_meta VALUES ('schema_version', '2')"))
        conn.execute(sa.text("INSERT INTO study (id, name, source, created_at) VALUES ('s', 'old', 'cli', '2024-01-01')"))
        conn.execute(sa.text(
            "INSERT INTO job (id, study_id, device, engine, precision, scenario, model_sha256, state, attempts, "
            "created_at, updated_at) VALUES ('j', 's', 'local', 'onnxruntime', 'fp32', 'single-stream', 'ab', "
            "'done', 1, '2024-01-01', '2024-01-01')"))
        conn.execute(sa.text(
            "INSERT INTO run (job_id, attempt, status, device, engine, precision, scenario, model_sha256, "
            "series_key, batch, latency_p50_ms, result_schema_version, created_at) VALUES "
            "('j', 1, 'ok', 'local', 'onnxruntime', 'fp32', 'single-stream', 'ab', 'k', 1, 1.5, 2, '2024-01-01')"))
    engine.dispose()
    db = open_db(db_url)
    assert _revision(db) == migrations.head()
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT job_id, latency_p50_ms FROM run")).all() == [("j", 1.5)]
        assert conn.execute(sa.text("SELECT count(*) FROM api_token")).scalar() == 0


def test_concurrent_openers_of_a_new_database_migrate_it_once(db_url):
    errors = []

    def open_it() -> None:
        try:
            open_db(db_url).dispose()
        except Exception as e:  # any error here is the bug
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == []
    assert _revision(open_db(db_url)) == migrations.head()


def test_a_newer_revision_is_refused(db_url):
    engine = open_db(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(UserError, match="revision '9999_future' is newer than this benchlab"):
        open_db(db_url)


def test_the_head_read_from_the_files_is_alembics():
    from alembic.script import ScriptDirectory

    assert migrations.head() == ScriptDirectory.from_config(migrations.config()).get_current_head()
