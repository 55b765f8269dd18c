"""int8 and fp16 speedup over fp32, per engine, on the zoo CNNs, with the accuracy beside it.

For each model, one `bench run MODEL --engine ENGINES --precision fp32,fp16,int8
--calibration CAL.npz --threads N --json` (ENGINES: --engines, default onnxruntime,openvino;
calibration: 32 sets drawn from the same distribution as the inputs the harness times). Speedup = fp32 p50 / variant p50 of the same
engine in the same invocation. Skipped variants are listed with their reason.

Reproduce, from the repository root, on an otherwise idle machine:

    .venv/bin/python benchmarks/precision_matrix.py --models resnet,mobilenetv2 --threads 2 --duration 10
    .venv/bin/python benchmarks/precision_matrix.py --engines onnxruntime,ncnn,mnn,tvm --threads 2 --duration 10
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import BIN, markdown_table, positive_float, positive_int, run_tool, write_json

import zoo


def _measure(model: str, args, tmp: Path) -> list[dict]:
    import json
    path = zoo.save(model, tmp / f"{model}.onnx")
    shape = (32, 1, 3, 64, 64)
    np.savez(tmp / "cal.npz", input=np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    cmd = [str(BIN / "bench"), "run", str(path), "-e", args.engines, "-p", "fp32,fp16,int8",
           "--calibration", str(tmp / "cal.npz"), "--threads", str(args.threads),
           "--duration", f"{args.duration:g}", "--json", "--db", str(tmp / "bench.db"),
           "--cache-dir", str(tmp / "cache")]
    runs = json.loads(run_tool(cmd, timeout_s=30 * args.duration + 600).stdout)
    return [_row(model, r) for r in runs]


def _row(model: str, r: dict) -> dict:
    m, v = r["metrics"], r["job"]["variant"]
    return {"model": model, "engine": v["engine"], "precision": v["precision"], "status": r["status"],
            "p50_ms": m.get("latency_p50_ms"), "cosine": m.get("accuracy_cosine_min"),
            "top1": m.get("accuracy_top1_agreement"), "reason": r.get("error")}


def _table(rows: list[dict]) -> str:
    fp32 = {(r["model"], r["engine"]): r["p50_ms"] for r in rows if r["precision"] == "fp32"}
    out = []
    for r in rows:
        base = fp32.get((r["model"], r["engine"]))
        speedup = f"{base / r['p50_ms']:.2f}x" if r["p50_ms"] and base else "-"
        out.append([r["model"], r["engine"], r["precision"],
                    f"{r['p50_ms']:.4f}" if r["p50_ms"] else f"skipped: {r['reason']}", speedup,
                    f"{r['cosine']:.5f}" if r["cosine"] is not None else "-",
                    f"{r['top1']:.3f}" if r["top1"] is not None else "-"])
    return markdown_table(["model", "engine", "precision", "p50 ms", "speedup vs fp32", "cosine", "top-1"], out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet,mobilenetv2")
    ap.add_argument("--engines", default="onnxruntime,openvino")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--duration", type=positive_float, default=10.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows: list[dict] = []
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            rows += _measure(model, args, Path(tmp))
    print(_table(rows))
    write_json(args.out, {"threads": args.threads, "duration_s": args.duration,
                          "engines": args.engines, "rows": rows})


if __name__ == "__main__":
    main()
