"""`bench compare` as a Python API: two runs, two studies, or a study against its baselines,
as a pandas DataFrame of ratios, intervals and verdicts (one row per series and metric), with
exports to CSV, Parquet and JSON.

    from results.db import open_db
    from results.comparisons import compare, export
    frame = compare(open_db("bench.db"), "STUDY_A", "STUDY_B")   # B against A
    export(frame, "diff.parquet")

Runs are matched by their suite series (results/baseline.py: the model's name, not its hash,
so a new export of a model is compared with the old one); several runs of one series on a
side are pooled. The rule is results/compare.py's, without the nightly's confirmation re-run:
a verdict here is what the rule says about these runs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.errors import UserError
from agents.spec import RunResult
from results import verdicts
from results.baseline import decode_sample, series_title, suite_series
from results.compare import (METRICS, VALUE_COLUMNS, Decision, Rule, applies, judge_samples,
                             judge_values, run_values)
from results.ingest import stored_result
from results.models import Job, Run, Study

COLUMNS = ["series", "title", "metric", "baseline", "value", "ratio", "low", "high", "p_value",
           "threshold", "verdict", "baseline_runs", "new_runs", "note"]
EXPORTS = (".csv", ".parquet", ".json")


def compare(engine: Engine, a: str, b: str | None = None, rule: Rule | None = None,
            runs: int = 10, metrics: tuple[str, ...] = tuple(METRICS)) -> pd.DataFrame:
    """B against A (A is the baseline); with `b` None, study A against its baselines.

    Args:
        a, b: a run id, a job id (its newest run) or a study id (its ok runs).
        runs: baseline runs per series when comparing a study with its baselines.

    Raises:
        UserError: an unknown reference, or nothing comparable.
    """
    rule = rule or Rule()
    if b is None:
        return against_baselines(engine, a, rule, runs, metrics)
    base, new = _group(resolve(engine, a)), _group(resolve(engine, b))
    shared = [k for k in new if k in base]
    if not shared:
        raise UserError(f"'{a}' and '{b}' have no series in common (series: model name, device, "
                        "engine, precision, options, scenario, batch, shapes)")
    rows = []
    for key in shared:
        baseline = [_Side(r) for r in base[key]]
        rows += _rows(key, new[key], baseline, rule, metrics)
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


def against_baselines(engine: Engine, study_id: str, rule: Rule, runs: int = 10,
                      metrics: tuple[str, ...] = tuple(METRICS)) -> pd.DataFrame:
    """Each series of a study against the runs of the same series stored before it: the
    nightly's baseline when the study was a nightly's, else the last `runs` ok runs that did
    not throttle."""
    mine = resolve(engine, study_id)
    groups = _group(mine)
    nightly = _nightly_baselines(engine, study_id, list(groups), runs)
    rows = []
    for key, results in groups.items():
        baseline = nightly.get(key) if nightly is not None else _earlier(engine, results, runs)
        rows += _rows(key, results, baseline or [], rule, metrics)
    return pd.DataFrame.from_records(rows, columns=COLUMNS)


class _Side:
    """A baseline run as the rule reads it: its samples (ms) and its per-run values."""

    def __init__(self, result: RunResult | None = None, samples=None, values=None):
        self.samples = result.latencies_ns() / 1e6 if result is not None else samples
        self.__dict__.update(run_values(result.metrics) if result is not None else values)


def resolve(engine: Engine, ref: str) -> list[RunResult]:
    """The runs a reference names: a run id, a job id (its newest attempt), or a study id
    (the newest attempt of each of its jobs that finished ok).

    Raises:
        UserError: nothing by that name.
    """
    with Session(engine) as s:
        if ref.isdigit():
            rows = list(s.exec(select(Run).where(Run.id == int(ref))).all())
        elif s.get(Study, ref) is not None:
            q = (select(Run).join(Job, Job.id == Run.job_id).where(Job.study_id == ref)
                 .order_by(col(Run.id)))
            latest = {r.job_id: r for r in s.exec(q).all()}
            rows = [r for r in latest.values() if r.status == "ok"]
        else:
            rows = list(s.exec(select(Run).where(Run.job_id == ref).order_by(col(Run.attempt).desc()).limit(1)).all())
        if not rows:
            raise UserError(f"'{ref}' is no run id, job id or study id with ok runs "
                            "(`bench results` lists runs, `bench status` studies)")
        return [stored_result(r) for r in rows]


def _group(results: list[RunResult]) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = defaultdict(list)
    for r in results:
        if r.job is not None and r.status == "ok":
            out[suite_series(r.job)].append(r)
    return dict(out)


def _rows(key: str, new: list[RunResult], baseline: list[_Side], rule: Rule,
          metrics: tuple[str, ...]) -> list[dict]:
    title = series_title(new[0].job)
    if not baseline:
        return [{"series": key, "title": title, "metric": "latency", "verdict": "no baseline",
                 "baseline_runs": 0, "new_runs": len(new), "note": "no earlier run of this series"}]
    out = []
    for name in (m for m in metrics if applies(m, new[0].job.scenario.name)):
        d = _decide(name, new, baseline, rule)
        if d is not None:
            out.append({"series": key, "title": title, "baseline_runs": len(baseline),
                        "new_runs": len(new), **{c: getattr(d, c) for c in (
                            "metric", "baseline", "value", "ratio", "low", "high", "p_value",
                            "threshold", "verdict", "note")}})
    return out


def _decide(name: str, new: list[RunResult], baseline: list[_Side], rule: Rule) -> Decision | None:
    metric, threshold = METRICS[name], rule.thresholds[name]
    if metric.kind == "samples":
        samples = [r.latencies_ns() / 1e6 for r in new]
        refs = [b.samples for b in baseline if b.samples is not None and len(b.samples)]
        if not refs or not any(s.size for s in samples):
            return None
        return judge_samples(np.concatenate(samples), refs, threshold, rule.alpha,
                             alpha_runs=rule.alpha_runs)
    values = [run_values(r.metrics).get(metric.column) for r in new]
    values = [v for v in values if v is not None]
    base = [getattr(b, metric.column) for b in baseline]
    if not values or all(v is None for v in base):
        return None
    return judge_values(float(np.median(values)), base, metric, threshold, rule.alpha_runs)


def _nightly_baselines(engine: Engine, study_id: str, keys: list[str], runs: int) -> dict[str, list[_Side]] | None:
    verdicts.ensure(engine)
    with Session(engine) as s:
        nightly = s.exec(select(verdicts.Nightly).where(verdicts.Nightly.study_id == study_id)).first()
        if nightly is None:
            return None
        first = s.exec(select(verdicts.SeriesRun.id).where(verdicts.SeriesRun.nightly_id == nightly.id)
                       .order_by(col(verdicts.SeriesRun.id)).limit(1)).first()
    found = verdicts.baselines(engine, nightly.suite, keys, runs, before_id=first)
    return {k: [_Side(samples=decode_sample(r.sample), values={c: getattr(r, c) for c in VALUE_COLUMNS})
                for r in rows]
            for k, rows in found.items()}


def _earlier(engine: Engine, results: list[RunResult], runs: int) -> list[_Side]:
    """The last `runs` ok runs (not throttled) of the same stored series stored before these."""
    from results.ingest import series_key
    keys = {series_key(r.job, r.environment.get("input_shapes") or None) for r in results}
    with Session(engine) as s:
        first = min(s.exec(select(Run.id).where(col(Run.job_id).in_([r.job_id for r in results]))).all())
        q = (select(Run).where(col(Run.series_key).in_(keys), Run.status == "ok", col(Run.id) < first)
             .order_by(col(Run.id).desc()).limit(runs * 4))
        rows = [r for r in s.exec(q).all() if "throttled" not in (r.flags or [])][:runs]
        return [_Side(stored_result(r)) for r in reversed(rows)]


def export(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a comparison to .csv, .parquet or .json (records), by the file's suffix.

    Raises:
        UserError: another suffix, pyarrow missing for Parquet, or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORTS:
        raise UserError(f"-o {path}: unknown format '{suffix or '(none)'}'; known: {', '.join(EXPORTS)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix == ".json":
            frame.to_json(path, orient="records", indent=1)
        else:
            frame.to_parquet(path, index=False)
    except ImportError as e:
        raise UserError(f"Parquet export needs pyarrow ({e}): pip install 'benchlab[export]'") from None
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path
