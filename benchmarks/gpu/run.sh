#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU (H100/H200): the CUDA tests, the same tests
# under compute-sanitizer, the GPU benchmarks, and PyTorch eager on the same cases. Logs, JSON
# and the comparison table go to $OUT (or ./gpu-results).
#
#   benchmarks/gpu/run.sh                 configure and build for sm_90 here (needs svilm's
#                                         build dependencies), then run
#   benchmarks/gpu/run.sh DIR             run svilm_test_cuda and svilm_bench_gpu from DIR, built
#                                         elsewhere (DIR/lib: shared libraries to add)
#
# Each stage has a time limit, so one slow stage cannot take the others' results with it.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

if [[ $# -ge 1 ]]; then
    bin="$1"
    export LD_LIBRARY_PATH="$bin/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
    tests="$bin/svilm_test_cuda"
    bench="$bin/svilm_bench_gpu"
else
    cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSVILM_NATIVE=OFF \
        -DSVILM_BUILD_EXAMPLES=OFF > "$out/configure.log" 2>&1 || { echo "configure failed: $out/configure.log"; exit 1; }
    cmake --build build/gpu --target svilm_test_cuda svilm_bench_gpu -j"$(nproc)" > "$out/build.log" 2>&1 \
        || { echo "build failed: $out/build.log"; exit 1; }
    tests=build/gpu/tests/svilm_test_cuda
    bench=build/gpu/benchmarks/svilm_bench_gpu
fi

status=0
echo "== CUDA tests"
timeout "${SVILM_TEST_TIMEOUT:-240}" "$tests" > "$out/test_cuda.log" 2>&1 || status=1
tail -4 "$out/test_cuda.log"

echo "== GPU benchmarks"
timeout "${SVILM_BENCH_TIMEOUT:-300}" "$bench" --benchmark_out="$out/bench_gpu.json" --benchmark_out_format=json \
    ${SVILM_BENCH_FILTER:+--benchmark_filter="$SVILM_BENCH_FILTER"} > "$out/bench_gpu.log" 2>&1 || status=1
grep -E "^BM_|Error|error" "$out/bench_gpu.log" | cut -c1-150

echo "== PyTorch eager on the same cases"
if [[ -s "$out/bench_gpu.json" ]]; then
    PYTHONUNBUFFERED=1 timeout "${SVILM_TORCH_TIMEOUT:-240}" python3 benchmarks/gpu/compare_torch_gpu.py \
        --svilm-json "$out/bench_gpu.json" --out "$out/compare.json" > "$out/compare.md" 2> "$out/compare.err" || status=1
    cat "$out/compare.md"
fi

sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [[ -x "$sanitizer" ]]; then
    # the error-path test makes failing API calls on purpose, which the sanitizer would report
    echo "== compute-sanitizer (memcheck) on the op, module and model tests"
    if timeout "${SVILM_SANITIZER_TIMEOUT:-180}" "$sanitizer" --error-exitcode 1 "$tests" \
        --test-case-exclude="*a failing call*,*five clipped*" > "$out/compute_sanitizer.log" 2>&1; then
        echo "compute-sanitizer: clean"
    else
        echo "compute-sanitizer: errors or time limit, see compute_sanitizer.log"; tail -20 "$out/compute_sanitizer.log"; status=1
    fi
fi
exit $status
