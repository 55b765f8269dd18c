"""The table of `bench results`: the columns it can show, the default set that fits a terminal,
and the columns added only when a listed run has a value and dropped again when they do not
fit (`--wide` shows every column, `--columns` exactly those asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from agents.errors import UserError

Record = Mapping[str, Any]  # a stored run: results.queries.RUN_COLUMNS + "scenario_label"


@dataclass(frozen=True)
class Column:
    """One column: its header (and the short one of the default table), the record key it
    shows, and whether it is text (left, shortened with an ellipsis) or a number (right)."""

    header: str
    key: str
    short: str | None = None
    text: bool = False


COLUMNS: dict[str, Column] = {
    "id": Column("id", "id", text=True),
    "when": Column("when (UTC)", "created_at", text=True),
    "device": Column("device", "device", text=True),
    "model": Column("model", "model_name", text=True),
    "engine": Column("engine", "engine", text=True),
    "precision": Column("precision", "precision", short="prec", text=True),
    "scenario": Column("scenario", "scenario_label", text=True),
    "status": Column("status", "status", text=True),
    "p50": Column("p50 ms", "latency_p50_ms"),
    "p90": Column("p90 ms", "latency_p90_ms"),
    "p95": Column("p95 ms", "latency_p95_ms"),
    "p99": Column("p99 ms", "latency_p99_ms"),
    "throughput": Column("throughput /s", "throughput_ips", short="inf/s"),
    "cold_start": Column("cold start ms", "cold_start_ms"),
    "compile_s": Column("compile s", "compile_s"),
    "power": Column("power W", "power_avg_w"),
    "energy": Column("J/inference", "energy_per_inference_j"),
    "cosine": Column("cosine", "accuracy_cosine_min"),
    "top1": Column("top-1", "accuracy_top1_agreement"),
    "flags": Column("flags", "flags", text=True),
}
DEFAULT = ("id", "device", "model", "engine", "precision", "scenario", "status", "p50", "p99", "throughput")
AUTO = ("power", "energy", "top1", "flags")  # shown when a run has a value, dropped first


def choose(columns: str | None, wide: bool) -> list[str] | None:
    """The column keys asked for: `--columns a,b` exactly, `--wide` all, else None (the
    default set plus the auto columns that have values).

    Raises:
        UserError: an unknown key (with the known ones), or --columns with --wide.
    """
    if columns is not None and wide:
        raise UserError("--columns and --wide exclude each other: --wide shows every column")
    if wide:
        return list(COLUMNS)
    if columns is None:
        return None
    keys = [k.strip() for k in columns.split(",") if k.strip()]
    unknown = [k for k in keys if k not in COLUMNS]
    if unknown or not keys:
        raise UserError(f"unknown column '{unknown[0] if unknown else columns}'; known: {', '.join(COLUMNS)}")
    return keys


def print_runs(console: Console, records: list[Record], keys: list[str] | None) -> None:
    """Print the runs. With `keys` (--columns, --wide): exactly those columns, never cut.
    Without: the default columns plus the auto ones that have a value; auto columns are
    dropped right to left (a line says which) while the table is wider than the console, then
    the gap between columns narrows, then text columns shorten with an ellipsis; numbers are
    never cut."""
    if keys is not None:
        headers, rows = _cells(records, keys, short=False)
        widths, shown = _widths(headers, rows), console.width
        console.width = max(shown, _width(widths, GAP))  # asked for: wider than the terminal if need be
        try:
            console.print(_table(records, keys, headers, rows, widths, GAP))
        finally:
            console.width = shown
        return
    auto = [k for k in AUTO if any(_has(r.get(COLUMNS[k].key)) for r in records)]
    hidden: list[str] = []
    while auto and _width(_widths(*_cells(records, [*DEFAULT, *auto], True)), GAP) > console.width:
        hidden.append(COLUMNS[auto.pop()].header)
    keys = [*DEFAULT, *auto]
    headers, rows = _cells(records, keys, short=True)
    widths = _widths(headers, rows)
    gap = GAP if _width(widths, GAP) <= console.width else 1
    text = [i for i, k in enumerate(keys) if COLUMNS[k].text]
    while _width(widths, gap) > console.width and max(widths[i] for i in text) > 4:
        widths[max(text, key=lambda i: widths[i])] -= 1
    console.print(_table(records, keys, headers, rows, widths, gap))
    if hidden:
        console.print(f"hidden: {', '.join(hidden)} (--wide shows every column)", highlight=False)


GAP = 2  # spaces between two columns


def _cells(records: list[Record], keys: list[str], short: bool) -> tuple[list[str], list[list[str]]]:
    headers = [(COLUMNS[k].short or COLUMNS[k].header) if short else COLUMNS[k].header for k in keys]
    return headers, [[cell(r.get(COLUMNS[k].key)) for k in keys] for r in records]


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(cell_len(text) for text in column) for column in zip(headers, *rows)]


def _width(widths: list[int], gap: int) -> int:
    return sum(widths) + gap * (len(widths) - 1)


def _table(records: list[Record], keys: list[str], headers: list[str], rows: list[list[str]],
           widths: list[int], gap: int) -> Table:
    table = Table(title=f"{len(records)} run(s)", box=None, pad_edge=False, header_style="bold",
                  padding=(0, gap, 0, 0))
    for key, header, w in zip(keys, headers, widths):
        text = COLUMNS[key].text
        table.add_column(header, justify="left" if text else "right", no_wrap=True, overflow="ellipsis",
                         max_width=w if text else None, min_width=None if text else w)
    for row in rows:
        table.add_row(*row)
    return table


def _has(value: Any) -> bool:
    return cell(value) not in ("-", "")


def cell(value: Any) -> str:
    """A stored value as the table shows it: 4 significant digits, `-` for none."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ",".join(value)
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
