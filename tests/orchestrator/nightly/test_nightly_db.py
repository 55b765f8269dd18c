"""A nightly's history on SQLite and PostgreSQL: two real nights in-process, what they store,
and the comparison API on them."""

import pandas as pd
import sqlalchemy as sa

from orchestrator.nightly.run import run_nightly
from results.comparisons import compare
from results.db import open_db


def test_two_nights_store_their_history_and_compare(db_url, tmp_path, model_file, lab_file):
    model_file("mlp")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: db-night\nmodels: [mlp.onnx]\ndevices: [local]\nengines: [onnxruntime]\n"
                     "threads: 1\nrun: {warmup_s: 0.1, duration_s: 0.3, iterations: 50}\n"
                     "baseline: {runs: 3, min_runs: 1}\n")
    inv = str(lab_file({"name": "local"}))
    first = run_nightly(suite, inv, db_url, tmp_path / "out1")
    assert (first.exit_code, first.counts()) == (0, {"new": 1})
    second = run_nightly(suite, inv, db_url, tmp_path / "out2")
    assert second.exit_code == 0 and set(second.counts()) <= {"unchanged", "unconfirmed"}
    (night,) = second.nights
    assert night.decisions["latency"].n_baseline_runs == 1 and night.baseline[-1].toolchain["agent"]
    engine = open_db(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT metric, verdict FROM verdict ORDER BY id")).all()
        members = conn.execute(sa.text("SELECT role, good FROM series_run ORDER BY id")).all()
    assert rows[0] == ("run", "new") and ("latency", night.verdicts["latency"]) in rows
    assert members[0] == ("night", True)
    frame = compare(engine, first.study_id, second.study_id)
    assert isinstance(frame, pd.DataFrame) and frame.loc[frame["metric"] == "latency", "ratio"].iloc[0] > 0
    assert (tmp_path / "out2" / "junit.xml").exists() and (tmp_path / "out2" / "summary.md").exists()
