"""The pages: study (chip selection), trend (nightly), run, and all runs. Frames in, HTML out.

Each page is one self-contained HTML string (see `dashboards.html.document`); `dashboards.build`
reads the database and calls these.
"""

from __future__ import annotations

import pandas as pd

from agents.spec import RunResult
from dashboards import figures as F
from dashboards import html as H
from dashboards.summary import variant_summary

_VARIANT_TABLE = {"device": "device", "variant": "variant", "runs": "runs", "ok_runs": "ok",
                  "status": "status", "latency_p50_ms": "p50 ms", "latency_p99_ms": "p99 ms",
                  "throughput_ips": "throughput /s", "power_avg_w": "power W",
                  "energy_per_inference_j": "J/inference", "inferences_per_j": "inferences/J",
                  "cost_per_million": "cost /10^6 inf", "error": "error"}
_RUN_METRICS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms",
                "latency_mean_ms", "latency_cv", "throughput_ips", "iterations",
                "cold_start_ms", "first_inference_ms", "warmup_iterations", "power_avg_w",
                "energy_per_inference_j", "inferences_per_j", "peak_rss_mb")


def study_sections(runs: pd.DataFrame, stats: pd.DataFrame, slo_p99_ms: float | None) -> list[str]:
    """The chip-selection blocks: recommendation, variant table and every study figure.

    Args:
        runs: the runs frame (`dashboards.data.runs_frame`).
        stats: per-variant box statistics of the raw samples (`dashboards.summary.box_stats`).
        slo_p99_ms: the latency objective of the recommendation, if any.
    """
    summary = variant_summary(runs)
    extra = {c: c.replace("accuracy_", "acc. ") for c in summary if c.startswith("accuracy_")}
    failed = int((runs["status"] != "ok").sum())
    return [H.paragraph(F.recommend(runs, slo_p99_ms), "reco"),
            H.paragraph(f"{len(runs)} run(s), {len(summary)} variant(s), {failed} failed run(s)."),
            H.heading("Variants (medians over ok runs)"),
            H.table(summary, {**_VARIANT_TABLE, **extra}),
            H.heading("Latency"),
            H.figure_block(F.latency_heatmap(runs)),
            H.figure_block(F.latency_distributions(stats)),
            H.figure_block(F.throughput_vs_latency(runs)),
            H.heading("Energy, cost and accuracy"),
            H.figure_block(F.energy_bars(runs)),
            H.figure_block(F.cost_bars(runs)),
            H.figure_block(F.accuracy_bars(runs)),
            H.heading("Pareto fronts"),
            H.figure_block(F.pareto_figure(runs, "energy_per_inference_j", slo_p99_ms)),
            H.figure_block(F.pareto_figure(runs, "cost_per_million", slo_p99_ms))]


def study_page(title: str, runs: pd.DataFrame, stats: pd.DataFrame,
               slo_p99_ms: float | None = None) -> str:
    """The chip-selection page of one study."""
    return H.document(title, [H.heading(title, 1), *study_sections(runs, stats, slo_p99_ms)])


def trend_sections(runs: pd.DataFrame) -> list[str]:
    """Filters by device, engine and model, then one trend figure per series."""
    series = F.split_series(runs)
    if not series:
        return [H.paragraph("no data: no runs selected", "no-data")]
    pick = {"device": "device", "engine": "engine", "model": "model_name"}
    blocks = [H.filters({k: sorted({str(v) for v in runs[c].dropna()}) for k, c in pick.items()})]
    for one in series:
        first = one.iloc[0]
        attrs = {k: str(first[c]) for k, c in pick.items()}
        blocks.append(H.series_block(attrs, H.figure_block(F.trend_figure(one))))
    return blocks


def trend_page(title: str, runs: pd.DataFrame) -> str:
    """The nightly page: every series of the selected runs over time."""
    n = runs["series_key"].nunique()
    return H.document(title, [H.heading(title, 1),
                              H.paragraph(f"{len(runs)} run(s) in {n} series."),
                              *trend_sections(runs)])


def all_page(runs: pd.DataFrame, stats: pd.DataFrame, slo_p99_ms: float | None = None) -> str:
    """Every stored run: the study figures over all of them, then every series' trend."""
    title = "benchlab: all runs"
    return H.document(title, [H.heading(title, 1), *study_sections(runs, stats, slo_p99_ms),
                              H.heading("Trends by series"), *trend_sections(runs)])


def run_page(run_id: int, result: RunResult) -> str:
    """One run: status, metrics, latency figures, power trace, phases, environment."""
    spec = result.job
    what = (f"{spec.model.name} · {spec.device} · {spec.variant.engine} {spec.variant.precision}"
            if spec else result.job_id)
    title = f"run {run_id}: {what}"
    blocks = [H.heading(title, 1), H.paragraph(_status_line(result),
                                               None if result.status == "ok" else "note")]
    if result.traceback:
        blocks.append(H.preformatted(result.traceback))
    metrics = {k: result.metrics.get(k) for k in _RUN_METRICS if k in result.metrics}
    blocks += [H.heading("Metrics"), H.key_values(metrics) if metrics else
               H.paragraph("no data: no metric was measured", "no-data"),
               H.heading("Latency"), H.figure_block(F.latency_histogram(result)),
               H.figure_block(F.latency_over_iterations(result)),
               H.heading("Power"), H.figure_block(F.power_trace(result)),
               H.heading("Phases"), H.figure_block(F.phases(result)),
               H.heading("Environment and compile details"),
               H.key_values(H.flatten({"variant": spec.variant.__dict__ if spec else {},
                                       "engine_config": result.engine_config,
                                       "environment": result.environment}))]
    return H.document(title, blocks)


def _status_line(result: RunResult) -> str:
    flags = f"; flags: {', '.join(result.flags)}" if result.flags else ""
    error = f": {result.error}" if result.error else ""
    return (f"status {result.status}{error}{flags}; started {result.started_at or '-'}, "
            f"attempt {result.attempt}")
