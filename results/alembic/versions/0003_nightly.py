"""Nightly history: nightlies, their runs filed by series, and the verdicts (results/verdicts.py).

Revision ID: 0003_nightly
Revises: 0002_server
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from results.migrate import create_or_complete

revision = "0003_nightly"
down_revision = "0002_server"
branch_labels = None
depends_on = None

# Frozen copies of the tables this revision adds: a revision must not change when the models
# do. create_or_complete() also adopts a table that `create_all` made before this revision.
META = sa.MetaData()
S = sa.String
F = sa.Float

sa.Table("run", META, sa.Column("id", sa.Integer(), primary_key=True))  # the foreign key's target (0001)

sa.Table("nightly", META,
         sa.Column("id", S(), primary_key=True),
         sa.Column("suite", S(), nullable=False),
         sa.Column("study_id", S(), nullable=False),
         sa.Column("confirm_study_id", S()),
         sa.Column("started_s", F(), nullable=False),
         sa.Column("finished_s", F()),
         sa.Column("exit_code", sa.Integer()),
         sa.Column("counts", sa.JSON()),
         sa.Column("outputs", sa.JSON()),
         sa.Index("ix_nightly_suite", "suite"),
         sa.Index("ix_nightly_study_id", "study_id"))

sa.Table("series_run", META,
         sa.Column("id", sa.Integer(), primary_key=True),
         sa.Column("suite", S(), nullable=False),
         sa.Column("series", S(), nullable=False),
         sa.Column("title", S(), nullable=False),
         sa.Column("nightly_id", S(), nullable=False),
         sa.Column("run_id", sa.Integer(), sa.ForeignKey("run.id"), nullable=False),
         sa.Column("role", S(), nullable=False),
         sa.Column("created_s", F(), nullable=False),
         sa.Column("model_sha256", S(), nullable=False),
         sa.Column("good", sa.Boolean(), nullable=False),
         sa.Column("new_baseline", sa.Boolean(), nullable=False),
         sa.Column("toolchain", sa.JSON()),
         sa.Column("device_state", sa.JSON()),
         sa.Column("latency_p50_ms", F()),
         sa.Column("throughput_ips", F()),
         sa.Column("energy_per_inference_j", F()),
         sa.Column("peak_rss_mb", F()),
         sa.Column("accuracy", F()),
         sa.Column("sample", sa.LargeBinary()),
         sa.Index("ix_series_run_lookup", "suite", "series", "id"),
         sa.Index("ix_series_run_nightly_id", "nightly_id"),
         sa.Index("ix_series_run_run_id", "run_id"))

sa.Table("verdict", META,
         sa.Column("id", sa.Integer(), primary_key=True),
         sa.Column("nightly_id", S(), nullable=False),
         sa.Column("suite", S(), nullable=False),
         sa.Column("series", S(), nullable=False),
         sa.Column("title", S(), nullable=False),
         sa.Column("metric", S(), nullable=False),
         sa.Column("verdict", S(), nullable=False),
         sa.Column("run_id", sa.Integer()),
         sa.Column("confirm_run_id", sa.Integer()),
         sa.Column("baseline", F()),
         sa.Column("value", F()),
         sa.Column("ratio", F()),
         sa.Column("low", F()),
         sa.Column("high", F()),
         sa.Column("p_value", F()),
         sa.Column("threshold", F()),
         sa.Column("confirm_ratio", F()),
         sa.Column("confirm_p_value", F()),
         sa.Column("baseline_runs", sa.Integer(), nullable=False),
         sa.Column("change", S()),
         sa.Column("message", S(), nullable=False),
         sa.Column("created_s", F(), nullable=False),
         sa.Index("ix_verdict_nightly_id", "nightly_id"),
         sa.Index("ix_verdict_suite", "suite"),
         sa.Index("ix_verdict_run_id", "run_id"))

_MINE = ("nightly", "series_run", "verdict")


def upgrade() -> None:
    # The stand-in `run` exists already (revision 0001), so only this revision's tables are
    # made or completed.
    create_or_complete(op.get_bind(), META)


def downgrade() -> None:
    for name in reversed(_MINE):
        op.drop_table(name)
