"""Fixtures of the transport tests: a real sshd per test module."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sshd import SSHD, Sshd  # noqa: E402


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd for the tests of one module (skipped only where OpenSSH is not installed)."""
    if not Path(SSHD).exists():
        if os.environ.get("CI"):
            pytest.fail("openssh-server is required under CI (make test installs it)")
        pytest.skip("openssh-server is not installed (make test installs it)")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def external_model(tmp_path):
    """Factory: the zoo mlp saved with its weights as ONNX external data at `location`."""
    import onnx

    import zoo

    def make(location: str = "mlp.weights") -> Path:
        path = tmp_path / "ext" / "mlp.onnx"
        (path.parent / location).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(zoo.build("mlp"), str(path), save_as_external_data=True,
                  all_tensors_to_one_file=True, location=location, size_threshold=0)
        return path

    return make
