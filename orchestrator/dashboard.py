"""`bench dashboard`: write a self-contained HTML page of a study, a suite, a run or everything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.errors import UserError
from results.db import open_db

SELECTORS = ("--study", "--suite", "--run", "--latest", "--all")


@dataclass
class DashboardRequest:
    """What `bench dashboard` was asked for: exactly one selector, an output file."""

    output: Path
    study: str | None = None
    suite: str | None = None
    run: str | None = None
    latest: bool = False
    all_runs: bool = False
    slo_p99_ms: float | None = None
    db: str | None = None


def check(req: DashboardRequest) -> None:
    """Refuse a request that cannot mean anything, before the database is opened.

    Raises:
        UserError: not exactly one selector, a non-positive SLO, an output that is a directory.
    """
    given = [flag for flag, value in zip(SELECTORS, (req.study, req.suite, req.run, req.latest,
                                                     req.all_runs)) if value]
    if len(given) != 1:
        raise UserError(f"give exactly one of {', '.join(SELECTORS)}"
                        + (f" (got {', '.join(given)})" if given else ""))
    if req.slo_p99_ms is not None and not req.slo_p99_ms > 0:
        raise UserError(f"--slo-p99-ms must be > 0, got {req.slo_p99_ms:g}")
    if req.output.is_dir():
        raise UserError(f"-o {req.output}: is a directory; give a file name like dashboard.html")


def write(req: DashboardRequest) -> Path:
    """Build the requested page and write it to `req.output`.

    Returns:
        The path written.

    Raises:
        UserError: bad flags, an unknown study or run, or no runs to show.
    """
    check(req)
    try:
        from dashboards import build  # plotly is imported only by this verb
    except ImportError as e:
        raise UserError(f"bench dashboard needs plotly ({e.name} is missing): "
                        "pip install 'benchlab[dash]'") from None
    engine = open_db(req.db)
    if req.study:
        page = build.study_html(engine, req.study, req.slo_p99_ms)
    elif req.suite:
        page = build.suite_html(engine, req.suite)
    elif req.run:
        page = build.run_html(engine, req.run)
    elif req.latest:
        page = build.latest_html(engine, req.slo_p99_ms)
    else:
        page = build.all_html(engine, req.slo_p99_ms)
    try:
        req.output.parent.mkdir(parents=True, exist_ok=True)
        req.output.write_text(page, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write {req.output}: {e.strerror}") from None
    return req.output
