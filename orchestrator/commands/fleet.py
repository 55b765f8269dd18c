"""`bench fleet list|probe|setup|release`: the devices, what they have, preparing them, and
bringing a quarantined one back."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from rich.console import Console
from rich.table import Table

from agents.errors import BenchError
from inventory import Device, load_inventory, select
from orchestrator import devices as dev
from orchestrator.transports.base import SetupOptions
from results import fleet
from results.db import open_db


def list_fleet(console: Console, inventory: str | None, db: str | None) -> None:
    """Print every device: transport, tags, state (idle, busy, quarantined, unprobed) and the
    summary of its last probe."""
    inv = load_inventory(inventory)
    rows = {r.name: r for r in fleet.device_rows(open_db(db), list(inv.devices))}
    table = Table(title=f"{len(inv.devices)} device(s) from {inv.source}")
    for col in ("device", "transport", "tags", "groups", "state", "last probe"):
        table.add_column(col)
    for d in inv.devices.values():
        row = rows.get(d.name)
        table.add_row(d.name, _where(d), ",".join(d.tags), ",".join(d.groups), device_state(row),
                      _probe_cell(d, row))
    console.print(table)


def device_state(row) -> str:
    """idle, busy (job), quarantined (why), or unprobed."""
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


def _where(d: Device) -> str:
    c = d.connection
    if d.transport == "ssh":
        return f"ssh {c.user + '@' if c.user else ''}{c.host}:{c.port}"
    if d.transport == "ray":
        return f"ray {c.resource}"
    extra = [f"cpus {','.join(map(str, c.cpus))}" if c.cpus else "", f"{c.threads} thr" if c.threads else ""]
    return " ".join(["local", *filter(None, extra)])


def _probe_cell(d: Device, row) -> str:
    if row is None or not row.probe:
        return "-"
    age = time.time() - (row.probed_s or 0)
    when = f"{age / 60:.0f} min ago" if age < 7200 else f"{age / 3600:.0f} h ago"
    return f"{dev.probe_summary(row.probe, d.engines)} ({when})"


def probe_fleet(console: Console, inventory: str | None, db: str | None, selector: str | None,
                transport_factory: Callable = dev.transport_for) -> int:
    """Probe the selected devices (all by default) through their transports, in parallel, and
    store each probe. A device running a benchmark is skipped so the probe cannot disturb it.

    Returns:
        How many devices could not be probed.
    """
    inv = load_inventory(inventory)
    devices = select(inv, selector) if selector else list(inv.devices.values())
    engine = open_db(db)
    fleet.sync_devices(engine, [(d.name, d.transport, d.describe()) for d in devices])
    busy = {r.name: r.lease_job_id for r in fleet.device_rows(engine, [d.name for d in devices])}
    with ThreadPoolExecutor(max_workers=min(16, len(devices) or 1)) as pool:
        outcomes = list(pool.map(lambda d: _probe_one(engine, d, busy.get(d.name), transport_factory), devices))
    table = Table(title="probe")
    for col in ("device", "result"):
        table.add_column(col)
    for d, text in zip(devices, outcomes):
        table.add_row(d.name, text)
    console.print(table)
    return sum(1 for text in outcomes if text.startswith("FAILED"))


def _probe_one(engine, d: Device, lease: str | None, factory: Callable) -> str:
    if lease:
        return f"skipped: busy with job {lease}"
    try:
        transport = factory(d)
    except BenchError as e:
        return f"FAILED: {e}"
    found, why = dev.probe(transport)
    if found is None:
        fleet.set_device(engine, d.name, health_reason=f"probe failed: {why}")
        return f"FAILED: {why}"
    fleet.store_probe(engine, d.name, found, time.time())
    return dev.probe_summary(found, d.engines)



def release(console: Console, inventory: str | None, db: str | None, name: str) -> None:
    """Bring a quarantined device back into service at once, saying why it was quarantined.

    Raises:
        UserError: no such device in the inventory (with the known names).
    """
    inv = load_inventory(inventory)
    device = select(inv, f"name:{name}")[0]
    engine = open_db(db)
    fleet.sync_devices(engine, [(device.name, device.transport, device.describe())])
    row = fleet.device_rows(engine, [device.name])[0]
    if row.health != "quarantined":
        console.print(f"{device.name} is not quarantined ({device_state(row)}); nothing to do")
        return
    fleet.set_device(engine, device.name, health="ok", failures=0, health_reason=None,
                     quarantined_s=None, health_checked_s=time.time())
    console.print(f"released {device.name}: it was quarantined{_since(row.quarantined_s)} "
                  f"({row.health_reason or 'no reason recorded'})")


def setup_fleet(console: Console, inventory: str | None, db: str | None, selector: str,
                engines: list[str] | None, precisions: list[str], options: SetupOptions,
                transport_factory: Callable = dev.transport_for) -> int:
    """Prepare the selected devices (`bench fleet setup`): an interpreter of their own with the
    agent's board requirements and the engines' packages, then a probe, stored.

    Returns:
        How many devices could not be prepared.
    """
    from agents.requirements import packages_for

    inv = load_inventory(inventory)
    devices = select(inv, selector)
    engine = open_db(db)
    fleet.sync_devices(engine, [(d.name, d.transport, d.describe()) for d in devices])
    busy = {r.name: r.lease_job_id for r in fleet.device_rows(engine, [d.name for d in devices])}
    wanted = {d.name: list(engines or d.engines or ["onnxruntime"]) for d in devices}
    packages = {n: packages_for(e, precisions) for n, e in wanted.items()}  # bad names fail first
    with ThreadPoolExecutor(max_workers=min(8, len(devices) or 1)) as pool:
        outcomes = list(pool.map(lambda d: _setup_one(engine, d, busy.get(d.name), packages[d.name],
                                                      wanted[d.name], options, transport_factory), devices))
    table = Table(title="setup")
    for col in ("device", "result"):
        table.add_column(col)
    for d, text in zip(devices, outcomes):
        table.add_row(d.name, text)
    console.print(table)
    return sum(1 for text in outcomes if text.startswith("FAILED"))


def _setup_one(engine, d: Device, lease: str | None, packages: list[str], engines: list[str],
               options: SetupOptions, factory: Callable) -> str:
    if lease:
        return f"skipped: busy with job {lease}"
    try:
        found = factory(d).setup(packages, options)
    except BenchError as e:
        return f"FAILED: {e}"
    now = time.time()
    fleet.store_probe(engine, d.name, found, now)
    fleet.set_device(engine, d.name, health_reason=None, setup={
        "python": found.get("python"), "packages": packages, "engines": engines,
        "source": options.source, "system_site_packages": options.system_site_packages, "at_s": now})
    missing = [e for e in engines if e not in dev.available_engines(found)]
    why = [f"{e}: {found['engines'].get(e, {}).get('reason', 'unknown engine')}" for e in missing]
    summary = f"ready ({found.get('python')}): {dev.probe_summary(found, tuple(engines))}"
    return summary if not why else f"FAILED: {summary}; {'; '.join(why)}"
