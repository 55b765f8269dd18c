"""The wire format between orchestrator and agent: JobSpec in, RunResult out.

Both are stdlib dataclasses serialised as JSON with a `schema_version`. Readers accept every
older version and migrate it (`_MIGRATIONS`); writers always write the current one. Raw
latencies travel compactly: zlib-compressed little-endian int64 nanoseconds, base64-encoded.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 2
STATUSES = ("ok", "model-error", "infra-error")
PRECISIONS = ("fp32", "fp16", "int8")
SCENARIOS = ("single-stream", "offline", "server")
LATENCY_ENCODING = "zlib-int64le-ns"


@dataclass
class ModelRef:
    """Where the model is and what it is: the hash is checked by the agent before it runs.

    `companions`: files the model needs beside it (ONNX external data, an IR's .bin), by their
    path relative to the model's folder -> sha256; `sha256` then covers them too
    (`agents.modelfiles`).
    """

    path: str
    sha256: str
    format: str = "onnx"
    size_bytes: int | None = None
    name: str | None = None
    companions: dict[str, str] = field(default_factory=dict)


@dataclass
class Variant:
    """What a compile produces: engine, precision and the engine's explicit options."""

    engine: str
    precision: str = "fp32"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """How load is offered (MLPerf names); `agents/scenarios.py` runs it. `batch` is dim 0 of
    the inputs; `concurrency` the requests in flight (None: the engine's optimal number);
    server: Poisson arrivals at `target_qps` (`seed`), queries slower than `latency_bound_ms`
    counted, or `find_peak` bisects (`peak_steps`, `peak_tolerance_pct`) for the highest rate
    whose p99 meets the bound. `until_stable_pct`: stop once the median's 95 % CI is within
    ±this %, after MLPerf's early-stopping minimum, instead of after the minimum duration."""

    name: str = "single-stream"
    batch: int = 1
    concurrency: int | None = None
    target_qps: float | None = None
    latency_bound_ms: float | None = None
    seed: int = 0
    find_peak: bool = False
    peak_steps: int = 8
    peak_tolerance_pct: float = 5.0
    until_stable_pct: float | None = None


@dataclass
class InputSpec:
    """Shapes for dynamic dims and real data files; the rest is random data of the right dtype.

    Args:
        shapes: input name -> concrete shape, for inputs with symbolic or dynamic dims.
        files: input name -> path of a .npy file with real data for that input.
        npz: path of a .npz file whose keys are input names.
        sets: how many distinct input sets the harness rotates during timing.
        seed: seed of the random data, so a rerun sees the same inputs.
    """

    shapes: dict[str, list[int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    npz: str | None = None
    sets: int = 8
    seed: int = 0


@dataclass
class RunLength:
    """Warm-up and run length: at least `min_iterations` AND `min_duration_s`, at most
    `max_duration_s`; stop early once the median's 95 % CI is within ±`target_ci_pct`."""

    warmup_iterations: int = 10
    warmup_s: float = 1.0
    min_iterations: int = 100
    min_duration_s: float = 5.0
    max_duration_s: float = 60.0
    target_ci_pct: float | None = None
    timeout_s: float | None = None
    noisy_cv: float = 0.3


@dataclass
class CalibrationSpec:
    """Data for int8 calibration.

    Args:
        path: a .npz (keys = input names, a leading sample axis optional) or a folder of
            .npz files (one input set each); None means generated data (not representative).
        sha256: hash of the file or of the folder's files, part of the artifact cache key.
        samples: how many sets to generate when there is no path.
    """

    path: str | None = None
    sha256: str | None = None
    samples: int = 32


@dataclass
class PowerSpec:
    """Which power sensor to sample during the run and how.

    Args:
        sensor: auto, none, or a sensor name from the `agents.power` registry (rapl, nvml,
            jetson, hwmon, meter).
        options: the sensor's own settings (sysfs root, command, host:port ...).
        rate_hz: sampling rate, capped by what the sensor allows.
        idle_s: seconds of idle power measured before the run (0 to skip).
    """

    sensor: str = "none"
    options: dict[str, Any] = field(default_factory=dict)
    rate_hz: float = 20.0
    idle_s: float = 2.0


@dataclass
class JobSpec:
    """One (model, variant, scenario, device): everything an agent needs to run a job."""

    job_id: str
    model: ModelRef
    variant: Variant
    scenario: Scenario = field(default_factory=Scenario)
    inputs: InputSpec = field(default_factory=InputSpec)
    run: RunLength = field(default_factory=RunLength)
    power: PowerSpec = field(default_factory=PowerSpec)
    calibration: CalibrationSpec = field(default_factory=CalibrationSpec)
    accuracy_check: bool = True
    device: str = "local"
    attempt: int = 1
    study_id: str | None = None
    cache_dir: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """Build from a decoded dict of any known schema version.

        Raises:
            ValueError: unknown schema version, unknown key or missing field.
        """
        data = _migrate(dict(data), "job")
        return _build(cls, data)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        """Parse JSON text of any known schema version."""
        return cls.from_dict(json.loads(text))


@dataclass
class RunResult:
    """What one attempt of a job measured, or why it could not.

    `metrics` use units in their names (`latency_p50_ms`, `throughput_ips`); a metric that
    could not be measured is None, never 0. `phases_s` holds each phase's duration:
    idle (power), compile, load, first_inference, warmup, measure. `power_trace` is the
    sampled power, downsampled for plots (see `agents.power.sampler.Sampler.trace`).
    """

    job_id: str
    status: str
    attempt: int = 1
    job: JobSpec | None = None
    metrics: dict[str, float | int | None] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, Any] | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    engine_config: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    power_trace: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown run status '{self.status}'; known: {', '.join(STATUSES)}")

    @property
    def skipped(self) -> bool:
        """A variant this engine, precision or board does not offer (a package or converter
        missing, a precision the engine lacks): the reason is in `error`; not a failure."""
        return self.status == "model-error" and self.error_type == "UnsupportedVariant"

    def set_latencies_ns(self, samples_ns: np.ndarray) -> None:
        """Store raw latency samples compactly."""
        self.latencies = encode_latencies(samples_ns)

    def latencies_ns(self) -> np.ndarray:
        """The raw latency samples in nanoseconds (empty when none were measured)."""
        return decode_latencies(self.latencies)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Build from a decoded dict of any known schema version."""
        data = _migrate(dict(data), "run")
        if data.get("job") is not None:
            data["job"] = JobSpec.from_dict(data["job"])
        return _build(cls, data)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        """Parse JSON text of any known schema version."""
        return cls.from_dict(json.loads(text))


def encode_latencies(samples_ns: np.ndarray) -> dict[str, Any]:
    """Compress raw nanosecond samples: about 3 bytes a sample for typical jitter."""
    arr = np.ascontiguousarray(samples_ns, dtype="<i8")
    payload = zlib.compress(arr.tobytes(), 6)
    return {"encoding": LATENCY_ENCODING, "count": int(arr.size),
            "data": base64.b64encode(payload).decode("ascii")}


def decode_latencies(blob: dict[str, Any] | None) -> np.ndarray:
    """Inverse of `encode_latencies`; None decodes to an empty array."""
    if not blob:
        return np.empty(0, dtype=np.int64)
    if blob.get("encoding") != LATENCY_ENCODING:
        raise ValueError(f"unknown latency encoding {blob.get('encoding')!r}")
    raw = zlib.decompress(base64.b64decode(blob["data"]))
    arr = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    if arr.size != blob["count"]:
        raise ValueError(f"latency blob holds {arr.size} samples, header says {blob['count']}")
    return arr


def _v1_job(d: dict[str, Any]) -> dict[str, Any]:
    # v1 (pre-release) kept engine/precision/options flat and the model as a bare path.
    d["variant"] = {"engine": d.pop("engine"), "precision": d.pop("precision", "fp32"),
                    "options": d.pop("options", {})}
    d["model"] = {"path": d.pop("model_path"), "sha256": d.pop("model_sha256")}
    return d


def _v1_run(d: dict[str, Any]) -> dict[str, Any]:
    # v1 stored latencies as a plain list of float milliseconds.
    lat_ms = d.pop("latencies_ms", None)
    if lat_ms is not None:
        d["latencies"] = encode_latencies(np.round(np.asarray(lat_ms) * 1e6).astype(np.int64))
    if d.get("job") is not None:
        d["job"] = _migrate(dict(d["job"]), "job")
    return d


_MIGRATIONS = {("job", 1): _v1_job, ("run", 1): _v1_run}


def _migrate(data: dict[str, Any], kind: str) -> dict[str, Any]:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValueError(f"unsupported {kind} schema_version {version!r} "
                         f"(this agent reads 1..{SCHEMA_VERSION})")
    while version < SCHEMA_VERSION:
        data = _MIGRATIONS[(kind, version)](data)
        version += 1
    data["schema_version"] = SCHEMA_VERSION
    return data


_NESTED = {"model": ModelRef, "variant": Variant, "scenario": Scenario,
           "inputs": InputSpec, "run": RunLength, "power": PowerSpec,
           "calibration": CalibrationSpec}


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    kwargs = {}
    for key, value in data.items():
        sub = _NESTED.get(key) if cls is JobSpec else None
        kwargs[key] = _build(sub, value) if sub and isinstance(value, dict) else value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{cls.__name__}: {e}") from e
