"""From the database to a page: pick the runs, load their samples, build the HTML.

The one place in `dashboards` that does I/O besides `data`; `bench dashboard` and the server
call these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from agents.errors import UserError
from dashboards import data, pages
from dashboards.summary import box_stats, labels, run_quartiles

# Distributions pool raw samples over many runs; this bounds the samples read for one page,
# spread evenly over its runs (every sample of a run that has fewer than its share).
SAMPLE_BUDGET = 2_000_000
_MIN_PER_RUN = 200


def _cap(n_runs: int) -> int:
    return max(_MIN_PER_RUN, SAMPLE_BUDGET // max(1, n_runs))


def _require(runs: pd.DataFrame, what: str) -> pd.DataFrame:
    if runs.empty:
        raise UserError(f"no runs {what}")
    return runs


def distribution_stats(engine: Engine, runs: pd.DataFrame) -> pd.DataFrame:
    """Box statistics of the pooled raw samples of each (device, variant) of `runs`."""
    ok = runs[runs["status"] == "ok"]
    samples = data.latency_samples_ms(engine, [int(i) for i in ok["id"]], cap=_cap(len(ok)))
    keys = ok[["device", "variant"]].drop_duplicates().sort_values(["device", "variant"])
    name_of = dict(zip(zip(keys["device"], keys["variant"]), labels(keys)))
    pooled: dict[str, list[np.ndarray]] = {}
    for run_id, device, variant in zip(ok["id"], ok["device"], ok["variant"]):
        if int(run_id) in samples:
            pooled.setdefault(name_of[(device, variant)], []).append(samples[int(run_id)])
    return box_stats(pooled)


def with_quartiles(engine: Engine, runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with each run's p25 and p75 from its raw samples (for trend spreads)."""
    ids = [int(i) for i in runs.loc[runs["status"] == "ok", "id"]]
    return run_quartiles(runs, data.latency_samples_ms(engine, ids, cap=_cap(len(ids))))


def study_html(engine: Engine, study_id: str, slo_p99_ms: float | None = None) -> str:
    """The study page of one study.

    Raises:
        UserError: unknown study, or a study without runs.
    """
    found = data.study(engine, study_id)
    runs = _require(data.runs_frame(engine, study_id=study_id), f"in study '{study_id}'")
    title = f"study {found.id}: {found.name}"
    return pages.study_page(title, runs, distribution_stats(engine, runs), slo_p99_ms)


def latest_html(engine: Engine, slo_p99_ms: float | None = None) -> str:
    """The study page of the newest study that has runs."""
    return study_html(engine, data.latest_study(engine).id, slo_p99_ms)


def suite_html(engine: Engine, name: str) -> str:
    """The trend page of a suite: the runs its nightlies filed, with their stored verdicts
    (regressions, improvements, unconfirmed flags) and toolchain changes; for a name no
    nightly used, every study whose name starts with `name`."""
    runs = data.nightly_frame(engine, name)
    if runs is None:
        runs = _require(data.runs_frame(engine, study_prefix=name),
                        f"of a study whose name starts with '{name}' (nor of a nightly suite of that name)")
    return pages.trend_page(f"suite {name}: trends", with_quartiles(engine, runs))


def run_html(engine: Engine, ref: str) -> str:
    """The run page of a run id or job id."""
    run_id, result = data.run_detail(engine, ref)
    return pages.run_page(run_id, result)


def all_html(engine: Engine, slo_p99_ms: float | None = None) -> str:
    """Every stored run: study figures over all of them and the trend of each series."""
    runs = _require(data.runs_frame(engine), "in the database; run `bench run MODEL` first")
    return pages.all_page(with_quartiles(engine, runs), distribution_stats(engine, runs),
                          slo_p99_ms)
