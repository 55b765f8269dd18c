"""`bench nightly` end to end with real runs (tests/nightly_history.py): the A/A nights flag
nothing, a model doing twice the first layer's work is a confirmed regression, a toolchain
change is reported as a change, a dead board is exit 2; and `bench compare` on the same
history. What is injected is far outside this machine's run-to-run noise (see
tests/nightly_history.py), so no assertion here is a verdict that noise can flip."""

import json
import sqlite3

import pandas as pd
import pytest
from nightly_history import A_A, bench, build


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


def _latency(history, verdict: str | None = None) -> list[tuple]:
    """(verdict, ratio, low, high, p, baseline runs, confirm ratio) of the latency verdicts,
    oldest first."""
    return sqlite3.connect(history.db).execute(
        "SELECT verdict, ratio, low, high, p_value, baseline_runs, confirm_ratio FROM verdict "
        "WHERE metric = 'latency' AND (? IS NULL OR verdict = ?) ORDER BY id", (verdict, verdict)).fetchall()


def test_a_a_nights_flag_nothing(history):
    for name, runs in zip(A_A, (3, 4, 5)):
        night = history.nights[name]
        assert night.proc.returncode == 0, night.proc.stdout + night.proc.stderr
        assert night.proc.stdout.rstrip().endswith("exit 0: clean")
        suite = night.junit
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
        assert _states(night) == "1 unchanged", night.summary
        assert f"| unchanged | latency | {runs} |" in night.summary
    judged = [v for v in _latency(history) if v[0] != "baseline"]  # base2, base3: building
    assert [v[0] for v in judged[:3]] == ["unchanged"] * 3
    verdict, ratio, low, high, p, runs, _ = judged[2]  # the A/A night against 5 runs
    assert runs == 5 and low < 1 < high and p > 0.01  # the interval that decided holds 1 ...
    (slow,) = _latency(history, "regression")
    assert high < slow[1]  # ... and is narrow enough to tell the injected slowdown from noise


def test_twice_the_first_layer_is_a_confirmed_regression(history):
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
    (_, ratio, low, high, p, runs, again), = _latency(history, "regression")
    # +80 % on this machine; bounds wide enough for any CPU, far from the noise either way
    assert 1.3 < ratio < 3 and 1.3 < again < 3 and runs == 6
    assert 1 < low < ratio < high and p < 0.01  # outside the baseline's prediction interval
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
    aa, slow = studies[5], studies[6]
    out = bench("compare", aa, slow, "--db", db, "-o", str(tmp_path / "c.parquet"), cwd=history.root)
    assert out.returncode == 0, out.stderr
    assert "inconclusive" in out.stdout and "latency" in out.stdout
    frame = pd.read_parquet(tmp_path / "c.parquet")
    latency = frame[frame["metric"] == "latency"].iloc[0]
    # one run a side: +80 %, but one run says nothing about the machine's run-to-run noise
    assert latency["verdict"] == "inconclusive" and latency["ratio"] > 1.3
    assert latency["note"].startswith("1 baseline run: its run-to-run noise is unknown")
    csv = bench("compare", slow, "--db", db, "-f", "csv", "-o", str(tmp_path / "c.json"), cwd=history.root)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.startswith("series,title,metric,")
    (row,) = [r for r in json.loads((tmp_path / "c.json").read_text()) if r["metric"] == "latency"]
    assert row["verdict"] == "regression" and row["baseline_runs"] == 6 and row["low"] > 1
    bad = bench("compare", "nope", "--db", db, cwd=history.root)
    assert bad.returncode == 1 and bad.stderr.startswith("error: 'nope' is no run id")
    bad = bench("compare", aa, slow, "--db", db, "-o", str(tmp_path / "c.xlsx"), cwd=history.root)
    assert bad.returncode == 1 and "unknown format '.xlsx'" in bad.stderr
