"""What every verb group of `bench` shares: the help of the common flags, the consoles, the
choice between a server and the embedded default, and the one knob set of `run` and `submit`."""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console

DB_HELP = "SQLAlchemy URL or SQLite path (default: $BENCH_DB, else ./bench.db)"
INV_HELP = "inventory file (default: $BENCH_INVENTORY, else ./lab.yaml, else the device 'local')"
SERVER_HELP = ("a benchlab server (default: $BENCH_SERVER, else `server` in "
               "~/.config/bench/config.toml; --db: local)")

err = Console(stderr=True)


def stdout_console() -> Console:
    """The console tables go to: full width in a terminal, 220 columns into a pipe or file."""
    return Console() if sys.stdout.isatty() else Console(width=220)


def remote_client(server: str | None, db: str | None):
    """A Client when a server is configured (`--server`, $BENCH_SERVER, the config file) and
    `--db` is not given; else None (the embedded default)."""
    from orchestrator.client import Client, resolve_server

    ref = resolve_server(server, db)
    return Client.from_ref(ref) if ref is not None else None


def on_server(server: str | None, db: str | None, call: Callable[[Any, Any], Any]) -> bool:
    """When a server is configured (and --db not given), run `call(client, cli.remote)` against
    it and return True; else return False: the verb runs on the embedded default."""
    client = remote_client(server, db)
    if client is None:
        return False
    from orchestrator.cli import remote

    with client:
        call(client, remote)
    return True


# The knobs `bench run` and `bench submit` share: one table, so no flag is written twice.
# name (a field of plan.knobs.Flags) -> (type, default, flag spellings, help)
KNOBS: dict[str, tuple[Any, Any, tuple[str, ...], str]] = {
    "engines": (Optional[str], None, ("--engine", "--engines", "-e"), "comma-separated engines (default: every engine installed here; with --server: what its devices have)"),
    "precisions": (str, "fp32", ("--precision", "--precisions", "-p"), "comma-separated precisions: fp32, fp16, bf16, int8"),
    "scenarios": (str, "single-stream", ("--scenario", "--scenarios"), "comma-separated: single-stream, offline, server"),
    "batch": (Optional[str], None, ("--batch",), "comma-separated batch sizes: dim 0 of every input whose dim 0 is dynamic"),
    "shape": (List[str], [], ("--shape",), "NAME=D1,D2,... for dynamic inputs (repeatable)"),
    "input": (List[str], [], ("--input",), "NAME=file.npy real data for an input (repeatable)"),
    "inputs": (Optional[Path], None, ("--inputs",), ".npz file of real inputs, keyed by input name"),
    "threads": (Optional[int], None, ("--threads",), "inference threads for every engine"),
    "option": (List[str], [], ("--option", "-o"), "ENGINE.KEY=VALUE engine option (repeatable)"),
    "warmup": (float, 1.0, ("--warmup",), "warm-up seconds (and at least 10 iterations)"),
    "duration": (float, 5.0, ("--duration",), "measure at least this many seconds"),
    "iterations": (int, 100, ("--iterations",), "measure at least this many iterations"),
    "max_duration": (Optional[float], None, ("--max-duration",), "stop measuring after this many seconds (default: max(60, 2 x duration))"),
    "target_ci": (Optional[float], None, ("--target-ci",), "stop early once the median's 95% CI is within ±this %"),
    "until_stable": (Optional[str], None, ("--until-stable",), "stop once the median's 95% CI is within ±P% (e.g. 1%), after MLPerf's early-stopping minimum"),
    "requests": (Optional[int], None, ("--requests",), "requests in flight for offline/server (default: the engine's optimal number)"),
    "qps": (Optional[float], None, ("--qps",), "server: Poisson arrival rate, queries per second"),
    "latency_bound_ms": (Optional[float], None, ("--latency-bound-ms",), "server: count queries slower than this (from arrival)"),
    "find_peak": (bool, False, ("--find-peak",), "server: search the highest rate whose p99 stays under --latency-bound-ms"),
    "power": (str, "none", ("--power",), "power sensor: auto, none, rapl, nvml, jetson, hwmon, meter"),
    "power_option": (List[str], [], ("--power-option",), "KEY=VALUE option of the power sensor (repeatable)"),
    "idle_power": (float, 2.0, ("--idle-power",), "seconds of idle power measured before the run (0: skip)"),
    "calibration": (Optional[Path], None, ("--calibration",), "int8 calibration data: .npz keyed by input name, or a folder of .npz"),
    "strict": (bool, False, ("--strict",), "refuse int8 without --calibration instead of calibrating on generated data"),
    "max_accuracy_drop": (Optional[float], None, ("--max-accuracy-drop",), "fail a variant whose accuracy drop (1 - top-1 agreement, else 1 - cosine) exceeds this"),
    "no_accuracy": (bool, False, ("--no-accuracy",), "skip the accuracy check against the fp32 reference"),
    "cache_dir": (Optional[Path], None, ("--cache-dir",), "artifact cache (default: $BENCH_CACHE_DIR, else ~/.cache/benchlab/artifacts)"),
    "devices": (str, "all", ("--devices", "-d"), "device selector: name:x, tag:x, arch:x, group:x; ',' union, '+' intersection"),
    "timeout": (Optional[float], None, ("--timeout",), "per-job limit in seconds (default: the worker's)"),
    "spread": (str, "each", ("--spread",), "each: a job per matching device; any: a job per selector, on any matching device"),
    "priority": (Optional[str], None, ("--priority",), "interactive (default here), nightly or background"),
    "max_attempts": (int, 3, ("--max-attempts",), "attempts per job in all (infra-errors are retried)"),
    "name": (Optional[str], None, ("--name",), "the study's name"),
}
STUDY_KNOBS = ("devices", "timeout", "spread", "priority", "max_attempts", "name")
RUN_KNOBS = tuple(k for k in KNOBS if k not in STUDY_KNOBS)


def with_knobs(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a verb the knobs `names` (keys of KNOBS) as options; they reach it as one
    `knobs: plan.knobs.Flags` argument. Options are listed: the verb's arguments, the knobs,
    then the verb's own options."""
    def decorate(verb: Callable[..., Any]) -> Callable[..., Any]:
        from orchestrator.plan.knobs import Flags

        own = [p for p in inspect.signature(verb, eval_str=True).parameters.values() if p.name != "knobs"]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=KNOBS[n][0],
                                   default=typer.Option(KNOBS[n][1], *KNOBS[n][2], help=KNOBS[n][3]))
                 for n in names]

        @functools.wraps(verb)
        def wrapper(**kwargs: Any) -> Any:
            knobs = Flags(**{n: kwargs.pop(n) for n in names})
            return verb(knobs=knobs, **kwargs)

        args = [p for p in own if isinstance(p.default, typer.models.ArgumentInfo)]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  for p in (*args, *added, *[p for p in own if p not in args])]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must read the signature above, not the verb's
        return wrapper
    return decorate
