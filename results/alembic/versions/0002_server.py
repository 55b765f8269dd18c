"""The HTTP server's tables: API tokens (hashed), idempotency keys, uploaded models.

Revision ID: 0002_server
Revises: 0001_base
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from results.migrate import create_or_complete

revision = "0002_server"
down_revision = "0001_base"
branch_labels = None
depends_on = None

META = sa.MetaData()
S = sa.String
TS = sa.DateTime(timezone=True)

sa.Table("api_token", META,
         sa.Column("id", S(), primary_key=True),
         sa.Column("name", S(), nullable=False),
         sa.Column("token_sha256", S(), nullable=False),
         sa.Column("read_only", sa.Boolean(), nullable=False),
         sa.Column("created_at", TS, nullable=False),
         sa.Column("revoked_at", TS),
         sa.Column("last_used_s", sa.Float()),
         sa.Index("ix_api_token_name", "name"),
         sa.UniqueConstraint("token_sha256"))

sa.Table("idempotency_key", META,
         sa.Column("token_id", S(), primary_key=True),
         sa.Column("key", S(), primary_key=True),
         sa.Column("study_id", S(), nullable=False),
         sa.Column("fingerprint", S(), nullable=False),
         sa.Column("created_at", TS, nullable=False))

sa.Table("stored_model", META,
         sa.Column("sha256", S(), primary_key=True),
         sa.Column("name", S(), nullable=False),
         sa.Column("original_name", S(), nullable=False),
         sa.Column("size_bytes", sa.BigInteger(), nullable=False),
         sa.Column("path", S(), nullable=False),
         sa.Column("uploaded_by", S()),
         sa.Column("created_at", TS, nullable=False))


def upgrade() -> None:
    create_or_complete(op.get_bind(), META)


def downgrade() -> None:
    META.drop_all(op.get_bind())
