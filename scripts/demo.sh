#!/usr/bin/env bash
# The main job in one command: install what is missing, build in Release, run the demo.
# Today the demo builds a pre-norm transformer block from svilm's ops, checks its gradients by
# finite differences in double and times it in float on a ViT-B/16 video-sized input.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DSVILM_BUILD_TESTS=OFF -DSVILM_BUILD_BENCHMARKS=OFF
cmake --build build/release --target transformer_block -j"$(nproc)"
./build/release/examples/transformer_block "$@"
