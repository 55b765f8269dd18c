"""Fidelity of benchlab's offline throughput on OpenVINO against `benchmark_app -hint throughput`.

Measures one zoo model (default `resnet`, batch 1) through both tools, several requests in
flight each:

    bench run MODEL --engine openvino --scenario offline --duration D --json --db TMP/bench.db
    benchmark_app -m MODEL -d CPU -hint throughput -infer_precision f32 -api async -t D

Why these flags:

- `--scenario offline` gives OpenVINO the THROUGHPUT hint (the engine's default for offline)
  and keeps OPTIMAL_NUMBER_OF_INFER_REQUESTS requests in flight through an AsyncInferQueue;
  `-hint throughput -api async` is benchmark_app's own way to do the same. Neither sets
  streams, threads or requests: both take what the hint chooses, and the script checks they
  agree (hint, streams, threads, precision, pinning, and the number of requests).
- `-infer_precision f32`: benchlab pins INFERENCE_PRECISION_HINT=f32 for an fp32 variant on CPU;
  without it this CPU (AVX-512 bf16) runs the model in bf16.

Reported: benchlab's `throughput_ips` (samples per second: completions x batch over the window
from the first submit to the last completion) against benchmark_app's Throughput (FPS), per
round and as a ratio of the medians over the rounds (target: >= 0.97). The tools alternate,
the first one switching each round. Both report a latency too, but each in its own way
(benchmark_app: the C++ request latency; benchlab: the Python submit-to-callback time), so only
the throughput is compared.

Reproduce (on an otherwise idle machine), from the repository root:

    .venv/bin/python benchmarks/fidelity_offline_openvino.py --model resnet --duration 10 \
        --rounds 5 --out build/perf/fidelity_offline_openvino.json
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (BIN, bench_run_cmd, bench_run_json, markdown_table, median, positive_float,
                     positive_int, run_tool, write_json)
from fidelity_openvino import COMPARED, _normal, parse_config, parse_report
import zoo

TARGET_RATIO = 0.97
_NIREQ = re.compile(r"Start inference asynchronously, (\d+) inference requests")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet", choices=sorted(zoo.ZOO), help="zoo model (default: resnet)")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size fixed in the model (default: 1)")
    p.add_argument("--duration", type=positive_float, default=10.0,
                   help="seconds measured per tool and round (default: 10)")
    p.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default: 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    return p.parse_args(argv)


def benchmark_app_cmd(model: Path, duration_s: float) -> list[str]:
    """benchmark_app in its throughput mode (see the module docstring)."""
    return [str(BIN / "benchmark_app"), "-m", str(model), "-d", "CPU", "-hint", "throughput",
            "-infer_precision", "f32", "-api", "async", "-t", f"{duration_s:g}"]


def bench_cmd(model: Path, duration_s: float, db: Path) -> list[str]:
    """`bench run --scenario offline` on OpenVINO, hint and requests left to the scenario."""
    return bench_run_cmd(model, "openvino", None, duration_s, db, extra=["--scenario", "offline"])


def run_benchmark_app(model: Path, duration_s: float) -> dict[str, Any]:
    proc = run_tool(benchmark_app_cmd(model, duration_s), timeout_s=4 * duration_s + 300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark_app exited {proc.returncode}: {out.strip()[-2000:]}")
    nireq = _NIREQ.search(out)
    return {**parse_report(out), "config": {**parse_config(out), "requests": nireq.group(1) if nireq else "?"}}


def run_bench(model: Path, duration_s: float, db: Path) -> dict[str, Any]:
    r = bench_run_json(bench_cmd(model, duration_s, db), duration_s)
    m, cfg = r["metrics"], r["engine_config"]
    return {"throughput_ips": m["throughput_ips"], "inferences_per_s": m["inferences_per_s"],
            "p50_us": m["latency_p50_ms"] * 1e3, "iterations": m["iterations"],
            "label": r["environment"]["scenario"]["label"],
            "config": {**{k: _normal(cfg.get(k.lower())) for k in COMPARED},
                       "requests": str(m["requests_in_flight"])}}


def one_round(i: int, model: Path, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    """Both tools once, benchlab first on even rounds."""
    runs = {"bench": lambda: run_bench(model, args.duration, db),
            "benchmark_app": lambda: run_benchmark_app(model, args.duration)}
    order = ["bench", "benchmark_app"] if i % 2 == 0 else ["benchmark_app", "bench"]
    got = {name: runs[name]() for name in order}
    ratio = got["bench"]["throughput_ips"] / got["benchmark_app"]["throughput_fps"]
    print(f"round {i + 1}: bench {got['bench']['throughput_ips']:.1f}/s ({got['bench']['label']}), "
          f"benchmark_app {got['benchmark_app']['throughput_fps']:.1f} FPS, ratio {ratio:.4f}", flush=True)
    return {"round": i + 1, "first": order[0], **got, "ratio": ratio}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratio of the median throughputs, and whether the two tools' settings agree."""
    bench = median([r["bench"]["throughput_ips"] for r in rounds])
    app = median([r["benchmark_app"]["throughput_fps"] for r in rounds])
    keys = (*COMPARED, "requests")
    mismatches = sorted({f"{k}: bench {r['bench']['config'][k]} vs benchmark_app {r['benchmark_app']['config'][k]}"
                         for r in rounds for k in keys
                         if r["bench"]["config"][k] != r["benchmark_app"]["config"][k]})
    return {"bench_ips": bench, "benchmark_app_fps": app, "ratio": bench / app,
            "target_ratio": TARGET_RATIO, "within_target": bench / app >= TARGET_RATIO,
            "config_mismatches": mismatches}


def render(rounds: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    header = ["round", "first", "bench samples/s", "bench p50 us", "b_app FPS", "b_app median us", "ratio"]
    rows = [[r["round"], r["first"], r["bench"]["throughput_ips"], r["bench"]["p50_us"],
             r["benchmark_app"]["throughput_fps"], r["benchmark_app"]["median_us"], f"{r['ratio']:.4f}"]
            for r in rounds]
    verdict = "meets" if summary["within_target"] else "BELOW"
    return "\n".join([markdown_table(header, rows), "",
                      f"ratio of median throughputs (bench / benchmark_app over {len(rounds)} rounds): "
                      f"{summary['ratio']:.4f} ({verdict} the >= {TARGET_RATIO} target)",
                      "settings: " + ("; ".join(summary["config_mismatches"]) or
                                      "identical (" + ", ".join((*COMPARED, "requests")) + ")")])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="fidelity-offline-ov-") as tmp:
            model = zoo.save(args.model, Path(tmp) / f"{args.model}.onnx", batch=args.batch)
            db = Path(tmp) / "bench.db"
            print("bench command:        ", " ".join(bench_cmd(model, args.duration, db)))
            print("benchmark_app command:", " ".join(benchmark_app_cmd(model, args.duration)), flush=True)
            rounds = [one_round(i, model, args, db) for i in range(args.rounds)]
    except RuntimeError as e:  # a tool failed or timed out: one line, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = summarize(rounds)
    print(f"\n## OpenVINO offline fidelity: {args.model}, batch {args.batch}, {args.duration:g} s per run\n")
    print(render(rounds, summary))
    write_json(args.out, {"model": args.model, "batch": args.batch, "duration_s": args.duration,
                          "rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
