"""Plotly figures as pure functions: a DataFrame (or a RunResult) in, a Figure out.

One module per page's worth of figures, so that each stays small: `study` (chip selection),
`pareto` (fronts and the recommendation), `trend` (nightly series), `run` (one run), and
`common` (layout and the missing-data conventions every figure follows).
"""

from dashboards.figures.common import has_data, no_data_reason
from dashboards.figures.pareto import pareto_figure, recommend
from dashboards.figures.run import latency_histogram, latency_over_iterations, phases, power_trace
from dashboards.figures.study import (accuracy_bars, cost_bars, energy_bars, latency_distributions,
                                      latency_heatmap, throughput_vs_latency)
from dashboards.figures.trend import split_series, trend_figure

__all__ = ["accuracy_bars", "cost_bars", "energy_bars", "has_data", "latency_distributions",
           "latency_heatmap", "latency_histogram", "latency_over_iterations", "no_data_reason",
           "pareto_figure", "phases", "power_trace", "recommend", "split_series",
           "throughput_vs_latency", "trend_figure"]
