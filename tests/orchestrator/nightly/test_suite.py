"""Suite files: a study plus baseline policy, thresholds and per-series overrides, every key
checked with its file and line."""

from pathlib import Path

import pytest

from agents.spec import JobSpec, ModelRef, Variant
from inventory import InventoryError
from orchestrator.nightly.suite import load_suite

ROOT = Path(__file__).resolve().parents[3]
STUDY = "models: [m.onnx]\ndevices: [local]\nengines: [onnxruntime, openvino]\n"


def _suite(tmp_path, text: str):
    path = tmp_path / "suite.yaml"
    path.write_text(STUDY + text)
    return load_suite(path)


def _spec(engine: str, model: str = "m") -> JobSpec:
    return JobSpec(job_id="j", model=ModelRef("/m.onnx", "a" * 64, name=model), variant=Variant(engine))


def test_the_example_suite_loads():
    suite = load_suite(ROOT / "suites" / "nightly.yaml")
    assert suite.name == "nightly" and suite.study.priority == "nightly"
    assert suite.study.models[0].path == ROOT / "suites" / "../build/nightly/mlp.onnx"
    assert suite.confirm and suite.runs == 10 and suite.rule.min_runs == 5
    assert suite.rule.thresholds["latency"] == pytest.approx(0.05)


def test_thresholds_policy_and_series_overrides(tmp_path):
    suite = _suite(tmp_path, "baseline: {runs: 5, min_runs: 2, after_regression: rebaseline}\n"
                             "thresholds: {latency: 3%, accuracy: 0.02}\nalpha: 0.0001\nconfirm: false\n"
                             "series:\n  - match: {engine: open*}\n    thresholds: {latency: 10%}\n"
                             "    metrics: [latency]\n")
    assert (suite.runs, suite.rule.min_runs, suite.after_regression, suite.confirm) == (5, 2, "rebaseline", False)
    ort, ov = suite.rule_for(_spec("onnxruntime")), suite.rule_for(_spec("openvino"))
    assert ort[0].thresholds["latency"] == pytest.approx(0.03) and ort[0].alpha == 0.0001
    assert ort[0].thresholds["accuracy"] == 0.02 and "memory" in ort[1]
    assert ov[0].thresholds["latency"] == pytest.approx(0.10) and ov[1] == ("latency",)


@pytest.mark.parametrize("text, message", [
    ("thresholds: {latncy: 5%}\n", "suite.yaml:4: field 'thresholds.latncy': unknown key 'latncy' in thresholds; did you mean 'latency'?"),
    ("thresholds: {latency: 5}\n", "field 'thresholds.latency': 5 would be 500 %; write '5%' for 5 %"),
    ("thresholds: {latency: fast}\n", "expected a percentage like 5% or a fraction like 0.05"),
    ("baseline: {runs: 2, min_runs: 3}\n", "field 'baseline.min_runs': must be <= runs (2), got 3"),
    ("baseline: {after_regression: ignore}\n", "unknown value 'ignore'; known: alarm, rebaseline"),
    ("alpha: 5\n", "field 'alpha': a significance level is in (0, 1), got 5"),
    ("metrics: [latency, speed]\n", "unknown metric 'speed'; known: latency, throughput, energy, memory, accuracy"),
    ("series:\n  - match: {chip: x}\n", "suite.yaml:5: field 'series.match.chip': unknown key 'chip' in match"),
    ("confirm: maybe\n", "field 'confirm': expected true or false"),
    ("enginez: [x]\n", "suite.yaml:4: field 'enginez': unknown key 'enginez' in a study"),
])
def test_bad_suite_is_one_line_with_file_and_line(tmp_path, text, message):
    with pytest.raises(InventoryError) as info:
        _suite(tmp_path, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
