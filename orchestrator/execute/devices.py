"""Reaching the devices of the inventory: their transport, their probe, their health check,
and a device row's state in one phrase."""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from agents.errors import BenchError
from agents.runner import sha256_file
from agents.spec import JobSpec, ModelRef, RunLength, Variant
from inventory import Device
from orchestrator.transports import get_transport
from orchestrator.transports.base import Transport


def transport_for(device: Device, die_with_parent: bool = False, setup: dict | None = None) -> Transport:
    """The transport that reaches `device`, built from its inventory entry.

    Args:
        die_with_parent: for local devices: the agent dies with the orchestrator (workers set
            it, so a killed orchestrator leaves no orphan benchmark behind).
        setup: what `bench fleet setup` recorded for the device: a Ray device without its own
            `pip:` gets the packages setup installed (SSH finds its venv on the board).
    Raises:
        UserError: the device's transport is not installed (ssh and ray are plug-ins).
    """
    c = device.connection
    if device.transport == "local":
        from orchestrator.transports.local import LocalTransport
        return LocalTransport(python=c.python or sys.executable, cpus=c.cpus,
                              die_with_parent=die_with_parent)
    config = {k: v for k, v in vars(c).items() if v is not None}
    if device.transport == "ray" and "pip" not in config and (setup or {}).get("packages"):
        config["pip"] = list(setup["packages"])
    return get_transport(device.transport, **config)


def available_engines(probe: dict[str, Any] | None) -> frozenset[str]:
    """The engines a probe found importable."""
    engines = (probe or {}).get("engines") or {}
    return frozenset(name for name, info in engines.items() if info.get("available"))


def probe_summary(probe: dict[str, Any] | None, expected: tuple[str, ...] = ()) -> str:
    """One line: arch, CPU, cores, memory, engines with versions, and expected engines missing."""
    if not probe:
        return "not probed"
    env = probe.get("environment", {})
    engines = probe.get("engines", {})
    have = [f"{n} {str(i.get('version', ''))[:12]}".strip() for n, i in engines.items() if i.get("available")]
    mem = env.get("memory_total_bytes")
    parts = [env.get("arch"), env.get("cpu_model"), f"{env.get('cpu_affinity') or env.get('cpu_logical')} cpu",
             f"{mem / 2**30:.0f} GiB" if mem else None, ", ".join(have) or "no engine"]
    missing = [e for e in expected if e not in available_engines(probe)]
    if missing:
        parts.append(f"MISSING {', '.join(missing)}")
    return "; ".join(p for p in parts if p)


def device_state(row) -> str:
    """idle, busy (job), quarantined (since when, why), or unprobed, of a device row."""
    if row is None or not row.probe:
        why = f" ({row.health_reason})" if row is not None and row.health_reason else ""
        return f"unprobed{why}"
    if row.health == "quarantined":
        return (f"QUARANTINED{_since(row.quarantined_s)} ({row.failures} infra-errors; "
                f"{row.health_reason or 'no reason recorded'})")
    if row.lease_job_id:
        return f"busy (job {row.lease_job_id})"
    return "idle"


def _since(when: float | None) -> str:
    return f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}" if when else ""


def probe(transport: Transport) -> tuple[dict[str, Any] | None, str | None]:
    """Run the agent's probe: (probe, None) or (None, why it failed)."""
    try:
        return transport.probe(), None
    except BenchError as e:
        return None, str(e)
    except Exception as e:  # a transport bug must not kill the worker thread
        return None, f"probe failed: {type(e).__name__}: {e}"


def health_check(transport: Transport, device: str, engines: frozenset[str]) -> str | None:
    """A tiny probe job: the agent's probe, then a few iterations of a small model on one of
    the device's engines. Returns None when both pass, else why not."""
    found, why = probe(transport)
    if found is None:
        return why
    usable = sorted(available_engines(found) & engines) or sorted(available_engines(found))
    if not usable:
        return "the probe found no engine"
    model = _health_model()
    spec = JobSpec(job_id=f"health-{uuid.uuid4().hex[:10]}", device=device,
                   model=ModelRef(str(model), sha256_file(model), name="health-mlp"),
                   variant=Variant(usable[0], options=_one_thread(usable[0])),
                   run=RunLength(warmup_iterations=2, warmup_s=0.0, min_iterations=5,
                                 min_duration_s=0.05, max_duration_s=5.0, timeout_s=120.0))
    if hasattr(spec, "accuracy_check"):
        spec.accuracy_check = False  # fp32 is its own reference
    try:
        result = transport.run(spec)
    except Exception as e:
        return f"health job failed: {type(e).__name__}: {e}"
    return None if result.status == "ok" else f"health job: {result.status}: {result.error}"


def _one_thread(engine: str) -> dict[str, Any]:
    return {"threads": 1} if engine in ("onnxruntime", "openvino") else {}


def _health_model() -> Path:
    import zoo
    path = Path(tempfile.gettempdir()) / "benchlab-health" / "mlp.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
        zoo.save("mlp", tmp)
        tmp.replace(path)  # atomic: concurrent workers never read a half-written model
    return path
