"""Alembic migrations of the benchlab database (run by `results.migrations`, see docs/SERVER.md)."""
