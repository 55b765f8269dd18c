"""`bench submit|status|results|cancel|dashboard` against a server (`--server`, `$BENCH_SERVER` or the
config file): the same output as the embedded verbs, read over HTTP.

`submit --wait` follows the study live: jobs per state, and each job that is leased or running
with the device it is on. Ctrl-C detaches (exit 130) and leaves the study running.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agents.errors import UserError
from orchestrator.cli import columns
from orchestrator.client import FINAL, Client
from orchestrator.execute.policy import STATES
from orchestrator.plan.study import Study

DETACHED = 130


def study_body(study: Study) -> tuple[Path, dict[str, Any]]:
    """The model to upload and the API body of a study (from flags or a study file): the only
    converter from a Study to the server's schema.

    Raises:
        UserError: more than one model, data or calibration files, or settings the server's
            API does not take (yet).
    """
    if len(study.models) != 1 or any(m.files or m.npz or m.calibration for m in study.models):
        raise UserError("a study sent to a server has one model and no input or calibration files "
                        "(yet); submit each model on its own, or use --db")
    local_only = [flag for flag, used in (("--power", study.power is not None and study.power.sensor != "none"),
                                          ("--strict", study.strict),
                                          ("--max-accuracy-drop", study.max_accuracy_drop is not None),
                                          ("--no-accuracy", not study.accuracy_check),
                                          ("--cache-dir", study.cache_dir is not None)) if used]
    if local_only:
        raise UserError(f"{', '.join(local_only)}: not sent to a server (yet); use --db")
    model, length = study.models[0], study.length
    body = {"name": study.name, "devices": study.devices, "engines": study.engines or None,
            "precisions": study.precisions, "scenarios": study.scenarios,
            "batch_sizes": study.batch_sizes, "spread": study.spread, "priority": study.priority,
            "threads": study.threads, "options": study.options, "load": study.load,
            "max_attempts": study.max_attempts, "shapes": model.shapes,
            "run": {"warmup_s": length.warmup_s, "duration_s": length.min_duration_s,
                    "iterations": length.min_iterations, "max_duration_s": length.max_duration_s,
                    "target_ci_pct": length.target_ci_pct, "timeout_s": length.timeout_s}}
    return model.path, {k: v for k, v in body.items() if v is not None}


def submit(client: Client, out: Console, err: Console, study: Study, wait: bool) -> int:
    """Send a study; with `wait`, follow it and print its runs. Returns the exit code."""
    model, body = study_body(study)
    if not model.is_file():
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
    results(client, out, "table", None, study["id"], None)
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


def results(client: Client, out: Console, fmt: str, last: int | None, study: str | None,
            keys: list[str] | None) -> None:
    """Runs as a table (`keys`: the columns, None: the default), CSV or RunResult JSON, as
    `bench results` prints them."""
    runs = client.runs(last=last, full=fmt == "json", study=study)
    if fmt == "json":
        print(json.dumps([r["result"] for r in runs], indent=1))
        return
    if fmt == "csv":
        import pandas as pd

        from results.queries import RUN_COLUMNS
        print(pd.DataFrame.from_records(runs, columns=RUN_COLUMNS).to_csv(index=False), end="")
        return
    columns.print_runs(out, [{**r, "created_at": datetime.fromisoformat(r["created_at"])} for r in runs], keys)


def cancel(client: Client, out: Console, target: str) -> None:
    """Cancel a study or a job on the server."""
    done = client.cancel(target)
    out.print(f"{done['kind']} {target}: {done['cancelled']} queued job(s) cancelled, "
              f"{done['stopping']} running job(s) being stopped", markup=False, highlight=False)


def dashboard(client, output: Path, study: str | None, slo_p99_ms: float | None) -> Path:
    """`bench dashboard --study ID --server`: the server's study page, written to `output`.

    Raises:
        UserError: no --study (the server serves study pages), or the file cannot be written.
    """
    if not study:
        raise UserError("with a server, give --study ID (the server serves study pages; "
                        "use --db for the other pages)")
    page = client.dashboard(study, slo_p99_ms)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {output}: {e.strerror}") from None
    return output
