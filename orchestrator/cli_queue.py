"""The fleet and queue verbs of `bench`: fleet list|probe, submit, status, cancel, worker.

Registered on the main app by `orchestrator/cli.py` (`register(app)`); each verb parses its
flags and calls a plain function in `orchestrator/commands/`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

INV_HELP = "inventory file (default: $BENCH_INVENTORY, else ./lab.yaml, else the device 'local')"
DB_HELP = "SQLAlchemy URL or SQLite path (default: $BENCH_DB, else ./bench.db)"
SERVER_HELP = "a benchlab server (default: $BENCH_SERVER, else `server` in ~/.config/bench/config.toml; --db: local)"
fleet_app = typer.Typer(no_args_is_help=True, help="The devices of the inventory and what they have.")


@fleet_app.command("list")
def fleet_list(inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
               db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Every device: transport, tags, groups, state (idle, busy, QUARANTINED, unprobed), last probe."""
    from orchestrator.commands.fleet import list_fleet
    from orchestrator.render import stdout_console

    list_fleet(stdout_console(), inventory, db)


@fleet_app.command("probe")
def fleet_probe(selector: Optional[str] = typer.Argument(None, help="devices to probe (default: all)"),
                inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
                ray_address: Optional[str] = typer.Option(None, "--ray-address", help="list the device:NAME resources this Ray cluster offers, and stop"),
                db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Run the agent's probe on each device through its transport and store it."""
    from orchestrator.commands.fleet import probe_fleet
    from orchestrator.render import stdout_console

    if ray_address:
        from orchestrator.transports.ray import list_devices
        for name, node in list_devices(ray_address):
            print(f"{name}\t{node}")
        return
    if probe_fleet(stdout_console(), inventory, db, selector):
        raise typer.Exit(2)


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
    from orchestrator.commands.fleet import setup_fleet
    from orchestrator.render import stdout_console
    from orchestrator.transports.base import SetupOptions

    split = lambda text: [t.strip() for t in text.split(",") if t.strip()]  # noqa: E731
    options = SetupOptions(source=source, system_site_packages=system_site_packages, fresh=fresh)
    if setup_fleet(stdout_console(), inventory, db, selector, split(engines) if engines else None,
                   split(precisions), options):
        raise typer.Exit(2)


@fleet_app.command("release")
def fleet_release(name: str = typer.Argument(..., help="the quarantined device"),
                  inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
                  db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Bring a quarantined device back into service now, and say why it was quarantined."""
    from orchestrator.commands.fleet import release
    from orchestrator.render import stdout_console

    release(stdout_console(), inventory, db, name)


def submit(
    target: Path = typer.Argument(..., help="a model file (.onnx), or a study file (.yaml)"),
    devices: str = typer.Option("all", "--devices", "-d", help="device selector: name:x, tag:x, arch:x, group:x; ',' union, '+' intersection"),
    engines: Optional[str] = typer.Option(None, "--engines", "-e", help="comma-separated engines (default: every engine installed here)"),
    precisions: str = typer.Option("fp32", "--precisions", "-p", help="comma-separated precisions"),
    scenarios: str = typer.Option("single-stream", "--scenarios", help="comma-separated scenarios"),
    batch: Optional[str] = typer.Option(None, "--batch", help="comma-separated batch sizes (dynamic batch dim)"),
    requests: Optional[int] = typer.Option(None, "--requests", help="offline/server: requests in flight (default: the engine's optimal)"),
    qps: Optional[float] = typer.Option(None, "--qps", help="server: Poisson arrival rate, queries/s"),
    latency_bound_ms: Optional[float] = typer.Option(None, "--latency-bound-ms", help="server: latency bound, for missed queries and --find-peak"),
    find_peak: bool = typer.Option(False, "--find-peak", help="server: search the highest qps whose p99 meets the bound"),
    shape: list[str] = typer.Option([], "--shape", help="NAME=D1,D2,... for dynamic inputs (repeatable)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="inference threads for every engine"),
    option: list[str] = typer.Option([], "--option", "-o", help="ENGINE.KEY=VALUE engine option (repeatable)"),
    warmup: float = typer.Option(1.0, "--warmup", help="warm-up seconds"),
    duration: float = typer.Option(5.0, "--duration", help="measure at least this many seconds"),
    iterations: int = typer.Option(100, "--iterations", help="measure at least this many iterations"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="per-job limit in seconds (default: the worker's)"),
    spread: str = typer.Option("each", "--spread", help="each: a job per matching device; any: a job per selector, on any matching device"),
    priority: Optional[str] = typer.Option(None, "--priority", help="interactive (default here), nightly or background"),
    max_attempts: int = typer.Option(3, "--max-attempts", help="attempts per job in all (infra-errors are retried)"),
    name: Optional[str] = typer.Option(None, "--name", help="the study's name"),
    wait: bool = typer.Option(False, "--wait", help="run the study here (embedded worker) and print its results"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP),
) -> None:
    """Queue a study (MODEL x devices x engines x precisions x scenarios x batch sizes)."""
    from orchestrator.cli_server import remote_client, remote_submit
    from orchestrator.commands import submit as cmd
    from orchestrator.render import stdout_console

    client = remote_client(server, db)
    if client is not None:  # a server queues and runs it (`--wait` follows it from here)
        return remote_submit(client, target, locals(), wait)
    config = _study_config(**locals())
    done = cmd.submit(config, inventory, db)
    out = stdout_console()
    out.print(f"queued study {done.study.id} ({done.study.name}): {done.jobs} job(s) on "
              f"{len(done.devices)} device(s), priority {config.priority}")
    for line in done.skipped:
        out.print(f"  skipped: {line}", markup=False, highlight=False)
    if not wait:
        out.print(f"run `bench worker` to work the queue off; `bench status {done.study.id}` shows progress")
        return
    if _wait_and_show(cmd, done, out):
        raise typer.Exit(2)


def _study_config(target, devices, engines, precisions, scenarios, batch, shape, threads, option,
                  warmup, duration, iterations, timeout, spread, priority, max_attempts, name,
                  requests=None, qps=None, latency_bound_ms=None, find_peak=False, **_):
    from agents.spec import RunLength
    from orchestrator.cli import _split, parse_option, parse_shape
    from orchestrator.commands.run import available_engines
    from orchestrator.study import ModelEntry, StudyConfig, load_study
    from inventory.yamlsrc import Where

    if target.suffix.lower() in (".yaml", ".yml"):
        config = load_study(target)
        config.priority = priority or config.priority
    else:
        options: dict[str, dict[str, str]] = {}
        for eng, key, value in map(parse_option, option):
            options.setdefault(eng, {})[key] = value
        config = StudyConfig(
            models=[ModelEntry(target, shapes=dict(map(parse_shape, shape)))], devices=_split(devices),
            engines=_split(engines) if engines else available_engines(target), precisions=_split(precisions),
            scenarios=_split(scenarios), batch_sizes=[int(b) for b in _split(batch)] if batch else None,
            spread=spread, priority=priority or "interactive", threads=threads, options=options,
            length=RunLength(warmup_s=warmup, min_duration_s=duration, min_iterations=iterations,
                             max_duration_s=max(60.0, 2 * duration), timeout_s=timeout),
            max_attempts=max_attempts, name=name,
            load={k: v for k, v in (("requests", requests), ("qps", qps),
                                    ("latency_bound_ms", latency_bound_ms),
                                    ("find_peak", find_peak or None)) if v is not None})
    config.check(Where("bench submit"))
    return config


def _wait_and_show(cmd, done, out) -> bool:
    """Run the study here with a live progress line; print its runs. True if any job failed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestrator.commands.queue import STATES
    from orchestrator.dispatcher import DispatchConfig
    from rich.console import Console

    from orchestrator.commands.results import show as show_runs

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(f"study {done.study.id}", total=done.jobs)

        def show(counts: dict[str, int]) -> None:
            finished = sum(counts.get(s, 0) for s in ("done", "failed", "cancelled"))
            text = ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s))
            bar.update(task, completed=finished, description=f"study {done.study.id}: {text}")

        counts = cmd.wait(done, DispatchConfig(), show)
    show_runs(out, db=done.db.url.render_as_string(hide_password=False), last=None, fmt="table", study=done.study.id)
    out.print(f"study {done.study.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    out.print(f"more: bench results --study {done.study.id}; bench dashboard --study {done.study.id}")
    return any(counts.get(s) for s in ("failed", "cancelled", "queued", "leased", "running"))


def status(study: Optional[str] = typer.Argument(None, help="a study id (default: the recent studies)"),
           db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
           server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP)) -> None:
    """Jobs per state and per device, of one study or of the recent ones."""
    from orchestrator.cli_server import remote_client
    from orchestrator.commands.queue import status as show
    from orchestrator.render import stdout_console

    client = remote_client(server, db)
    if client is not None:
        from orchestrator.commands import remote
        with client:
            return remote.status(client, stdout_console(), study)
    show(stdout_console(), db, study)


