"""Pareto fronts (p99 latency against energy and against cost) and the one-line recommendation."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from dashboards.figures.common import figure, missing_note, no_data, why_missing
from dashboards.summary import pareto_mask, variant_summary

_AXES = {"energy_per_inference_j": ("energy per inference (J)", "no run measured power"),
         "cost_per_million": ("cost per 10^6 inferences",
                              "cost data is missing: no device has a cost_per_hour or price")}


def pareto_figure(runs: pd.DataFrame, metric: str, slo_p99_ms: float | None = None) -> go.Figure:
    """Variants as points of p99 latency against `metric` (energy_per_inference_j or
    cost_per_million), the non-dominated ones joined as the front; the SLO as a line."""
    y_title, reason = _AXES[metric]
    fig = figure(f"Pareto front: p99 latency against {y_title}", "p99 latency (ms)", y_title)
    summary = variant_summary(runs) if not runs.empty else None
    points = summary.dropna(subset=["latency_p99_ms", metric]) if summary is not None else None
    if points is None or points.empty:
        return no_data(fig, reason)
    on = pareto_mask(points["latency_p99_ms"].to_numpy(), points[metric].to_numpy())
    for name, part, style in (("variant", points[~on], {"size": 9, "color": "#9aa5b1"}),
                              ("Pareto front", points[on], {"size": 12, "color": "#d62728"})):
        if len(part):
            fig.add_trace(go.Scatter(x=part["latency_p99_ms"], y=part[metric], text=part["label"],
                                     mode="markers", name=name, marker=style,
                                     hovertemplate="%{text}: p99 %{x:.4g} ms, %{y:.4g}<extra></extra>"))
    front = points[on].sort_values("latency_p99_ms")
    fig.add_trace(go.Scatter(x=front["latency_p99_ms"], y=front[metric], mode="lines",
                             line={"color": "#d62728", "dash": "dot"}, showlegend=False,
                             hoverinfo="skip"))
    if slo_p99_ms is not None:
        fig.add_vline(x=slo_p99_ms, line_dash="dash", line_color="#2ca02c",
                      annotation_text=f"SLO p99 {slo_p99_ms:g} ms")
    lost = summary.drop(points.index)
    return missing_note(fig, [f"{lab} ({why_missing(s, e, r)})" for lab, s, e, r in
                              zip(lost["label"], lost["status"],
                                  lost["error"], lost["power_reason"])])


def recommend(runs: pd.DataFrame, slo_p99_ms: float | None) -> str:
    """One line: the cheapest variant whose p99 meets the objective (the most energy-efficient
    when no device has a cost, the fastest when no run measured power either), or, when none
    meets it, which one comes closest."""
    summary = variant_summary(runs) if not runs.empty else pd.DataFrame()
    ok = summary[summary["latency_p99_ms"].notna()] if len(summary) else summary
    if ok.empty:
        return "No variant finished ok with latency figures: nothing to recommend."
    if slo_p99_ms is None:
        return "No latency objective given (--slo-p99-ms): " + _best(ok, "overall")
    meets = ok[ok["latency_p99_ms"] <= slo_p99_ms]
    if meets.empty:
        close = ok.loc[ok["latency_p99_ms"].idxmin()]
        return (f"No variant meets p99 <= {slo_p99_ms:g} ms; the closest is {close['label']} "
                f"at p99 {close['latency_p99_ms']:.4g} ms "
                f"({close['latency_p99_ms'] / slo_p99_ms:.2f}x the objective).")
    return (f"For p99 <= {slo_p99_ms:g} ms ({len(meets)} of {len(ok)} variants meet it): "
            + _best(meets, "that meets it"))


def _best(cands: pd.DataFrame, scope: str) -> str:
    for metric, word, unit in (("cost_per_million", "cheapest", "per 10^6 inferences"),
                               ("energy_per_inference_j", "most energy-efficient", "J/inference"),
                               ("latency_p50_ms", "fastest", "ms p50")):
        have = cands[cands[metric].notna()]
        if have.empty:
            continue
        best = have.loc[have[metric].idxmin()]
        basis = "" if metric == "cost_per_million" else (
            " (no cost data)" if metric.startswith("energy") else " (no cost or power data)")
        return (f"{best['label']} is the {word} {scope}{basis}: {_num(best[metric])} {unit}, "
                f"p99 {best['latency_p99_ms']:.4g} ms.")
    return "no variant has comparable figures."


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "-"
