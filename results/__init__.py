"""Results: SQL tables, the database engine, idempotent ingest and DataFrame queries."""
