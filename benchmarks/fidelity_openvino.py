"""Fidelity of benchlab's OpenVINO latency against OpenVINO's own `benchmark_app`.

Measures one zoo model (default `resnet`, batch 1) with the same settings through both tools:

    bench run MODEL --engine openvino --threads N --option openvino.hint=LATENCY \
        --duration D --json --db TMP/bench.db
    benchmark_app -m MODEL -d CPU -hint latency -load_config TMP/threads.json \
        -infer_precision f32 -api sync -t D

where TMP/threads.json is {"CPU": {"INFERENCE_NUM_THREADS": "N"}}. Why these flags:

- `-infer_precision f32`: benchlab pins INFERENCE_PRECISION_HINT=f32 for an fp32 variant on CPU;
  without it this CPU (AVX-512 bf16) runs the model in bf16 by default.
- Threads through `-load_config`, not `-nthreads`: benchmark_app refuses -nthreads together with
  -hint latency (a benchmark_app UI rule, not an OpenVINO one), and `-hint none -nstreams 1
  -nthreads N` would compile with a different config (no LATENCY hint) than benchlab does.
  The config file sets exactly the INFERENCE_NUM_THREADS property benchlab sets.
- `-api sync`: one infer request called with blocking `infer()` back to back, which is
  benchlab's single-stream loop. (It is also benchmark_app's default under -hint latency; it is
  spelled out so the comparison does not depend on that default.) `-api async -nireq 1` would
  add callback and queue hand-off to every sample. `-nireq` is not passed: in sync mode it only
  adds PERFORMANCE_HINT_NUM_REQUESTS to the compile config, which benchlab does not set.

Both tools report the compiled model's properties; the script checks that the ones that shape
latency (hint, streams, threads, precision, pinning) agree. The tools alternate, the first one
switching each round, so drift of the machine hits both equally. Reported: benchlab's
`latency_p50_ms` against benchmark_app's Median, per round and as a ratio of the medians over the
rounds (target: within 3 %), plus Average/Min/Max/Throughput for context. The throughput ratio
(bench ips / benchmark_app FPS) compares the two loops' wall time per iteration, where both pay
the Python call; the latency ratio does not (see below).

Known remaining differences: benchmark_app reports each request's C++-side `request.latency`
and uses one request with one input; benchlab times the Python `InferRequest.infer()` call
(input dispatch, GIL release, copy of the outputs into numpy: a few microseconds per call more
than `request.latency`, which weighs most on models that run in tens of microseconds) and rotates
8 requests with distinct inputs. benchlab warms up for 1 s first; benchmark_app only runs one
untimed first inference. benchmark_app prints latencies with 2 decimals (0.01 us when the average
is below 1 ms, else 0.01 ms).

Reproduce (on an otherwise idle machine), from the repository root:

    .venv/bin/python benchmarks/fidelity_openvino.py --model resnet --threads 2 \
        --duration 10 --rounds 5 --out fidelity_openvino.json
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from _common import (one_line_errors, BIN, bench_run_cmd, bench_run_json, markdown_table, median, positive_float,
                     positive_int, run_tool, write_json)
import zoo

TARGET_PCT = 3.0
COMPARED = ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT",
            "ENABLE_CPU_PINNING")
_LATENCY = re.compile(r"^\[ INFO \]\s+(Median|Average|Min|Max):\s+([\d.]+) (us|ms)\s*$", re.M)
_THROUGHPUT = re.compile(r"^\[ INFO \] Throughput:\s+([\d.]+) FPS", re.M)
_COUNT = re.compile(r"^\[ INFO \] Count:\s+(\d+) iterations", re.M)
_PRECISIONS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet", choices=sorted(zoo.ZOO),
                   help="zoo model, batch 1 (default: resnet)")
    p.add_argument("--threads", type=positive_int, default=2, help="inference threads for both tools")
    p.add_argument("--duration", type=positive_float, default=10.0,
                   help="seconds measured per tool and round (default: 10)")
    p.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds (default: 3)")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    return p.parse_args(argv)


def prepare(model: str, threads: int, tmp: Path) -> tuple[Path, Path]:
    """Write the zoo model (batch 1) and benchmark_app's thread config into `tmp`."""
    path = zoo.save(model, tmp / f"{model}.onnx", batch=1)
    config = tmp / "threads.json"
    config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(threads)}}))
    return path, config


