"""An Ansible YAML inventory read as ssh devices, directly or included from lab.yaml."""

import pytest

from inventory import InventoryError, load_inventory, select

HOSTS = """all:
  vars:
    ansible_user: bench
  hosts:
    gateway:
      ansible_host: gw.lab.example
  children:
    jetsons:
      vars:
        benchlab_tags: [jetson, gpu]
        benchlab_arch: aarch64
        ansible_ssh_private_key_file: ~/.ssh/lab
      hosts:
        jetson-01: {ansible_host: jetson-01.lab.example}
        jetson-02: {ansible_host: jetson-02.lab.example, ansible_port: 2222, ansible_user: root}
    controller:
      hosts:
        ctl: {ansible_connection: local, benchlab_threads: 2}
"""


def test_hosts_become_ssh_devices_with_inherited_vars(tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text(HOSTS)
    inv = load_inventory(path)
    assert list(inv.devices) == ["gateway", "jetson-01", "jetson-02", "ctl"]
    j2 = inv.devices["jetson-02"]
    assert (j2.transport, j2.connection.host, j2.connection.port, j2.connection.user, j2.connection.key) == \
        ("ssh", "jetson-02.lab.example", 2222, "root", "~/.ssh/lab")
    assert j2.tags == ("jetson", "gpu") and j2.arch == "aarch64" and j2.groups == ("jetsons",)
    assert inv.devices["gateway"].connection.user == "bench"
    ctl = inv.devices["ctl"]
    assert ctl.transport == "local" and ctl.connection.threads == 2
    assert [d.name for d in select(inv, "group:jetsons")] == ["jetson-01", "jetson-02"]


def test_lab_yaml_includes_an_ansible_inventory(tmp_path):
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    lab = tmp_path / "lab.yaml"
    lab.write_text("ansible: hosts.yaml\ndevices:\n  - name: cpu0\n    cpus: [0]\n")
    inv = load_inventory(lab)
    assert "jetson-01" in inv.devices and "cpu0" in inv.devices
    lab.write_text("ansible: hosts.yaml\ndevices:\n  - name: jetson-01\n")
    with pytest.raises(InventoryError, match="duplicate device name"):
        load_inventory(lab)


def test_unknown_benchlab_var_is_refused_by_name_and_line(tmp_path):
    path = tmp_path / "hosts.yaml"
    path.write_text("all:\n  hosts:\n    h1:\n      benchlab_tag: [x]\n")
    with pytest.raises(InventoryError, match=r"hosts.yaml:4: device 'h1': field 'benchlab_tag': unknown benchlab var"):
        load_inventory(path)
