"""Boards in a Ray cluster: each job is a Ray task that needs the board's `device:NAME` resource.

Each board joins with one unit of its resource, e.g.
`ray start --address=HEAD:6379 --resources='{"device:jetson-01": 1}'`, so Ray places the task on
that board and never runs two at once there. The board needs `ray`, numpy and its engine SDK:
every task carries the agent in its runtime_env (`py_modules`: the SSH transport's zipapp, put
in the cluster's GCS once per content), and optional pip packages Ray installs on the board.
The model travels through the object store and lands in the node's content-addressed cache. A
dead node, a crashed worker or an OOM kill comes back as an `infra-error` RunResult, which the
scheduler retries on another matching board.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from agents import raynode
from agents.errors import InfraError, UserError
from agents.inputs import calibration_files
from agents.runner import sha256_file
from agents.spec import JobSpec, RunResult
from orchestrator.transports.agentpkg import build_zipapp
from orchestrator.transports.base import Progress, SetupOptions, Transport
from orchestrator.transports.remote_job import infra_result

_init_lock = threading.Lock()
_upload_lock = threading.Lock()
_uris: dict[Path, str] = {}
NODE_CHECK_S = 2.0  # how often a waiting job checks that a live node still carries its resource
PROBE_TIMEOUT_S = 180.0
# Building a pip environment can mean compiling a wheel on a small board: Ray's own limit on a
# runtime_env's setup (600 s by default) is raised to this for `setup`.
SETUP_TIMEOUT_S = 1800


class RayTransport(Transport):
    """Runs jobs as Ray tasks pinned to one device resource.

    Args:
        resource: the custom resource the board carries, e.g. `device:jetson-01`.
        address: the cluster (default: RAY_ADDRESS or a cluster started on this host).
        job_timeout_s: per-job limit when the JobSpec sets none.
        pip: packages Ray installs on the board for every task of this device (probe and jobs),
            e.g. `["onnxruntime-gpu==1.20.1"]`: a virtualenv over the node's Python, built once
            per list and kept by Ray (`setup` builds it ahead of the first job).
    """

    def __init__(self, resource: str, address: str | None = None, job_timeout_s: float = 3600.0,
                 pip: list[str] | None = None):
        self.resource, self.address, self.job_timeout_s = resource, address, job_timeout_s
        self.pip = list(pip or [])
        self._refs: dict[str, Any] = {}

    def _ray(self) -> Any:
        import ray

        with _init_lock:
            if not ray.is_initialized():
                ray.init(address=self.address or "auto", namespace="benchlab",
                         log_to_driver=False, ignore_reinit_error=True)
        return ray

    def _task(self, ray: Any, fn: Any, pip: list[str] | None = None, config: dict | None = None) -> Any:
        env = runtime_env(self.pip if pip is None else pip)
        if config:
            env["config"] = config
        return ray.remote(fn).options(resources={self.resource: 1}, num_cpus=0, max_retries=0,
                                      runtime_env=env)

    def health(self) -> str | None:
        try:
            ray = self._ray()
        except Exception as e:
            return f"ray cluster {self.address or 'auto'} unreachable: {e}"
        nodes = [n for n in ray.nodes() if n.get("Alive") and self.resource in n.get("Resources", {})]
        return None if nodes else f"no live Ray node carries the resource {self.resource}"

    def probe(self) -> dict[str, Any]:
        return self._probe(self.pip, PROBE_TIMEOUT_S, "probe failed")

    def setup(self, packages: list[str], options: SetupOptions | None = None) -> dict[str, Any]:
        """Have Ray build the board's pip environment now rather than on the first job.

        Ray builds it on the node with the node's pip (`runtime_env["pip"]`), as a virtualenv
        over the node's own environment: the board's pip reaches its index whatever
        `options.source` says, and the node's packages are always seen.

        Args:
            packages: the pip requirements, as given to `RayTransport(pip=...)`; Ray keys the
                environment by this list, so jobs of a transport built with it reuse it.
            options: `fresh` cannot apply: Ray alone keeps and removes its environments.
        Returns:
            The agent's probe, run inside that environment, plus `python`: its interpreter (for
            the record: a path in Ray's session folder that Ray itself chooses for each task).
        Raises:
            UserError: `fresh` was asked for.
            InfraError: no live node carries the resource, or the environment cannot be built
                (the message holds Ray's whole error text, pip's output included).
        """
        if options is not None and options.fresh:
            raise UserError(f"ray {self.resource}: Ray keeps one pip environment per package list "
                            f"and removes it itself; there is no fresh setup")
        # Ray's own timeout ends first, so its error (pip's output) is what comes back.
        return self._probe(list(packages), SETUP_TIMEOUT_S + 60, f"cannot set up pip {list(packages)}",
                           raynode.prepared, {"setup_timeout_seconds": SETUP_TIMEOUT_S})

    def _probe(self, pip: list[str], timeout_s: float, failure: str,
               fn: Any = raynode.probe, config: dict | None = None) -> dict[str, Any]:
        gone = self.health()
        if gone is not None:  # a task no live node can take would wait out the whole timeout
            raise InfraError(f"ray {self.resource}: {failure}: {gone}")
        ray = self._ray()
        ref = None
        try:
            ref = self._task(ray, fn, pip, config).remote()
            return ray.get(ref, timeout=timeout_s)
        except Exception as e:
            if ref is not None:  # a timed-out probe must not hold the board
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise InfraError(f"ray {self.resource}: {failure}: {e}") from e

    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        try:
            ray = self._ray()
            from ray.util.queue import Queue
            queue = Queue(maxsize=1000, actor_options={"num_cpus": 0}) if on_progress else None
            ref = self._task(ray, raynode.run_on_node).remote(spec.to_json(), _files(spec), queue)
        except Exception as e:
            return infra_result(spec, f"ray {self.resource}: cannot submit the job: {e}")
        self._refs[spec.job_id] = ref
        try:
            return self._wait(ray, spec, ref, queue, on_progress)
        finally:
            self._refs.pop(spec.job_id, None)
            if queue is not None:
                queue.shutdown()

    def _wait(self, ray: Any, spec: JobSpec, ref: Any, queue: Any, on_progress: Progress | None) -> RunResult:
        timeout = spec.run.timeout_s or self.job_timeout_s
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + NODE_CHECK_S
        while not ray.wait([ref], timeout=0.1)[0]:
            _drain(queue, on_progress)
            if time.monotonic() > deadline:
                ray.cancel(ref, force=True)
                return infra_result(spec, f"ray {self.resource}: timed out after {timeout:g} s")
            if time.monotonic() > next_check:
                # A task for a resource no live node carries would wait in Ray's queue forever.
                next_check = time.monotonic() + NODE_CHECK_S
                gone = self.health()
                if gone is not None:
                    ray.cancel(ref, force=True)
                    return infra_result(spec, f"ray {self.resource}: {gone}")
        _drain(queue, on_progress)
        try:
            result = RunResult.from_json(ray.get(ref))
        except Exception as e:  # NodeDiedError, WorkerCrashedError, OutOfMemoryError, RuntimeEnvSetupError ...
            # The whole text (a remote traceback, pip's output) is kept as the run's traceback.
            return infra_result(spec, f"ray {self.resource}: {type(e).__name__}: {_first_line(e)}", str(e))
        result.job = spec
        return result

    def cancel(self, job_id: str) -> None:
        ref = self._refs.get(job_id)
        if ref is not None:
            self._ray().cancel(ref, force=True)


def runtime_env(pip: list[str]) -> dict[str, Any]:
    """What every task carries: the agent (`py_modules`) and the device's pip packages, if any."""
    env: dict[str, Any] = {"py_modules": [agent_uri()]}
    if pip:
        env["pip"] = list(pip)
    return env


