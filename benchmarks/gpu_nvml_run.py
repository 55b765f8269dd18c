"""A real agent job with the NVML power sensor: `python -m agents run` on a zoo model, power sampled
from the GPU's energy counter over the measured window. Needs only the agent's own dependencies
(numpy, onnx, onnxruntime, nvidia-ml-py), so it runs on a bare GPU machine.

    python benchmarks/gpu_nvml_run.py [MODEL] [ENGINE]

Prints the power fields of the RunResult. The inference runs wherever the engine runs (ONNX
Runtime's CPU provider unless the engine is tensorrt): the GPU figures are then the board's idle
draw during that window, which is what this checks -- the sensor path, not a GPU workload.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.runner import sha256_file  # noqa: E402
from agents.spec import JobSpec, ModelRef, PowerSpec, RunLength, Variant  # noqa: E402
import zoo  # noqa: E402


def main() -> int:
    model = sys.argv[1] if len(sys.argv) > 1 else "resnet"
    engine = sys.argv[2] if len(sys.argv) > 2 else "onnxruntime"
    with tempfile.TemporaryDirectory() as tmp:
        path = zoo.save(model, Path(tmp) / f"{model}.onnx")
        spec = JobSpec(job_id=uuid.uuid4().hex[:16],
                       model=ModelRef(str(path), sha256_file(path), name=model),
                       variant=Variant(engine),
                       run=RunLength(warmup_s=0.5, min_duration_s=3.0, max_duration_s=10.0),
                       power=PowerSpec(sensor="nvml", idle_s=1.0))
        out = subprocess.run([sys.executable, "-m", "agents", "run", "-"], input=spec.to_json(),
                             capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    result = json.loads(out.stdout.strip().splitlines()[-1])
    metrics = result["metrics"]
    keys = sorted(k for k in metrics if k.startswith(("power", "energy", "idle", "gpu")))
    print(json.dumps({"status": result["status"], "error": result.get("error"),
                      "p50_ms": metrics.get("latency_p50_ms"),
                      **{k: metrics[k] for k in keys},
                      "power": result["environment"].get("power"),
                      "flags": result.get("flags"),
                      "trace_points": len((result.get("power_trace") or {}).get("t_s", []))}, indent=1, default=str))
    return 0 if result["status"] == "ok" and metrics.get("energy_j") else 1


if __name__ == "__main__":
    sys.exit(main())
