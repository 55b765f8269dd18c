"""`bench fleet list|probe|setup|release`: the devices of the inventory and what they have."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.table import Table

from orchestrator.cli.common import DB_HELP, INV_HELP, stdout_console

fleet_app = typer.Typer(no_args_is_help=True, help="The devices of the inventory and what they have.")


@fleet_app.command("list")
def fleet_list(inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
               db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Every device: transport, tags, groups, state (idle, busy, QUARANTINED, unprobed), last probe."""
    from inventory import load_inventory
    from orchestrator.execute.devices import device_state
    from orchestrator.fleet import list_devices
    from results.db import open_db

    inv = load_inventory(inventory)
    table = Table(title=f"{len(inv.devices)} device(s) from {inv.source}")
    for col in ("device", "transport", "tags", "groups", "state", "last probe"):
        table.add_column(col)
    for view in list_devices(inv, open_db(db)):
        d = view.device
        table.add_row(d.name, _where(d), ",".join(d.tags), ",".join(d.groups), device_state(view.row),
                      _probe_cell(d, view.row))
    stdout_console().print(table)


@fleet_app.command("probe")
def fleet_probe(selector: Optional[str] = typer.Argument(None, help="devices to probe (default: all)"),
                inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
                ray_address: Optional[str] = typer.Option(None, "--ray-address", help="list the device:NAME resources this Ray cluster offers, and stop"),
                db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Run the agent's probe on each device through its transport and store it."""
    from orchestrator.fleet import probe_fleet
    from results.db import open_db

    if ray_address:
        from orchestrator.transports.ray import list_devices
        for name, node in list_devices(ray_address):
            print(f"{name}\t{node}")
        return
    devices = _devices(inventory, selector)
    _outcomes("probe", devices, probe_fleet(open_db(db), devices))


@fleet_app.command("setup")
def fleet_setup(selector: str = typer.Argument(..., help="devices to prepare: NAME or a selector (tag:jetson, arch:aarch64 ...)"),
                engines: Optional[str] = typer.Option(None, "--engines", "-e", help="comma-separated engines to install (default: the device's `engines:`, else onnxruntime)"),
                precisions: str = typer.Option("fp32,fp16,int8", "--precisions", "-p", help="the precisions the board must be able to build"),
                source: str = typer.Option("orchestrator", "--source", help="orchestrator: wheels fetched here for the board and shipped; board: the board's pip uses its own index"),
                system_site_packages: bool = typer.Option(False, "--system-site-packages", help="the venv also sees the system's packages (JetPack's TensorRT)"),
                fresh: bool = typer.Option(False, "--fresh", help="remove the board's venv first"),
                inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
                db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Prepare boards: a venv under remote_dir with the agent's requirements and the engines'
    packages, then a probe (exit 2 when a device could not be prepared)."""
    from orchestrator.fleet import setup_fleet
    from orchestrator.plan.knobs import split_list
    from orchestrator.transports.base import SetupOptions
    from results.db import open_db

    devices = _devices(inventory, selector)
    options = SetupOptions(source=source, system_site_packages=system_site_packages, fresh=fresh)
    outcomes = setup_fleet(open_db(db), devices, split_list(engines) or None, split_list(precisions), options)
    _outcomes("setup", devices, outcomes)


@fleet_app.command("release")
def fleet_release(name: str = typer.Argument(..., help="the quarantined device"),
                  inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
                  db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Bring a quarantined device back into service now, and say why it was quarantined."""
    from inventory import load_inventory
    from orchestrator.execute.devices import device_state
    from orchestrator.fleet import release, since
    from results.db import open_db

    device, row, released = release(open_db(db), load_inventory(inventory), name)
    if not released:
        stdout_console().print(f"{device.name} is not quarantined ({device_state(row)}); nothing to do")
        return
    stdout_console().print(f"released {device.name}: it was quarantined{since(row.quarantined_s)} "
                           f"({row.health_reason or 'no reason recorded'})")


def _devices(inventory: str | None, selector: str | None) -> list:
    from inventory import load_inventory, select

    inv = load_inventory(inventory)
    return select(inv, selector) if selector else list(inv.devices.values())


def _outcomes(title: str, devices: list, outcomes: list[str]) -> None:
    """The device -> outcome table; exit 2 when one failed."""
    table = Table(title=title)
    for col in ("device", "result"):
        table.add_column(col)
    for d, text in zip(devices, outcomes):
        table.add_row(d.name, text)
    stdout_console().print(table)
    if any(text.startswith("FAILED") for text in outcomes):
        raise typer.Exit(2)


def _where(d) -> str:
    c = d.connection
    if d.transport == "ssh":
        return f"ssh {c.user + '@' if c.user else ''}{c.host}:{c.port}"
    if d.transport == "ray":
        return f"ray {c.resource}"
    extra = [f"cpus {','.join(map(str, c.cpus))}" if c.cpus else "", f"{c.threads} thr" if c.threads else ""]
    return " ".join(["local", *filter(None, extra)])


def _probe_cell(d, row) -> str:
    from orchestrator.execute import devices as dev

    if row is None or not row.probe:
        return "-"
    age = time.time() - (row.probed_s or 0)
    when = f"{age / 60:.0f} min ago" if age < 7200 else f"{age / 3600:.0f} h ago"
    return f"{dev.probe_summary(row.probe, d.engines)} ({when})"


def register(app: typer.Typer) -> None:
    """Add `bench fleet ...`."""
    app.add_typer(fleet_app, name="fleet")
