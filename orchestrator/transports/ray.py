"""Boards in a Ray cluster: each job is a Ray task that needs the board's `device:NAME` resource.

Each board joins with one unit of its resource, e.g.
`ray start --address=HEAD:6379 --resources='{"device:jetson-01": 1}'`, so Ray places the task on
that board and never runs two at once there. The model travels through the object store and
lands in the node's content-addressed cache. A dead node, a crashed worker or an OOM kill comes
back as an `infra-error` RunResult, which the scheduler retries on another matching board.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from agents.errors import InfraError
from agents.inputs import calibration_files
from agents.runner import sha256_file
from agents.spec import JobSpec, RunResult
from orchestrator.transports.base import Progress, Transport
from orchestrator.transports.remote_job import infra_result

_init_lock = threading.Lock()
NODE_CHECK_S = 2.0  # how often a waiting job checks that a live node still carries its resource


class RayTransport(Transport):
    """Runs jobs as Ray tasks pinned to one device resource.

    Args:
        resource: the custom resource the board carries, e.g. `device:jetson-01`.
        address: the cluster (default: RAY_ADDRESS or a cluster started on this host).
        job_timeout_s: per-job limit when the JobSpec sets none.
    """

    def __init__(self, resource: str, address: str | None = None, job_timeout_s: float = 3600.0):
        self.resource, self.address, self.job_timeout_s = resource, address, job_timeout_s
        self._refs: dict[str, Any] = {}

    def _ray(self) -> Any:
        import ray

        with _init_lock:
            if not ray.is_initialized():
                ray.init(address=self.address or "auto", namespace="benchlab",
                         log_to_driver=False, ignore_reinit_error=True)
        return ray

    def _task(self, ray: Any, fn: Any) -> Any:
        return ray.remote(fn).options(resources={self.resource: 1}, num_cpus=0, max_retries=0)

    def health(self) -> str | None:
        try:
            ray = self._ray()
        except Exception as e:
            return f"ray cluster {self.address or 'auto'} unreachable: {e}"
        nodes = [n for n in ray.nodes() if n.get("Alive") and self.resource in n.get("Resources", {})]
        return None if nodes else f"no live Ray node carries the resource {self.resource}"

    def probe(self) -> dict[str, Any]:
        ray = self._ray()
        try:
            return ray.get(self._task(ray, _probe_on_node).remote(), timeout=180)
        except Exception as e:
            raise InfraError(f"ray {self.resource}: probe failed: {e}") from e

    def put(self, local_path: Path) -> str:
        return str(Path(local_path).resolve())  # shipped by `run` through the object store

    def run(self, spec: JobSpec, on_progress: Progress | None = None) -> RunResult:
        try:
            ray = self._ray()
            from ray.util.queue import Queue
            queue = Queue(maxsize=1000, actor_options={"num_cpus": 0}) if on_progress else None
            from orchestrator.transports.ray_task import run_on_node
            ref = self._task(ray, run_on_node).remote(spec.to_json(), _files(spec), queue)
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
        except Exception as e:  # NodeDiedError, WorkerCrashedError, OutOfMemoryError, TaskCancelledError ...
            return infra_result(spec, f"ray {self.resource}: {type(e).__name__}: {_first_line(e)}")
        result.job = spec
        return result

    def cancel(self, job_id: str) -> None:
        ref = self._refs.get(job_id)
        if ref is not None:
            self._ray().cancel(ref, force=True)


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


def _probe_on_node() -> dict[str, Any]:
    from orchestrator.transports.local import LocalTransport
    return LocalTransport().probe()


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:300] if text else "no message"
