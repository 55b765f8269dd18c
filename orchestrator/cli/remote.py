"""`bench submit|status|results|cancel` against a server (`--server`, `$BENCH_SERVER` or the
config file): the same output as the embedded verbs, read over HTTP.

`submit --wait` follows the study live: jobs per state, and each job that is leased or running
with the device it is on. Ctrl-C detaches (exit 130) and leaves the study running.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agents.errors import UserError
from orchestrator.client import FINAL, Client
from orchestrator.commands.queue import STATES

DETACHED = 130


def study_body(target: Path, flags: dict[str, Any]) -> tuple[Path | None, dict[str, Any]]:
    """The model to upload and the study to send, from `bench submit`'s flags or a study file.

    Raises:
        UserError: a study file with more than one model or with data files (not sent to a
            server yet), or flags that do not parse.
    """
    from orchestrator.cli import _split, parse_option, parse_shape

    if target.suffix.lower() in (".yaml", ".yml"):
        return _from_file(target, flags)
    options: dict[str, dict[str, str]] = {}
    for engine, key, value in map(parse_option, flags["option"]):
        options.setdefault(engine, {})[key] = value
    load = {k: v for k, v in (("requests", flags["requests"]), ("qps", flags["qps"]),
                              ("latency_bound_ms", flags["latency_bound_ms"]),
                              ("find_peak", flags["find_peak"] or None)) if v is not None}
    body = {"devices": _split(flags["devices"]), "precisions": _split(flags["precisions"]),
            "scenarios": _split(flags["scenarios"]), "spread": flags["spread"],
            "priority": flags["priority"] or "interactive", "max_attempts": flags["max_attempts"],
            "options": options, "load": load, "shapes": dict(map(parse_shape, flags["shape"])),
            "run": {"warmup_s": flags["warmup"], "duration_s": flags["duration"],
                    "iterations": flags["iterations"], "timeout_s": flags["timeout"]}}
    for key, value in (("engines", _split(flags["engines"]) if flags["engines"] else None),
                       ("batch_sizes", [int(b) for b in _split(flags["batch"])] if flags["batch"] else None),
                       ("threads", flags["threads"]), ("name", flags["name"])):
        if value is not None:
            body[key] = value
    return target, body


def _from_file(path: Path, flags: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    from orchestrator.study import load_study

    config = load_study(path)
    if len(config.models) != 1 or any(m.files or m.npz or m.calibration for m in config.models):
        raise UserError(f"{path}: a study sent to a server has one model and no input or "
                        "calibration files (yet); submit each model on its own, or use --db")
    model, length = config.models[0], config.length
    body = {"name": config.name, "devices": config.devices, "engines": config.engines,
            "precisions": config.precisions, "scenarios": config.scenarios,
            "batch_sizes": config.batch_sizes, "spread": config.spread,
            "priority": flags["priority"] or config.priority, "threads": config.threads,
            "options": config.options, "load": config.load, "max_attempts": config.max_attempts,
            "shapes": model.shapes,
            "run": {"warmup_s": length.warmup_s, "duration_s": length.min_duration_s,
                    "iterations": length.min_iterations, "max_duration_s": length.max_duration_s,
                    "target_ci_pct": length.target_ci_pct, "timeout_s": length.timeout_s}}
    return model.path, {k: v for k, v in body.items() if v is not None}


def submit(client: Client, out: Console, err: Console, target: Path, flags: dict[str, Any],
           wait: bool) -> int:
    """Send a study; with `wait`, follow it and print its runs. Returns the exit code."""
    model, body = study_body(target, flags)
    if model is not None and not model.is_file():
        raise UserError(f"model file {model} not found")
    study = client.submit(model, body)
    out.print(f"queued study {study['id']} ({study['name']}) on {client.url}: {study['total']} job(s), "
              f"priority {study['priority']}", markup=False, highlight=False)
    for line in study.get("skipped") or []:
        out.print(f"  skipped: {line}", markup=False, highlight=False)
    if not wait:
        out.print(f"follow it: bench status {study['id']} --server {client.url}", markup=False, highlight=False)
        return 0
    try:
        final = follow(client, study["id"], err)
    except KeyboardInterrupt:
        err.print(f"detached from study {study['id']}; it keeps running on the server: "
                  f"bench status {study['id']} --server {client.url}", markup=False, highlight=False)
        return DETACHED
    results(client, out, "table", None, study["id"])
    counts = final["counts"]
    out.print(f"study {final['id']}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
              markup=False, highlight=False)
    out.print(f"dashboard: {client.dashboard_url(final['id'])}", markup=False, highlight=False)
    return 2 if any(counts.get(s) for s in ("failed", "cancelled")) else 0


def follow(client: Client, study_id: str, err: Console, poll_s: float = 0.5) -> dict[str, Any]:
    """Show a study's progress until it is finished: a live view in a terminal, a line per
    change otherwise (logs, CI)."""
    if not err.is_terminal:
        last = None

        def line(state: dict[str, Any]) -> None:
            nonlocal last
            text = progress_line(state)
            if text != last:
                err.print(text, markup=False, highlight=False, soft_wrap=True)
                last = text
        return client.wait(study_id, line, poll_s)
    with Live(console=err, refresh_per_second=4, transient=False) as live:
        return client.wait(study_id, lambda state: live.update(_view(state)), poll_s)


def progress_line(state: dict[str, Any]) -> str:
    """`study X: 2/6 finished; 1 queued, 1 running, 4 done | running: onnxruntime fp32 ... on local`."""
    counts = state["counts"]
    text = (f"study {state['id']}: {state['finished']}/{state['total']} finished; "
            + ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s)))
    active = [f"{j['engine']} {j['precision']} {j['scenario']} on {j['device']} ({j['state']})"
              for j in state.get("jobs") or [] if j["state"] in ("leased", "running")]
    return text + (" | " + "; ".join(active) if active else "")


def _view(state: dict[str, Any]) -> Group:
    table = Table(box=None, show_header=True, pad_edge=False)
    for col in ("job", "variant", "device", "state", "attempt"):
        table.add_column(col)
    for j in state.get("jobs") or []:
        if j["state"] in ("leased", "running") or (j["state"] in FINAL and j.get("finished_s")
                                                   and time.time() - j["finished_s"] < 30):
            table.add_row(j["id"], f"{j['engine']} {j['precision']} {j['scenario']}", j["device"],
                          j["state"], str(j["attempts"]))
    return Group(Text(progress_line({**state, "jobs": []})), table)


def status(client: Client, out: Console, study_id: str | None) -> None:
    """Jobs per state of one study (and per device), or the recent studies."""
    if study_id is None:
        table = Table(title=f"recent studies on {client.url}")
        for col in ("study", "name", "priority", "submitted (UTC)", *STATES):
            table.add_column(col)
        for s in client.studies():
            table.add_row(s["id"], s["name"], s["priority"] or "-", s["created_at"][:19].replace("T", " "),
                          *[str(s["counts"].get(state, 0) or "") for state in STATES])
        out.print(table)
        return
    state = client.study(study_id)
    out.print(progress_line({**state, "jobs": []}), markup=False, highlight=False)
    per_device: dict[str, dict[str, int]] = {}
    for j in state["jobs"] or []:
        per_device.setdefault(j["device"], {}).setdefault(j["state"], 0)
        per_device[j["device"]][j["state"]] += 1
    table = Table(title=f"jobs per device of study {study_id}")
    for col in ("device", *STATES):
        table.add_column(col)
    for name in sorted(per_device):
        table.add_row(name, *[str(per_device[name].get(s, 0) or "") for s in STATES])
    out.print(table)


def results(client: Client, out: Console, fmt: str, last: int | None, study: str | None) -> None:
    """Runs as a table, CSV or RunResult JSON, as `bench results` prints them.

    Raises:
        UserError: an unknown format or a negative count.
    """
    from orchestrator.commands.results import _TABLE, _cell, check_request

    check_request(fmt, last)
    runs = client.runs(last=last, full=fmt == "json", study=study)
    if fmt == "json":
        print(json.dumps([r["result"] for r in runs], indent=1))
        return
    if fmt == "csv":
        import pandas as pd

        from results.queries import RUN_COLUMNS
        print(pd.DataFrame.from_records(runs, columns=RUN_COLUMNS).to_csv(index=False), end="")
        return
    table = Table(title=f"{len(runs)} run(s)")
    for _, header in _TABLE:
        table.add_column(header)
    for r in runs:
        row = SimpleNamespace(**{**r, "created_at": datetime.fromisoformat(r["created_at"])})
        table.add_row(*[r["scenario_label"] if key == "scenario" else _cell(getattr(row, key))
                        for key, _ in _TABLE])
    out.print(table)


def cancel(client: Client, out: Console, target: str) -> None:
    """Cancel a study or a job on the server."""
    done = client.cancel(target)
    out.print(f"{done['kind']} {target}: {done['cancelled']} queued job(s) cancelled, "
              f"{done['stopping']} running job(s) being stopped", markup=False, highlight=False)
