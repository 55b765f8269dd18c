"""Nightly history: each nightly of a suite, its runs filed by series, and the verdicts.

Three tables beside the run tables (alembic revision 0003_nightly; no existing table changes):

- `nightly`: one row per `bench nightly` (suite, study, confirmation study, outputs, exit code).
- `series_run`: one row per run a nightly judged or measured, with the suite's series key, the
  run's toolchain and device-state fingerprints, its per-run values, a 64-point reference
  sample of its raw latencies, and two flags: `good` (may serve as a baseline) and
  `new_baseline` (the first run of a new baseline: a toolchain or device change, a confirmed
  improvement). Baselines read only this table, never the runs' full JSON.
- `verdict`: one row per (nightly, series, metric): the decision, its numbers, and any change.
"""

from __future__ import annotations

import gc
import json
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Optional, Sequence

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, cast, column, func, insert, or_
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from results.models import utcnow  # noqa: F401  (the run tables must be registered first)


class Nightly(SQLModel, table=True):
    """One `bench nightly` of a suite."""

    __tablename__ = "nightly"
    id: str = Field(primary_key=True)
    suite: str = Field(index=True)
    study_id: str = Field(index=True)
    confirm_study_id: Optional[str] = None
    started_s: float
    finished_s: Optional[float] = None
    exit_code: Optional[int] = None
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class SeriesRun(SQLModel, table=True):
    """A run as a member of a suite's series (see the module docstring)."""

    __tablename__ = "series_run"
    __table_args__ = (Index("ix_series_run_lookup", "suite", "series", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    suite: str
    series: str
    title: str
    nightly_id: str = Field(index=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    role: str = "night"  # night | confirm
    created_s: float
    model_sha256: str
    good: bool = False
    new_baseline: bool = False
    toolchain: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    device_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # The per-run values of the rule (results.compare.VALUE_COLUMNS), as columns: a baseline
    # of 150,000 rows must not parse 150,000 JSON documents.
    latency_p50_ms: Optional[float] = None
    throughput_ips: Optional[float] = None
    energy_per_inference_j: Optional[float] = None
    peak_rss_mb: Optional[float] = None
    accuracy: Optional[float] = None
    sample: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))


class Verdict(SQLModel, table=True):
    """What a nightly decided about one metric of one series."""

    __tablename__ = "verdict"
    id: Optional[int] = Field(default=None, primary_key=True)
    nightly_id: str = Field(index=True)
    suite: str = Field(index=True)
    series: str
    title: str
    metric: str
    verdict: str
    run_id: Optional[int] = Field(default=None, index=True)
    confirm_run_id: Optional[int] = None
    baseline: Optional[float] = None
    value: Optional[float] = None
    ratio: Optional[float] = None
    low: Optional[float] = None
    high: Optional[float] = None
    p_value: Optional[float] = None
    threshold: Optional[float] = None
    confirm_ratio: Optional[float] = None
    confirm_p_value: Optional[float] = None
    baseline_runs: int = 0
    change: Optional[str] = None
    message: str = ""
    created_s: float


@dataclass
class Member:
    """A baseline member as the rule reads it: a series_run row without the ORM's cost (a
    nightly of 5,000 series reads 150,000 of them). `toolchain` and `device_state` are loaded
    for the newest member of each baseline only (the one a change is detected against);
    None elsewhere."""

    id: int
    run_id: int
    model_sha256: str
    good: bool
    new_baseline: bool
    sample: bytes | None
    latency_p50_ms: float | None = None
    throughput_ips: float | None = None
    energy_per_inference_j: float | None = None
    peak_rss_mb: float | None = None
    accuracy: float | None = None
    toolchain: dict[str, Any] | None = None
    device_state: dict[str, Any] | None = None


_MEMBER = tuple(f.name for f in fields(Member))[:-2]


def _parsed(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):  # a driver that hands JSON back decoded
        return value
    return json.loads(value) if value else {}


def add(engine: Engine, rows: Sequence[SQLModel]) -> None:
    """Store rows in one transaction; their ids are filled in."""
    with Session(engine, expire_on_commit=False) as s:
        s.add_all(rows)
        s.flush()  # assigns the ids; nothing is read back after the commit
        s.commit()


def insert_rows(engine: Engine, series_runs: list[dict[str, Any]], verdict_rows: list[dict[str, Any]]) -> None:
    """Bulk-insert series_run and verdict rows (column dicts) in one transaction."""
    with engine.begin() as conn:
        if series_runs:
            conn.execute(insert(SeriesRun.__table__), series_runs)
        if verdict_rows:
            conn.execute(insert(Verdict.__table__), verdict_rows)


def finish_nightly(engine: Engine, nightly_id: str, **values: Any) -> None:
    """Set fields of a nightly row (finished_s, exit_code, counts, outputs, confirm_study_id)."""
    with Session(engine) as s:
        row = s.get(Nightly, nightly_id)
        for key, value in values.items():
            setattr(row, key, value)
        s.add(row)
        s.commit()


def baselines(engine: Engine, suite: str, series: Sequence[str], runs: int,
              before_id: int | None = None) -> dict[str, list[Member]]:
    """The current baseline of each series: its last `runs` good rows since the newest
    `new_baseline` row, oldest first (a series without any is absent).

    Only the newest `runs` rows of a series that are good or started a baseline are read
    (a window function), so the cost does not grow with the history's length.

    Args:
        before_id: only rows older than this series_run id (the nightly's own are newer).
    """
    T = SeriesRun.__table__
    wanted = list(dict.fromkeys(series))
    out: dict[str, list[Member]] = defaultdict(list)
    with engine.connect() as conn, _gc_paused():
        for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
            where = [T.c.suite == suite, T.c.series.in_(wanted[start:start + 900]),
                     or_(T.c.good, T.c.new_baseline)]
            if before_id is not None:
                where.append(T.c.id < before_id)
            rank = func.row_number().over(partition_by=T.c.series, order_by=T.c.id.desc()).label("rank")
            ranked = select(T.c.series, *[T.c[n] for n in _MEMBER], rank).where(*where).subquery()
            # untyped columns: rows come back as the driver returns them, without SQLAlchemy's
            # per-value result processing (a third of the time on 150,000 rows)
            q = (select(*[column(c.name) for c in ranked.c if c.name != "rank"]).select_from(ranked)
                 .where(ranked.c.rank <= runs))
            rows = conn.execute(q).all()
            rows.sort(key=_newest)  # cheaper here than an ORDER BY over the window's output
            _newest_first(rows, out, runs)
        _fingerprints(conn, [v[0] for v in out.values() if v])
    return {k: list(reversed(v)) for k, v in out.items() if v}


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a baseline's rows are built: 150,000 new
    objects, none of them in a cycle, would otherwise trigger full collections over the whole
    heap (measured: about half of `baselines`' time on 5,000 series)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_GOOD, _NEW = 1 + _MEMBER.index("good"), 1 + _MEMBER.index("new_baseline")


def _newest(row) -> tuple[str, int]:
    return row[0], -row[1]  # series, then id descending


def _newest_first(rows, out: dict[str, list[Member]], runs: int) -> None:
    # rows: (series, *member fields), newest first within each series; positional access,
    # since this loop sees every row read.
    closed: set[str] = set()
    for r in rows:
        key = r[0]
        if key in closed:
            continue
        kept = out[key]
        if r[_GOOD] and len(kept) < runs:
            kept.append(Member(*r[1:]))
        if r[_NEW] or len(kept) >= runs:
            closed.add(key)


def _fingerprints(conn, newest: list[Member]) -> None:
    T = SeriesRun.__table__
    by_id = {m.id: m for m in newest}
    ids = list(by_id)
    for start in range(0, len(ids), 900):
        q = (select(T.c.id, cast(T.c.toolchain, Text), cast(T.c.device_state, Text))
             .where(T.c.id.in_(ids[start:start + 900])))
        for row_id, tool, state in conn.execute(q):
            by_id[row_id].toolchain, by_id[row_id].device_state = _parsed(tool), _parsed(state)


def suite_runs(engine: Engine, suite: str) -> list[tuple[int, str]]:
    """(run id, series) of every run filed under a suite's nightlies, oldest first."""
    T = SeriesRun.__table__
    with engine.connect() as conn:
        return [(r.run_id, r.series) for r in conn.execute(
            select(T.c.run_id, T.c.series).where(T.c.suite == suite).order_by(T.c.id))]


def suite_verdicts(engine: Engine, suite: str | None = None, nightly_id: str | None = None) -> list[Verdict]:
    """Stored verdicts of a suite or of one nightly, oldest first."""
    q = select(Verdict).order_by(col(Verdict.id))
    if suite is not None:
        q = q.where(Verdict.suite == suite)
    if nightly_id is not None:
        q = q.where(Verdict.nightly_id == nightly_id)
    with Session(engine) as s:
        rows = list(s.exec(q).all())
        s.expunge_all()
    return rows


def ensure(engine: Engine) -> Engine:
    """Create these tables if the database lacks them (a database opened before this module
    was imported has only the run tables). Returns the engine."""
    SQLModel.metadata.create_all(engine, tables=[Nightly.__table__, SeriesRun.__table__,
                                                 Verdict.__table__])
    return engine
