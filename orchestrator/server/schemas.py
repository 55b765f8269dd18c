"""Bodies of the HTTP API: what a study submission may say, and what the routes return.

Every request model refuses unknown keys (a typo is a 422 naming it, not a silently ignored
setting) and non-finite numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

SHA256 = r"^[0-9a-f]{64}$"
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelIn(BaseModel):
    """A model already stored on the server, by content hash, with its dynamic shapes."""

    model_config = _STRICT
    sha256: str = Field(pattern=SHA256)
    shapes: dict[str, list[int]] = Field(default_factory=dict, max_length=64)


class RunIn(BaseModel):
    """Run length of every job (as `bench submit`'s flags)."""

    model_config = _STRICT
    warmup_s: float = Field(1.0, ge=0, le=3600)
    duration_s: float = Field(5.0, gt=0, le=86400)
    iterations: int = Field(100, ge=1, le=10**9)
    max_duration_s: Optional[float] = Field(None, gt=0, le=86400)
    target_ci_pct: Optional[float] = Field(None, gt=0, le=100)
    timeout_s: Optional[float] = Field(None, ge=1, le=7 * 86400)


class LoadIn(BaseModel):
    """Settings of the offline and server scenarios."""

    model_config = _STRICT
    requests: Optional[int] = Field(None, ge=1, le=64)
    qps: Optional[float] = Field(None, gt=0, le=1e6)
    latency_bound_ms: Optional[float] = Field(None, gt=0, le=1e6)
    find_peak: Optional[bool] = None


class StudyIn(BaseModel):
    """A study: models x devices x engines x precisions x scenarios x batch sizes.

    `engines` left out: every engine that the selected devices' probes found and that runs
    the model's format. A multipart submission adds its uploaded file to `models`.
    """

    model_config = _STRICT
    name: Optional[str] = Field(None, max_length=200)
    models: list[ModelIn] = Field(default_factory=list, max_length=32)
    devices: list[str] = Field(default_factory=lambda: ["all"], min_length=1, max_length=64)
    engines: Optional[list[str]] = Field(None, min_length=1, max_length=16)
    precisions: list[str] = Field(default_factory=lambda: ["fp32"], min_length=1, max_length=3)
    scenarios: list[str] = Field(default_factory=lambda: ["single-stream"], min_length=1, max_length=3)
    batch_sizes: Optional[list[int]] = Field(None, min_length=1, max_length=16)
    spread: str = "each"
    priority: str = "interactive"
    threads: Optional[int] = Field(None, ge=1, le=1024)
    options: dict[str, dict[str, Union[bool, int, float, str]]] = Field(default_factory=dict, max_length=16)
    run: RunIn = Field(default_factory=RunIn)
    load: LoadIn = Field(default_factory=LoadIn)
    max_attempts: int = Field(3, ge=1, le=20)


class StoredModelOut(BaseModel):
    """A model file kept by the server."""

    sha256: str
    name: str
    original_name: str
    size_bytes: int
    created_at: datetime


class JobOut(BaseModel):
    """A job: where it is in the queue, and the device it runs (or ran) on."""

    id: str
    study_id: str
    state: str
    device: str
    engine: str
    precision: str
    scenario: str
    attempts: int
    reason: Optional[str] = None
    started_s: Optional[float] = None
    finished_s: Optional[float] = None


class JobDetail(JobOut):
    """A job with its JobSpec and the runs of its attempts."""

    spec: dict[str, Any]
    runs: list[dict[str, Any]]


class StudyOut(BaseModel):
    """A study with its jobs per state."""

    id: str
    name: str
    source: str
    priority: Optional[str]
    created_at: datetime
    total: int
    finished: int
    counts: dict[str, int]
    skipped: list[str] = Field(default_factory=list)
    jobs: Optional[list[JobOut]] = None
    dashboard: str


class CancelOut(BaseModel):
    """What a cancel did: queued jobs cancelled at once, running ones being stopped."""

    kind: str
    id: str
    cancelled: int
    stopping: int


class DeviceOut(BaseModel):
    """A device of the server's fleet and its state."""

    name: str
    transport: str
    state: str
    health: str
    engines: list[str]
    tags: list[str]
    arch: Optional[str] = None
    cpu_model: Optional[str] = None
    lease_job_id: Optional[str] = None
    probed_s: Optional[float] = None


class RunOut(BaseModel):
    """A stored run's headline columns; `result` (the whole RunResult) with `full=true`."""

    id: int
    created_at: datetime
    job_id: str
    study_id: Optional[str] = None
    attempt: int
    status: str
    device: str
    model_name: Optional[str] = None
    model_sha256: str
    engine: str
    engine_version: Optional[str] = None
    precision: str
    scenario: str
    scenario_label: str
    batch: int
    series_key: str
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
    flags: list[str] = Field(default_factory=list)
    error: Optional[str] = None
    result: Optional[dict[str, Any]] = None


class RunsPage(BaseModel):
    """A page of runs, oldest first; pass `next_after_id` as `after_id` for the next page."""

    runs: list[RunOut]
    next_after_id: Optional[int] = None


class Health(BaseModel):
    """`/healthz`: the database, the dispatcher, and the limits clients should know."""

    status: str
    database: str
    dispatcher: str
    version: str
    max_upload_bytes: int
    anonymous_read: bool
