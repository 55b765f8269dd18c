"""Helpers of the server tests: `bench serve` started for real (a child process on a loopback
port), tokens, fresh PostgreSQL databases, raw-socket requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
PG_URL = os.environ.get("BENCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UPLOAD_LIMIT_MB = 8


@dataclass
class Server:
    """A running `bench serve`: its URL, database, model store, and a token of each kind."""

    url: str
    db: str
    store: Path
    proc: subprocess.Popen
    token: str
    read_token: str

    def client(self, token: str | None = "write", **kw) -> httpx.Client:
        """An HTTP client with the write token, the read-only one, None, or a given string."""
        value = {"write": self.token, "read": self.read_token}.get(token, token)
        headers = {"Authorization": f"Bearer {value}"} if value else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def start_server(db: str, store: Path, *args: str, env: dict | None = None) -> Server:
    """Create two tokens, start `bench serve --port 0`, wait until /healthz answers."""
    from results import auth
    from results.db import open_db

    engine = open_db(db)
    _, token = auth.create_token(engine, f"writer-{uuid.uuid4().hex[:6]}")
    _, read_token = auth.create_token(engine, f"reader-{uuid.uuid4().hex[:6]}", read_only=True)
    engine.dispose()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "serve", "--db", db, "--port", "0",
         "--models", str(store), "--log-level", "warning", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        pytest.fail(f"bench serve did not start: {line}{proc.stderr.read()[-3000:]}")
    url = line.split()[2]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return Server(url, db, store, proc, token, read_token)


def stop_server(server: Server) -> str:
    """SIGTERM (graceful: the dispatcher puts running jobs back), then its stderr."""
    server.proc.send_signal(signal.SIGTERM)
    try:
        _, err = server.proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        _, err = server.proc.communicate()
    return err


def fresh_pg_database() -> tuple[str, callable]:
    """A new PostgreSQL database and its dropper; skips (fails under CI) without a server."""
    import sqlalchemy as sa

    name = f"bench_srv_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required under CI: {e}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_URL.rsplit("/", 1)[0] + f"/{name}", drop


def raw_request(url: str, head: list[str]) -> socket.socket:
    """Open a socket to the server and send a request line and headers (no body yet)."""
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the response on a raw socket (until the server closes or the
    declared length arrives)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked transfer encoding."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
