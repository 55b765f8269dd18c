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
