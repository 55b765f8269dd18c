"""A study over an inventory with one ssh device (loopback sshd) and two ray devices (a local
Ray cluster) runs to completion through the queue, every run stored exactly once."""

import json
import sys

import pytest
import yaml

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

FAST = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


@pytest.fixture(scope="module")
def ray_cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for name in ("ray-a", "ray-b"):
        c.add_node(num_cpus=1, resources={f"device:{name}": 1})
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _lab(tmp_path, sshd, cluster) -> str:
    ssh = sshd.settings(python=sys.executable, remote_dir=str(tmp_path / "board"))
    devices = [{"name": "ssh-board", "transport": "ssh", "tags": ["remote"], **ssh},
               {"name": "ray-a", "transport": "ray", "address": cluster.address, "tags": ["remote"]},
               {"name": "ray-b", "transport": "ray", "address": cluster.address, "tags": ["remote"]}]
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump({"devices": devices}))
    return str(path)


def test_study_over_ssh_and_ray_devices_completes(tmp_path, sshd, ray_cluster, bench, model_file):
    lab, db = _lab(tmp_path, sshd, ray_cluster), str(tmp_path / "bench.db")
    probe = bench("fleet", "probe", "--inventory", lab, "--db", db, timeout=300)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    out = bench("submit", str(model_file("mlp")), "--devices", "tag:remote", "--engines", "onnxruntime",
                "--inventory", lab, "--db", db, "--wait", *FAST, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = json.loads(bench("results", "--db", db, "-f", "json", "--last", "0").stdout)
    assert sorted(r["job"]["device"] for r in runs) == ["ray-a", "ray-b", "ssh-board"]
    assert all(r["status"] == "ok" for r in runs)
    assert len({(r["job_id"], r["attempt"]) for r in runs}) == 3


def test_killed_remote_agent_is_retried_and_stored_once(tmp_path, sshd, ray_cluster, bench, model_file):
    import subprocess
    import threading
    import time

    lab, db = _lab(tmp_path, sshd, ray_cluster), str(tmp_path / "bench.db")

    def kill_first_agent():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = subprocess.run(["pgrep", "-f", "benchlab-agent-.*pyz run"], capture_output=True, text=True).stdout.split()
            if pids:
                time.sleep(1.0)  # let it reach the measurement
                subprocess.run(["kill", "-9", *pids])
                return
            time.sleep(0.1)

    threading.Thread(target=kill_first_agent, daemon=True).start()
    out = bench("submit", str(model_file("mlp")), "--devices", "name:ssh-board", "--engines", "onnxruntime",
                "--inventory", lab, "--db", db, "--wait", "--warmup", "0.05", "--duration", "4",
                "--iterations", "20", "--threads", "1", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = json.loads(bench("results", "--db", db, "-f", "json", "--last", "0").stdout)
    assert [(r["attempt"], r["status"]) for r in runs] == [(1, "infra-error"), (2, "ok")]
    assert "agent died" in runs[0]["error"]
    assert len({r["job_id"] for r in runs}) == 1


def test_fleet_probe_lists_the_device_resources_of_a_ray_cluster(ray_cluster, bench, tmp_path):
    out = bench("fleet", "probe", "--ray-address", ray_cluster.address, "--db", str(tmp_path / "b.db"))
    assert out.returncode == 0, out.stderr
    names = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert names == ["device:ray-a", "device:ray-b"]
