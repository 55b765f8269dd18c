"""The inventory file: devices, transports, groups, defaults; bad input names file, line, device, field."""

from pathlib import Path

import pytest

from inventory import InventoryError, load_inventory
from inventory.model import LocalConfig, SshConfig

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text, name="lab.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_inventory_loads_with_every_transport():
    inv = load_inventory(ROOT / "inventory/lab.example.yaml")
    assert list(inv.devices) == ["cpu0", "cpu1", "jetson-01", "a100-01"]
    cpu0, jetson = inv.devices["cpu0"], inv.devices["jetson-01"]
    assert cpu0.connection == LocalConfig(cpus=(0,), threads=1) and cpu0.groups == ("desk",)
    assert inv.devices["cpu1"].engines == ("onnxruntime",)  # from defaults
    assert jetson.connection == SshConfig("jetson-01.lab.example", 22, "bench", "~/.ssh/benchlab", "~/.ssh/known_hosts",
                                          remote_dir="/home/bench/.cache/benchlab")
    assert jetson.power.sensor == "jetson" and jetson.cost.cost_per_hour_usd == 0.05
    assert inv.devices["a100-01"].connection.resource == "device:a100-01"
    assert inv.groups == {"desk": ("cpu0", "cpu1"), "shelf-b": ("jetson-01",)}


def test_no_inventory_file_means_the_local_device(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BENCH_INVENTORY", raising=False)
    assert list(load_inventory().devices) == ["local"]
    write(tmp_path, "devices:\n  - name: here\n")
    assert list(load_inventory().devices) == ["here"]  # ./lab.yaml when present
    other = write(tmp_path, "devices:\n  - name: env\n", "other.yaml")
    monkeypatch.setenv("BENCH_INVENTORY", str(other))
    assert list(load_inventory().devices) == ["env"]


def test_cpu_lists_in_every_spelling(tmp_path):
    inv = load_inventory(write(tmp_path, """devices:
  - {name: a, cpus: 0}
  - {name: b, cpus: "0-2,5"}
  - {name: c, cpus: [3, 1]}
"""))
    assert [d.connection.cpus for d in inv.devices.values()] == [(0,), (0, 1, 2, 5), (1, 3)]


@pytest.mark.parametrize("text, message", [
    ("devices:\n  - name: a\n    tagz: [x]\n",
     "lab.yaml:3: device 'a': field 'tagz': unknown key 'tagz' in a local device; did you mean 'tags'?"),
    ("devices:\n  - name: a\n    transport: ssh\n    host: h\n    port: many\n",
     "lab.yaml:5: device 'a': field 'port': expected an integer, got str 'many'"),
    ("devices:\n  - name: a\n    host: h\n",
     "lab.yaml:3: device 'a': field 'host': 'host' is a field of transport ssh; this device uses local"),
    ("devices:\n  - name: a\n    transport: telnet\n",
     "lab.yaml:3: device 'a': field 'transport': unknown transport 'telnet'; known: local, ssh, ray"),
    ("devices:\n  - name: a\n    transport: ssh\n",
     "device 'a': field 'host': an ssh device needs a host"),
    ("devices:\n  - name: a\n  - name: b\n  - name: a\n",
     "lab.yaml:4: device 'a': field 'name': duplicate device name (first defined at"),
    ("devices:\n  - name: a\n    cost: {price: 3}\n",
     "device 'a': field 'cost.price': unknown key 'price' in cost"),
    ("devices:\n  - name: a\n    power: {sensor: rapl, options: {bogus: 1}}\n",
     "device 'a': field 'power'"),
    ("devicez: []\n", "lab.yaml:1: field 'devicez': unknown key 'devicez' in the inventory; did you mean 'devices'?"),
    ("devices:\n  - name: a\ngroups:\n  g: [a, bee]\n",
     "lab.yaml:4: field 'groups.g': unknown device 'bee'"),
    ("devices:\n  - name: a\n    threads: 0\n", "field 'threads': must be >= 1, got 0"),
])
def test_bad_inventory_is_one_line_naming_file_line_device_and_field(tmp_path, text, message):
    with pytest.raises(InventoryError) as e:
        load_inventory(write(tmp_path, text))
    assert message in str(e.value).replace(str(tmp_path) + "/", "")
    assert "\n" not in str(e.value)


def test_yaml_syntax_error_has_its_line(tmp_path):
    path = write(tmp_path, "devices:\n  - name: a\n    tags: [x\n  - name: b\n")
    with pytest.raises(InventoryError, match=r"lab.yaml:\d+: not valid YAML"):
        load_inventory(path)


def test_duplicate_yaml_key_is_refused_with_both_lines(tmp_path):
    path = write(tmp_path, "devices:\n  - name: a\n    arch: x86_64\n    arch: aarch64\n")
    with pytest.raises(InventoryError, match=r"lab.yaml:4: duplicate key 'arch' \(first at line 3\)"):
        load_inventory(path)


def test_missing_inventory_file_is_a_user_error(tmp_path):
    with pytest.raises(InventoryError, match="nope.yaml: cannot read"):
        load_inventory(tmp_path / "nope.yaml")