def benchmark_app_cmd(model: Path, config: Path, duration_s: float) -> list[str]:
    """The benchmark_app command line (see the module docstring for why these flags)."""
    return [str(BIN / "benchmark_app"), "-m", str(model), "-d", "CPU", "-hint", "latency",
            "-load_config", str(config), "-infer_precision", "f32", "-api", "sync",
            "-t", f"{duration_s:g}"]


def run_benchmark_app(cmd: list[str], duration_s: float) -> dict[str, Any]:
    """Run benchmark_app and parse its report (latencies in microseconds)."""
    proc = run_tool(cmd, timeout_s=4 * duration_s + 300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark_app exited {proc.returncode}: {out.strip()[-2000:]}")
    return {**parse_report(out), "config": parse_config(out)}


def parse_report(text: str) -> dict[str, float]:
    """Median/Average/Min/Max (us), Throughput (FPS) and Count from benchmark_app's stdout."""
    found = {name.lower(): float(v) * (1000.0 if unit == "ms" else 1.0)
             for name, v, unit in _LATENCY.findall(text)}
    throughput, count = _THROUGHPUT.search(text), _COUNT.search(text)
    if "median" not in found or not throughput or not count:
        raise RuntimeError(f"cannot find Median/Throughput/Count in benchmark_app output:\n{text[-2000:]}")
    return {"median_us": found["median"], "average_us": found["average"], "min_us": found["min"],
            "max_us": found["max"], "throughput_fps": float(throughput.group(1)),
            "iterations": int(count.group(1))}


def parse_config(text: str) -> dict[str, str]:
    """The compiled model's properties benchmark_app prints in step 8, normalised."""
    config = {}
    for key in COMPARED:
        m = re.search(rf"^\[ INFO \]\s+{key}:\s+(.+?)\s*$", text, re.M)
        config[key] = _normal(m.group(1)) if m else "?"
    return config


def _normal(value: Any) -> str:
    text = str(value)
    m = re.fullmatch(r"<Type: '(\w+)'>", text)  # how benchmark_app prints an ov.Type
    return _PRECISIONS.get(m.group(1), m.group(1)) if m else text


def bench_cmd(model: Path, threads: int, duration_s: float, db: Path) -> list[str]:
    """The `bench run` command line: OpenVINO, LATENCY hint, fp32 (benchlab's default precision)."""
    return bench_run_cmd(model, "openvino", threads, duration_s, db, ["openvino.hint=LATENCY"])


def run_bench(model: Path, threads: int, duration_s: float, db: Path) -> dict[str, Any]:
    """`bench run --json` through OpenVINO with the LATENCY hint (latencies in microseconds)."""
    r = bench_run_json(bench_cmd(model, threads, duration_s, db), duration_s)
    m = r["metrics"]
    return {"p50_us": m["latency_p50_ms"] * 1e3, "mean_us": m["latency_mean_ms"] * 1e3,
            "min_us": m["latency_min_ms"] * 1e3, "max_us": m["latency_max_ms"] * 1e3,
            "throughput_ips": m["throughput_ips"], "iterations": m["iterations"],
            "config": {k: _normal(r["engine_config"].get(k.lower())) for k in COMPARED}}


def one_round(i: int, model: Path, config: Path, args: argparse.Namespace,
              db: Path) -> dict[str, Any]:
    """Both tools once, benchlab first on even rounds and benchmark_app first on odd ones."""
    runs = {
        "bench": lambda: run_bench(model, args.threads, args.duration, db),
        "benchmark_app": lambda: run_benchmark_app(benchmark_app_cmd(model, config, args.duration),
                                                   args.duration),
    }
    order = ["bench", "benchmark_app"] if i % 2 == 0 else ["benchmark_app", "bench"]
    got = {name: runs[name]() for name in order}
    ratio = got["bench"]["p50_us"] / got["benchmark_app"]["median_us"]
    tput = got["bench"]["throughput_ips"] / got["benchmark_app"]["throughput_fps"]
    print(f"round {i + 1}: bench p50 {got['bench']['p50_us']:.2f} us, benchmark_app median "
          f"{got['benchmark_app']['median_us']:.2f} us, ratio {ratio:.4f}", flush=True)
    return {"round": i + 1, "first": order[0], **got, "ratio": ratio, "throughput_ratio": tput}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds, their ratio, and whether the settings of the two tools agree."""
    bench_p50 = median([r["bench"]["p50_us"] for r in rounds])
    app_median = median([r["benchmark_app"]["median_us"] for r in rounds])
    ratio = bench_p50 / app_median
    mins = (median([r["bench"]["min_us"] for r in rounds])
            / median([r["benchmark_app"]["min_us"] for r in rounds]))
    mismatches = sorted({f"{k}: bench {r['bench']['config'][k]} vs "
                         f"benchmark_app {r['benchmark_app']['config'][k]}"
                         for r in rounds for k in COMPARED
                         if r["bench"]["config"][k] != r["benchmark_app"]["config"][k]})
    tput = (median([r["bench"]["throughput_ips"] for r in rounds])
            / median([r["benchmark_app"]["throughput_fps"] for r in rounds]))
    return {"bench_p50_us": bench_p50, "benchmark_app_median_us": app_median, "ratio": ratio,
            "ratio_of_min": mins, "throughput_ratio": tput,
            "within_target": abs(ratio - 1) * 100 <= TARGET_PCT, "target_pct": TARGET_PCT,
            "config_mismatches": mismatches}


def render(rounds: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The per-round markdown table and the verdict lines."""
    header = ["round", "first", "bench p50 us", "bench mean us", "bench min us", "bench ips",
              "b_app median us", "b_app avg us", "b_app min us", "b_app max us", "b_app FPS",
              "p50 / median", "ips / FPS"]
    rows = [[r["round"], r["first"], *(b[k] for k in ("p50_us", "mean_us", "min_us", "throughput_ips")),
             *(a[k] for k in ("median_us", "average_us", "min_us", "max_us", "throughput_fps")),
             f"{r['ratio']:.4f}", f"{r['throughput_ratio']:.4f}"]
            for r in rounds for b, a in [(r["bench"], r["benchmark_app"])]]
    verdict = "within" if summary["within_target"] else "OUTSIDE"
    lines = [markdown_table(header, rows), "",
             f"ratio of medians (bench p50 / benchmark_app median over {len(rounds)} rounds): "
             f"{summary['ratio']:.4f} ({(summary['ratio'] - 1) * 100:+.2f} %, {verdict} ±{TARGET_PCT:g} %)",
             f"ratio of minimum latencies: {summary['ratio_of_min']:.4f}; ratio of throughputs "
             f"(bench ips / benchmark_app FPS, both counting the whole Python loop): "
             f"{summary['throughput_ratio']:.4f}",
             "settings: " + ("; ".join(summary["config_mismatches"]) or
                             "identical (" + ", ".join(COMPARED) + ")")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return one_line_errors(measure, parse_args(argv))


def measure(args: argparse.Namespace) -> int:
    """Prepare, run the rounds, print the table and write --out."""
    with tempfile.TemporaryDirectory(prefix="fidelity-openvino-") as tmp:
        model, config = prepare(args.model, args.threads, Path(tmp))
        print("bench command:        ", " ".join(bench_cmd(model, args.threads, args.duration,
                                                              Path(tmp) / "bench.db")))
        print("benchmark_app command:", " ".join(benchmark_app_cmd(model, config, args.duration)))
        print("benchmark_app config: ", config.read_text(), flush=True)
        db = Path(tmp) / "bench.db"
        rounds = [one_round(i, model, config, args, db) for i in range(args.rounds)]
    summary = summarize(rounds)
    print(f"\n## OpenVINO fidelity: {args.model}, batch 1, {args.threads} threads, "
          f"{args.duration:g} s per run\n")
    print(render(rounds, summary))
    write_json(args.out, {"model": args.model, "threads": args.threads, "duration_s": args.duration,
                          "rounds": rounds, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
