"""`bench results` fits a terminal: the default columns in 100 columns, one line per run,
auto columns dropped with a line saying so; `--wide` and `--columns`; CSV and JSON untouched."""

import json
import re
import uuid

import numpy as np
import pytest
from rich.console import Console

from agents.spec import JobSpec, ModelRef, RunResult, Scenario, Variant
from orchestrator.cli.results import show
from results.db import open_db
from results.ingest import ingest
from results.queries import run_results, runs_frame

OLD_HEADERS = ("id", "when (UTC)", "device", "model", "engine", "precision", "scenario", "status",
               "p50 ms", "p99 ms", "throughput /s", "cold start ms", "power W", "J/inference",
               "cosine", "top-1", "flags")


def _run(device="local", model="resnet", engine="onnxruntime", precision="fp32", status="ok",
         scenario=Scenario(), flags=(), power_w=None) -> RunResult:
    job_id = uuid.uuid4().hex[:16]
    spec = JobSpec(job_id=job_id, study_id="s1", device=device, scenario=scenario,
                   model=ModelRef(f"/{model}.onnx", "ab" * 32, name=model), variant=Variant(engine, precision))
    metrics = {"latency_p50_ms": 0.4162, "latency_p90_ms": 0.5, "latency_p95_ms": 0.6,
               "latency_p99_ms": 4.634, "throughput_ips": 1487.2, "cold_start_ms": 19.11,
               "compile_s": 1.5, "iterations": 3, "accuracy_cosine_min": 0.99951,
               "accuracy_top1_agreement": 1.0, "requests_in_flight": scenario.concurrency,
               "target_qps": scenario.target_qps}
    if power_w is not None:
        metrics.update(power_avg_w=power_w, energy_per_inference_j=power_w / 1487.2)
    r = RunResult(job_id=job_id, attempt=1, status=status, job=spec, metrics=metrics,
                  flags=list(flags), environment={"arch": "x86_64"})
    r.set_latencies_ns(np.array([400_000, 420_000, 4_600_000]))
    return r


@pytest.fixture
def db(tmp_path):
    """Runs like a demo's, and one with the longest values a lab shows."""
    path = tmp_path / "r.db"
    engine = open_db(str(path))
    for r in (_run(flags=["noisy", "unstable"]), _run(engine="openvino", precision="int8",
                                                      flags=["calibration-generated", "noisy", "unstable"]),
              _run(device="jetson-orin-01", model="mobilenetv2", status="model-error", power_w=7.5,
                   scenario=Scenario(name="server", batch=4, concurrency=2, target_qps=200.0))):
        ingest(engine, r)
    return path


def _table(db, width, keys=None) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    show(console, str(db), None, "table", None, keys)
    return console.export_text().splitlines()


def test_default_table_fits_100_columns_one_line_per_run(db):
    lines = _table(db, 100)
    assert all(len(line) <= 100 for line in lines), "\n".join(lines)
    rows = [line for line in lines if line[:2].strip() in ("1", "2", "3")]
    assert len(rows) == 3 and "server b4 200 qps" in rows[2] and "jetson-orin-01" in rows[2]
    assert all("0.4162" in row and "4.634" in row and "1,487" in row for row in rows)  # numbers whole
    header = next(line for line in lines if line.startswith("id "))
    assert header.split() == ["id", "device", "model", "engine", "prec", "scenario", "status",
                              "p50", "ms", "p99", "ms", "inf/s"]
    assert lines[-1] == "hidden: flags, top-1, J/inference, power W (--wide shows every column)"


def test_auto_columns_stay_when_they_fit(db, bench):
    out = bench("results", "--db", str(db))  # a pipe: 220 columns
    assert out.returncode == 0, out.stderr
    header = next(line for line in out.stdout.splitlines() if line.startswith("id "))
    for word in ("power W", "J/inference", "top-1", "flags"):
        assert word in header
    assert "7.5" in out.stdout and "calibration-generated,noisy,unstable" in out.stdout
    assert "hidden:" not in out.stdout


def test_wide_shows_every_column_and_columns_exactly_those(db, bench):
    wide = bench("results", "--db", str(db), "--wide").stdout.splitlines()
    header = next(line for line in wide if line.startswith("id "))
    for word in (*OLD_HEADERS, "p90 ms", "p95 ms", "compile s"):
        assert word in header, word
    assert len(wide) == 5 and all(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line) for line in wide[2:])
    picked = bench("results", "--db", str(db), "--columns", "model,id,p99").stdout.splitlines()
    assert picked[1].split() == ["model", "id", "p99", "ms"] and picked[2].split() == ["resnet", "1", "4.634"]


@pytest.mark.parametrize("args, message", [
    (["--columns", "id,latency"], "unknown column 'latency'; known: id, when, device, model"),
    (["--columns", "id", "--wide"], "--columns and --wide exclude each other"),
])
def test_bad_columns_are_one_line_exit_1(db, bench, args, message):
    out = bench("results", "--db", str(db), *args)
    (line,) = out.stderr.strip().splitlines()
    assert out.returncode == 1 and line.startswith("error: ") and message in line, out.stderr


def test_csv_and_json_are_the_stored_records_untouched(db, bench):
    engine = open_db(str(db))
    csv = bench("results", "--db", str(db), "-f", "csv", "--wide").stdout
    assert csv == runs_frame(engine).to_csv(index=False)
    out = bench("results", "--db", str(db), "-f", "json", "-n", "2").stdout
    assert out == json.dumps([r.to_dict() for r in run_results(engine, last=2)], indent=1) + "\n"
