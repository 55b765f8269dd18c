"""The fleet from an operator's side: probe, prepare (`setup`) and release devices, and the
state each one is in. Plain functions returning rows; `bench fleet` (cli/fleet.py) prints them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.engine import Engine

from agents.errors import BenchError
from inventory import Device, Inventory, select
from orchestrator.execute import devices as dev
from orchestrator.transports.base import SetupOptions
from results import fleet


@dataclass
class DeviceView:
    """One line of `bench fleet list`: the inventory's device and its stored row (or None)."""

    device: Device
    row: object | None


def list_devices(inv: Inventory, db: Engine) -> list[DeviceView]:
    """Every device of the inventory with its stored state (health, lease, last probe)."""
    rows = {r.name: r for r in fleet.device_rows(db, list(inv.devices))}
    return [DeviceView(d, rows.get(d.name)) for d in inv.devices.values()]


def probe_fleet(db: Engine, devices: list[Device],
                transport_factory: Callable = dev.transport_for) -> list[str]:
    """Probe the devices through their transports, in parallel, and store each probe. A device
    running a benchmark is skipped so the probe cannot disturb it.

    Returns:
        One outcome per device, in order; a failure starts with "FAILED".
    """
    def probe_one(d: Device, lease: str | None) -> str:
        if lease:
            return f"skipped: busy with job {lease}"
        try:
            transport = transport_factory(d)
        except BenchError as e:
            return f"FAILED: {e}"
        found, why = dev.probe(transport)
        if found is None:
            fleet.set_device(db, d.name, health_reason=f"probe failed: {why}")
            return f"FAILED: {why}"
        fleet.store_probe(db, d.name, found, time.time())
        return dev.probe_summary(found, d.engines)

    return _for_each(db, devices, probe_one, workers=16)


def setup_fleet(db: Engine, devices: list[Device], engines: list[str] | None, precisions: list[str],
                options: SetupOptions, transport_factory: Callable = dev.transport_for) -> list[str]:
    """Prepare the devices (`bench fleet setup`): an interpreter of their own with the agent's
    board requirements and the engines' packages, then a probe, stored.

    Returns:
        One outcome per device, in order; a failure starts with "FAILED".
    Raises:
        UserError: an unknown engine or precision (before any device is touched).
    """
    from agents.requirements import packages_for

    wanted = {d.name: list(engines or d.engines or ["onnxruntime"]) for d in devices}
    packages = {n: packages_for(e, precisions) for n, e in wanted.items()}  # bad names fail first

    def setup_one(d: Device, lease: str | None) -> str:
        if lease:
            return f"skipped: busy with job {lease}"
        try:
            found = transport_factory(d).setup(packages[d.name], options)
        except BenchError as e:
            return f"FAILED: {e}"
        now = time.time()
        fleet.store_probe(db, d.name, found, now)
        fleet.set_device(db, d.name, health_reason=None, setup={
            "python": found.get("python"), "packages": packages[d.name], "engines": wanted[d.name],
            "source": options.source, "system_site_packages": options.system_site_packages, "at_s": now})
        missing = [e for e in wanted[d.name] if e not in dev.available_engines(found)]
        why = [f"{e}: {found['engines'].get(e, {}).get('reason', 'unknown engine')}" for e in missing]
        summary = f"ready ({found.get('python')}): {dev.probe_summary(found, tuple(wanted[d.name]))}"
        return summary if not why else f"FAILED: {summary}; {'; '.join(why)}"

    return _for_each(db, devices, setup_one, workers=8)


def _for_each(db: Engine, devices: list[Device], op: Callable[[Device, str | None], str],
              workers: int) -> list[str]:
    """Register the devices, then run `op(device, lease)` on each in parallel (`lease`: the job
    the device is busy with, or None)."""
    fleet.sync_devices(db, [(d.name, d.transport, d.describe()) for d in devices])
    busy = {r.name: r.lease_job_id for r in fleet.device_rows(db, [d.name for d in devices])}
    with ThreadPoolExecutor(max_workers=min(workers, len(devices) or 1)) as pool:
        return list(pool.map(lambda d: op(d, busy.get(d.name)), devices))


def release(db: Engine, inv: Inventory, name: str) -> tuple[Device, object, bool]:
    """Bring a quarantined device back into service at once.

    Returns:
        The device, its row as it was, and whether it was quarantined (else nothing changed).
    Raises:
        UserError: no such device in the inventory (with the known names).
    """
    device = select(inv, f"name:{name}")[0]
    fleet.sync_devices(db, [(device.name, device.transport, device.describe())])
    row = fleet.device_rows(db, [device.name])[0]
    if row.health != "quarantined":
        return device, row, False
    fleet.set_device(db, device.name, health="ok", failures=0, health_reason=None,
                     quarantined_s=None, health_checked_s=time.time())
    return device, row, True


def since(when: float | None) -> str:
    """` since 2026-01-02 03:04:05` (local time), or "" when unknown."""
    return f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}" if when else ""
