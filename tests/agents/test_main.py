"""`python -m agents`: the only remote entry point."""

import json
import subprocess
import sys


def _agent(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "agents", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_run_reads_jobspec_from_stdin_and_prints_runresult(model_file, job_for):
    spec = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1})
    out = _agent("run", "-", "--progress", stdin=spec.to_json())
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["job_id"] == spec.job_id and result["status"] == "ok"
    phases = [json.loads(line)["progress"] for line in out.stderr.splitlines()]
    assert phases[0] == "compile" and "measure" in phases and phases[-1] == "done"


def test_run_reads_jobspec_from_file(model_file, job_for, tmp_path):
    spec = job_for(model_file("mlp"), "openvino", options={"threads": 1})
    (tmp_path / "job.json").write_text(spec.to_json())
    out = _agent("run", str(tmp_path / "job.json"))
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "ok"


def test_unreadable_jobspec_exits_2_with_one_line():
    out = _agent("run", "-", stdin="{not json")
    assert out.returncode == 2 and out.stderr.startswith("agent: cannot read JobSpec")
    assert len(out.stderr.strip().splitlines()) == 1


def test_probe_lists_engines_and_sensors():
    out = _agent("probe")
    data = json.loads(out.stdout)
    assert data["engines"]["onnxruntime"]["available"] is True
    assert data["environment"]["cpu_logical"] >= 1
    assert set(data["power_sensors"]) >= {"rapl", "nvml", "jetson", "hwmon"}
