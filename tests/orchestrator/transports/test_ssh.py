"""The SSH transport against a real OpenSSH server on loopback, with real engines behind it."""

import json
import subprocess
import sys
import threading
import time

import pytest

from agents.spec import RunLength
from orchestrator.transports.ssh import SshTransport

PY = sys.executable  # the "board's" python: has numpy and the engines


@pytest.fixture
def ssh(sshd, tmp_path):
    transport = SshTransport(**sshd.settings(python=PY, remote_dir=str(tmp_path / "board")))
    yield transport
    transport.close()


def test_job_runs_on_the_board_and_comes_back(ssh, model_file, job_for, tmp_path):
    phases = []
    result = ssh.run(job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}),
                     lambda phase, f, i: phases.append(phase))
    assert result.status == "ok", (result.error, result.traceback)
    assert result.metrics["iterations"] >= 20 and "measure" in phases
    assert result.job.model.path.startswith(str(tmp_path)) and "/board/" not in result.job.model.path
    assert list((tmp_path / "board" / "agent").glob("benchlab-agent-*.pyz"))


def test_hostile_file_names_are_quoted(ssh, model_file, job_for, tmp_path):
    name = "my model $(touch PWNED) `touch PWNED2` 'q' \"dq\";.onnx"
    result = ssh.run(job_for(model_file("mlp", filename=name), "onnxruntime", options={"threads": 1}))
    assert result.status == "ok", result.error
    assert not list(tmp_path.rglob("PWNED*")) and not list((tmp_path / "board").rglob("PWNED*"))


def test_files_are_uploaded_once(ssh, model_file, job_for, tmp_path):
    path = model_file("mlp")
    remote = ssh.upload(path)
    first = (tmp_path / "board").joinpath(remote.split("/board/", 1)[1]).stat().st_mtime_ns
    time.sleep(0.05)
    assert ssh.upload(path) == remote
    assert (tmp_path / "board").joinpath(remote.split("/board/", 1)[1]).stat().st_mtime_ns == first


def test_health_and_probe(ssh):
    assert ssh.health() is None
    probe = ssh.probe()
    assert probe["engines"]["onnxruntime"]["available"] is True


def test_unknown_host_key_is_refused(sshd, tmp_path, model_file, job_for):
    (tmp_path / "empty_known_hosts").write_text("")
    transport = SshTransport(**sshd.settings(known_hosts=str(tmp_path / "empty_known_hosts"), python=PY))
    assert "not found in known_hosts" in transport.health()
    result = transport.run(job_for(model_file("mlp"), "onnxruntime"))
    assert result.status == "infra-error" and "known_hosts" in result.error


def test_trust_on_first_use_records_the_key(sshd, tmp_path):
    known = tmp_path / "tofu_known_hosts"
    transport = SshTransport(**sshd.settings(known_hosts=str(known), trust_on_first_use=True, python=PY))
    assert transport.health() is None
    assert f"[127.0.0.1]:{sshd.port}" in known.read_text()
    transport.close()


def test_changed_host_key_is_refused_even_with_trust_on_first_use(sshd, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "wrong_known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    transport = SshTransport(**sshd.settings(known_hosts=str(known), trust_on_first_use=True, python=PY))
    assert "CHANGED" in transport.health()


def _long_job(job_for, model_file):
    job = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1})
    job.run = RunLength(warmup_s=0.05, min_duration_s=60, max_duration_s=120)
    return job


def _agent_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "benchlab-agent-.*pyz run"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _when_measuring(job_id_hook):
    started = threading.Event()

    def on_progress(phase, fraction, iterations):
        if phase == "measure":
            started.set()
    return started, on_progress


def test_killing_the_remote_agent_is_an_infra_error(ssh, model_file, job_for):
    started, on_progress = _when_measuring(None)
    threading.Thread(target=lambda: (started.wait(60), [subprocess.run(["kill", "-9", str(p)]) for p in _agent_pids()]),
                     daemon=True).start()
    t0 = time.monotonic()
    result = ssh.run(_long_job(job_for, model_file), on_progress)
    assert result.status == "infra-error" and "agent died" in result.error
    assert time.monotonic() - t0 < 50


def test_dropped_connection_is_an_infra_error_and_kills_nothing_else(ssh, model_file, job_for):
    started, on_progress = _when_measuring(None)
    threading.Thread(target=lambda: (started.wait(60), ssh._client.get_transport().close()), daemon=True).start()
    result = ssh.run(_long_job(job_for, model_file), on_progress)
    assert result.status == "infra-error" and "connection lost" in result.error
    deadline = time.monotonic() + 10
    while _agent_pids() and time.monotonic() < deadline:  # sshd hangs up the session
        time.sleep(0.2)
    assert not _agent_pids()
    assert ssh.health() is None  # reconnects


def test_cancel_kills_the_remote_process_group(ssh, model_file, job_for):
    job = _long_job(job_for, model_file)
    started, on_progress = _when_measuring(None)
    threading.Thread(target=lambda: (started.wait(60), ssh.cancel(job.job_id)), daemon=True).start()
    result = ssh.run(job, on_progress)
    assert result.status == "infra-error" and "cancelled" in result.error
    time.sleep(1)
    assert not _agent_pids()


def test_timeout_is_bounded(ssh, model_file, job_for):
    job = _long_job(job_for, model_file)
    job.run.timeout_s = 3
    t0 = time.monotonic()
    result = ssh.run(job)
    assert result.status == "infra-error" and "timed out" in result.error
    assert time.monotonic() - t0 < 20


def test_model_error_on_the_board_comes_back_as_data(ssh, model_file, job_for):
    import zoo
    result = ssh.run(job_for(model_file(zoo.build_unsupported_op(), filename="bad.onnx"), "onnxruntime"))
    assert result.status == "model-error" and "NoSuchOp" in result.error
    json.dumps(result.to_dict())


def test_a_model_with_external_data_travels_with_its_weights(ssh, job_for, tmp_path, external_model):
    from agents import modelfiles

    path = external_model(location="weights/mlp.data")
    job = job_for(path, "onnxruntime", options={"threads": 1})
    job.model.sha256, job.model.companions = modelfiles.describe(path)
    result = ssh.run(job)
    assert result.status == "ok", (result.error, result.traceback)
    folder = tmp_path / "board" / "files" / job.model.sha256
    assert (folder / "mlp.onnx").is_file() and (folder / "weights" / "mlp.data").is_file()


def test_int8_calibrated_on_a_folder_of_npy_files_on_the_board(ssh, model_file, job_for, tmp_path):
    import numpy as np

    from agents.inputs import calibration_sha256

    folder = tmp_path / "calib"
    folder.mkdir()
    for i in range(4):
        np.save(folder / f"{i}.npy", np.random.default_rng(i).standard_normal((1, 3, 64, 64)).astype(np.float32))
    job = job_for(model_file("resnet"), "onnxruntime", options={"threads": 1})
    job.variant.precision = "int8"
    job.calibration.path, job.calibration.sha256 = str(folder), calibration_sha256(str(folder))
    result = ssh.run(job)
    assert result.status == "ok", (result.error, result.traceback)
    assert "calibrated on user data" in result.environment["artifact"]["tool_versions"]["quantization"]
    assert len(list((tmp_path / "board" / "files" / job.calibration.sha256 / "calib").glob("*.npy"))) == 4
