"""Figures of a study (chip selection): DataFrame of runs in, plotly Figure out, no I/O.

Each function takes the runs frame of `dashboards.data.runs_frame` (one row per run) unless
its docstring says otherwise, and aggregates per (device, variant) with `variant_summary`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.figures.common import figure, missing_note, no_data, why_missing
from dashboards.summary import accuracy_columns, variant_summary


def latency_heatmap(runs: pd.DataFrame) -> go.Figure:
    """p50 and p99 latency of each device (rows) x variant (columns); failed cells name their
    status instead of a colour."""
    fig = make_subplots(rows=2, cols=1, subplot_titles=("p50 latency (ms)", "p99 latency (ms)"),
                        vertical_spacing=0.25)
    fig.update_layout(title={"text": "Latency by device and variant", "x": 0.01},
                      template="plotly_white", height=max(480, 260 + 80 * runs["device"].nunique()))
    if runs.empty:
        return no_data(fig, "no runs selected")
    summary = variant_summary(runs)
    if summary["latency_p50_ms"].isna().all():
        return no_data(fig, "no variant finished ok: " + "; ".join(
            f"{v} ({why_missing(s, e)})" for v, s, e in
            zip(summary["label"], summary["status"], summary["error"]))[:300])
    grid = {c: summary.pivot(index="device", columns="variant", values=c)
            for c in ("latency_p50_ms", "latency_p99_ms", "status")}
    for row, metric in enumerate(("latency_p50_ms", "latency_p99_ms"), start=1):
        z = grid[metric]
        text = [[f"{v:.3g}" if v == v else (s if isinstance(s, str) else "not run")
                 for v, s in zip(zr, sr)] for zr, sr in zip(z.values, grid["status"].values)]
        fig.add_trace(go.Heatmap(z=z.values, x=list(z.columns), y=list(z.index), text=text,
                                 texttemplate="%{text}", colorscale="Viridis",
                                 colorbar={"y": 0.82 if row == 1 else 0.18, "len": 0.4},
                                 hovertemplate="%{y} / %{x}: %{text} ms<extra></extra>"),
                      row=row, col=1)
    return fig


def latency_distributions(stats: pd.DataFrame) -> go.Figure:
    """Box plots drawn from raw samples.

    Args:
        stats: `dashboards.summary.box_stats` output: one row per variant with p1, p25, p50,
            p75, p99, mean, samples and runs.
    """
    fig = figure("Latency distribution (raw samples; box p25-p75, whiskers p1-p99)",
                 y_title="latency (ms)")
    if stats.empty:
        return no_data(fig, "no run stored raw latency samples (every variant failed?)")
    fig.add_trace(go.Box(x=list(stats["label"]), q1=stats["p25"], median=stats["p50"],
                         q3=stats["p75"], lowerfence=stats["p1"], upperfence=stats["p99"],
                         mean=stats["mean"], name="latency", boxpoints=False,
                         customdata=np.stack([stats["samples"], stats["runs"]], axis=1),
                         hovertemplate="%{x}<br>median %{median:.4g} ms<br>"
                                       "%{customdata[0]} samples of %{customdata[1]} run(s)"
                                       "<extra></extra>"))
    fig.update_yaxes(type="log")
    return fig


def throughput_vs_latency(runs: pd.DataFrame) -> go.Figure:
    """One point per ok run: p50 latency against throughput, a trace per variant."""
    fig = figure("Throughput against latency (one point per run)", "p50 latency (ms)",
                 "throughput (inferences/s)")
    ok = runs[(runs["status"] == "ok") & runs["throughput_ips"].notna()]
    if ok.empty:
        return no_data(fig, "no run finished ok")
    for variant, group in ok.groupby("variant", sort=True):
        fig.add_trace(go.Scatter(x=group["latency_p50_ms"], y=group["throughput_ips"],
                                 mode="markers", name=variant, text=group["device"],
                                 hovertemplate="%{text}: %{x:.4g} ms, %{y:.4g}/s<extra></extra>"))
    failed = runs[runs["status"] != "ok"].drop_duplicates(["device", "variant"])
    return missing_note(fig, [f"{v} ({why_missing(s, e)})" for v, s, e in
                              zip(failed["variant"], failed["status"], failed["error"])])


def _metric_bars(summary: pd.DataFrame, metric: str, fig: go.Figure, reason_all: str,
                 row: int | None = None, name: str | None = None) -> list[str]:
    """Bars of one metric per variant; returns the labels of variants without a value."""
    have = summary[summary[metric].notna()]
    if not have.empty:
        trace = go.Bar(x=have["label"], y=have[metric], name=name or metric,
                       hovertemplate="%{x}: %{y:.4g}<extra></extra>")
        fig.add_trace(trace, row=row, col=1) if row else fig.add_trace(trace)
    lost = summary[summary[metric].isna()]
    return [f"{lab} ({why_missing(s, e, r or reason_all)})" for lab, s, e, r in
            zip(lost["label"], lost["status"], lost["error"],
                lost["power_reason"])]


def energy_bars(runs: pd.DataFrame) -> go.Figure:
    """Energy per inference (J) and inferences per joule of each variant."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("energy per inference (J)", "inferences per joule"))
    fig.update_layout(title={"text": "Energy", "x": 0.01}, template="plotly_white",
                      height=560, showlegend=False)
    summary = variant_summary(runs) if not runs.empty else None
    if summary is None or summary["energy_per_inference_j"].isna().all():
        reasons = sorted(set(summary["power_reason"].dropna())) if summary is not None else []
        return no_data(fig, "no run measured power" + (f" ({'; '.join(reasons)[:160]})"
                                                        if reasons else " (no power sensor)"))
    missing = _metric_bars(summary, "energy_per_inference_j", fig, "no power sensor", row=1)
    _metric_bars(summary, "inferences_per_j", fig, "no power sensor", row=2)
    return missing_note(fig, missing)


