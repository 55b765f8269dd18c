#!/usr/bin/env bash
# Runs every benchmark of docs/PERFORMANCE.md one after the other, each with the command that
# document quotes, writing logs and JSON under build/perf/. Run it on an otherwise idle machine:
#   bash benchmarks/run_all.sh
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p build/perf
run() { local name=$1; shift; echo "== $name: $*"; "$PY" "$@" --out "build/perf/$name.json" > "build/perf/$name.log" 2>&1; echo "   exit $?"; }
run power_overhead benchmarks/power_overhead.py --model resnet --threads 2 --duration 10 --rounds 5
run transport_overhead benchmarks/transport_overhead.py --jobs 5
run precision_matrix benchmarks/precision_matrix.py --models resnet,mobilenetv2 --threads 2 --duration 10
run precision_matrix_seeds benchmarks/precision_matrix.py --engines onnxruntime,ncnn,mnn,tvm --threads 1 --duration 5
run fidelity_tflite benchmarks/fidelity_tflite.py --threads 1 --duration 10 --rounds 3
run fidelity_offline_openvino benchmarks/fidelity_offline_openvino.py --model resnet --duration 10 --rounds 3
run fidelity_loadgen benchmarks/fidelity_loadgen.py --model resnet --threads 1 --duration 10 --rounds 3
run until_stable benchmarks/until_stable.py --fixed 20
run scheduler_throughput benchmarks/scheduler_throughput.py
run dashboard_build benchmarks/dashboard_build.py --runs 10000 --repeat 3
run regression_quality benchmarks/regression_quality.py
