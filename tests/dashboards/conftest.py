"""Fixtures of the dashboard tests: hand-made runs frames, a database of real runs, Chromium.

`lab` fills one SQLite database with real `bench run` results on this CPU: a study of
onnxruntime and openvino with the hwmon power fixture, a study whose openvino variant asks for
an NPU this machine lacks (an infra-error run), two more onnxruntime runs of the same series
(a trend), and one copy of a real run re-ingested with a `regression` flag and a newer engine
version, because no code flags regressions yet (the nightly issue) and versions do not change
within a test session.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.spec import RunResult
from dashboards.browser import CHROMIUM, Chromium
import zoo
from results.db import open_db
from results.ingest import ingest
from results.queries import RUN_COLUMNS, run_results

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


def make_runs(rows: list[dict]) -> pd.DataFrame:
    """A runs frame like `dashboards.data.runs_frame` from a few fields per run; the rest
    default to an ok run of `mlp` on device `a` with onnxruntime fp32."""
    base = {c: None for c in RUN_COLUMNS}
    base.update(status="ok", device="a", engine="onnxruntime", precision="fp32",
                scenario="single-stream", batch=1, model_name="mlp", model_sha256="f" * 64,
                series_key="s1", flags=[], options="", power_reason=None, agent_version="0.1.0",
                engine_version="1.0")
    records = []
    for i, row in enumerate(rows, start=1):
        rec = {**base, "id": i, "created_at": pd.Timestamp("2026-01-01") + pd.Timedelta(hours=i),
               **row}
        rec.setdefault("variant", f"{rec['engine']} {rec['precision']}")
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        if column.startswith(("latency_", "throughput", "energy", "power_avg", "inferences",
                              "accuracy_", "cost_", "price")):
            frame[column] = frame[column].astype(float)
    return frame


@pytest.fixture
def runs_of():
    """Factory: `make_runs` as a fixture."""
    return make_runs


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _hwmon_tree(root: Path, watts: float) -> Path:
    dev = root / "sys/class/hwmon/hwmon0"
    dev.mkdir(parents=True)
    (dev / "name").write_text("ina226\n")
    (dev / "power1_input").write_text(f"{int(watts * 1e6)}\n")  # microwatts, as hwmon reports
    return root


@dataclass
class Lab:
    """The database of real runs and what is in it."""

    db: Path
    power_study: str
    failed_study: str
    regression_run: int

    def study_ids(self) -> list[str]:
        """Every study id in the database."""
        from sqlmodel import Session, select
        from results.models import Study
        with Session(open_db(str(self.db))) as s:
            return list(s.exec(select(Study.id)).all())


def _study_of_last_run(db: Path) -> str:
    return run_results(open_db(str(db)), last=1)[0].job.study_id


def _reingest_as_regression(db: Path, study_id: str) -> int:
    engine = open_db(str(db))
    real = next(r for r in run_results(engine, study_id=study_id)
                if r.status == "ok" and r.job.variant.engine == "onnxruntime")
    copy_ = RunResult.from_dict(copy.deepcopy(real.to_dict()))
    copy_.job_id = copy_.job.job_id = uuid.uuid4().hex[:16]
    copy_.set_latencies_ns((real.latencies_ns() * 1.3).astype(np.int64))
    copy_.metrics = {k: (v * 1.3 if k.startswith("latency_") and k.endswith("_ms") else v)
                     for k, v in real.metrics.items()}
    copy_.flags = [*copy_.flags, "regression"]
    copy_.environment["engine_version"] = f"{copy_.environment['engine_version']}.post1"
    row, _ = ingest(engine, copy_)
    return row.id


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """A SQLite database of real runs (see the module docstring)."""
    tmp = tmp_path_factory.mktemp("lab")
    db, model = tmp / "bench.db", zoo.save("mlp", tmp / "mlp.onnx", batch=1)
    root = _hwmon_tree(tmp / "fixture", watts=7.5)
    steps = [["-e", "onnxruntime,openvino", "--power", "hwmon", "--power-option", f"root={root}",
              "--idle-power", "0.1"],
             ["-e", "onnxruntime"], ["-e", "onnxruntime"],
             ["-e", "onnxruntime,openvino", "--option", "openvino.device=NPU"]]
    studies = []
    for extra in steps:
        out = _bench("run", str(model), *extra, "--db", str(db), *FAST)
        assert out.returncode in (0, 2), out.stderr
        studies.append(_study_of_last_run(db))
    regression = _reingest_as_regression(db, studies[0])
    return Lab(db=db, power_study=studies[0], failed_study=studies[-1], regression_run=regression)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session; skipped without it, except under CI=true."""
    missing = None if shutil.which(CHROMIUM) else f"{CHROMIUM} is not installed"
    try:
        import websocket  # noqa: F401  (the DevTools client, in the test extra)
    except ImportError:
        missing = "the websocket-client package is not installed"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; it is required under CI (make test installs it)")
        pytest.skip(f"{missing} (make test installs Debian's chromium and the test extra)")
    with Chromium() as browser:
        yield browser
