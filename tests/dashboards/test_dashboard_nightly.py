"""The suite's trend page from real nightly history (tests/nightly_history.py), in headless
Chromium: the confirmed regression is marked, the toolchain change annotated, and the model's
new export continues its series instead of starting a new one."""

import pytest
from nightly_history import build

from orchestrator.dashboard import DashboardRequest, write

FIRST = "document.querySelector('.series .js-plotly-plot')"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return build(tmp_path_factory)


def test_trend_page_marks_the_nightly_regression_and_the_toolchain_change(chromium, history, tmp_path):
    path = write(DashboardRequest(output=tmp_path / "trend.html", suite="nightly-test", db=str(history.db)))
    report = chromium.open(path)
    assert chromium.screenshot(tmp_path / "trend.png").stat().st_size > 10_000
    assert report.errors == [], report.errors
    assert report.figures and report.empty_figures() == [], report.figures
    assert chromium.evaluate("document.querySelectorAll('.series').length") == 1
    traces = chromium.evaluate(f"{FIRST}.data.map(t => [t.name, (t.x || []).length, t.text || null])")
    by_name = {name: (n, text) for name, n, text in traces}
    # 5 baseline nights, A/A, the slow night and its confirmation re-run, the toolchain night
    assert by_name["p50"][0] == 9
    n, (note,) = by_name["regression"]
    assert n == 1 and note.startswith("latency +") and ": confirmed" in note
    notes = chromium.evaluate(f"{FIRST}.layout.annotations.map(a => a.text)")
    assert any(t.startswith("toolchain changed: onnxruntime ") and ".post1, p50 +" in t for t in notes)
    assert any("infra-error" in t for t in notes)  # the dead board's run is named, not drawn


def test_the_nightly_wrote_the_same_page(history):
    page = (history.nights["slow"].out / "trend.html").read_text()
    assert "suite nightly-test: trends" in page and "regression" in page
