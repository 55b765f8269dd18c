"""SQLModel tables: device, study, job, run, and the schema version.

A run row keeps the headline metrics as columns (for queries and dashboards), the raw
latencies compactly (zlib int64 ns), and the full RunResult JSON (nothing is lost).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

DB_SCHEMA_VERSION = 1


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


class Study(SQLModel, table=True):
    """Jobs submitted together (a `bench run` is a study of its variants)."""

    id: str = Field(primary_key=True)
    name: str
    source: str = "cli"
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """One (model, variant, scenario, device): its state in the queue and its JobSpec."""

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
