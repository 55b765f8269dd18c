"""schemathesis against the served OpenAPI schema (coverage, fuzzing and stateful phases,
with a write token): no generated request may make the server answer 5xx. Bounded: 15
examples per operation, a fixed seed, about 30 s here."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_no_generated_request_gets_a_server_error(api, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()", "run", f"{api.url}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "15", "--seed", "1",
         "--header", f"Authorization: Bearer {api.token}", "--workers", "2",
         "--generation-database", "none", "--suppress-health-check", "all", "--no-color",
         "--request-timeout", "30"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "generated" in out.stdout
