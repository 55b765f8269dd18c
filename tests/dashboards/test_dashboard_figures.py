"""Study figures and the recommendation as DataFrame -> Figure / str, on hand-made frames."""

import numpy as np
import pytest

from dashboards import figures as F
from dashboards.summary import AMORTISATION_H, box_stats, pareto_mask, variant_summary


def _study(runs_of, **extra):
    """Two devices x two variants, one failed cell, power on device a only."""
    return runs_of([
        {"device": "a", "latency_p50_ms": 1.0, "latency_p99_ms": 2.0, "throughput_ips": 1000.0,
         "energy_per_inference_j": 0.01, "inferences_per_j": 100.0, **extra.get("a", {})},
        {"device": "a", "latency_p50_ms": 3.0, "latency_p99_ms": 4.0, "throughput_ips": 1000.0,
         "energy_per_inference_j": 0.01, "inferences_per_j": 100.0, **extra.get("a", {})},
        {"device": "a", "engine": "openvino", "latency_p50_ms": 0.5, "latency_p99_ms": 0.9,
         "throughput_ips": 2000.0, "energy_per_inference_j": 0.02, "inferences_per_j": 50.0,
         **extra.get("a", {})},
        {"device": "b", "latency_p50_ms": 5.0, "latency_p99_ms": 8.0, "throughput_ips": 200.0,
         "power_reason": "no hwmon device found", **extra.get("b", {})},
        {"device": "b", "engine": "openvino", "status": "infra-error",
         "error": "device NPU not found"},
    ])


def test_heatmap_shows_medians_and_names_failed_cells(runs_of):
    fig = F.latency_heatmap(_study(runs_of))
    p50, p99 = fig.data
    assert list(p50.y) == ["a", "b"] and list(p50.x) == ["onnxruntime fp32", "openvino fp32"]
    assert p50.z[0][0] == 2.0 and p99.z[0][0] == 3.0  # medians of the two runs on a
    assert np.isnan(p50.z[1][1]) and p50.text[1][1] == "infra-error"


def test_heatmap_of_failed_study_says_why(runs_of):
    fig = F.latency_heatmap(runs_of([{"status": "model-error", "error": "NoSuchOp"}]))
    assert not F.has_data(fig)
    assert "model-error: NoSuchOp" in F.no_data_reason(fig)


def test_distribution_boxes_come_from_raw_samples():
    stats = box_stats({"x": [np.arange(1, 51, dtype=float), np.arange(51, 101, dtype=float)]})
    (box,) = F.latency_distributions(stats).data
    assert box.median[0] == pytest.approx(50.5) and box.q1[0] == pytest.approx(25.75)
    assert box.upperfence[0] == pytest.approx(99.01) and stats["samples"][0] == 100
    assert F.no_data_reason(F.latency_distributions(box_stats({}))).startswith("no run stored")


def test_throughput_scatter_has_a_point_per_ok_run_and_lists_failures(runs_of):
    fig = F.throughput_vs_latency(_study(runs_of))
    assert sum(len(t.x) for t in fig.data) == 4
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "openvino fp32 (infra-error: device NPU not found)" in notes


def test_energy_bars_draw_what_was_measured_and_say_what_was_not(runs_of):
    fig = F.energy_bars(_study(runs_of))
    per_inference = fig.data[0]
    assert list(per_inference.x) == ["onnxruntime fp32 @ a", "openvino fp32 @ a"]
    assert list(per_inference.y) == [0.01, 0.02]
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "onnxruntime fp32 @ b (no hwmon device found)" in notes
    assert "openvino fp32 @ b (infra-error" in notes


def test_energy_without_any_sensor_is_no_data_not_zero(runs_of):
    fig = F.energy_bars(runs_of([{"latency_p50_ms": 1.0, "power_reason": "power sampling off"}]))
    assert not F.has_data(fig) and "power sampling off" in F.no_data_reason(fig)


def test_cost_missing_is_said(runs_of):
    assert "cost data is missing" in F.no_data_reason(F.cost_bars(_study(runs_of)))


def test_cost_per_million_from_hourly_cost_and_from_price(runs_of):
    runs = _study(runs_of, a={"cost_per_hour": 3.6}, b={"price": AMORTISATION_H * 1.8})
    summary = variant_summary(runs).set_index(["device", "variant"])
    # 3.6 per hour at 1000 inferences/s: 3.6 / 3.6e6 per inference = 1.0 per million
    assert summary.loc[("a", "onnxruntime fp32"), "cost_per_million"] == pytest.approx(1.0)
    assert summary.loc[("b", "onnxruntime fp32"), "cost_per_million"] == pytest.approx(
        1.8 / (200 * 3600) * 1e6)
    fig = F.cost_bars(runs)
    assert len(fig.data[0].y) == 3
    assert "openvino fp32 @ b (infra-error" in " ".join(a.text for a in fig.layout.annotations)


def test_accuracy_drop_reads_accuracy_metrics(runs_of):
    assert "no accuracy metrics" in F.no_data_reason(F.accuracy_bars(_study(runs_of)))
    runs = runs_of([{"precision": "int8", "accuracy_cosine_min": 0.98,
                     "accuracy_max_abs_error": 0.2}, {"precision": "fp32"}])
    fig = F.accuracy_bars(runs)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name["1 - accuracy_cosine_min"] == [pytest.approx(0.02)]
    assert by_name["accuracy_max_abs_error"] == [0.2]
    assert "onnxruntime fp32 (no accuracy check)" in fig.layout.annotations[0].text


def test_pareto_mask_keeps_only_non_dominated_points():
    x = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    y = np.array([5.0, 2.0, 1.0, 3.0, 6.0])
    assert pareto_mask(x, y).tolist() == [True, True, True, False, False]


def test_pareto_figure_marks_the_front(runs_of):
    fig = F.pareto_figure(_study(runs_of), "energy_per_inference_j", slo_p99_ms=1.0)
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert sorted(front.text) == ["onnxruntime fp32 @ a", "openvino fp32 @ a"]
    assert "cost data is missing" in F.no_data_reason(
        F.pareto_figure(_study(runs_of), "cost_per_million"))


def test_recommend_picks_the_most_efficient_variant_meeting_the_slo(runs_of):
    line = F.recommend(_study(runs_of), slo_p99_ms=3.5)
    assert "(2 of 3 variants meet it): onnxruntime fp32 @ a is the most energy-efficient" in line
    assert "(1 of 3 variants meet it)" in F.recommend(_study(runs_of), slo_p99_ms=1.0)


def test_recommend_prefers_the_cheapest_when_costs_are_known(runs_of):
    runs = _study(runs_of, a={"cost_per_hour": 3.6}, b={"cost_per_hour": 0.01})
    assert "onnxruntime fp32 @ b is the cheapest" in F.recommend(runs, slo_p99_ms=10)


def test_recommend_names_the_closest_when_none_meets_the_slo(runs_of):
    line = F.recommend(_study(runs_of), slo_p99_ms=0.3)
    assert line.startswith("No variant meets p99 <= 0.3 ms")
    assert "openvino fp32 @ a at p99 0.9 ms (3.00x the objective)" in line


def test_recommend_without_ok_runs(runs_of):
    assert "nothing to recommend" in F.recommend(runs_of([{"status": "infra-error"}]), 1.0)
