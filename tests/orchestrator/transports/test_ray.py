"""The Ray transport on a real local Ray cluster: several nodes, each carrying a device resource."""

import threading
import time

import pytest

from agents.spec import RunLength

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

from orchestrator.transports.ray import RayTransport  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A head without devices and two nodes with `device:board-a` / `device:board-b`."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = {name: c.add_node(num_cpus=1, resources={f"device:{name}": 1}) for name in ("board-a", "board-b")}
    c.wait_for_nodes()
    ray.init(address=c.address, namespace="benchlab", log_to_driver=False)
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def _where(result) -> str:
    return result.environment.get("hostname", "?")


def test_job_lands_on_the_node_with_the_resource(cluster, model_file, job_for):
    c, nodes = cluster
    transport = RayTransport(resource="device:board-a", address=c.address)
    assert transport.health() is None
    phases = []
    result = transport.run(job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}),
                           lambda p, f, i: phases.append(p))
    assert result.status == "ok", (result.error, result.traceback)
    assert result.metrics["iterations"] >= 20 and "done" in phases
    node_ids = {n["NodeID"] for n in ray.nodes() if "device:board-a" in n["Resources"]}
    assert len(node_ids) == 1


def test_unknown_resource_is_unhealthy(cluster):
    c, _ = cluster
    assert "no live Ray node carries" in RayTransport(resource="device:nope", address=c.address).health()


def test_probe_runs_on_the_board(cluster):
    c, _ = cluster
    probe = RayTransport(resource="device:board-b", address=c.address).probe()
    assert probe["engines"]["onnxruntime"]["available"] is True


def test_removed_node_mid_job_is_an_infra_error(cluster, model_file, job_for):
    c, nodes = cluster
    transport = RayTransport(resource="device:board-b", address=c.address)
    job = job_for(model_file("mlp"), "onnxruntime", options={"threads": 1})
    job.run = RunLength(warmup_s=0.05, min_duration_s=60, max_duration_s=120)
    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(90), c.remove_node(nodes["board-b"])), daemon=True).start()
    t0 = time.monotonic()
    result = transport.run(job, lambda p, f, i: started.set() if p == "measure" else None)
    assert result.status == "infra-error", result.error
    assert time.monotonic() - t0 < 60
    assert "no live Ray node carries" in transport.health()


def test_a_model_with_external_data_travels_with_its_weights(cluster, job_for, external_model):
    from agents import modelfiles

    c, _ = cluster
    path = external_model(location="weights/mlp.data")
    job = job_for(path, "onnxruntime", options={"threads": 1})
    job.model.sha256, job.model.companions = modelfiles.describe(path)
    result = RayTransport(resource="device:board-a", address=c.address).run(job)  # board-b is removed above
    assert result.status == "ok", (result.error, result.traceback)


def test_int8_calibrated_on_a_folder_shipped_file_by_file(cluster, model_file, job_for, tmp_path):
    import numpy as np

    from agents.inputs import calibration_sha256

    c, _ = cluster
    folder = tmp_path / "calib"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"{i}.npy", np.random.default_rng(i).standard_normal((1, 3, 64, 64)).astype(np.float32))
    np.savez(folder / "z.npz", input=np.zeros((1, 3, 64, 64), np.float32))
    job = job_for(model_file("resnet"), "onnxruntime", options={"threads": 1})
    job.variant.precision = "int8"
    job.calibration.path, job.calibration.sha256 = str(folder), calibration_sha256(str(folder))
    result = RayTransport(resource="device:board-a", address=c.address).run(job)
    assert result.status == "ok", (result.error, result.traceback)
    assert "calibrated on user data" in result.environment["artifact"]["tool_versions"]["quantization"]


def test_a_job_for_a_resource_no_live_node_carries_fails_fast(cluster, model_file, job_for):
    c, _ = cluster
    t0 = time.monotonic()
    result = RayTransport(resource="device:board-zz", address=c.address).run(
        job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}))
    assert result.status == "infra-error"
    assert "no live Ray node carries the resource device:board-zz" in result.error
    assert time.monotonic() - t0 < 60


def test_a_ray_devices_pip_list_reaches_its_transport_and_is_checked(tmp_path):
    import yaml

    from inventory.loader import load_inventory
    from inventory.yamlsrc import InventoryError
    from orchestrator.execute.devices import transport_for

    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump({"devices": [
        {"name": "gpu-01", "transport": "ray", "pip": ["onnxruntime-gpu==1.20.1", "six"]},
        {"name": "cpu-01", "transport": "ray"}]}))
    inventory = load_inventory(lab)
    assert transport_for(inventory.devices["gpu-01"]).pip == ["onnxruntime-gpu==1.20.1", "six"]
    assert transport_for(inventory.devices["cpu-01"]).pip == []
    lab.write_text(yaml.safe_dump({"devices": [{"name": "gpu-01", "transport": "ray", "pip": {"six": 1}}]}))
    with pytest.raises(InventoryError, match="field 'pip'.*expected a list of strings"):
        load_inventory(lab)
    lab.write_text(yaml.safe_dump({"devices": [{"name": "cpu0", "pip": ["six"]}]}))
    with pytest.raises(InventoryError, match="'pip' is a field of transport ray"):
        load_inventory(lab)
