"""`bench compare A [B]`: the table of ratios, intervals and verdicts of results/comparisons.py."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from agents.errors import UserError
from orchestrator.nightly.report import p_text
from results.compare import METRICS, Rule
from results.comparisons import compare, export
from results.db import open_db

FORMATS = ("table", "csv", "json")


def parse_threshold(text: str) -> float:
    """`5%` or `0.05` -> 0.05.

    Raises:
        UserError: not a positive percentage or fraction below 1.
    """
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"--threshold {text!r}: expected a percentage like 5% or a fraction like 0.05") from None
    if not 0 < value < 1:
        raise UserError(f"--threshold {text!r}: must be between 0 and 100 %")
    return value


def show(a: str, b: str | None, threshold: str | None, alpha: float, runs: int, fmt: str,
         output: Path | None, db: str | None) -> None:
    """Compare and print (and export when `output` is given).

    Raises:
        UserError: bad flags, unknown references, nothing in common.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be in (0, 1), got {alpha:g}")
    if runs < 1:
        raise UserError(f"--runs must be >= 1, got {runs}")
    rule = Rule(alpha=alpha, min_runs=1)
    if threshold is not None:
        rule = rule.with_thresholds({"latency": parse_threshold(threshold)})
    frame = compare(open_db(db), a, b, rule, runs)
    if output is not None:
        export(frame, output)
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=1))
    else:
        _table(frame, f"{b} against {a}" if b else f"study {a} against its baselines")
    if output is not None and fmt == "table":
        print(f"written: {output}")


def _table(frame, title: str) -> None:
    from orchestrator.render import stdout_console

    table = Table(title=title)
    for col in ("series", "metric", "baseline", "value", "change", "95 % interval", "p", "runs", "verdict"):
        table.add_column(col, justify="left" if col in ("series", "metric", "verdict") else "right")
    for row in frame.itertuples():
        relative = METRICS[row.metric].relative if row.metric in METRICS else True
        table.add_row(row.title, row.metric, _num(row.baseline), _num(row.value),
                      _change(row.ratio, relative),
                      f"{_change(row.low, relative)} .. {_change(row.high, relative)}" if _ok(row.low) else "-",
                      "-" if not _ok(row.p_value) else p_text(row.p_value),
                      f"{row.baseline_runs} / {row.new_runs}", row.verdict)
    stdout_console().print(table)


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _num(value) -> str:
    return f"{value:.4g}" if _ok(value) else "-"


def _change(value, relative: bool) -> str:
    if not _ok(value):
        return "-"
    return f"{(value - 1) * 100:+.1f} %" if relative else f"{value:+.4f}"
