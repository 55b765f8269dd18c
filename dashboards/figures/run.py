"""Figures of one run: latency histogram, latency over iterations, power trace, phases.

Input is a RunResult (as `results.ingest.stored_result` rebuilds it); no I/O. Only measured
samples are stored: warm-up iterations are counted in the metrics but their latencies are not
kept, so the warm-up is drawn as a marked span before iteration 0, never as invented points.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from agents.spec import RunResult
from dashboards.figures.common import figure, no_data, why_missing

MAX_POINTS = 4000  # beyond this, latency over iterations is drawn as per-bin median and max
_PHASES = ("idle", "compile", "load", "first_inference", "warmup", "measure")


def _no_samples(result: RunResult) -> str:
    if result.status != "ok":
        return f"the run failed ({why_missing(result.status, result.error)})"
    return "the run stored no raw latency samples"


def latency_histogram(result: RunResult) -> go.Figure:
    """Histogram of the measured latencies, with p50 and p99 marked."""
    fig = figure("Latency histogram (measured samples)", "latency (ms)", "samples")
    samples_ms = result.latencies_ns() / 1e6
    if samples_ms.size == 0:
        return no_data(fig, _no_samples(result))
    fig.add_trace(go.Histogram(x=samples_ms, nbinsx=120, name="samples",
                               marker={"color": "#1f77b4"}))
    for q, dash in ((50, "solid"), (99, "dash")):
        fig.add_vline(x=float(np.percentile(samples_ms, q)), line_dash=dash, line_color="#d62728",
                      annotation_text=f"p{q}")
    fig.update_layout(showlegend=False)
    return fig


def latency_over_iterations(result: RunResult) -> go.Figure:
    """Each measured latency against its iteration index, after a marked warm-up span."""
    fig = figure("Latency over iterations", "iteration (0 = first measured)", "latency (ms)")
    samples_ms = result.latencies_ns() / 1e6
    if samples_ms.size == 0:
        return no_data(fig, _no_samples(result))
    if samples_ms.size <= MAX_POINTS:
        fig.add_trace(go.Scatter(x=np.arange(samples_ms.size), y=samples_ms, mode="lines",
                                 name="latency", line={"width": 1}))
    else:
        _binned(fig, samples_ms)
    _warmup_span(fig, result)
    return fig


def _binned(fig: go.Figure, samples_ms: np.ndarray) -> None:
    width = math.ceil(samples_ms.size / (MAX_POINTS // 2))
    usable = samples_ms[: samples_ms.size // width * width].reshape(-1, width)
    x = np.arange(usable.shape[0]) * width
    fig.add_trace(go.Scatter(x=x, y=usable.max(axis=1), mode="lines", name=f"max of {width}",
                             line={"width": 1, "color": "#aec7e8"}))
    fig.add_trace(go.Scatter(x=x, y=np.median(usable, axis=1), mode="lines",
                             name=f"median of {width}", line={"width": 1, "color": "#1f77b4"}))


def _warmup_span(fig: go.Figure, result: RunResult) -> None:
    n = result.metrics.get("warmup_iterations")
    seconds = result.phases_s.get("warmup")
    if not n:
        fig.add_annotation(text="warm-up: not recorded; samples start after it", x=0.01, y=0.98,
                           xref="paper", yref="paper", xanchor="left", showarrow=False)
        return
    fig.add_vrect(x0=-int(n), x1=0, fillcolor="#ff7f0e", opacity=0.12, line_width=0)
    fig.add_annotation(x=-int(n) / 2, y=0.98, yref="paper", showarrow=False,
                       text=f"warm-up: {int(n)} it" + (f", {seconds:.3g} s" if seconds else "")
                            + "<br>(latencies not stored)", font={"size": 10})
    first = result.metrics.get("first_inference_ms")
    if first is not None:
        fig.add_trace(go.Scatter(x=[-int(n) - 1], y=[first], mode="markers",
                                 name="first inference (cold)",
                                 marker={"symbol": "star", "size": 12, "color": "#ff7f0e"}))


def power_trace(result: RunResult) -> go.Figure:
    """Total (summed rails) and per-rail power over time, the measured window shaded."""
    fig = figure("Power trace", "time (s, from the first sample)", "power (W)")
    trace = result.power_trace
    if not trace or not trace.get("t_s"):
        reason = (result.environment.get("power") or {}).get("reason")
        return no_data(fig, reason or "no power sensor sampled this run")
    t = trace["t_s"]
    # From zero: an honest scale, and plotly mis-draws the axis of several equal flat lines.
    fig.update_yaxes(rangemode="tozero")
    fig.add_trace(go.Scatter(x=t, y=trace["power_w"], mode="lines", name="total (summed rails)"))
    for rail, watts in (trace.get("rails") or {}).items():
        if len(trace.get("rails")) > 1:
            fig.add_trace(go.Scatter(x=t, y=watts, mode="lines", name=rail, line={"width": 1}))
    window = trace.get("window_s")
    if window:
        fig.add_vrect(x0=window[0], x1=window[1], fillcolor="#2ca02c", opacity=0.15,
                      line_width=0, annotation_text="measured window",
                      annotation_position="top left")
    idle = result.metrics.get("power_idle_w")
    if idle is not None:  # a trace, not an hline: plotly mis-lays an hline annotation on flat data
        fig.add_trace(go.Scatter(x=[t[0], t[-1]], y=[idle, idle], mode="lines",
                                 name=f"idle power {idle:.3g} W (measured before the run)",
                                 line={"dash": "dot", "color": "#7f7f7f"}))
    return fig


def phases(result: RunResult) -> go.Figure:
    """How long each phase took: idle power, compile, load, first inference, warm-up, measure."""
    fig = figure("Phases (s)", "seconds", height_px=300)
    names = [p for p in _PHASES if result.phases_s.get(p) is not None]
    names += sorted(set(result.phases_s) - set(_PHASES))
    if not names:
        return no_data(fig, f"no phase was timed ({why_missing(result.status, result.error)})")
    fig.add_trace(go.Bar(y=names, x=[result.phases_s[p] for p in names], orientation="h",
                         hovertemplate="%{y}: %{x:.4g} s<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return fig