def cancel(target: str = typer.Argument(..., help="a study id or a job id"),
           db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
           server: Optional[str] = typer.Option(None, "--server", help=SERVER_HELP)) -> None:
    """Cancel a study or a job: queued jobs at once, running ones are stopped by their worker."""
    from orchestrator.cli_server import remote_client
    from orchestrator.commands.queue import cancel as do_cancel
    from orchestrator.render import stdout_console

    client = remote_client(server, db)
    if client is not None:
        from orchestrator.commands import remote
        with client:
            return remote.cancel(client, stdout_console(), target)
    do_cancel(stdout_console(), db, target)


def worker(
    devices: Optional[str] = typer.Option(None, "--devices", "-d", help="only these devices (selector; default: all)"),
    until_idle: bool = typer.Option(False, "--until-idle", help="exit once no job for these devices is left"),
    lease_ttl: float = typer.Option(60.0, "--lease-ttl", help="seconds a lease lives without a heartbeat"),
    heartbeat: float = typer.Option(10.0, "--heartbeat", help="seconds between heartbeats"),
    poll: float = typer.Option(1.0, "--poll", help="longest pause between scheduling steps"),
    job_timeout: float = typer.Option(3600.0, "--job-timeout", help="per-job limit when the study sets none"),
    quarantine_after: int = typer.Option(3, "--quarantine-after", help="consecutive infra-errors that quarantine a device"),
    check_interval: float = typer.Option(60.0, "--check-interval", help="seconds between health checks of a quarantined device"),
    backoff: float = typer.Option(5.0, "--backoff", help="seconds before the first retry (doubles each time)"),
    inventory: Optional[str] = typer.Option(None, "--inventory", "-i", help=INV_HELP),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Run the embedded orchestrator (scheduler + dispatcher) over the fleet until Ctrl-C."""
    from orchestrator.commands.queue import work
    from orchestrator.dispatcher import DispatchConfig
    from orchestrator.policy import HealthPolicy, RetryPolicy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = DispatchConfig(lease_ttl_s=lease_ttl, heartbeat_s=heartbeat, poll_s=poll,
                            job_timeout_s=job_timeout, retry=RetryPolicy(backoff_s=backoff),
                            health=HealthPolicy(quarantine_after, check_interval))
    work(inventory, db, devices, until_idle, config)


def register(app: typer.Typer) -> None:
    """Add the fleet and queue verbs to the `bench` app."""
    app.add_typer(fleet_app, name="fleet")
    for verb in (submit, status, cancel, worker):
        app.command()(verb)
