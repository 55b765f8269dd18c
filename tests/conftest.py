"""Shared fixtures: zoo models on disk, short run lengths, and databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import onnx
import pytest

from agents.runner import sha256_file
from agents.spec import JobSpec, ModelRef, RunLength, Variant
import zoo

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("BENCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU")


@pytest.fixture(autouse=True, scope="session")
def artifact_cache(tmp_path_factory):
    """Compiled artifacts of the whole test session go to a temporary cache, not ~/.cache."""
    path = tmp_path_factory.mktemp("artifact-cache")
    old = os.environ.get("BENCH_CACHE_DIR")
    os.environ["BENCH_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("BENCH_CACHE_DIR", None)
    else:
        os.environ["BENCH_CACHE_DIR"] = old


@pytest.fixture
def short_length() -> RunLength:
    """A run length that keeps each measured job well under a second."""
    return RunLength(warmup_iterations=3, warmup_s=0.05, min_iterations=20,
                     min_duration_s=0.2, max_duration_s=5.0)


@pytest.fixture
def model_file(tmp_path):
    """Factory: write a zoo model (or any ModelProto) into tmp_path and return its path."""

    def make(name: str | onnx.ModelProto, batch: int | None = 1, filename: str | None = None) -> Path:
        if isinstance(name, onnx.ModelProto):
            path = tmp_path / (filename or f"{name.graph.name or 'model'}.onnx")
            onnx.save(name, str(path))
            return path
        return zoo.save(name, tmp_path / (filename or f"{name}.onnx"), batch=batch)

    return make


@pytest.fixture
def job_for(short_length):
    """Factory: a JobSpec for a model file and an engine, with a short run length."""

    def make(path: Path, engine: str, **kwargs) -> JobSpec:
        return JobSpec(job_id=uuid.uuid4().hex[:16],
                       model=ModelRef(str(path), sha256_file(path), name=path.stem),
                       variant=Variant(engine, options=kwargs.pop("options", {})),
                       run=short_length, **kwargs)

    return make


def _pg_database():
    """Create a throw-away PostgreSQL database; None (with the reason) when the server is absent."""
    import sqlalchemy as sa

    name = f"bench_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        return None, admin, name, str(e).splitlines()[0]
    return PG_URL.rsplit("/", 1)[0] + f"/{name}", admin, name, None


@pytest.fixture(scope="session")
def pg_url():
    """URL of a fresh PostgreSQL database for this test session (dropped afterwards).

    Skipped when the server is unreachable, except under CI=true, where it must be there.
    """
    url, admin, name, reason = _pg_database()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required under CI: {reason}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    yield url
    import sqlalchemy as sa
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """Each database test runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bench.db'}"
    base = request.getfixturevalue("pg_url")
    # One database per session, so each test gets its own schema-free slate: drop all tables.
    import sqlalchemy as sa
    from sqlmodel import SQLModel
    eng = sa.create_engine(base)
    SQLModel.metadata.drop_all(eng)
    with eng.begin() as conn:  # so that open_db migrates the empty database from scratch
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    eng.dispose()
    return base


@pytest.fixture
def lstm():
    """Factory: a recurrent ONNX model, sequence-major input [seq, batch=1, 8] plus its state
    in and out; `lstm("time")` names the sequence axis."""
    return _lstm


def _lstm(seq_name: str = "seq"):
    """A recurrent model: sequence-major input [seq, batch=1, 8] plus its state in and out."""
    import numpy as np
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng, hidden = np.random.default_rng(0), 16
    weights = [nh.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n)
               for n, s in (("W", (1, 4 * hidden, 8)), ("R", (1, 4 * hidden, hidden)))]
    node = h.make_node("LSTM", ["x", "W", "R", "", "", "h0", "c0"], ["y", "hn", "cn"], hidden_size=hidden)
    io = lambda n, s: h.make_tensor_value_info(n, T.FLOAT, s)  # noqa: E731
    graph = h.make_graph([node], "lstm", [io("x", [seq_name, 1, 8]), io("h0", [1, 1, hidden]),
                                          io("c0", [1, 1, hidden])],
                         [io("y", [seq_name, 1, 1, hidden]), io("hn", [1, 1, hidden]),
                          io("cn", [1, 1, hidden])], weights)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="session")
def bench():
    """The real `bench` CLI in a child process: bench(*args, cwd=..., env=...) -> CompletedProcess.
    Session-scoped (it holds no state), so module fixtures may use it too."""
    return _bench


def _bench(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
