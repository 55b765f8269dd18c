"""Boards: when a device was quarantined, and how `bench fleet setup` prepared it.

Revision ID: 0004_boards
Revises: 0003_nightly
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from results.migrate import create_or_complete

revision = "0004_boards"
down_revision = "0003_nightly"
branch_labels = None
depends_on = None

# Frozen: the two columns this revision adds to `device` (create_or_complete adds what lacks).
META = sa.MetaData()
sa.Table("device", META,
         sa.Column("name", sa.String(), primary_key=True),
         sa.Column("quarantined_s", sa.Float()),
         sa.Column("setup", sa.JSON()))


def upgrade() -> None:
    create_or_complete(op.get_bind(), META)


def downgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.drop_column("setup")
        batch.drop_column("quarantined_s")
