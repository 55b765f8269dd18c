"""Fidelity of benchlab's TFLite (LiteRT) latency against LiteRT's own `litert-benchmark`.

Measures the zoo CNN (zoo/tflite.py; by default at 224x224x3, width 32, 2 blocks,
about 1.5 ms on this CPU, so litert-benchmark's 0.01 ms rounding weighs at most 0.4 %) with the
same .tflite file and thread count through both tools:

    bench run MODEL.tflite --engine tflite --threads N --precision P --duration D --json --db TMP
    litert-benchmark --model MODEL.tflite --num_threads N --num_runs R --warmup_runs W \
        --result_json TMP/litert.json

What each one times (read from ai_edge_litert/tools/benchmark_litert_model.py, the entry point
of `litert-benchmark` in ai-edge-litert 2.3):

- litert-benchmark uses the CompiledModel API (LiteRT's newer runtime: Environment +
  CompiledModel.from_file with the CPU accelerator, i.e. XNNPACK, `CpuOptions(num_threads)`),
  fills its input TensorBuffers once with uniform random data, and times the Python call
  `model.run_by_name(signature, input_buffers, output_buffers)` with time.perf_counter, after
  `--warmup_runs` untimed runs. It reports the median of `--num_runs` samples, rounded to
  0.01 ms, in its JSON.
- benchlab uses the Interpreter API (the classic runtime; the default op resolver applies the
  same XNNPACK delegate, `num_threads`), rotates 8 input sets with distinct data and times
  `set_tensor` for each input + `invoke()` (the copy into the input buffer is part of any app on
  the Interpreter API; it costs 1-10 us on this input). It warms up for `--warmup` seconds first.

So the two share the XNNPACK kernels and the thread count but not the runtime around them
(CompiledModel vs Interpreter), nor input handling (one pre-filled buffer vs rotated sets copied
per call); the ratio below measures all of it together. The tools alternate, the first one
switching each round. Reported: benchlab's `latency_p50_ms` against litert-benchmark's median,
per round and as a ratio of the medians over the rounds (target: within 3 %).

Reproduce (on an otherwise idle machine), from the repository root:

    .venv/bin/python benchmarks/fidelity_tflite.py --threads 1 --duration 10 --runs 5000 \
        --rounds 5 --out build/perf/fidelity_tflite.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from _common import (one_line_errors, BIN, bench_run_cmd, bench_run_json, markdown_table, median, positive_float,
                     positive_int, run_tool, write_json)
from zoo import tflite as zoo_tflite

TARGET_PCT = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                   help="the float CNN or its int8 quantization (default: fp32)")
    p.add_argument("--size", type=positive_int, default=224, help="input height and width (224)")
    p.add_argument("--width", type=positive_int, default=32, help="channels (32)")
    p.add_argument("--blocks", type=positive_int, default=2, help="depthwise blocks (2)")
    p.add_argument("--threads", type=positive_int, default=1, help="threads for both tools (1)")
    p.add_argument("--duration", type=positive_float, default=10.0,
                   help="seconds bench measures per round (default: 10)")
    p.add_argument("--warmup", type=positive_float, default=1.0, help="bench warm-up seconds (1)")
    p.add_argument("--runs", type=positive_int, default=5000, help="litert-benchmark --num_runs (5000)")
    p.add_argument("--warmup-runs", type=positive_int, default=500,
                   help="litert-benchmark --warmup_runs (500)")
    p.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default: 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    return p.parse_args(argv)


def prepare(args: argparse.Namespace, tmp: Path) -> Path:
    """Write the zoo CNN of the requested size and precision into `tmp`."""
    spec = zoo_tflite.CnnSpec(size=args.size, width=args.width, blocks=args.blocks)
    path = tmp / f"cnn-{args.size}-{args.precision}.tflite"
    path.write_bytes(zoo_tflite.build_cnn(args.precision, spec))
    return path


def litert_cmd(model: Path, args: argparse.Namespace, result: Path) -> list[str]:
    """The litert-benchmark command line."""
    return [str(BIN / "litert-benchmark"), "--model", str(model), "--num_threads", str(args.threads),
            "--num_runs", str(args.runs), "--warmup_runs", str(args.warmup_runs),
            "--result_json", str(result)]


def run_litert(model: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Run litert-benchmark and read its JSON (latencies in milliseconds)."""
    result = tmp / "litert.json"
    result.unlink(missing_ok=True)
    proc = run_tool(litert_cmd(model, args, result), timeout_s=600)
    if proc.returncode != 0 or not result.is_file():
        raise RuntimeError(f"litert-benchmark exited {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()[-2000:]}")
    report = json.loads(result.read_text())
    lat = report["latency"]
    return {"median_ms": lat["median_ms"], "avg_ms": lat["avg_ms"], "min_ms": lat["min_ms"],
            "p95_ms": lat["p95_ms"], "runs": lat["num_runs"], "threads": report["num_threads"],
            "accelerators": report["accelerators"], "fully_accelerated": report["fully_accelerated"]}


def bench_cmd(model: Path, args: argparse.Namespace, db: Path) -> list[str]:
    """The `bench run` command line for the tflite engine."""
    cmd = bench_run_cmd(model, "tflite", args.threads, args.duration, db, warmup_s=args.warmup)
    return cmd + ["--precision", args.precision]


