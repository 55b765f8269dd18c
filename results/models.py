"""SQLModel tables: device, study, job, run, device pools, and the schema version.

A run row keeps the headline metrics as columns (for queries and dashboards), the raw
latencies compactly (zlib int64 ns), and the full RunResult JSON (nothing is lost).

The job queue lives in the job and device tables (results/queue.py): a job with a `priority`
is the scheduler's; a job without one belongs to `bench run`, which runs it itself. Queue
times are epoch seconds (UTC) in float columns ending in `_s`, the same on every database.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel

# 2: queue columns on job/device/study and the device_pool table (issue 4); results/migrate.py
# adds them to a version-1 database.
DB_SCHEMA_VERSION = 2


def utcnow() -> datetime:
    """Timezone-aware now, for default timestamps."""
    return datetime.now(timezone.utc)


class Meta(SQLModel, table=True):
    """Key/value facts about the database itself, e.g. its schema version."""

    __tablename__ = "bench_meta"
    key: str = Field(primary_key=True)
    value: str


class Device(SQLModel, table=True):
    """A board or host that runs benchmarks, with what its last probe found."""

    name: str = Field(primary_key=True)
    transport: str = "local"
    arch: Optional[str] = None
    cpu_model: Optional[str] = None
    probe: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)
    # What the inventory says (tags, cost, tdp, power ...), refreshed by `bench fleet` and workers.
    inventory: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    price_usd: Optional[float] = None
    cost_per_hour_usd: Optional[float] = None
    tdp_w: Optional[float] = None
    probed_s: Optional[float] = None
    # Health: `ok` or `quarantined` after `failures` consecutive infra-errors.
    health: str = Field(default="ok", sa_column_kwargs={"server_default": "ok"})
    failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    health_reason: Optional[str] = None
    health_checked_s: Optional[float] = None
    quarantined_s: Optional[float] = None  # since when (unix time); None when in service
    # How `bench fleet setup` prepared the device: interpreter, packages, source, when.
    setup: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    # The exclusive lease: at most one job holds a device (unique: one device per job).
    lease_job_id: Optional[str] = Field(default=None, unique=True, index=True)
    lease_holder: Optional[str] = None
    lease_expires_s: Optional[float] = None
    last_artifact: Optional[str] = None


class Study(SQLModel, table=True):
    """Jobs submitted together (a `bench run` is a study of its variants)."""

    id: str = Field(primary_key=True)
    name: str
    source: str = "cli"
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    priority: Optional[int] = None


class DevicePool(SQLModel, table=True):
    """A set of devices a job may run on; content-addressed and shared by many jobs."""

    __tablename__ = "device_pool"
    id: str = Field(primary_key=True)
    devices: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class Job(SQLModel, table=True):
    """One (model, variant, scenario, device): its state in the queue and its JobSpec.

    `device` is the device it is pinned to, or the selector it was submitted with until a
    device takes it; `attempts` is the number of the current (or last) attempt.
    """

    __table_args__ = (Index("ix_job_queue", "state", "priority", "queued_s", "position"),)

    id: str = Field(primary_key=True)
    study_id: str = Field(foreign_key="study.id", index=True)
    device: str = Field(index=True)
    engine: str
    precision: str
    scenario: str
    model_sha256: str
    state: str = Field(default="queued", index=True)
    attempts: int = 0
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Queue fields; NULL priority: not the scheduler's job (`bench run` runs its own).
    priority: Optional[int] = None
    queued_s: Optional[float] = None
    position: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    pool_id: Optional[str] = None
    artifact_key: Optional[str] = None
    max_attempts: Optional[int] = None
    not_before_s: Optional[float] = None
    avoid: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    lease_device: Optional[str] = None
    lease_holder: Optional[str] = None
    lease_expires_s: Optional[float] = None
    heartbeat_s: Optional[float] = None
    started_s: Optional[float] = None
    cancel_requested: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    reason: Optional[str] = None
    finished_s: Optional[float] = None


class Run(SQLModel, table=True):
    """What one attempt of a job measured. Unique per (job, attempt): ingest is idempotent."""

    __table_args__ = (UniqueConstraint("job_id", "attempt", name="uq_run_job_attempt"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="job.id", index=True)
    attempt: int
    status: str = Field(index=True)
    device: str = Field(index=True)
    engine: str
    engine_version: Optional[str] = None
    precision: str
    scenario: str
    model_name: Optional[str] = None
    model_sha256: str = Field(index=True)
    series_key: str = Field(index=True)
    batch: int = 1
    input_shapes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    latency_p50_ms: Optional[float] = None
    latency_p90_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None
    latency_p99_ms: Optional[float] = None
    latency_p999_ms: Optional[float] = None
    latency_mean_ms: Optional[float] = None
    latency_std_ms: Optional[float] = None
    latency_cv: Optional[float] = None
    latency_min_ms: Optional[float] = None
    latency_max_ms: Optional[float] = None
    throughput_ips: Optional[float] = None
    cold_start_ms: Optional[float] = None
    iterations: Optional[int] = None
    power_avg_w: Optional[float] = None
    energy_per_inference_j: Optional[float] = None
    accuracy_max_abs_error: Optional[float] = None
    accuracy_cosine_min: Optional[float] = None
    accuracy_top1_agreement: Optional[float] = None
    compile_s: Optional[float] = None
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    error: Optional[str] = None
    latencies: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    result_schema_version: int
    started_at: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
