"""What a run is compared with: its series, its toolchain and device state, and a compact
sample of its raw latencies that baselines are built from.

A suite's series is the stored series (results/ingest.py `series_key`) with the model's
*name* (its file stem) in place of its sha256: a nightly benchmarks the latest export of a
model, and a new export that does more work is exactly what it must flag. The model's hash is
kept with every run and a change of it is named in the report.

A run's **toolchain** (engine and version, agent version, compile tools, Python, drivers) and
its **device state** (CPU model and affinity, governors, clock caps, power mode) are
fingerprints: when one differs from the baseline's newest run, the series starts a new
baseline and the change is reported as such, never as a regression.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

import numpy as np

from agents.spec import JobSpec, RunResult

# Order statistics kept per run for later baselines: 64 evenly spaced ranks of its raw
# latencies. 30 baseline runs then pool 1,920 values, and 5,000 series load in about a second.
REFERENCE_POINTS = 64
_DRIVER_KEYS = ("driver_version", "cuda_version", "cuda_driver", "tensorrt_version", "jetpack", "l4t")


def suite_series(spec: JobSpec) -> str:
    """A suite's series key of a job: model name, device, engine, precision, engine options,
    scenario with its load, batch and the requested input shapes (16 hex digits)."""
    parts = {"model": spec.model.name or spec.model.sha256, "device": spec.device,
             "engine": spec.variant.engine, "precision": spec.variant.precision,
             "options": spec.variant.options, "scenario": spec.scenario.name,
             "requests": spec.scenario.concurrency, "qps": spec.scenario.target_qps,
             "batch": spec.scenario.batch, "shapes": spec.inputs.shapes}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def series_title(spec: JobSpec) -> str:
    """`mlp · local · onnxruntime fp32 · single-stream b1` (plus options when set)."""
    v, sc = spec.variant, spec.scenario
    options = ",".join(f"{k}={val}" for k, val in sorted(v.options.items()))
    load = "".join(f" {k}{val}" for k, val in (("x", sc.concurrency), ("qps", sc.target_qps)) if val)
    return (f"{spec.model.name or spec.model.sha256[:12]} · {spec.device} · {v.engine} {v.precision}"
            f"{' ' + options if options else ''} · {sc.name} b{sc.batch}{load}")


def toolchain(result: RunResult) -> dict[str, str]:
    """What built and ran the measurement: engine version, agent, compile tools, Python, drivers."""
    env = result.environment
    out: dict[str, str] = {}
    if env.get("engine_version"):
        out[str(env.get("engine") or (result.job.variant.engine if result.job else "engine"))] = str(env["engine_version"])
    if env.get("agent_version"):
        out["agent"] = str(env["agent_version"])
    if env.get("python"):
        out["python"] = str(env["python"])
    for tool, version in sorted(((env.get("artifact") or {}).get("tool_versions") or {}).items()):
        out.setdefault(str(tool), str(version))
    for key in _DRIVER_KEYS:
        value = env.get(key) or (result.engine_config or {}).get(key)
        if value:
            out[key.replace("_version", "")] = str(value)
    return out


def device_state(result: RunResult) -> dict[str, str]:
    """The device's configuration during the run: CPU model and affinity, governors, clock
    caps, power mode (Jetson nvpmodel). Temperatures and current clocks vary run to run and
    are left out."""
    env = result.environment
    before = (env.get("telemetry") or {}).get("before") or {}
    out: dict[str, str] = {}
    for key, value in (("cpu", env.get("cpu_model")), ("cpus", env.get("cpu_affinity")),
                       ("governor", ",".join(before.get("cpu_governors") or []) or env.get("cpu_governor")),
                       ("power mode", before.get("power_mode"))):
        if value not in (None, ""):
            out[key] = str(value)
    caps = sorted({int(v) for v in (before.get("cpu_max_freq_khz") or {}).values()})
    if caps:
        out["max clock"] = "/".join(f"{c / 1e6:.2f}" for c in caps) + " GHz"
    return out


def describe_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """`openvino 2026.3 -> 2026.4` for each key whose value differs (added or removed too)."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a != b:
            out.append(f"{key} {a or '(none)'} -> {b or '(none)'}")
    return out


def reference_sample(samples_ms: np.ndarray, points: int = REFERENCE_POINTS) -> bytes:
    """The run's order statistics at `points` evenly spaced ranks, float32 little-endian."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        return b""
    q = (np.arange(points) + 0.5) / points
    return np.quantile(x, q, method="inverted_cdf").astype("<f4").tobytes()


def decode_sample(blob: bytes | None) -> np.ndarray:
    """A reference sample back as float64 milliseconds (empty when none was stored)."""
    if not blob:
        return np.empty(0)
    return np.frombuffer(blob, dtype="<f4").astype(np.float64)


def reference_block(members) -> np.ndarray | list[np.ndarray]:
    """The reference samples of baseline members (anything with a `sample`): one runs x points
    array when they all have the same length (one numpy call instead of one per run), else
    a list of arrays; members without samples are left out."""
    blobs = [m.sample for m in members if m.sample]
    if blobs and len({len(b) for b in blobs}) == 1:
        return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).astype(np.float64)
    return [decode_sample(b) for b in blobs]

