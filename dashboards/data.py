"""Read what the dashboards draw from the database, as pandas DataFrames.

The runs frame has one row per stored run: the columns of `results.queries.RUN_COLUMNS`, plus
`study_id`, `agent_version`, `power_reason` and `options` (read from the stored RunResult
JSON without loading it whole), `variant` (engine, precision and options as one label), every
`accuracy_*` and `inferences_per_j` metric, and the device's cost fields where the device
table has them (`cost_per_hour_usd`, `price_usd`, as `cost_per_hour` and `price`). A study of 10,000 runs must load in about a second,
so the full RunResult JSON (power trace included) is read only for the run page.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.errors import UserError
from agents.spec import RunResult
from results.ingest import stored_result
from results.models import Device, Job, Run, Study
from results.queries import RUN_COLUMNS

# Cost fields the inventory may give a device: a price per hour, or a purchase price; the
# device table's column for each (results.models.Device, filled from the inventory).
COST_FIELDS = ("cost_per_hour", "price")
_COST_COLUMNS = {"cost_per_hour": "cost_per_hour_usd", "price": "price_usd"}
_JSON_TEXT = {"agent_version": ("environment", "agent_version"),
              "power_reason": ("environment", "power", "reason")}
_EXTRA_METRICS = ("inferences_per_j", "energy_j", "median_ci95_pct", "warmup_iterations")


def runs_frame(engine: Engine, study_id: str | None = None, study_prefix: str | None = None,
               run_ids: list[int] | None = None) -> pd.DataFrame:
    """Stored runs, oldest first, optionally of one study or of studies named `prefix*`."""
    q = select(*[getattr(Run, c) for c in RUN_COLUMNS], Job.study_id, Run.metrics,
               Run.result[("job", "variant", "options")],
               *[Run.result[path].as_string() for path in _JSON_TEXT.values()])
    q = q.join(Job, Job.id == Run.job_id).order_by(col(Run.id))
    if study_id is not None:
        q = q.where(Job.study_id == study_id)
    if study_prefix is not None:
        q = q.join(Study, Study.id == Job.study_id).where(col(Study.name).startswith(study_prefix))
    if run_ids is not None:
        q = q.where(col(Run.id).in_(run_ids))
    names = [*RUN_COLUMNS, "study_id", "metrics", "options", *_JSON_TEXT]
    with Session(engine) as s:
        frame = pd.DataFrame.from_records(list(s.exec(q).all()), columns=names)
    return _with_costs(engine, _expand(frame))


def _expand(frame: pd.DataFrame) -> pd.DataFrame:
    metrics = frame.pop("metrics").tolist()
    keys = sorted({k for m in metrics for k in (m or {}) if k.startswith("accuracy_")})
    for key in (*_EXTRA_METRICS, *keys):
        frame[key] = pd.array([(m or {}).get(key) for m in metrics], dtype="Float64").astype(float)
    frame["options"] = [_options_text(o) for o in frame["options"]]
    frame["variant"] = [f"{e} {p}" + (f" {o}" if o else "")
                        for e, p, o in zip(frame["engine"], frame["precision"], frame["options"])]
    frame["flags"] = [list(f or []) for f in frame["flags"]]
    return frame


def _options_text(options: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((options or {}).items()))


def device_costs(engine: Engine) -> pd.DataFrame:
    """The cost fields of every device that has any, indexed by device name (may be empty)."""
    with Session(engine) as s:
        rows = [d.model_dump() for d in s.exec(select(Device)).all()]
    records = []
    for row in rows:
        costs = {f: row.get(_COST_COLUMNS[f]) for f in COST_FIELDS}
        if any(v is not None for v in costs.values()):
            records.append({"device": row["name"], **costs})
    return pd.DataFrame.from_records(records, columns=["device", *COST_FIELDS]).set_index("device")


def _with_costs(engine: Engine, frame: pd.DataFrame) -> pd.DataFrame:
    costs = device_costs(engine)
    if costs.empty:
        return frame
    return frame.join(costs.astype(float), on="device")


def latency_samples_ms(engine: Engine, run_ids: list[int], cap: int | None = None
                       ) -> dict[int, np.ndarray]:
    """Raw measured latencies of runs in milliseconds, by run id (runs without samples absent).

    Args:
        cap: keep at most this many samples per run, evenly strided over the run, so that a
            page over thousands of long runs stays fast; None keeps every sample.
    """
    out: dict[int, np.ndarray] = {}
    with Session(engine) as s:
        for start in range(0, len(run_ids), 900):  # stay under SQLite's bound-parameter limit
            chunk = run_ids[start:start + 900]
            rows = s.exec(select(Run.id, Run.latencies).where(col(Run.id).in_(chunk))).all()
            for run_id, blob in rows:
                if blob:
                    out[run_id] = _decode_ms(blob, cap)
    return out


def _decode_ms(blob: bytes, cap: int | None) -> np.ndarray:
    # The stored column holds the zlib payload of agents.spec.encode_latencies, without base64.
    ns = np.frombuffer(zlib.decompress(blob), dtype="<i8")
    if cap is not None and ns.size > cap:
        ns = ns[np.linspace(0, ns.size - 1, cap).astype(np.int64)]
    return ns.astype(np.float64) / 1e6


def study(engine: Engine, study_id: str) -> Study:
    """One study by id.

    Raises:
        UserError: no such study (the newest ids are named).
    """
    with Session(engine) as s:
        found = s.get(Study, study_id)
        if found is None:
            newest = s.exec(select(Study.id).order_by(col(Study.created_at).desc()).limit(5)).all()
            known = ", ".join(newest) if newest else "none (the database has no study)"
            raise UserError(f"unknown study '{study_id}'; newest: {known}")
        s.expunge(found)
    return found


def latest_study(engine: Engine) -> Study:
    """The newest study that has at least one run.

    Raises:
        UserError: the database holds no run.
    """
    q = (select(Study).join(Job, Job.study_id == Study.id).join(Run, Run.job_id == Job.id)
         .order_by(col(Run.id).desc()).limit(1))
    with Session(engine) as s:
        found = s.exec(q).first()
        if found is None:
            raise UserError("no runs in the database; run `bench run MODEL` first")
        s.expunge(found)
    return found


def run_detail(engine: Engine, ref: str) -> tuple[int, RunResult]:
    """A stored run by run id (an integer) or job id (its newest attempt), rebuilt in full.

    Raises:
        UserError: no such run.
    """
    q = select(Run)
    q = q.where(Run.id == int(ref)) if ref.isdigit() else q.where(Run.job_id == ref)
    with Session(engine) as s:
        row = s.exec(q.order_by(col(Run.attempt).desc())).first()
        if row is None:
            raise UserError(f"unknown run '{ref}': give a run id (`bench results` lists them) "
                            "or a job id")
        return row.id, stored_result(row)


# Verdicts a nightly stores that the trend page marks, worst first.
MARKED_VERDICTS = ("regression", "unconfirmed", "improvement", "change")


def nightly_frame(engine: Engine, suite: str) -> pd.DataFrame | None:
    """The runs a suite's nightlies filed (results/verdicts.py), as `runs_frame` rows whose
    `series_key` is the suite's series (the model's name, not its hash, so a new export of a
    model continues its trend), with the stored verdicts: `verdict` (the worst of
    MARKED_VERDICTS among the run's metrics, else None), `verdict_note` (what was found),
    `change` (a toolchain or device change that started a new baseline) and `regression`.
    None when no nightly of that suite is stored."""
    from results import verdicts

    members = verdicts.suite_runs(verdicts.ensure(engine), suite)
    if not members:
        return None
    series = dict(members)
    frame = runs_frame(engine, run_ids=list(series))
    frame["series_key"] = [series[int(i)] for i in frame["id"]]
    found: dict[int, list] = {}
    for v in verdicts.suite_verdicts(engine, suite=suite):
        if v.run_id is not None and v.verdict in MARKED_VERDICTS:
            found.setdefault(v.run_id, []).append(v)
    worst = {i: min(vs, key=lambda v: MARKED_VERDICTS.index(v.verdict)) for i, vs in found.items()}
    frame["verdict"] = [worst[i].verdict if i in worst else None for i in frame["id"]]
    frame["verdict_note"] = ["; ".join(dict.fromkeys(v.message for v in found[i] if v.verdict == worst[i].verdict))
                             if i in worst else None for i in frame["id"]]
    frame["change"] = [worst[i].change if i in worst and worst[i].verdict == "change" else None
                       for i in frame["id"]]
    frame["regression"] = frame["verdict"] == "regression"
    return frame
