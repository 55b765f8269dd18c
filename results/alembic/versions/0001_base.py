"""The schema of benchlab's schema version 2 (devices, studies, the queue, runs).

Revision ID: 0001_base
Revises:
Create Date: 2025-01-01

A database made before alembic (schema version 1 or 2 in `bench_meta`, no `alembic_version`)
comes through here too: its tables exist, so only the columns and indexes it lacks are added
(the queue columns of version 2 on a version-1 file); nothing is dropped or rewritten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from results.migrate import create_or_complete

revision = "0001_base"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the tables as of schema version 2: a revision must not change when the
# models do.
META = sa.MetaData()
S = sa.String
TS = sa.DateTime(timezone=True)

sa.Table("bench_meta", META,
         sa.Column("key", S(), primary_key=True),
         sa.Column("value", S(), nullable=False))

sa.Table("device", META,
         sa.Column("name", S(), primary_key=True),
         sa.Column("transport", S(), nullable=False),
         sa.Column("arch", S()),
         sa.Column("cpu_model", S()),
         sa.Column("probe", sa.JSON()),
         sa.Column("updated_at", TS, nullable=False),
         sa.Column("inventory", sa.JSON()),
         sa.Column("price_usd", sa.Float()),
         sa.Column("cost_per_hour_usd", sa.Float()),
         sa.Column("tdp_w", sa.Float()),
         sa.Column("probed_s", sa.Float()),
         sa.Column("health", S(), server_default="ok", nullable=False),
         sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
         sa.Column("health_reason", S()),
         sa.Column("health_checked_s", sa.Float()),
         sa.Column("lease_job_id", S()),
         sa.Column("lease_holder", S()),
         sa.Column("lease_expires_s", sa.Float()),
         sa.Column("last_artifact", S()),
         sa.Index("ix_device_lease_job_id", "lease_job_id", unique=True))

sa.Table("device_pool", META,
         sa.Column("id", S(), primary_key=True),
         sa.Column("devices", sa.JSON()))

sa.Table("study", META,
         sa.Column("id", S(), primary_key=True),
         sa.Column("name", S(), nullable=False),
         sa.Column("source", S(), nullable=False),
         sa.Column("spec", sa.JSON()),
         sa.Column("created_at", TS, nullable=False),
         sa.Column("priority", sa.Integer()))

sa.Table("job", META,
         sa.Column("id", S(), primary_key=True),
         sa.Column("study_id", S(), sa.ForeignKey("study.id"), nullable=False),
         sa.Column("device", S(), nullable=False),
         sa.Column("engine", S(), nullable=False),
         sa.Column("precision", S(), nullable=False),
         sa.Column("scenario", S(), nullable=False),
         sa.Column("model_sha256", S(), nullable=False),
         sa.Column("state", S(), nullable=False),
         sa.Column("attempts", sa.Integer(), nullable=False),
         sa.Column("spec", sa.JSON()),
         sa.Column("created_at", TS, nullable=False),
         sa.Column("updated_at", TS, nullable=False),
         sa.Column("priority", sa.Integer()),
         sa.Column("queued_s", sa.Float()),
         sa.Column("position", sa.Integer(), server_default="0", nullable=False),
         sa.Column("pool_id", S()),
         sa.Column("artifact_key", S()),
         sa.Column("max_attempts", sa.Integer()),
         sa.Column("not_before_s", sa.Float()),
         sa.Column("avoid", sa.JSON()),
         sa.Column("lease_device", S()),
         sa.Column("lease_holder", S()),
         sa.Column("lease_expires_s", sa.Float()),
         sa.Column("heartbeat_s", sa.Float()),
         sa.Column("started_s", sa.Float()),
         sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
         sa.Column("reason", S()),
         sa.Column("finished_s", sa.Float()),
         sa.Index("ix_job_device", "device"),
         sa.Index("ix_job_queue", "state", "priority", "queued_s", "position"),
         sa.Index("ix_job_state", "state"),
         sa.Index("ix_job_study_id", "study_id"))

sa.Table("run", META,
         sa.Column("id", sa.Integer(), primary_key=True),
         sa.Column("job_id", S(), sa.ForeignKey("job.id"), nullable=False),
         sa.Column("attempt", sa.Integer(), nullable=False),
         sa.Column("status", S(), nullable=False),
         sa.Column("device", S(), nullable=False),
         sa.Column("engine", S(), nullable=False),
         sa.Column("engine_version", S()),
         sa.Column("precision", S(), nullable=False),
         sa.Column("scenario", S(), nullable=False),
         sa.Column("model_name", S()),
         sa.Column("model_sha256", S(), nullable=False),
         sa.Column("series_key", S(), nullable=False),
         sa.Column("batch", sa.Integer(), nullable=False),
         sa.Column("input_shapes", sa.JSON()),
         *[sa.Column(name, sa.Float()) for name in (
             "latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms",
             "latency_p999_ms", "latency_mean_ms", "latency_std_ms", "latency_cv",
             "latency_min_ms", "latency_max_ms", "throughput_ips", "cold_start_ms")],
         sa.Column("iterations", sa.Integer()),
         *[sa.Column(name, sa.Float()) for name in (
             "power_avg_w", "energy_per_inference_j", "accuracy_max_abs_error",
             "accuracy_cosine_min", "accuracy_top1_agreement", "compile_s")],
         sa.Column("flags", sa.JSON()),
         sa.Column("error", S()),
         sa.Column("latencies", sa.LargeBinary()),
         sa.Column("metrics", sa.JSON()),
         sa.Column("result", sa.JSON()),
         sa.Column("result_schema_version", sa.Integer(), nullable=False),
         sa.Column("started_at", S()),
         sa.Column("created_at", TS, nullable=False),
         sa.UniqueConstraint("job_id", "attempt", name="uq_run_job_attempt"),
         sa.Index("ix_run_created_at", "created_at"),
         sa.Index("ix_run_device", "device"),
         sa.Index("ix_run_job_id", "job_id"),
         sa.Index("ix_run_model_sha256", "model_sha256"),
         sa.Index("ix_run_series_key", "series_key"),
         sa.Index("ix_run_status", "status"))


def upgrade() -> None:
    create_or_complete(op.get_bind(), META)


def downgrade() -> None:
    META.drop_all(op.get_bind())
