"""HTML building blocks: the self-contained document, figure blocks, tables, the trend filters.

plotly.js is inlined once in the document head and every figure is written without it, so a
page opens from file:// with no network, however many figures it holds.
"""

from __future__ import annotations

import html
import itertools
import math
from typing import Any, Iterable

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dashboards.figures.common import has_data, no_data_reason, title_of

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#fff8e6;border:1px solid #f0c36d;padding:10px 14px;margin:12px 0}
.no-data{background:#fafafa;border:1px dashed #bbb;padding:16px;margin:12px 0;color:#7a4b00}
.reco{background:#eef7ee;border:1px solid #7cbf7c;padding:10px 14px;font-size:15px}
.filters select{margin-right:16px} pre{background:#f6f6f6;padding:8px;overflow:auto}
"""
_FILTER_JS = """
function benchFilter(){
  const want={};
  document.querySelectorAll('.filters select').forEach(s=>{want[s.name]=s.value;});
  document.querySelectorAll('.series').forEach(el=>{
    const show=Object.keys(want).every(k=>!want[k]||el.dataset[k]===want[k]);
    el.style.display=show?'':'none';
    if(show){el.querySelectorAll('.js-plotly-plot').forEach(g=>Plotly.Plots.resize(g));}
  });
}
"""
_ids = itertools.count()


def document(title: str, blocks: Iterable[str]) -> str:
    """A whole HTML page: plotly.js inlined once, then the blocks in order."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script>"
            f"<script>{_FILTER_JS}</script></head><body>"
            + "\n".join(blocks) + "</body></html>")


def figure_block(fig: go.Figure) -> str:
    """A figure as a div; a figure with no data point becomes a note saying why instead."""
    if not has_data(fig):
        reason = no_data_reason(fig) or "nothing to draw"
        return (f"<div class='no-data'><b>{html.escape(title_of(fig))}</b><br>"
                f"no data: {html.escape(reason)}</div>")
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig{next(_ids)}",
                       config={"displaylogo": False, "responsive": True})


def heading(text: str, level: int = 2) -> str:
    """An <hN> heading."""
    return f"<h{level}>{html.escape(text)}</h{level}>"


def paragraph(text: str, css: str | None = None) -> str:
    """A paragraph of escaped text, optionally in a styled box."""
    cls = f" class='{css}'" if css else ""
    return f"<p{cls}>{html.escape(text)}</p>"


def cell(value: Any) -> str:
    """One table cell's text: 4 significant digits, '-' for a missing number (never 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def table(frame: pd.DataFrame, columns: dict[str, str]) -> str:
    """A table of the frame's `columns` (column -> header); missing columns are skipped."""
    cols = [c for c in columns if c in frame]
    head = "".join(f"<th>{html.escape(columns[c])}</th>" for c in cols)
    rows = []
    for rec in frame[cols].to_dict("records"):
        tds = "".join(f"<td{_num_class(rec[c])}>{html.escape(cell(rec[c]))}</td>" for c in cols)
        rows.append(f"<tr>{tds}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _num_class(value: Any) -> str:
    return " class='num'" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def key_values(pairs: dict[str, Any]) -> str:
    """A two-column table of name and value."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(cell(v))}</td></tr>"
                   for k, v in pairs.items())
    return f"<table>{rows}</table>"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: {"power": {"sensor": "x"}} -> {"power.sensor": "x"}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if not isinstance(value, dict) else "-"
    return out


def filters(options: dict[str, list[str]]) -> str:
    """Drop-down filters (name -> choices) that show only the `.series` blocks that match."""
    parts = []
    for name, choices in options.items():
        opts = "".join(f"<option value='{html.escape(c, quote=True)}'>{html.escape(c)}</option>"
                       for c in sorted(choices))
        parts.append(f"<label>{html.escape(name)} <select name='{name}' onchange='benchFilter()'>"
                     f"<option value=''>all</option>{opts}</select></label>")
    return f"<div class='filters'>{''.join(parts)}</div>"


def series_block(attrs: dict[str, str], inner: str) -> str:
    """A block the trend filters can hide, tagged with data-<name> attributes."""
    data = " ".join(f"data-{k}='{html.escape(v, quote=True)}'" for k, v in attrs.items())
    return f"<div class='series' {data}>{inner}</div>"


def preformatted(text: str) -> str:
    """A <pre> block (tracebacks)."""
    return f"<pre>{html.escape(text)}</pre>"
