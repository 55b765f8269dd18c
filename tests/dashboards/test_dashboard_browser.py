"""Every page, built from real runs, opened in headless Chromium: no JavaScript error, no figure
without data points, the missing data named; a screenshot of each under the test's tmp_path."""

import pytest

from orchestrator.dashboard import DashboardRequest, write

PAGES = {
    "study": lambda lab: {"study": lab.power_study, "slo_p99_ms": 50.0},
    "failed-study": lambda lab: {"study": lab.failed_study},
    "latest": lambda lab: {"latest": True},
    "trend": lambda lab: {"suite": "run mlp"},
    "run-with-power": lambda lab: {"run": "1"},
    "run-failed": lambda lab: {"run": _failed_run(lab)},
    "all": lambda lab: {"all_runs": True, "slo_p99_ms": 0.001},
}


def _failed_run(lab) -> str:
    from results.db import open_db
    from results.queries import runs_frame
    runs = runs_frame(open_db(str(lab.db)), status="infra-error")
    return str(int(runs["id"].iloc[0]))


def _open(chromium, lab, tmp_path, name):
    path = write(DashboardRequest(output=tmp_path / f"{name}.html", db=str(lab.db),
                                  **PAGES[name](lab)))
    report = chromium.open(path)
    shot = chromium.screenshot(tmp_path / f"{name}.png")
    assert shot.stat().st_size > 10_000
    assert report.errors == [], report.errors
    assert report.figures and all(f["drawn"] for f in report.figures)
    assert report.empty_figures() == [], report.figures
    return report


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_with_data_and_no_errors(chromium, lab, tmp_path, name):
    _open(chromium, lab, tmp_path, name)


def test_study_page_draws_energy_and_names_what_is_missing(chromium, lab, tmp_path):
    report = _open(chromium, lab, tmp_path, "study")
    titles = chromium.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => g.layout.title.text)")
    assert {"Energy", "Latency by device and variant", "Throughput against latency (one point per run)",
            "Pareto front: p99 latency against energy per inference (J)"} <= set(titles)
    assert any("Cost per million inferences\nno data: cost data is missing" in n
               for n in report.no_data_notes)


def test_failed_variant_is_named_not_drawn_as_zero(chromium, lab, tmp_path):
    _open(chromium, lab, tmp_path, "failed-study")
    heat = chromium.evaluate("document.querySelector('.js-plotly-plot').data[0].text")
    assert "infra-error" in [cell for row in heat for cell in row]
    assert "NPU" in chromium.evaluate("document.body.innerText")


def test_trend_page_marks_the_regression_and_the_toolchain_change(chromium, lab, tmp_path):
    _open(chromium, lab, tmp_path, "trend")
    first = "document.querySelector('.series .js-plotly-plot')"
    names = chromium.evaluate(f"{first}.data.map(t => t.name)")
    assert "regression" in names and "p99" in names
    notes = chromium.evaluate(f"{first}.layout.annotations.map(a => a.text)")
    assert any(n.startswith("toolchain: engine ") and ".post1" in n for n in notes)
    shown = chromium.evaluate(
        "(() => { const s = document.querySelector(\"select[name='engine']\"); s.value = 'openvino';"
        " benchFilter(); return Array.from(document.querySelectorAll('.series'))"
        ".filter(e => e.style.display !== 'none').map(e => e.dataset.engine); })()")
    assert shown and set(shown) == {"openvino"}
