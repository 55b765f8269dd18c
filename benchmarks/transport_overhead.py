"""Orchestration cost per job beyond the measured run, over local, SSH (loopback) and Ray.

Each transport runs the same job several times (zoo `resnet` at batch 4, about 1 ms per
inference here, 1 s measured); the first job of each transport warms it (agent upload, model
transfer, SSH connection, Ray worker and engine imports) and is not counted. Cost of a job =
wall time of `Transport.run` minus the agent's own time for the job (RunResult `started_at` to
`finished_at`), i.e. what the transport adds: process start, connection, transfers, placement.
Targets: <= 0.5 s per job over SSH with a warm connection, <= 0.1 s over Ray.

Reproduce, from the repository root (needs openssh-server and the ssh/ray extras):

    .venv/bin/python benchmarks/transport_overhead.py --jobs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from _common import markdown_table, positive_int, write_json

from agents.runner import sha256_file
from agents.spec import JobSpec, ModelRef, RunLength, Variant
import zoo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/orchestrator/transports"))


def _job(model: Path) -> JobSpec:
    return JobSpec(job_id=uuid.uuid4().hex[:16], model=ModelRef(str(model), sha256_file(model)),
                   variant=Variant("onnxruntime", options={"threads": 2}),
                   run=RunLength(warmup_s=0.2, min_duration_s=1.0, min_iterations=10))


def _cost(transport, model: Path) -> float:
    t0 = time.monotonic()
    r = transport.run(_job(model))
    wall = time.monotonic() - t0
    if r.status != "ok":
        raise RuntimeError(f"{type(transport).__name__}: {r.status}: {r.error}")
    agent = (datetime.fromisoformat(r.finished_at) - datetime.fromisoformat(r.started_at)).total_seconds()
    return wall - agent


def _transports(tmp: Path):
    from orchestrator.transports.local import LocalTransport
    yield "local", LocalTransport(), None
    from sshd import Sshd
    from orchestrator.transports.ssh import SshTransport
    server = Sshd(tmp)
    yield "ssh (loopback)", SshTransport(**server.settings(python=sys.executable, remote_dir=str(tmp / "board"))), server.stop
    import ray
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1, resources={"device:bench": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="benchlab", log_to_driver=False)
    from orchestrator.transports.ray import RayTransport
    yield "ray (local cluster)", RayTransport(resource="device:bench", address=cluster.address), \
        lambda: (ray.shutdown(), cluster.shutdown())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=positive_int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        model = zoo.save("resnet", Path(tmp) / "resnet b4.onnx", batch=4)
        for name, transport, stop in _transports(Path(tmp)):
            _cost(transport, model)  # warm-up job: uploads, connection, imports
            costs = [_cost(transport, model) for _ in range(args.jobs)]
            data[name] = costs
            rows.append([name, f"{statistics.median(costs):.3f}", f"{min(costs):.3f}", f"{max(costs):.3f}"])
            print(f"{name}: median {statistics.median(costs):.3f} s per job", flush=True)
            if stop:
                stop()
    print(markdown_table(["transport", "median s/job", "min s", "max s"], rows))
    write_json(args.out, {"jobs": args.jobs, "cost_s": data})


if __name__ == "__main__":
    main()