def cost_bars(runs: pd.DataFrame) -> go.Figure:
    """Cost per million inferences of each variant, from the devices' cost fields."""
    fig = figure("Cost per million inferences", y_title="cost per 10^6 inferences")
    summary = variant_summary(runs) if not runs.empty else None
    if summary is None or summary["cost_per_million"].isna().all():
        return no_data(fig, "cost data is missing: no device of these runs has a cost_per_hour "
                            "or price in the inventory")
    missing = _metric_bars(summary, "cost_per_million", fig, "device has no cost")
    return missing_note(fig, missing)


def accuracy_bars(runs: pd.DataFrame) -> go.Figure:
    """Accuracy drop of each variant against the fp32 reference: 1 - cosine similarity,
    max abs error and top-1 disagreement, from the `accuracy_*` metrics."""
    fig = figure("Accuracy drop against the fp32 reference", y_title="drop (lower is better)")
    columns = accuracy_columns(runs)
    if runs.empty or not columns or runs[columns].isna().all().all():
        return no_data(fig, "no accuracy metrics stored (accuracy checks come with compiled "
                            "fp16/int8 variants; fp32 runs are their own reference)")
    summary = variant_summary(runs)
    for column in columns:
        have = summary[summary[column].notna()]
        if have.empty:
            continue
        drop, name = _as_drop(have[column], column)
        fig.add_trace(go.Bar(x=have["label"], y=drop, name=name,
                             hovertemplate="%{x}: %{y:.3g}<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group")
    lost = summary[summary[columns].isna().all(axis=1)]
    return missing_note(fig, [f"{lab} (no accuracy check)" for lab in lost["label"]]
                        if len(lost) else [])


def _as_drop(values: pd.Series, column: str) -> tuple[pd.Series, str]:
    # Similarities and agreements are 1 when perfect: draw their shortfall so that every bar
    # reads the same way (higher = more accuracy lost).
    if "cosine" in column or "top1" in column or "agreement" in column:
        return 1.0 - values, f"1 - {column}"
    return values, column
