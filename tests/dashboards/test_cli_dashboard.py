"""`bench dashboard` through the real CLI on a database of real runs, and its bad input."""

import pytest

from dashboards import data
from results.db import open_db


def test_study_page_is_written_and_its_path_printed(lab, bench, tmp_path):
    out_file = tmp_path / "pages" / "study.html"
    out = bench("dashboard", "--study", lab.power_study, "--slo-p99-ms", "50", "-o", str(out_file),
                "--db", str(lab.db))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(out_file)
    page = out_file.read_text()
    assert f"study {lab.power_study}" in page and "For p99 &lt;= 50 ms" in page
    assert "cost data is missing" in page  # no device has a cost yet


@pytest.mark.parametrize("args,message", [
    (["--study", "nope"], "unknown study 'nope'; newest: "),
    (["--run", "99999"], "unknown run '99999'"),
    (["--study", "x", "--all"], "give exactly one of --study, --suite, --run, --latest, --all (got --study, --all)"),
    ([], "give exactly one of"),
    (["--all", "--slo-p99-ms", "-1"], "--slo-p99-ms must be > 0"),
    (["--suite", "nightly-none"], "no runs of a study whose name starts with 'nightly-none'"),
])
def test_bad_input_is_one_line_and_exit_1(lab, bench, tmp_path, args, message):
    out = bench("dashboard", *args, "-o", str(tmp_path / "x.html"), "--db", str(lab.db))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "x.html").exists()


def test_empty_database_is_a_user_error(bench, tmp_path):
    out = bench("dashboard", "--all", "-o", str(tmp_path / "x.html"), "--db", str(tmp_path / "e.db"))
    assert out.returncode == 1 and "no runs in the database" in out.stderr


def test_runs_frame_reads_variants_power_and_options_of_real_runs(lab):
    runs = data.runs_frame(open_db(str(lab.db)), study_id=lab.power_study)
    assert sorted(set(runs["variant"])) == ["onnxruntime fp32 threads=1", "openvino fp32 threads=1"]
    assert runs["power_avg_w"].tolist() == pytest.approx([7.5] * len(runs), rel=0.01)
    assert (runs["inferences_per_j"] > 0).all() and runs["agent_version"].notna().all()
    failed = data.runs_frame(open_db(str(lab.db)), study_id=lab.failed_study)
    assert failed.set_index("engine").loc["openvino", "status"] == "infra-error"


def test_run_detail_by_job_id_and_latest_study(lab):
    engine = open_db(str(lab.db))
    run_id, result = data.run_detail(engine, str(lab.regression_run))
    assert "regression" in result.flags and result.latencies_ns().size > 0
    assert data.run_detail(engine, result.job_id)[0] == run_id
    assert data.latest_study(engine).id == lab.power_study  # the re-ingested run is newest


def test_pages_read_the_same_frame_from_sqlite_and_postgres(lab, db_url):
    from results.ingest import ingest
    from results.queries import run_results
    target = open_db(db_url)
    for result in run_results(open_db(str(lab.db))):
        ingest(target, result)
    columns = ["variant", "status", "agent_version", "power_reason", "latency_p50_ms"]
    mine = data.runs_frame(target)[columns]
    theirs = data.runs_frame(open_db(str(lab.db)))[columns]
    assert len(mine) == 7 and mine.equals(theirs)  # NaN-aware: the failed run has no latency
