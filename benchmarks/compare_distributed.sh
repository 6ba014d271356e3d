#!/usr/bin/env bash
# One machine's cores as one process with all its threads, or as one process per core (MPI):
# a training step of the tiny and small presets both ways, the ratio, and what the ranks sent.
#   benchmarks/compare_distributed.sh [BUILD_DIR]      (default build/dev; needs svilm::distributed)
set -euo pipefail
build=${1:-build/dev}
bench="$build/benchmarks/svilm_bench_distributed"
[[ -x "$bench" ]] || { echo "no $bench: configure with MPI (Debian: libopenmpi-dev openmpi-bin) and build it" >&2; exit 2; }
cores=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none
if [[ $(id -u) -eq 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
echo "== 1 process x $cores threads" >&2
SVILM_NUM_THREADS=$cores "$bench" --benchmark_format=json >"$out/threads.json"
echo "== $cores processes x 1 thread" >&2
mpirun -np "$cores" -x SVILM_NUM_THREADS=1 "$bench" --benchmark_format=json >"$out/ranks.json"
python3 - "$out/threads.json" "$out/ranks.json" "$cores" <<'PY'
import json, sys
threads, ranks = (json.load(open(p)) for p in sys.argv[1:3])
cores = int(sys.argv[3])
cpu = threads["context"].get("mhz_per_cpu", 0)
print(f"CPU: {threads['context'].get('num_cpus')} cores at {cpu} MHz, GEMM: {threads['context'].get('gemm')}")
print(f"| case | 1 x {cores} threads: step | {cores} x 1 thread: step | speed-up | sent per step per rank | waiting for collectives |")
print("|---|---:|---:|---:|---:|---:|")
by_name = {b["name"]: b for b in ranks["benchmarks"]}
for a in threads["benchmarks"]:
    b = by_name[a["name"]]
    case = a["name"].split("/")[1]
    print(f"| {case} ({a['parameters_M']:.1f} M parameters) | {a['real_time']:.0f} ms | {b['real_time']:.0f} ms | "
          f"{a['real_time'] / b['real_time']:.2f}x | {b['comm_MB']:.1f} MB | {100 * b['comm_share']:.1f}% |")
PY
