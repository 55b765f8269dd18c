"""Alembic revisions, oldest first: 0001_base, 0002_server, ..."""
