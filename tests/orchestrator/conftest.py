"""Fixtures of the fleet and queue tests: inventories of local devices, interpreters that
behave like a broken board or a board without an engine, and a dispatcher run with a deadline."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from agents.spec import RunLength

FAST_FLAGS = ["--warmup", "0.05", "--duration", "0.3", "--iterations", "20", "--threads", "1"]


@pytest.fixture
def fast_flags() -> list[str]:
    """Run-length flags of `bench submit` that keep a job well under a second of measuring."""
    return list(FAST_FLAGS)


@pytest.fixture
def fast_length():
    """Factory: the RunLength of `fast_flags` (plus any field given)."""
    return lambda **kw: RunLength(warmup_s=0.05, min_duration_s=0.3, min_iterations=20,
                                  max_duration_s=60.0, **kw)


@pytest.fixture
def lab_file(tmp_path):
    """Factory: an inventory YAML of the given device mappings; returns its path."""

    def make(*devices: dict, name: str = "lab.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"devices": list(devices)}, sort_keys=False))
        return path

    return make


@pytest.fixture
def broken_python(tmp_path):
    """An interpreter that fails like an unplugged board while `flag` exists, else the real one.

    Returns:
        (interpreter path, flag path)
    """
    flag = tmp_path / "unplugged"
    script = tmp_path / "python-broken"
    script.write_text(f"#!/bin/sh\nif [ -e '{flag}' ]; then echo 'board unplugged' >&2; exit 3; fi\n"
                      f"exec '{sys.executable}' \"$@\"\n")
    script.chmod(0o755)
    return script, flag


@pytest.fixture
def python_without(tmp_path):
    """Factory: an interpreter for which `engine`'s SDK does not import (a board without it)."""

    def make(engine_module: str) -> Path:
        fake = tmp_path / f"no-{engine_module}"
        (fake / engine_module).mkdir(parents=True)
        (fake / engine_module / "__init__.py").write_text(
            f"raise ImportError('{engine_module} is not installed on this board')\n")
        script = tmp_path / f"python-no-{engine_module}"
        script.write_text(f"#!/bin/sh\nPYTHONPATH='{fake}':\"$PYTHONPATH\" exec '{sys.executable}' \"$@\"\n")
        script.chmod(0o755)
        return script

    return make


@pytest.fixture
def run_until():
    """run_until(dispatcher, until, timeout_s): run it in a thread until `until()` holds."""
    return _run_until


def _run_until(dispatcher, until, timeout_s: float = 60.0) -> None:
    """Run a dispatcher in a thread until `until()` holds; fail after `timeout_s`."""
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, kwargs={"until": until, "stop": stop}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.1)
    if thread.is_alive():
        stop.set()
        thread.join(30)
        pytest.fail(f"dispatcher did not finish within {timeout_s:g} s")
