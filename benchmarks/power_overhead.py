"""Does power sampling disturb what it measures? The same model with sampling on and off.

Runs `bench run MODEL --engine E --threads N --json` alternately with `--power none` and with
`--power hwmon` reading a hwmon tree at `--rate` Hz (default the sampler's 20 Hz), and reports
the ratio of median latencies (on/off; target within 1 %). This machine has no power sensor,
so the sampled tree is a hwmon directory written by this script: the sampler thread does the
same work as on a board (wake up, read and parse sysfs files, append a sample), only the
numbers it reads are constant.

Reproduce, from the repository root, on an otherwise idle machine:

    .venv/bin/python benchmarks/power_overhead.py --model resnet --threads 2 --duration 10 --rounds 5
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import (bench_run_cmd, bench_run_json, markdown_table, median, positive_float,
                     positive_int, write_json)

import zoo


def _hwmon_tree(root: Path) -> Path:
    dev = root / "sys/class/hwmon/hwmon0"
    dev.mkdir(parents=True)
    (dev / "name").write_text("ina226\n")
    for i, uw in enumerate((4_200_000, 1_300_000), start=1):
        (dev / f"power{i}_input").write_text(f"{uw}\n")
        (dev / f"power{i}_label").write_text(f"rail{i}\n")
    return root


def _one(model: Path, args, db: Path, power: list[str]) -> dict:
    cmd = bench_run_cmd(model, args.engine, args.threads, args.duration, db) + power
    r = bench_run_json(cmd, args.duration)
    return {"p50_ms": r["metrics"]["latency_p50_ms"], "ips": r["metrics"]["throughput_ips"],
            "samples": (r["environment"].get("power") or {}).get("samples_in_window")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet")
    ap.add_argument("--engine", default="onnxruntime")
    ap.add_argument("--threads", type=positive_int, default=2)
    ap.add_argument("--duration", type=positive_float, default=10.0)
    ap.add_argument("--rounds", type=positive_int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = zoo.save(args.model, tmp / f"{args.model}.onnx")
        on = ["--power", "hwmon", "--power-option", f"root={_hwmon_tree(tmp / 'fixture')}",
              "--idle-power", "0"]
        rows = []
        for i in range(args.rounds):
            legs = [("off", []), ("on", on)] if i % 2 == 0 else [("on", on), ("off", [])]
            got = {name: _one(model, args, tmp / "bench.db", power) for name, power in legs}
            rows.append([i + 1, got["off"]["p50_ms"], got["on"]["p50_ms"],
                         got["on"]["p50_ms"] / got["off"]["p50_ms"], got["on"]["samples"]])
            print(f"round {i + 1}: off {got['off']['p50_ms']:.4f} ms, on {got['on']['p50_ms']:.4f} ms")
    ratio = median([r[2] for r in rows]) / median([r[1] for r in rows])
    print(markdown_table(["round", "p50 off ms", "p50 on ms", "on/off", "power samples"],
                         [[r[0], f"{r[1]:.4f}", f"{r[2]:.4f}", f"{r[3]:.4f}", r[4]] for r in rows]))
    print(f"\nratio of medians (sampling on / off): {ratio:.4f} "
          f"({'within' if abs(ratio - 1) <= 0.01 else 'OUTSIDE'} ±1 %)")
    write_json(args.out, {"model": args.model, "engine": args.engine, "threads": args.threads,
                          "duration_s": args.duration, "rounds": rows, "ratio_of_medians": ratio})


if __name__ == "__main__":
    main()
