"""Trend figures (nightly): one series over time, with its spread, regressions and toolchain
changes. Input: the runs frame of one series, with `latency_p25_ms`/`latency_p75_ms` added by
`dashboards.summary.run_quartiles` where raw samples exist."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboards.figures.common import figure, missing_note, no_data, why_missing

_TOOLCHAIN = ("engine_version", "agent_version")
# Stored nightly verdicts marked besides regressions: verdict -> (legend name, symbol, colour).
_VERDICT_MARKERS = {"improvement": ("improvement", "triangle-down", "#2ca02c"),
                    "unconfirmed": ("unconfirmed (the re-run disagreed)", "circle-open", "#7f7f7f")}


def series_title(runs: pd.DataFrame) -> str:
    """`model · device · variant · scenario, batch N` of a series' runs."""
    first = runs.iloc[0]
    return (f"{first['model_name'] or first['model_sha256'][:12]} · {first['device']} · "
            f"{first['variant']} · {first['scenario']}, batch {first['batch']}")


def split_series(runs: pd.DataFrame) -> list[pd.DataFrame]:
    """The runs of each series (same `series_key`), oldest run first, busiest series first."""
    groups = [g.sort_values("created_at") for _, g in runs.groupby("series_key", sort=False)]
    return sorted(groups, key=lambda g: (-len(g), series_title(g)))


def regression_mask(runs: pd.DataFrame) -> pd.Series:
    """Runs flagged as regressions: a `regression` flag, or a true `regression` column."""
    flagged = runs["flags"].map(lambda f: "regression" in (f or []))
    if "regression" in runs:
        flagged = flagged | runs["regression"].fillna(False).astype(bool)
    return flagged


def toolchain_changes(runs: pd.DataFrame) -> list[tuple[object, str]]:
    """(time, 'what changed') wherever the engine or agent version differs from the previous
    run that recorded one (a failed run that recorded none changes nothing)."""
    found: dict[object, list[str]] = {}
    ordered = runs.sort_values("created_at")
    for column in (c for c in _TOOLCHAIN if c in runs):
        known = ordered[ordered[column].notna()]
        for (_, before), (_, after) in zip(known.iterrows(), known.iloc[1:].iterrows()):
            if before[column] != after[column]:
                found.setdefault(after["created_at"], []).append(
                    f"{column.split('_')[0]} {before[column]} -> {after[column]}")
    return [(when, "; ".join(texts)) for when, texts in sorted(found.items())]


def trend_figure(runs: pd.DataFrame) -> go.Figure:
    """p50 and p99 of one series over time, the p25-p75 band of each run's raw samples,
    regression markers, and a line where the toolchain changed."""
    fig = figure(series_title(runs) if len(runs) else "Trend", "run time (UTC)", "latency (ms)")
    ok = runs[(runs["status"] == "ok") & runs["latency_p50_ms"].notna()].sort_values("created_at")
    if ok.empty:
        return no_data(fig, "no run of this series finished ok")
    _spread(fig, ok)
    fig.add_trace(go.Scatter(x=ok["created_at"], y=ok["latency_p50_ms"], mode="lines+markers",
                             name="p50", customdata=ok["id"],
                             hovertemplate="run %{customdata}: p50 %{y:.4g} ms<extra></extra>"))
    fig.add_trace(go.Scatter(x=ok["created_at"], y=ok["latency_p99_ms"], mode="lines+markers",
                             name="p99", line={"dash": "dash"}, customdata=ok["id"],
                             hovertemplate="run %{customdata}: p99 %{y:.4g} ms<extra></extra>"))
    _markers(fig, ok, regression_mask(ok), "regression", "triangle-up", "#d62728")
    if "verdict" in ok:
        for verdict, (name, symbol, color) in _VERDICT_MARKERS.items():
            _markers(fig, ok, ok["verdict"] == verdict, name, symbol, color)
    stored = stored_changes(runs)
    changes = stored if stored is not None else [(w, f"toolchain: {t}") for w, t in toolchain_changes(runs)]
    for when, text in changes:
        fig.add_vline(x=when, line_dash="dot", line_color="#8c564b")
        fig.add_annotation(x=when, y=1, yref="paper", text=text,
                           showarrow=False, xanchor="left", font={"size": 10, "color": "#8c564b"})
    if len(ok) == 1:
        fig.add_annotation(text="a single run: no trend yet", x=0.99, y=0.98, xref="paper",
                           yref="paper", xanchor="right", showarrow=False)
    failed = runs[runs["status"] != "ok"]
    return missing_note(fig, [f"run {i} ({why_missing(s, e)})" for i, s, e in
                              zip(failed["id"], failed["status"], failed["error"])],
                        what="failed runs, not drawn")


def stored_changes(runs: pd.DataFrame) -> list[tuple[object, str]] | None:
    """(time, text) of the toolchain and device changes a nightly stored with its verdicts
    (`change` column, see `dashboards.data.nightly_frame`); None for runs without verdicts."""
    if "change" not in runs:
        return None
    marked = runs[runs["change"].notna()].sort_values("created_at")
    return list(zip(marked["created_at"], marked["change"]))


def _markers(fig: go.Figure, ok: pd.DataFrame, mask: pd.Series, name: str, symbol: str,
             color: str) -> None:
    chosen = ok[mask.fillna(False).astype(bool)]
    if chosen.empty:
        return
    notes = chosen["verdict_note"].fillna(name) if "verdict_note" in chosen else [name] * len(chosen)
    fig.add_trace(go.Scatter(x=chosen["created_at"], y=chosen["latency_p50_ms"], mode="markers",
                             name=name, customdata=chosen["id"], text=list(notes),
                             marker={"symbol": symbol, "size": 16, "color": color},
                             hovertemplate="run %{customdata}: %{text}<extra></extra>"))


def _spread(fig: go.Figure, ok: pd.DataFrame) -> None:
    if "latency_p25_ms" not in ok or ok["latency_p25_ms"].isna().all():
        return
    band = ok.dropna(subset=["latency_p25_ms", "latency_p75_ms"])
    fig.add_trace(go.Scatter(x=band["created_at"], y=band["latency_p75_ms"], mode="lines",
                             line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=band["created_at"], y=band["latency_p25_ms"], mode="lines",
                             line={"width": 0}, fill="tonexty", fillcolor="rgba(31,119,180,0.2)",
                             name="p25-p75 of each run", hoverinfo="skip"))
