"""The local transport: a real agent child process, its progress, its failures as data."""

import sys
import threading
import time

from agents.spec import RunLength
import zoo
from orchestrator.transports.local import LocalTransport


def test_large_result_with_progress_comes_back_whole(model_file, job_for):
    # An Identity model runs ~10^5 iterations a second: a RunResult of several hundred KB on
    # stdout while progress streams on stderr (the case that once deadlocked the pipes).
    spec = job_for(model_file(zoo.build_identity(), filename="id.onnx"), "onnxruntime",
                   options={"threads": 1})
    spec.run = RunLength(warmup_s=0.05, min_duration_s=1.0, max_duration_s=5)
    phases = []
    result = LocalTransport().run(spec, lambda phase, f, i: phases.append(phase))
    assert result.status == "ok", result.error
    assert result.latencies_ns().size == result.metrics["iterations"] > 50_000
    assert "measure" in phases and phases[-1] == "done"


def test_timeout_is_an_infra_error(model_file, job_for):
    spec = job_for(model_file("mlp"), "onnxruntime")
    spec.run = RunLength(min_duration_s=30, max_duration_s=60, timeout_s=2)
    t0 = time.monotonic()
    result = LocalTransport().run(spec)
    assert result.status == "infra-error" and "timed out after 2 s" in result.error
    assert time.monotonic() - t0 < 20


def test_cancel_kills_the_agent(model_file, job_for):
    spec = job_for(model_file("mlp"), "onnxruntime")
    spec.run = RunLength(min_duration_s=30, max_duration_s=60)
    transport = LocalTransport()
    threading.Timer(1.5, transport.cancel, args=(spec.job_id,)).start()
    result = transport.run(spec)
    assert result.status == "infra-error" and "signal 9" in result.error


def test_agent_that_dies_is_an_infra_error_with_its_stderr(model_file, job_for, tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('board on fire\\n')\nsys.exit(3)\n")
    fake.chmod(0o755)
    result = LocalTransport(python=str(fake)).run(job_for(model_file("mlp"), "onnxruntime"))
    assert result.status == "infra-error" and "exit code 3" in result.error
    assert "board on fire" in result.traceback
