"""Building a device's transport from its inventory entry and what `bench fleet setup` recorded."""

import yaml

from inventory import load_inventory
from orchestrator.execute.devices import transport_for


def _device(tmp_path, **extra):
    entry = {"name": "ray-01", "transport": "ray", "address": "ray://ray-head.lab.example:10001", **extra}
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump({"devices": [entry]}))
    return load_inventory(str(tmp_path / "lab.yaml")).devices["ray-01"]


def test_a_ray_device_gets_the_packages_setup_installed(tmp_path):
    setup = {"packages": ["numpy", "onnxruntime"], "python": "/tmp/ray/session/virtualenv/bin/python"}
    assert transport_for(_device(tmp_path), setup=setup).pip == ["numpy", "onnxruntime"]
    assert transport_for(_device(tmp_path)).pip == []


def test_the_inventory_pip_list_wins_over_setup(tmp_path):
    transport = transport_for(_device(tmp_path, pip=["six"]), setup={"packages": ["numpy"]})
    assert transport.pip == ["six"]
