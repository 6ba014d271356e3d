#!/bin/sh
# The tiny training step next to a busy process, under each OpenMP wait policy, as a table.
#
#   benchmarks/under_load.sh [--min-time S] [--busy N] BENCH [LABEL=BENCH ...]
#
# BENCH: a svilm_bench_model executable (several, each LABEL=path, to compare builds). Each runs
# BM_TrainStepTinyUnderLoad (one step alone, then one with N busy-loop processes, which the
# benchmark forks, pauses between steps and kills at the end) with the default environment,
# OMP_WAIT_POLICY=PASSIVE, OMP_WAIT_POLICY=ACTIVE, and SVILM_NUM_THREADS=1; every run is bounded
# by `timeout`. Columns: medians of the step alone and loaded, their ratio, the cores' worth of
# CPU the busy processes got during the loaded steps, and how many cores' worth of CPU other
# processes used meanwhile (above about 0.1 the machine was not quiet: rerun).
# Needs python3 for the table. Example:
#   flock /tmp/svilm-build.lock benchmarks/under_load.sh build/dev/benchmarks/svilm_bench_model
set -eu

min_time=2
busy=1
while [ $# -gt 0 ]; do
    case "$1" in
        --min-time) min_time=$2; shift 2 ;;
        --busy) busy=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--min-time S] [--busy N] BENCH [LABEL=BENCH ...]" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores; threads: ${SVILM_NUM_THREADS:-default}; busy processes: $busy"
n=0
for arg in "$@"; do
    case "$arg" in
        *=*) label=${arg%%=*}; bench=${arg#*=} ;;
        *) label=$(basename "$(dirname "$(dirname "$arg")")"); bench=$arg ;;
    esac
    for setting in default PASSIVE ACTIVE one-thread; do
        n=$((n + 1))
        case "$setting" in
            default) envs="" ;;
            one-thread) envs="SVILM_NUM_THREADS=1" ;;
            *) envs="OMP_WAIT_POLICY=$setting" ;;
        esac
        # shellcheck disable=SC2086
        env $envs timeout 600 "$bench" --benchmark_filter="^BM_TrainStepTinyUnderLoad/busy:$busy/" \
            --benchmark_min_time="$min_time" --benchmark_format=json >"$out/$n.json" 2>/dev/null || true
        printf '%s\t%s\t%s\n' "$label" "$setting" "$out/$n.json" >>"$out/index"
    done
done

python3 - "$out/index" <<'EOF'
import json, sys
print("| build | environment | step alone | step loaded | slowdown | busy processes' CPUs | others' CPUs |")
print("|---|---|---:|---:|---:|---:|---:|")
for line in open(sys.argv[1]):
    label, setting, path = line.rstrip("\n").split("\t")
    env = {"default": "(none)", "one-thread": "SVILM_NUM_THREADS=1"}.get(setting, "OMP_WAIT_POLICY=" + setting)
    try:
        rows = [b for b in json.load(open(path))["benchmarks"] if "slowdown" in b]
    except (ValueError, KeyError, OSError):
        rows = []
    if not rows:
        print(f"| {label} | {env} | - | - | failed or timed out | - | - |")
        continue
    b = rows[0]
    print(f"| {label} | {env} | {b['unloaded_ms']:.0f} ms | {b['loaded_ms']:.0f} ms | {b['slowdown']:.1f}x "
          f"| {b.get('busy_cpus', float('nan')):.2f} | {b['other_cpus']:.2f} |")
EOF