def run_bench(model: Path, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    """`bench run --json` with the tflite engine (latencies in milliseconds)."""
    r = bench_run_json(bench_cmd(model, args, db), args.duration)
    m, cfg = r["metrics"], r["engine_config"]
    return {"p50_ms": m["latency_p50_ms"], "mean_ms": m["latency_mean_ms"],
            "min_ms": m["latency_min_ms"], "p95_ms": m["latency_p95_ms"], "iterations": m["iterations"],
            "threads": cfg["threads"], "xnnpack": cfg["xnnpack"],
            "delegate_partitions": cfg["delegate_partitions"]}


def one_round(i: int, model: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Both tools once, bench first on even rounds and litert-benchmark first on odd ones."""
    runs = {"bench": lambda: run_bench(model, args, tmp / "bench.db"),
            "litert": lambda: run_litert(model, args, tmp)}
    order = ["bench", "litert"] if i % 2 == 0 else ["litert", "bench"]
    got = {name: runs[name]() for name in order}
    ratio = got["bench"]["p50_ms"] / got["litert"]["median_ms"]
    print(f"round {i + 1}: bench p50 {got['bench']['p50_ms']:.4f} ms, litert-benchmark median "
          f"{got['litert']['median_ms']:.2f} ms, ratio {ratio:.4f}", flush=True)
    return {"round": i + 1, "first": order[0], **got, "ratio": ratio}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds, their ratio, and whether the two tools ran the same setup."""
    bench_p50 = median([r["bench"]["p50_ms"] for r in rounds])
    litert_median = median([r["litert"]["median_ms"] for r in rounds])
    ratio = bench_p50 / litert_median
    mins = median([r["bench"]["min_ms"] for r in rounds]) / median([r["litert"]["min_ms"] for r in rounds])
    mismatches = sorted({msg for r in rounds for msg in _mismatches(r["bench"], r["litert"])})
    return {"bench_p50_ms": bench_p50, "litert_median_ms": litert_median, "ratio": ratio,
            "ratio_of_min": mins, "within_target": abs(ratio - 1) * 100 <= TARGET_PCT,
            "target_pct": TARGET_PCT, "setup_mismatches": mismatches}


def _mismatches(bench: dict[str, Any], litert: dict[str, Any]) -> list[str]:
    out = []
    if bench["threads"] != litert["threads"]:
        out.append(f"threads: bench {bench['threads']} vs litert-benchmark {litert['threads']}")
    if not bench["xnnpack"] or not bench["delegate_partitions"]:
        out.append("bench ran without the XNNPACK delegate")
    if litert["accelerators"] != ["CPU"] or not litert["fully_accelerated"]:
        out.append(f"litert-benchmark: accelerators {litert['accelerators']}, fully accelerated "
                   f"{litert['fully_accelerated']}")
    return out


def render(rounds: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The per-round markdown table and the verdict lines."""
    header = ["round", "first", "bench p50 ms", "bench mean ms", "bench min ms", "bench n",
              "litert median ms", "litert avg ms", "litert min ms", "litert n", "p50 / median"]
    rows = [[r["round"], r["first"], f"{b['p50_ms']:.4f}", f"{b['mean_ms']:.4f}", f"{b['min_ms']:.4f}",
             b["iterations"], a["median_ms"], a["avg_ms"], a["min_ms"], a["runs"], f"{r['ratio']:.4f}"]
            for r in rounds for b, a in [(r["bench"], r["litert"])]]
    verdict = "within" if summary["within_target"] else "OUTSIDE"
    return "\n".join([
        markdown_table(header, rows), "",
        f"ratio of medians (bench p50 / litert-benchmark median over {len(rounds)} rounds): "
        f"{summary['ratio']:.4f} ({(summary['ratio'] - 1) * 100:+.2f} %, {verdict} ±{TARGET_PCT:g} %)",
        f"ratio of minimum latencies: {summary['ratio_of_min']:.4f}",
        "setup: " + ("; ".join(summary["setup_mismatches"]) or
                     "same threads, XNNPACK (delegate) on both, fully on the CPU accelerator")])


def main(argv: list[str] | None = None) -> int:
    return one_line_errors(measure, parse_args(argv))


def measure(args: argparse.Namespace) -> int:
    """Prepare, run the rounds, print the table and write --out."""
    with tempfile.TemporaryDirectory(prefix="fidelity-tflite-") as tmp_name:
        tmp = Path(tmp_name)
        model = prepare(args, tmp)
        print("bench command:           ", " ".join(bench_cmd(model, args, tmp / "bench.db")))
        print("litert-benchmark command:", " ".join(litert_cmd(model, args, tmp / "litert.json")),
              flush=True)
        rounds = [one_round(i, model, args, tmp) for i in range(args.rounds)]
    summary = summarize(rounds)
    print(f"\n## TFLite fidelity: zoo cnn {args.size}x{args.size}x3, width {args.width}, "
          f"{args.blocks} blocks, {args.precision}, {args.threads} threads\n")
    print(render(rounds, summary))
    write_json(args.out, {"model": {"size": args.size, "width": args.width, "blocks": args.blocks,
                                    "precision": args.precision},
                          "threads": args.threads, "duration_s": args.duration, "runs": args.runs,
                          "rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
