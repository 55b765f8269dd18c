"""Selectors: name/tag/arch/group, union with ',', intersection with '+', nearest names on a miss."""

import pytest

from inventory import load_inventory, select
from inventory.selectors import SelectorError

LAB = """devices:
  - {name: jetson-01, tags: [jetson, gpu], arch: aarch64}
  - {name: jetson-02, tags: [jetson, gpu], arch: aarch64}
  - {name: x86-01, tags: [cpu], arch: x86_64}
  - {name: rpi-01, tags: [cpu, arm], arch: aarch64}
groups:
  lab-a: [jetson-01, x86-01]
"""


@pytest.fixture
def inv(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(LAB)
    return load_inventory(path)


def names(inv, selector, **kw):
    return [d.name for d in select(inv, selector, **kw)]


@pytest.mark.parametrize("selector, expected", [
    ("name:x86-01", ["x86-01"]),
    ("x86-01", ["x86-01"]),
    ("name:jetson-*", ["jetson-01", "jetson-02"]),
    ("tag:cpu", ["x86-01", "rpi-01"]),
    ("arch:aarch64", ["jetson-01", "jetson-02", "rpi-01"]),
    ("group:lab-a", ["jetson-01", "x86-01"]),
    ("tag:jetson,tag:cpu", ["jetson-01", "jetson-02", "x86-01", "rpi-01"]),
    ("arch:aarch64+tag:cpu", ["rpi-01"]),
    ("tag:gpu+group:lab-a,name:rpi-01", ["jetson-01", "rpi-01"]),
    ("all", ["jetson-01", "jetson-02", "x86-01", "rpi-01"]),
])
def test_selectors(inv, selector, expected):
    assert names(inv, selector) == expected


@pytest.mark.parametrize("selector, message", [
    ("tag:jetsn", "selector 'tag:jetsn' matches no device; nearest tags: jetson"),
    ("name:jetson-3", "selector 'name:jetson-3' matches no device; nearest devices: jetson-02, jetson-01"),
    ("group:lab-b", "nearest groups: lab-a"),
    ("arch:mips", "selector 'arch:mips' matches no device; known archs: aarch64, x86_64"),
    ("tag:gpu+tag:arm", "selector 'tag:gpu+tag:arm' matches no device: no device is in all of its terms"),
    ("tags:gpu", "unknown kind 'tags'; did you mean 'tag:'?"),
    ("tag:gpu,,tag:cpu", "empty term"),
])
def test_selector_errors_name_the_nearest(inv, selector, message):
    with pytest.raises(SelectorError) as e:
        select(inv, selector)
    assert message in str(e.value)


def test_probed_arch_fills_in_a_device_without_one(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("devices:\n  - name: a\n  - name: b\n    arch: aarch64\n")
    inv = load_inventory(path)
    assert names(inv, "arch:x86_64", probed_arch={"a": "x86_64"}) == ["a"]
