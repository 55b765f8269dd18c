"""The Ray transport on a board that has Ray, numpy, onnxruntime (and virtualenv, for Ray's pip
environments) and nothing of benchlab: a worker node started from its own environment (built
once and cached, see raybare.py), to which every task brings the agent in its runtime_env."""

import contextlib
import os
from pathlib import Path

import pytest

import agents
from agents.errors import InfraError

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

from orchestrator.transports.ray import RayTransport, runtime_env  # noqa: E402
from raybare import BUILD_TIMEOUT_S, BareNode, bare_python  # noqa: E402  (conftest puts it on sys.path)

RESOURCE = "device:bare"
# The first session on a machine builds the board's environment (pip install ray, onnxruntime).
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 300)


@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A head without devices and one node from the bare environment carrying `device:bare`.

    Returns:
        (cluster, the bare environment's python)
    """
    python = bare_python(ray.__version__)
    root = tmp_path_factory.mktemp("bare-node")
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    node = None
    try:
        # ray.init puts the driver's working directory on every worker's sys.path: were it the
        # repository, the board would import benchlab from there and prove nothing.
        with _cwd(root):
            ray.init(address=c.address, namespace="benchlab", log_to_driver=False)
        node = BareNode(python, c.address, RESOURCE, root)
        node.wait_joined(ray, RESOURCE)
        yield c, python
    finally:
        ray.shutdown()
        if node is not None:
            node.stop()
        c.shutdown()


def _on_board(env: dict | None = None, names=("agents", "orchestrator", "onnxruntime")) -> tuple[str, dict]:
    """(the interpreter of a task on the board, which of `names` it can import)."""

    def importable():  # nested: cloudpickle ships it by value, the board has no test module
        import importlib.util
        import sys
        return sys.executable, {m: importlib.util.find_spec(m) is not None for m in names}

    options = {"resources": {RESOURCE: 1}, "num_cpus": 0, **({"runtime_env": env} if env else {})}
    return ray.get(ray.remote(importable).options(**options).remote(), timeout=600)


def test_the_board_has_no_benchlab_and_tasks_bring_the_agent(bare):
    _, python = bare
    exe, plain = _on_board()
    assert exe == str(python)
    assert plain == {"agents": False, "orchestrator": False, "onnxruntime": True}
    _, shipped = _on_board(runtime_env([]))
    assert shipped == {"agents": True, "orchestrator": False, "onnxruntime": True}


def test_a_job_runs_on_the_bare_board(bare, model_file, job_for):
    c, _ = bare
    phases = []
    result = RayTransport(resource=RESOURCE, address=c.address).run(
        job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}),
        lambda p, f, i: phases.append(p))
    assert result.status == "ok", (result.error, result.traceback)
    assert result.metrics["iterations"] >= 20 and "done" in phases
    assert result.environment["agent_version"] == agents.__version__


def test_the_probe_runs_through_the_agent_on_the_bare_board(bare):
    c, _ = bare
    probe = RayTransport(resource=RESOURCE, address=c.address).probe()
    assert probe["engines"]["onnxruntime"]["available"] is True
    assert probe["environment"]["agent_version"] == agents.__version__
    assert set(probe) >= {"environment", "engines", "power_sensors"}


def test_setup_builds_the_pip_environment_that_jobs_then_use(bare, model_file, job_for):
    c, python = bare
    assert _on_board(names=("six",))[1] == {"six": False}  # else this test proves nothing
    transport = RayTransport(resource=RESOURCE, address=c.address, pip=["six"])
    probe = transport.setup(["six"])
    assert probe["engines"]["onnxruntime"]["available"] is True
    assert probe["python"] != str(python)  # Ray's virtualenv over the board's environment
    exe, found = _on_board(runtime_env(["six"]), names=("six", "agents"))
    assert exe == probe["python"] and found == {"six": True, "agents": True}
    result = transport.run(job_for(model_file("mlp"), "onnxruntime", options={"threads": 1}))
    assert result.status == "ok", (result.error, result.traceback)


def test_setup_that_pip_cannot_satisfy_says_what_pip_said(bare):
    c, _ = bare
    with pytest.raises(InfraError) as e:
        RayTransport(resource=RESOURCE, address=c.address).setup(["benchlab-no-such-package==0.0.1"])
    assert "benchlab-no-such-package" in str(e.value)
    assert "No matching distribution" in str(e.value)
