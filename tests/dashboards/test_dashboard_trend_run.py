"""Trend and run figures, and the page shell, as pure functions."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from agents.spec import RunResult
from dashboards import figures as F
from dashboards import html as H
from dashboards.figures.run import MAX_POINTS
from dashboards.figures.trend import regression_mask, toolchain_changes
from dashboards.summary import run_quartiles


def _series(runs_of):
    return runs_of([
        {"latency_p50_ms": 1.0, "latency_p99_ms": 1.5},
        {"status": "infra-error", "error": "board lost", "engine_version": None},
        {"latency_p50_ms": 1.1, "latency_p99_ms": 1.6},
        {"latency_p50_ms": 1.5, "latency_p99_ms": 2.0, "flags": ["regression"],
         "engine_version": "1.1"},
    ])


def test_trend_marks_regressions_and_toolchain_changes(runs_of):
    runs = _series(runs_of)
    fig = F.trend_figure(runs)
    names = {t.name: t for t in fig.data}
    assert list(names["p50"].y) == [1.0, 1.1, 1.5] and list(names["p99"].y) == [1.5, 1.6, 2.0]
    assert list(names["regression"].customdata) == [4]
    texts = [a.text for a in fig.layout.annotations]
    assert "toolchain: engine 1.0 -> 1.1" in texts
    assert any("run 2 (infra-error: board lost)" in t for t in texts)
    # the failed run recorded no version: it is not a change of toolchain
    assert [w for w, _ in toolchain_changes(runs)] == [runs["created_at"][3]]
    assert regression_mask(runs).tolist() == [False, False, False, True]


def test_trend_spread_is_p25_to_p75_of_each_runs_samples(runs_of):
    runs = run_quartiles(_series(runs_of), {1: np.arange(101.0), 3: np.arange(101.0) + 1})
    fig = F.trend_figure(runs)
    upper, lower = fig.data[0], fig.data[1]
    assert list(upper.y) == [75.0, 76.0] and list(lower.y) == [25.0, 26.0]
    assert lower.fill == "tonexty"


def test_single_run_and_failed_series_are_readable(runs_of):
    one = F.trend_figure(runs_of([{"latency_p50_ms": 1.0, "latency_p99_ms": 2.0}]))
    assert F.has_data(one)
    assert "a single run: no trend yet" in [a.text for a in one.layout.annotations]
    failed = F.trend_figure(runs_of([{"status": "model-error"}]))
    assert F.no_data_reason(failed) == "no run of this series finished ok"


def test_split_series_orders_busiest_first(runs_of):
    runs = runs_of([{"series_key": "x"}, {"series_key": "y"}, {"series_key": "y"}])
    assert [len(s) for s in F.split_series(runs)] == [2, 1]


def _result(n_samples: int, power: bool = True) -> RunResult:
    r = RunResult(job_id="j", status="ok",
                  metrics={"warmup_iterations": 50, "first_inference_ms": 9.0,
                           "power_idle_w": 2.0 if power else None},
                  phases_s={"load": 0.01, "warmup": 0.05, "measure": 0.3})
    r.set_latencies_ns(np.full(n_samples, 1_000_000, dtype=np.int64))
    if power:
        r.power_trace = {"t_s": [0.0, 0.1, 0.2, 0.3], "power_w": [2.0, 7.0, 7.0, 2.0],
                         "rails": {"r1": [1.0, 3.0, 3.0, 1.0], "r2": [1.0, 4.0, 4.0, 1.0]},
                         "window_s": [0.05, 0.25]}
    else:
        r.environment["power"] = {"sensor": None, "reason": "no RAPL domain readable"}
    return r


def test_run_latency_figures_show_samples_and_the_unstored_warmup():
    result = _result(300)
    hist = F.latency_histogram(result)
    assert len(hist.data[0].x) == 300 and hist.data[0].x[0] == pytest.approx(1.0)
    over = F.latency_over_iterations(result)
    line, first = over.data
    assert len(line.y) == 300 and first.x[0] == -51 and first.y[0] == 9.0
    (span,) = over.layout.shapes
    assert (span.x0, span.x1) == (-50, 0)
    assert "latencies not stored" in over.layout.annotations[0].text


def test_long_runs_are_binned_not_dropped():
    over = F.latency_over_iterations(_result(MAX_POINTS * 10))
    assert {t.name for t in over.data} >= {"median of 20", "max of 20"}
    assert len(over.data[0].x) == MAX_POINTS // 2


def test_power_trace_shades_the_measured_window_and_draws_rails():
    fig = F.power_trace(_result(10))
    assert [t.name for t in fig.data][:3] == ["total (summed rails)", "r1", "r2"]
    window = next(s for s in fig.layout.shapes if s.type == "rect")
    assert (window.x0, window.x1) == (0.05, 0.25)
    assert F.no_data_reason(F.power_trace(_result(10, power=False))) == "no RAPL domain readable"


def test_failed_run_figures_say_why():
    failed = RunResult(job_id="j", status="infra-error", error="device NPU not found")
    for make in (F.latency_histogram, F.latency_over_iterations, F.phases):
        assert "infra-error: device NPU not found" in F.no_data_reason(make(failed))


def test_document_inlines_plotlyjs_once_and_turns_empty_figures_into_notes():
    full = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    empty = F.energy_bars(pd.DataFrame())
    page = H.document("t", [H.figure_block(full), H.figure_block(full), H.figure_block(empty)])
    assert page.count(get_plotlyjs()[:200]) == 1
    assert page.count("Plotly.newPlot") == 2
    assert "<div class='no-data'><b>Energy</b><br>no data: no run measured power" in page


def test_table_cells_never_turn_missing_numbers_into_zero():
    html = H.table(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x", None]}), {"a": "A", "b": "B"})
    assert "1.235" in html and html.count(">-</td>") == 2 and ">0<" not in html
