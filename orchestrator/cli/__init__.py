"""The `bench` command. Each verb parses its flags and calls a plain function in `commands/`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from agents.errors import BenchError
from agents.spec import PowerSpec, RunLength
from orchestrator import render

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="benchlab: compile and benchmark ML models on a fleet of devices.")
err = Console(stderr=True)
DB_HELP = "SQLAlchemy URL or SQLite path (default: $BENCH_DB, else ./bench.db)"


def parse_shape(text: str) -> tuple[str, list[int]]:
    """`NAME=1,3,224,224` -> ("NAME", [1, 3, 224, 224]); `NAME=` is a scalar."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise BenchErrorLine(f"--shape {text!r}: expected NAME=D1,D2,... (e.g. input=1,3,224,224)")
    try:
        return name, [int(d) for d in dims.split(",") if d.strip()]
    except ValueError:
        raise BenchErrorLine(f"--shape {text!r}: dims must be integers") from None


def parse_option(text: str) -> tuple[str, str, str]:
    """`ENGINE.KEY=VALUE` -> (engine, key, value)."""
    key, sep, value = text.partition("=")
    engine, dot, name = key.partition(".")
    if not sep or not dot or not engine or not name:
        raise BenchErrorLine(f"--option {text!r}: expected ENGINE.KEY=VALUE (e.g. openvino.hint=THROUGHPUT)")
    return engine, name, value


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` items into a dict."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise BenchErrorLine(f"{flag} {item!r}: expected NAME=VALUE")
        out[name] = value
    return out


class BenchErrorLine(BenchError):
    """A flag that does not parse."""


@app.command()
def run(
    model: Path = typer.Argument(..., help="the model file (.onnx)"),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="comma-separated engines (default: every engine installed here)"),
    precision: str = typer.Option("fp32", "--precision", "-p", help="comma-separated precisions"),
    shape: list[str] = typer.Option([], "--shape", help="NAME=D1,D2,... for dynamic inputs (repeatable)"),
    input_file: list[str] = typer.Option([], "--input", help="NAME=file.npy real data for an input (repeatable)"),
    inputs_npz: Optional[Path] = typer.Option(None, "--inputs", help=".npz file of real inputs, keyed by input name"),
    threads: Optional[int] = typer.Option(None, "--threads", help="inference threads for every engine"),
    option: list[str] = typer.Option([], "--option", "-o", help="ENGINE.KEY=VALUE engine option (repeatable)"),
    warmup: float = typer.Option(1.0, "--warmup", help="warm-up seconds (and at least 10 iterations)"),
    duration: float = typer.Option(5.0, "--duration", help="measure at least this many seconds"),
    iterations: int = typer.Option(100, "--iterations", help="measure at least this many iterations"),
    max_duration: Optional[float] = typer.Option(None, "--max-duration", help="stop measuring after this many seconds (default: max(60, 2 x duration))"),
    target_ci: Optional[float] = typer.Option(None, "--target-ci", help="stop early once the median's 95%% CI is within ±this %%"),
    scenario: str = typer.Option("single-stream", "--scenario", help="comma-separated: single-stream, offline, server"),
    batch: Optional[str] = typer.Option(None, "--batch", help="comma-separated batch sizes: dim 0 of every input whose dim 0 is dynamic"),
    requests: Optional[int] = typer.Option(None, "--requests", help="requests in flight for offline/server (default: the engine's optimal number)"),
    qps: Optional[float] = typer.Option(None, "--qps", help="server: Poisson arrival rate, queries per second"),
    latency_bound_ms: Optional[float] = typer.Option(None, "--latency-bound-ms", help="server: count queries slower than this (from arrival)"),
    find_peak: bool = typer.Option(False, "--find-peak", help="server: search the highest rate whose p99 stays under --latency-bound-ms"),
    until_stable: Optional[str] = typer.Option(None, "--until-stable", help="stop once the median's 95%% CI is within ±P%% (e.g. 1%%), after MLPerf's early-stopping minimum"),
    power: str = typer.Option("none", "--power", help="power sensor: auto, none, rapl, nvml, jetson, hwmon, meter"),
    power_option: list[str] = typer.Option([], "--power-option", help="KEY=VALUE option of the power sensor (repeatable)"),
    idle_power: float = typer.Option(2.0, "--idle-power", help="seconds of idle power measured before the run (0: skip)"),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="int8 calibration data: .npz keyed by input name, or a folder of .npz"),
    strict: bool = typer.Option(False, "--strict", help="refuse int8 without --calibration instead of calibrating on generated data"),
    max_accuracy_drop: Optional[float] = typer.Option(None, "--max-accuracy-drop", help="fail a variant whose accuracy drop (1 - top-1 agreement, else 1 - cosine) exceeds this"),
    no_accuracy: bool = typer.Option(False, "--no-accuracy", help="skip the accuracy check against the fp32 reference"),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="artifact cache (default: $BENCH_CACHE_DIR, else ~/.cache/benchlab/artifacts)"),
    as_json: bool = typer.Option(False, "--json", help="print the RunResults as a JSON list"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Benchmark MODEL on this machine with each engine and precision; store every run."""
    from orchestrator.commands.run import RunRequest, available_engines, execute, failed
    from orchestrator.scenario_flags import LoadFlags, parse_batches, parse_until_stable

    options: dict[str, dict[str, str]] = {}
    for eng, key, value in map(parse_option, option):
        options.setdefault(eng, {})[key] = value
    length = RunLength(warmup_s=warmup, min_duration_s=duration, min_iterations=iterations,
                       max_duration_s=max_duration if max_duration is not None else max(60.0, 2 * duration),
                       target_ci_pct=target_ci)
    req = RunRequest(model=model, engines=_split(engine) if engine else available_engines(model),
                     precisions=_split(precision), shapes=dict(map(parse_shape, shape)),
                     options=options, threads=threads, length=length,
                     input_files=parse_pairs(input_file, "--input"),
                     npz=str(inputs_npz) if inputs_npz else None, db=db,
                     calibration=str(calibration) if calibration else None, strict=strict,
                     max_accuracy_drop=max_accuracy_drop, accuracy_check=not no_accuracy,
                     cache_dir=str(cache_dir) if cache_dir else None,
                     power=PowerSpec(sensor=power, options=parse_pairs(power_option, "--power-option"),
                                     idle_s=idle_power if power != "none" else 0.0),
                     load=LoadFlags(scenarios=tuple(_split(scenario)), batches=parse_batches(batch),
                                    requests=requests, qps=qps, latency_bound_ms=latency_bound_ms,
                                    find_peak=find_peak, until_stable_pct=parse_until_stable(until_stable)))
    with render.JobProgress(err, enabled=not as_json) as bar:
        results = execute(req, progress_for=bar.track, on_result=bar.finish)
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        render.run_table(render.stdout_console(), results)
    if failed(results):
        raise typer.Exit(2)


@app.command()
def results(
    last: Optional[int] = typer.Option(20, "--last", "-n", help="the newest N runs (0: all)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    study: Optional[str] = typer.Option(None, "--study", help="only runs of this study"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help="a benchlab server (default: $BENCH_SERVER, else the config file; --db: local)"),
) -> None:
    """Show stored runs."""
    from orchestrator.cli_server import remote_client
    from orchestrator.commands.results import show

    client = remote_client(server, db)
    if client is not None:
        from orchestrator.commands.remote import results as remote_results
        with client:
            return remote_results(client, render.stdout_console(), fmt, last or None, study)
    show(render.stdout_console(), db=db, last=last or None, fmt=fmt, study=study)


@app.command()
def zoo(
    name: str = typer.Argument(..., help="a zoo model name, or 'list'"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="where to write the model file"),
    batch: int = typer.Option(1, "--batch", help="batch size fixed in the model"),
    dynamic: bool = typer.Option(False, "--dynamic", help="leave the batch dimension symbolic"),
    fmt: str = typer.Option("onnx", "--format", help="onnx, or tflite for the .tflite zoo (see list)"),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="mlp only: first hidden layer width (1024; 1136 does ~10%% more work)"),
) -> None:
    """List the built-in synthetic models, or write one as ONNX or TFLite."""
    from orchestrator.commands.zoo import list_models, write

    if name == "list":
        list_models(render.stdout_console())
        return
    path = write(name, output or Path(f"{name}.{fmt}"), None if dynamic else batch, fmt, hidden)
    print(path)


@app.command()
def dashboard(
    output: Path = typer.Option(Path("dashboard.html"), "--output", "-o", help="the HTML file to write"),
    study: Optional[str] = typer.Option(None, "--study", help="the study page (chip selection) of this study id"),
    suite: Optional[str] = typer.Option(None, "--suite", help="the trend page of a suite; until suites are stored, the studies whose name starts with NAME"),
    run_ref: Optional[str] = typer.Option(None, "--run", help="the run page of a run id (or job id)"),
    latest: bool = typer.Option(False, "--latest", help="the study page of the newest study"),
    all_runs: bool = typer.Option(False, "--all", help="every stored run: study figures and every series' trend"),
    slo_p99_ms: Optional[float] = typer.Option(None, "--slo-p99-ms", help="latency objective of the recommendation (p99, ms)"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    server: Optional[str] = typer.Option(None, "--server", help="fetch the --study page from a benchlab server (default: $BENCH_SERVER, else the config file; --db: local)"),
) -> None:
    """Write a self-contained HTML dashboard (opens offline) and print its path."""
    from orchestrator.cli_server import remote_client, remote_dashboard
    from orchestrator.commands.dashboard import DashboardRequest, write

    client = remote_client(server, db)
    if client is not None:
        print(remote_dashboard(client, output, study, slo_p99_ms))
        return

    print(write(DashboardRequest(output=output, study=study, suite=suite, run=run_ref, latest=latest,
                                 all_runs=all_runs, slo_p99_ms=slo_p99_ms, db=db)))


# fleet list|probe, submit, status, cancel, worker (orchestrator/cli_queue.py)
from orchestrator.cli_queue import register as _register_queue_verbs  # noqa: E402

_register_queue_verbs(app)

# nightly, compare (orchestrator/cli_nightly.py)
from orchestrator.cli_nightly import register as _register_nightly_verbs  # noqa: E402

_register_nightly_verbs(app)

# serve, token create|list|revoke (orchestrator/cli_server.py)
from orchestrator.cli_server import register as _register_server_verbs  # noqa: E402

_register_server_verbs(app)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main() -> None:
    """Console-script entry point: a BenchError is one line on stderr and exit code 1."""
    try:
        app()
    except BenchError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)

