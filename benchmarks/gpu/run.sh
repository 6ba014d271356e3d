#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU (H100/H200): configure for sm_90, build the
# CUDA tests, run them, then again under compute-sanitizer when it exists. Results (logs) go to
# $OUT (or ./gpu-results). Benchmarks join this script as the GPU ops and the model land.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DSVILM_BUILD_BENCHMARKS=OFF -DSVILM_BUILD_EXAMPLES=OFF > "$out/configure.log" 2>&1
cmake --build build/gpu --target svilm_test_cuda -j"$(nproc)" > "$out/build.log" 2>&1
./build/gpu/tests/svilm_test_cuda 2>&1 | tee "$out/test_cuda.log"
if command -v compute-sanitizer > /dev/null || [[ -x /usr/local/cuda/bin/compute-sanitizer ]]; then
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    "$sanitizer" --error-exitcode 1 ./build/gpu/tests/svilm_test_cuda > "$out/compute_sanitizer.log" 2>&1 \
        && echo "compute-sanitizer: clean" || echo "compute-sanitizer: errors, see $out/compute_sanitizer.log"
fi