def agent_uri() -> str:
    """The agent zipapp in the connected cluster's GCS: `gcs://_ray_pkg_<sha1 of the archive>.zip`.

    A task's runtime_env takes only URIs in `py_modules` (a local folder only at `ray.init`, which
    another caller may have made without it), so the archive goes into the GCS here the way
    `ray.init` puts a job's `py_modules` there: pinned for Ray's grace period so that it is not
    collected before a task refers to it, and uploaded only when the GCS does not hold it yet.
    Checked at every submit (one GCS look-up) rather than remembered: Ray garbage-collects the
    packages it no longer sees referenced.
    """
    from ray._private.runtime_env.packaging import (get_uri_for_package, package_exists,
                                                    pin_runtime_env_uri, upload_package_to_gcs)

    archive = build_zipapp()
    with _upload_lock:
        if archive not in _uris:
            _uris[archive] = get_uri_for_package(archive)
        uri = _uris[archive]
        pin_runtime_env_uri(uri)
        if not package_exists(uri):
            upload_package_to_gcs(uri, archive.read_bytes())
    return uri


def list_devices(address: str) -> list[tuple[str, str]]:
    """The `device:NAME` resources the live nodes of a Ray cluster offer, with their node.

    Raises:
        InfraError: the cluster cannot be reached.
    """
    import ray

    try:
        with _init_lock:
            if not ray.is_initialized():
                ray.init(address=address, namespace="benchlab", log_to_driver=False)
        nodes = ray.nodes()
    except Exception as e:
        raise InfraError(f"ray cluster {address} unreachable: {_first_line(e)}") from e
    return sorted((res, f"{n.get('NodeManagerAddress')} ({n['NodeID'][:12]})")
                  for n in nodes if n.get("Alive")
                  for res in n.get("Resources", {}) if res.startswith("device:"))


def _files(spec: JobSpec) -> dict[str, tuple[str, str, bytes]]:
    """Every file the job needs, keyed by its orchestrator path, with sha256 and name."""
    paths = [*spec.inputs.files.values()]
    if spec.inputs.npz:
        paths.append(spec.inputs.npz)
    out = {p: (sha256_file(Path(p)), Path(p).name, Path(p).read_bytes()) for p in paths}
    model = Path(spec.model.path)
    # The model and its companions share one folder on the node, named by the model's identity.
    out[spec.model.path] = (spec.model.sha256, model.name, model.read_bytes())
    for name in sorted(spec.model.companions):
        out[f"{spec.model.path}::{name}"] = (spec.model.sha256, name, (model.parent / name).read_bytes())
    calib = spec.calibration.path
    if calib and Path(calib).is_file():
        out[calib] = (sha256_file(Path(calib)), Path(calib).name, Path(calib).read_bytes())
    elif calib:
        for f in calibration_files(Path(calib)):
            out[str(f)] = (spec.calibration.sha256 or "calibration", f"{Path(calib).name}/{f.name}", f.read_bytes())
    return out


def _drain(queue: Any, on_progress: Progress | None) -> None:
    if queue is None or on_progress is None:
        return
    try:
        while not queue.empty():
            on_progress(*queue.get_nowait())
    except Exception:
        pass  # progress is best effort; the result is what counts


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:300] if text else "no message"
