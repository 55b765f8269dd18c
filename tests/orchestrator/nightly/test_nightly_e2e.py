"""`bench nightly` end to end with real runs (tests/nightly_history.py): the A/A night flags
nothing, a model doing ~10 % more work is a confirmed regression, a toolchain change is
reported as a change, a dead board is exit 2; and `bench compare` on the same history."""

import json
import sqlite3

import pandas as pd
import pytest
from nightly_history import bench, build


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return build(tmp_path_factory)


def _states(night) -> str:
    line = night.proc.stdout.splitlines()[0]
    return line.split(": ", 1)[1]


def test_first_nights_build_the_baseline_and_exit_clean(history):
    for name, expected in (("base1", "1 new"), ("base2", "1 baseline"), ("base3", "1 baseline")):
        night = history.nights[name]
        assert night.proc.returncode == 0, night.proc.stdout + night.proc.stderr
        assert _states(night) == expected
        (case,) = night.junit.findall("testcase")
        assert case.find("skipped") is not None
    assert "building the baseline (2 of 3 runs)" in history.nights["base3"].summary


def test_a_a_night_flags_nothing(history):
    night = history.nights["aa"]
    assert night.proc.returncode == 0, night.proc.stdout + night.proc.stderr
    assert night.proc.stdout.rstrip().endswith("exit 0: clean")
    suite = night.junit
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert "regression" not in _states(night) and "improvement" not in _states(night)
    assert "| unchanged | latency | 3 |" in night.summary


def test_ten_percent_more_work_is_a_confirmed_regression(history):
    night = history.nights["slow"]
    assert night.proc.returncode == 1, night.proc.stdout + night.proc.stderr
    assert _states(night) == "1 regression"
    (case,) = night.junit.findall("testcase")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "regression"
    assert failure.get("message").startswith("latency +") and ": confirmed" in failure.get("message")
    assert "model changed: sha256" in failure.get("message")
    summary = night.summary
    assert summary.startswith("# Nightly `nightly-test`: regression found")
    assert "## Regressions (confirmed by a re-run)" in summary and "confirmation re-runs in study" in summary
    rows = sqlite3.connect(history.db).execute(
        "SELECT ratio, confirm_ratio, p_value FROM verdict WHERE verdict = 'regression'").fetchall()
    (ratio, again, p), = rows
    assert 1.05 < ratio < 1.3 and 1.05 < again < 1.3 and p < 0.001
    assert (night.out / "trend.html").stat().st_size > 100_000


def test_toolchain_change_is_reported_as_a_change_not_a_regression(history):
    night = history.nights["toolchain"]
    assert night.proc.returncode == 0, night.proc.stdout + night.proc.stderr
    assert _states(night) == "1 change"
    assert "toolchain changed: onnxruntime " in night.proc.stdout and ".post1, p50 +" in night.proc.stdout
    assert "## Toolchain or device changes (a new baseline starts)" in night.summary
    flags = sqlite3.connect(history.db).execute(
        "SELECT s.good, s.new_baseline FROM series_run s JOIN nightly n ON n.id = s.nightly_id "
        "WHERE n.exit_code = 0 ORDER BY s.id DESC LIMIT 1").fetchone()
    assert flags == (1, 1)  # tonight's run starts the new baseline


def test_a_dead_board_leaves_the_job_unfinished_exit_2(history):
    night = history.nights["broken"]
    assert night.proc.returncode == 2, night.proc.stdout + night.proc.stderr
    assert _states(night) == "1 infra"
    (case,) = night.junit.findall("testcase")
    assert case.find("error").get("type") == "infra"
    assert "## Unfinished (infrastructure failures)" in night.summary


def test_bench_compare_two_studies_and_a_study_against_its_baselines(history, tmp_path):
    db = str(history.db)
    studies = [s for (s,) in sqlite3.connect(db).execute("SELECT study_id FROM nightly ORDER BY started_s")]
    aa, slow = studies[3], studies[4]
    out = bench("compare", aa, slow, "--db", db, "-o", str(tmp_path / "c.parquet"), cwd=history.root)
    assert out.returncode == 0, out.stderr
    assert "regression" in out.stdout and "latency" in out.stdout
    frame = pd.read_parquet(tmp_path / "c.parquet")
    latency = frame[frame["metric"] == "latency"].iloc[0]
    assert latency["verdict"] == "regression" and latency["ratio"] > 1.05
    csv = bench("compare", slow, "--db", db, "-f", "csv", "-o", str(tmp_path / "c.json"), cwd=history.root)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.startswith("series,title,metric,")
    (row,) = [r for r in json.loads((tmp_path / "c.json").read_text()) if r["metric"] == "latency"]
    assert row["verdict"] == "regression" and row["baseline_runs"] == 4
    bad = bench("compare", "nope", "--db", db, cwd=history.root)
    assert bad.returncode == 1 and bad.stderr.startswith("error: 'nope' is no run id")
    bad = bench("compare", aa, slow, "--db", db, "-o", str(tmp_path / "c.xlsx"), cwd=history.root)
    assert bad.returncode == 1 and "unknown format '.xlsx'" in bad.stderr
